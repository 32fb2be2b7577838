/**
 * `seqmix lab run`: expands a sweep, skips the runs already in DIR/results.jsonl (resume), executes the rest on
 * the worker pool, appends each record the moment it ends, and shows one overall progress bar (steps of all
 * pending runs) with a line per finished run.
 */
import { mkdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import cliProgress from "cli-progress";
import { writeFileAtomicSync } from "../io/safetensors-file.js";
import { runPool } from "./pool.js";
import type { RunRecord } from "./record.js";
import { appendResult, readResults } from "./results.js";
import { expandSweep, type RunSpec, type SweepConfig } from "./sweep.js";

export interface LabRunOptions {
  readonly outDir: string;
  /** worker threads (default: the machine's available parallelism); 0 = in this thread */
  readonly workers?: number;
  /** show the progress bar (default: when stderr is a terminal) */
  readonly progress?: boolean;
  /** where one-line messages go (default stderr) */
  readonly log?: (line: string) => void;
}

export interface LabRunSummary {
  readonly total: number;
  readonly skipped: number;
  readonly ran: number;
  readonly failed: number;
  /** every record of the sweep now in the results file (earlier and new) */
  readonly records: RunRecord[];
  readonly seconds: number;
}

export function defaultWorkers(): number {
  return Math.max(1, availableParallelism());
}

function shortRun(spec: RunSpec): string {
  return `${spec.taskLabel} ${spec.mixer} d=${spec.dModel} lr=${spec.lr} seed=${spec.seed}`;
}

function describeRecord(r: RunRecord): string {
  if (r.status !== "ok") return `${r.status.toUpperCase()}: ${r.error ?? ""}`;
  const v = r.value === null ? "n/a" : r.value.toFixed(3);
  const why = r.stoppedEarly ? " (solved, stopped early)" : r.timedOut ? " (time cap hit)" : "";
  return `${r.metric} ${v}${r.solved ? " ✓" : ""} after ${r.steps} steps, ${r.wallSeconds.toFixed(0)} s${why}`;
}

export async function runLab(sweep: SweepConfig, options: LabRunOptions): Promise<LabRunSummary> {
  const started = performance.now();
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const specs = expandSweep(sweep);
  mkdirSync(options.outDir, { recursive: true });
  writeFileAtomicSync(join(options.outDir, "sweep.json"), Buffer.from(`${JSON.stringify(sweep, null, 2)}\n`, "utf8"));

  const existing = readResults(options.outDir);
  for (const m of existing.malformed) log(`results.jsonl line ${m.line} skipped: ${m.reason}`);
  const done = new Set(existing.records.map((r) => r.id));
  const pending = specs.filter((s) => !done.has(s.id));
  const skipped = specs.length - pending.length;
  const workers = Math.min(options.workers ?? defaultWorkers(), Math.max(pending.length, 1));
  log(
    `${sweep.name}: ${specs.length} runs${skipped ? `, ${skipped} already in ${options.outDir}/results.jsonl (skipped)` : ""}; ` +
      `running ${pending.length} on ${workers === 0 ? "this thread" : `${workers} worker thread${workers === 1 ? "" : "s"}`}`,
  );

  const showBar = options.progress ?? Boolean(process.stderr.isTTY);
  const totalSteps = pending.reduce((n, s) => n + s.steps, 0);
  const multi = showBar
    ? new cliProgress.MultiBar(
        {
          format: " {bar} {percentage}% | runs {runsDone}/{runs} | ETA {eta_formatted} | {current}",
          hideCursor: true,
          clearOnComplete: true,
          etaBuffer: 200,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const bar = multi?.create(Math.max(totalSteps, 1), 0, { runsDone: 0, runs: pending.length, current: "" }) ?? null;
  const say = (line: string) => (multi ? multi.log(`${line}\n`) : log(line));

  const stepsSeen = new Map<string, number>();
  const current = new Map<string, string>();
  let completedSteps = 0;
  let runsDone = 0;
  let failed = 0;
  const fresh: RunRecord[] = [];
  const render = () => {
    if (!bar) return;
    let inFlight = 0;
    for (const v of stepsSeen.values()) inFlight += v;
    bar.update(completedSteps + inFlight, { runsDone, current: [...current.values()].join(" · ").slice(0, 90) });
  };

  await runPool(pending, {
    workers,
    onStart: (spec) => {
      stepsSeen.set(spec.id, 0);
      current.set(spec.id, `${spec.mixer} d${spec.dModel} lr${spec.lr}`);
      render();
    },
    onProgress: (spec, p) => {
      stepsSeen.set(spec.id, p.step);
      current.set(spec.id, `${spec.mixer} d${spec.dModel} ${p.step}/${p.steps} loss ${p.loss.toFixed(2)}`);
      render();
    },
    onRecord: (record, spec) => {
      appendResult(options.outDir, record);
      fresh.push(record);
      stepsSeen.delete(spec.id);
      current.delete(spec.id);
      completedSteps += spec.steps; // early-stopped runs count as complete
      runsDone++;
      if (record.status !== "ok") failed++;
      say(`[${runsDone}/${pending.length}] ${shortRun(spec)}: ${describeRecord(record)}`);
      render();
    },
  });
  multi?.stop();

  const ids = new Set(specs.map((s) => s.id));
  const records = [...existing.records.filter((r) => ids.has(r.id)), ...fresh];
  return { total: specs.length, skipped, ran: pending.length, failed, records, seconds: (performance.now() - started) / 1000 };
}
