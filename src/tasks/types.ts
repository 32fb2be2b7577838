/**
 * The contract every synthetic task follows (definitions: /work/shared/spec/tasks.md).
 *
 * A task is a pure function of (config, random stream) → a batch of plain data: typed arrays plus a
 * shape, nothing else, so batches can be posted to worker threads (structured clone) or written to disk
 * unchanged. Unscored target positions carry {@link IGNORE_INDEX} (−100), the value PyTorch's
 * cross-entropy and zoology use.
 */
import { z } from "zod";
import type { Random } from "../core/random.js";

/** Target value of positions that are not scored (ignored by the loss and by every metric). */
export const IGNORE_INDEX = -100;

/** Token-in, class-out batch (every task except in-context regression). */
export interface TokenBatch {
  readonly kind: "tokens";
  /** [B·T] row-major token ids in [0, vocabSize) */
  readonly inputs: Int32Array;
  /** [B·T] class ids in [0, numClasses), or −100 where the position is not scored */
  readonly targets: Int32Array;
  /** [B, T] */
  readonly shape: readonly [number, number];
  /** Optional per-example facts a test or the lab may want (needle position, depth, …); plain data only. */
  readonly meta?: BatchMeta;
}

/** Real-valued batch (icl_linear_regression): a linear read-in on the inputs, an MSE read-out. */
export interface RealBatch {
  readonly kind: "real";
  /** [B·T·inputDim] row-major features */
  readonly inputs: Float32Array;
  readonly inputDim: number;
  /** [B·T] regression targets; only meaningful where mask is 1 */
  readonly targets: Float32Array;
  /** [B·T] 1 = scored, 0 = ignored */
  readonly mask: Uint8Array;
  /** [B, T] */
  readonly shape: readonly [number, number];
  readonly meta?: BatchMeta;
}

export type TaskBatch = TokenBatch | RealBatch;

/** Per-batch extras: numbers, strings or typed arrays indexed by example (length B or B·something). */
export type BatchMeta = Readonly<Record<string, number | string | Int32Array | Float32Array>>;

/** What the task's headline metric is computed from. */
export type MetricKind = "accuracy" | "mse";

/**
 * The number that is compared with {@link Task.solvedThreshold}:
 * - `accuracy`: micro-averaged accuracy over scored positions (≥ threshold);
 * - `exactMatch`: fraction of sequences whose scored positions are all correct (≥ threshold);
 * - `scaledAccuracy`: (acc − 1/k)/(1 − 1/k) for k answer classes, chance = 0 (≥ threshold);
 * - `minPositionAccuracy`: the worst per-position accuracy (≥ threshold);
 * - `normalizedMse`: squared error divided by the input dimension, worst over the scored positions
 *   from `n_x + 2` on (< threshold; see icl_linear_regression).
 */
export type SolvedMetric = "accuracy" | "exactMatch" | "scaledAccuracy" | "minPositionAccuracy" | "normalizedMse";

export interface Task<C> {
  /** registry key, snake_case (e.g. "mqar") */
  readonly name: string;
  /** one sentence for listings */
  readonly summary: string;
  /** where the definition lives, e.g. "tasks.md §1" */
  readonly spec: string;
  /** `.strict()` zod schema; every field has a default (the spec's CPU preset), so `{}` is a valid config */
  readonly schema: z.ZodType<C, unknown>;
  /** named partial configs from the spec (e.g. "harder"), applied over the defaults */
  readonly presets: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** input vocabulary size including special tokens (0 for real-valued inputs) */
  vocabSize(config: C): number;
  /** output classes of the read-out (1 for a scalar MSE head) */
  numClasses(config: C): number;
  /** input length T */
  seqLen(config: C): number;
  /** width of a real-valued input (only tasks whose batches are `kind: "real"`) */
  inputDim?(config: C): number;
  /**
   * B examples drawn from `rng`, one after another: generating 2n examples equals generating n and then n
   * more from the same (continuing) generator. `config` must already be parsed (see {@link parseTaskConfig}).
   */
  generate(config: C, rng: Random, batchSize: number): TaskBatch;
  readonly metric: MetricKind;
  readonly solvedMetric: SolvedMetric;
  /** solved when solvedMetric ≥ threshold (accuracy-like) or < threshold (normalizedMse) */
  readonly solvedThreshold: number;
  /** accuracy of guessing among the answer classes (what `scaledAccuracy` maps to 0); scaledAccuracy tasks only */
  chanceAccuracy?(config: C): number;
  /** one line for the lab: the config in words, including T and the scored positions per sequence */
  describe(config: C): string;
}

/** A task whose config type is not known statically (the registry hands these out). */
export type AnyTask = Task<any>;

/** The parsed config type of a task. */
export type ConfigOf<T> = T extends Task<infer C> ? C : never;

export class TaskConfigError extends Error {
  override name = "TaskConfigError";
}

/**
 * Validates `raw` (a partial config, or a preset name's overrides) against the task's schema and fills
 * defaults. Errors name the task and every offending field: `mqar: config field 'numKvPairs': …`.
 */
export function parseTaskConfig<C>(task: Task<C>, raw: unknown = {}): C {
  const result = task.schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return `unknown config field(s) ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
    }
    const where = issue.path.length ? `config field '${issue.path.join(".")}'` : "config";
    return `${where}: ${issue.message}`;
  });
  throw new TaskConfigError(`${task.name}: ${problems.join("; ")}`);
}

/** The defaults with a named preset applied over them. */
export function presetConfig<C>(task: Task<C>, preset: string): C {
  const overrides = task.presets[preset];
  if (overrides === undefined) {
    const known = Object.keys(task.presets);
    throw new TaskConfigError(
      `${task.name}: unknown preset '${preset}'${known.length ? ` (known: ${known.join(", ")})` : " (this task has no presets)"}`,
    );
  }
  return parseTaskConfig(task, overrides);
}

/** Checks a batch size argument (shared by all generators). */
export function checkBatchSize(task: string, batchSize: number): void {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`${task}.generate: batchSize must be a positive integer, got ${batchSize}`);
  }
}
