/**
 * A sweep config: tasks × mixers × model widths × learning rates × seeds (design.md "Lab"), validated with zod so
 * a bad config file fails with messages that name the field. `expandSweep` turns it into the list of
 * independent runs, each with a stable id (a hash of everything that defines it) that is the resume key in
 * results.jsonl.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import { getTask, TASKS } from "../tasks/index.js";
import { parseTaskConfig } from "../tasks/types.js";

const layerSpec = z.union([z.string().min(1), z.object({ type: z.string().min(1) }).passthrough()]);

/** A named evaluation beside the training one: task config overrides (a longer length, a slice, a depth). */
const evalSpec = z
  .object({
    label: z.string().min(1),
    config: z.record(z.string(), z.unknown()),
  })
  .strict();

const taskEntry = z
  .object({
    task: z.string().refine((t) => Object.prototype.hasOwnProperty.call(TASKS, t), { message: `unknown task; known: ${Object.keys(TASKS).join(", ")}` }),
    /** tells variants of one task apart in the report (default: the task name) */
    label: z.string().min(1).optional(),
    /** task config overrides over the task's defaults (the CPU preset of tasks.md) */
    config: z.record(z.string(), z.unknown()).default({}),
    /** extra evaluations of each trained model (length extrapolation, slices) */
    evals: z.array(evalSpec).default([]),
    steps: z.number().int().min(1).optional(),
    batchSize: z.number().int().min(1).optional(),
  })
  .strict();

const mixerEntry = z
  .object({
    /** the name shown in the report (e.g. "swa-8") */
    label: z.string().min(1),
    /** one layer spec repeated nLayers times … */
    layer: layerSpec.optional(),
    /** … or the whole schedule (hybrids) */
    layers: z.array(layerSpec).min(1).optional(),
    /** learning rates for this mixer instead of the sweep's */
    lrs: z.array(z.number().positive()).min(1).optional(),
    /** widths for this mixer instead of the sweep's */
    dModels: z.array(z.number().int().min(1)).min(1).optional(),
    /** "swiglu" or "none" for this mixer instead of the sweep's */
    mlp: z.enum(["swiglu", "none"]).optional(),
  })
  .strict()
  .refine((m) => (m.layer === undefined) !== (m.layers === undefined), { message: "give exactly one of 'layer' and 'layers'" });

export const sweepSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(""),
    tasks: z.array(taskEntry).min(1),
    mixers: z.array(mixerEntry).min(1),
    dModels: z.array(z.number().int().min(1)).min(1).default([32]),
    lrs: z.array(z.number().positive()).min(1).default([1e-3, 3e-3]),
    seeds: z.array(z.number().int().min(0)).min(1).default([0]),
    nLayers: z.number().int().min(1).default(2),
    mlp: z.enum(["swiglu", "none"]).default("none"),
    steps: z.number().int().min(1).default(1000),
    batchSize: z.number().int().min(1).default(32),
    evalExamples: z.number().int().min(1).default(512),
    /** evaluations per run (early stopping is checked at each) */
    evals: z.number().int().min(1).default(10),
    earlyStop: z.boolean().default(true),
    weightDecay: z.number().min(0).default(0.1),
    /** wall-clock cap per run in seconds (0 = none); a run that hits it ends early and says so */
    maxRunSeconds: z.number().min(0).default(0),
  })
  .strict();

export type SweepConfigInput = z.input<typeof sweepSchema>;
export type SweepConfig = z.output<typeof sweepSchema>;

export class SweepConfigError extends Error {
  override name = "SweepConfigError";
}

/** Validates a sweep config; the error lists every problem with its path (e.g. `mixers.2.layer`). */
export function parseSweep(raw: unknown, source = "sweep config"): SweepConfig {
  const r = sweepSchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) =>
      i.code === "unrecognized_keys" ? `${i.path.length ? `'${i.path.join(".")}': ` : ""}unknown field(s) ${i.keys.map((k) => `'${k}'`).join(", ")}` : `'${i.path.join(".") || "config"}': ${i.message}`,
    );
    throw new SweepConfigError(`${source}: ${problems.join("; ")}`);
  }
  // Task configs are checked against each task's own schema now, not when a worker reaches the run.
  for (const [i, t] of r.data.tasks.entries()) {
    const task = getTask(t.task);
    try {
      parseTaskConfig(task, t.config);
      for (const e of t.evals) parseTaskConfig(task, { ...t.config, ...e.config });
    } catch (e) {
      throw new SweepConfigError(`${source}: 'tasks.${i}': ${(e as Error).message}`);
    }
  }
  const labels = new Set<string>();
  for (const m of r.data.mixers) {
    if (labels.has(m.label)) throw new SweepConfigError(`${source}: mixer label '${m.label}' is used twice`);
    labels.add(m.label);
  }
  return r.data;
}

/** Everything one run needs; plain JSON so it can be posted to a worker thread. */
export interface RunSpec {
  readonly id: string;
  readonly sweep: string;
  readonly task: string;
  readonly taskLabel: string;
  readonly taskConfig: Record<string, unknown>;
  readonly evals: ReadonlyArray<{ label: string; config: Record<string, unknown> }>;
  readonly mixer: string;
  readonly layers: ReadonlyArray<string | ({ type: string } & Record<string, unknown>)>;
  readonly mlp: "swiglu" | "none";
  readonly dModel: number;
  readonly lr: number;
  readonly seed: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly evalExamples: number;
  readonly evalsPerRun: number;
  readonly earlyStop: boolean;
  readonly weightDecay: number;
  readonly maxRunSeconds: number;
}

/**
 * A stable id: sha256 of the canonical JSON (sorted keys) of the fields that define the run's numbers, 16 hex
 * digits. The wall-clock cap is not one of them (raising it must not invalidate finished runs).
 */
export function runId(fields: Omit<RunSpec, "id" | "sweep">): string {
  const { maxRunSeconds: _cap, ...defining } = fields;
  void _cap;
  return createHash("sha256").update(canonicalJson(defining)).digest("hex").slice(0, 16);
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** All runs of a sweep, in a fixed order: task, mixer, width, learning rate, seed. */
export function expandSweep(sweep: SweepConfig): RunSpec[] {
  const runs: RunSpec[] = [];
  for (const t of sweep.tasks) {
    const taskConfig = parseTaskConfig(getTask(t.task), t.config) as Record<string, unknown>;
    for (const m of sweep.mixers) {
      const layers = m.layers ?? Array.from({ length: sweep.nLayers }, () => m.layer!);
      for (const dModel of m.dModels ?? sweep.dModels) {
        for (const lr of m.lrs ?? sweep.lrs) {
          for (const seed of sweep.seeds) {
            const fields = {
              task: t.task,
              taskLabel: t.label ?? t.task,
              taskConfig,
              evals: t.evals.map((e) => ({ label: e.label, config: e.config })),
              mixer: m.label,
              layers,
              mlp: m.mlp ?? sweep.mlp,
              dModel,
              lr,
              seed,
              steps: t.steps ?? sweep.steps,
              batchSize: t.batchSize ?? sweep.batchSize,
              evalExamples: sweep.evalExamples,
              evalsPerRun: sweep.evals,
              earlyStop: sweep.earlyStop,
              weightDecay: sweep.weightDecay,
              maxRunSeconds: sweep.maxRunSeconds,
            };
            runs.push({ id: runId(fields), sweep: sweep.name, ...fields });
          }
        }
      }
    }
  }
  const seen = new Set<string>();
  for (const r of runs) {
    if (seen.has(r.id)) throw new SweepConfigError(`${sweep.name}: two runs are identical (${r.taskLabel}, ${r.mixer}, d=${r.dModel}, lr=${r.lr}, seed=${r.seed}); remove the duplicate entry`);
    seen.add(r.id);
  }
  return runs;
}
