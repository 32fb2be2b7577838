/**
 * `seqmix lab run <preset|config.json> [--out DIR] [--workers N] [--quick]`, `seqmix lab report DIR` and
 * `seqmix lab list`: sweeps of tasks × mixers × widths × learning rates × seeds on worker threads, resumable
 * (finished runs in DIR/results.jsonl are skipped), with a terminal table at the end and an HTML + SVG report.
 */
import { existsSync, readFileSync } from "node:fs";
import { basename, extname, resolve } from "node:path";
import type { Command } from "commander";
import { getPreset, listPresets, quickSweep } from "../../lab/presets.js";
import { defaultWorkers, runLab } from "../../lab/runner.js";
import { parseSweep, type SweepConfig } from "../../lab/sweep.js";
import { formatResultsTable, writeReport } from "../../lab/report/index.js";
import { listLayers } from "../../layers/registry.js";
import "../../layers/index.js";
import { listTasks } from "../../tasks/index.js";
import { parseInteger } from "../parse.js";

export interface LabRunCommandOptions {
  out?: string;
  workers?: string;
  quick?: boolean;
  report: boolean;
  progress?: boolean;
}

/** A preset name or a path to a sweep config (.json), validated. */
export function loadSweep(what: string, quick: boolean): SweepConfig {
  let raw: unknown;
  let source: string;
  if (what.endsWith(".json") || existsSync(what)) {
    source = what;
    if (!existsSync(what)) throw new Error(`lab run: sweep config file '${what}' does not exist`);
    try {
      raw = JSON.parse(readFileSync(what, "utf8"));
    } catch (e) {
      throw new Error(`lab run: ${what} is not valid JSON (${(e as Error).message})`);
    }
    if (raw !== null && typeof raw === "object" && !("name" in raw)) raw = { name: basename(what, extname(what)), ...raw };
  } else {
    source = `preset '${what}'`;
    raw = getPreset(what).sweep;
  }
  const sweep = parseSweep(raw, source);
  return quick ? parseSweep(quickSweep(sweep), `${source} (--quick)`) : sweep;
}

export async function runLabCommand(what: string, options: LabRunCommandOptions, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  const sweep = loadSweep(what, options.quick ?? false);
  const outDir = resolve(options.out ?? `seqmix-lab/${sweep.name}`);
  const workers = options.workers === undefined ? defaultWorkers() : parseInteger("--workers", options.workers, 0);
  const summary = await runLab(sweep, { outDir, workers, ...(options.progress !== undefined ? { progress: options.progress } : {}) });
  print("");
  print(formatResultsTable(summary.records));
  print("");
  print(
    `${summary.ran} run${summary.ran === 1 ? "" : "s"} in ${summary.seconds.toFixed(0)} s` +
      `${summary.skipped ? `, ${summary.skipped} resumed from results.jsonl` : ""}${summary.failed ? `, ${summary.failed} FAILED (see the table and the report)` : ""}.`,
  );
  if (options.report) {
    const r = await writeReport(outDir);
    print(`report: ${r.html}`);
  } else {
    print(`results: ${outDir}/results.jsonl (seqmix lab report ${outDir} writes the report)`);
  }
}

export async function runLabReportCommand(dir: string, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<void> {
  const r = await writeReport(resolve(dir));
  print(`${r.records} runs`);
  print(`report: ${r.html}`);
  for (const svg of r.svgs) print(`plot: ${svg}`);
}

export function runLabListCommand(print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
  print("presets (seqmix lab run NAME; add --quick for a smoke run under a minute):");
  for (const p of listPresets()) {
    const sweep = parseSweep(p.sweep, `preset ${p.name}`);
    print(`  ${p.name.padEnd(22)} ~${p.minutes} min on 2 cores  ${sweep.description}`);
  }
  print("");
  print("tasks:");
  for (const t of listTasks()) print(`  ${t.name.padEnd(22)} ${t.summary}`);
  print("");
  print("mixers (layer types):");
  for (const l of listLayers()) print(`  ${l.type.padEnd(22)} ${l.summary}`);
}

export function registerLab(program: Command): void {
  const lab = program.command("lab").description("sweeps of tasks × mixers × widths × learning rates, and their reports");
  lab
    .command("run <preset-or-config>")
    .description("run a sweep (a preset name or a sweep config .json); resumes from DIR/results.jsonl")
    .option("--out <dir>", "output directory (default seqmix-lab/<sweep name>)")
    .option("--workers <n>", `worker threads (default ${defaultWorkers()}; 0 = this thread)`)
    .option("--quick", "shrink the sweep to a smoke run (under a minute)")
    .option("--no-report", "do not write the HTML report at the end")
    .action((what: string, opts: LabRunCommandOptions) => runLabCommand(what, opts));
  lab
    .command("report <dir>")
    .description("write DIR/index.html and DIR/*.svg from DIR/results.jsonl")
    .action((dir: string) => runLabReportCommand(dir));
  lab
    .command("list")
    .description("tasks, mixers and presets with their estimated time")
    .action(() => runLabListCommand());
}
