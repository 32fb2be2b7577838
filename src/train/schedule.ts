/**
 * Learning-rate schedules: pure functions from the 0-based index of the optimizer step about to be taken to
 * its learning rate, used as `opt.setLr(lr(step)); opt.step()`.
 *
 * Warm-up (W = warmupSteps > 0) is linear and skips zero: lr(s) = peak·(s + 1)/W for s < W, so step 0 already
 * moves the weights (peak/W) and step W − 1 reaches the peak. Decay then runs from the peak at s = W to minLr at
 * s = totalSteps, and the schedule stays at minLr after that. With W = 0 the decay starts at step 0.
 */
import { checkKnownKeys, describe, requireNonNegative, requireNonNegativeInt, requirePositiveInt } from "./validate.js";

export type Schedule = (step: number) => number;

export interface ConstantOptions {
  lr: number;
  /** linear warm-up to `lr` over this many steps first (default 0) */
  warmupSteps?: number;
}

export interface WarmupDecayOptions {
  /** learning rate at the end of warm-up, >= 0 */
  peakLr: number;
  /** steps of linear warm-up, an integer in [0, totalSteps] (default 0) */
  warmupSteps?: number;
  /** the step at which the decay reaches minLr, an integer >= 1 */
  totalSteps: number;
  /** final learning rate, in [0, peakLr] (default 0) */
  minLr?: number;
}

function checkStep(owner: string, step: number): void {
  if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) {
    throw new RangeError(`${owner}: step must be an integer >= 0, got ${describe(step)}`);
  }
}

function checkObject(owner: string, opts: unknown, keys: readonly string[]): void {
  if (typeof opts !== "object" || opts === null) throw new TypeError(`${owner}: options must be an object, got ${describe(opts)}`);
  checkKnownKeys(owner, "option", opts, keys);
}

/** The fixed learning rate `lr` (after an optional linear warm-up). `constant(3e-4)` is short for `{ lr: 3e-4 }`. */
export function constant(opts: number | ConstantOptions): Schedule {
  const owner = "constant";
  const o = typeof opts === "number" ? { lr: opts } : opts;
  checkObject(owner, o, ["lr", "warmupSteps"]);
  const lr = requireNonNegative(owner, "lr", o.lr);
  const warmup = requireNonNegativeInt(owner, "warmupSteps", o.warmupSteps ?? 0);
  return (step) => {
    checkStep(owner, step);
    return step < warmup ? (lr * (step + 1)) / warmup : lr;
  };
}

/** Validates warm-up + decay options and builds the schedule around `shape`, the decay factor from 1 to 0. */
function warmupDecay(owner: string, opts: WarmupDecayOptions, shape: (progress: number) => number): Schedule {
  checkObject(owner, opts, ["peakLr", "warmupSteps", "totalSteps", "minLr"]);
  const peak = requireNonNegative(owner, "peakLr", opts.peakLr);
  const minLr = requireNonNegative(owner, "minLr", opts.minLr ?? 0);
  const warmup = requireNonNegativeInt(owner, "warmupSteps", opts.warmupSteps ?? 0);
  const total = requirePositiveInt(owner, "totalSteps", opts.totalSteps);
  if (minLr > peak) throw new RangeError(`${owner}: minLr (${minLr}) must be <= peakLr (${peak})`);
  if (warmup > total) throw new RangeError(`${owner}: warmupSteps (${warmup}) must be <= totalSteps (${total})`);
  return (step) => {
    checkStep(owner, step);
    if (step < warmup) return (peak * (step + 1)) / warmup;
    if (step >= total) return minLr;
    const progress = (step - warmup) / (total - warmup); // in [0, 1)
    return minLr + (peak - minLr) * shape(progress);
  };
}

/** Linear warm-up, then half a cosine from peakLr down to minLr at totalSteps. */
export function linearWarmupCosine(opts: WarmupDecayOptions): Schedule {
  return warmupDecay("linearWarmupCosine", opts, (p) => 0.5 * (1 + Math.cos(Math.PI * p)));
}

/** Linear warm-up, then a straight line from peakLr down to minLr at totalSteps. */
export function linearWarmupLinearDecay(opts: WarmupDecayOptions): Schedule {
  return warmupDecay("linearWarmupLinearDecay", opts, (p) => 1 - p);
}

const SCHEDULES = { constant, linearWarmupCosine, linearWarmupLinearDecay } as const;

export type ScheduleName = keyof typeof SCHEDULES;
export type ScheduleOptions<N extends ScheduleName> = Parameters<(typeof SCHEDULES)[N]>[0];
export const SCHEDULE_NAMES = Object.keys(SCHEDULES) as ScheduleName[];

/** A schedule by name, e.g. from a config file: `schedule("linearWarmupCosine", { peakLr, warmupSteps, totalSteps })`. */
export function schedule<N extends ScheduleName>(name: N, opts: ScheduleOptions<N>): Schedule {
  if (!Object.hasOwn(SCHEDULES, name)) {
    throw new RangeError(`schedule: unknown schedule ${describe(name)} (expected one of: ${SCHEDULE_NAMES.join(", ")})`);
  }
  return (SCHEDULES[name] as (o: ScheduleOptions<N>) => Schedule)(opts);
}
