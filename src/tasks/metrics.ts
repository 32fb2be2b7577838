/**
 * Task metrics: accuracy over scored positions (micro-averaged over everything added), exact match per sequence,
 * accuracy per position, scaled accuracy, and masked MSE (overall and per position).
 *
 * Logits are [B, T, C] row-major — a Float32Array/Float64Array or a Tensor (any strides). For typed arrays, C is
 * inferred as logits.length / targets.length. Targets are the batch's Int32Array with −100 = not scored. The
 * prediction is the first index of the maximum; a row with NaN everywhere (or only −∞) counts as wrong.
 */
import { Tensor } from "../core/tensor.js";
import { IGNORE_INDEX, type AnyTask, type RealBatch, type TaskBatch } from "./types.js";

export type Logits = Float32Array | Float64Array | Tensor;
export type Predictions = Float32Array | Float64Array | Tensor;

function flat(x: Logits): Float32Array | Float64Array {
  return x instanceof Tensor ? x.values() : x;
}

function batchShape(x: Logits, n: number, shape: readonly [number, number] | undefined): readonly [number, number] {
  if (shape) return shape;
  if (x instanceof Tensor && x.ndim >= 2) return [x.shape[0]!, x.shape[1]!];
  return [1, n];
}

/** Argmax over the last axis: one class id per position (−1 where no logit is a number above −∞). */
export function argmaxPredictions(logits: Logits, positions: number): Int32Array {
  const data = flat(logits);
  if (positions <= 0 || data.length % positions !== 0) {
    throw new RangeError(`argmaxPredictions: ${data.length} logits do not split into ${positions} positions`);
  }
  const C = data.length / positions;
  if (logits instanceof Tensor && logits.shape[logits.ndim - 1] !== C) {
    throw new RangeError(`argmaxPredictions: tensor's last axis is ${logits.shape[logits.ndim - 1]}, expected ${C} classes`);
  }
  const out = new Int32Array(positions);
  for (let p = 0; p < positions; p++) {
    let best = -Infinity;
    let arg = -1;
    const base = p * C;
    for (let c = 0; c < C; c++) {
      const v = data[base + c]!;
      if (v > best) {
        best = v;
        arg = c;
      }
    }
    out[p] = arg;
  }
  return out;
}

export interface AccuracySummary {
  /** scored positions seen */
  readonly scored: number;
  readonly correct: number;
  /** correct / scored (NaN when nothing was scored) */
  readonly accuracy: number;
  /** sequences with at least one scored position */
  readonly sequences: number;
  /** of those, sequences whose scored positions were all correct */
  readonly exactSequences: number;
  readonly exactMatch: number;
  /** accuracy at each position t (NaN where nothing was scored) */
  readonly positionAccuracy: Float64Array;
  /** the lowest per-position accuracy among positions that were scored */
  readonly minPositionAccuracy: number;
}

/** Accumulates accuracy statistics over many batches (an eval set), micro-averaged. */
export class AccuracyMeter {
  private scored = 0;
  private correct = 0;
  private sequences = 0;
  private exact = 0;
  private posScored: number[] = [];
  private posCorrect: number[] = [];

  /** Adds one batch: logits [B, T, C], targets [B·T] with −100 = ignored. */
  add(logits: Logits, targets: Int32Array, shape?: readonly [number, number]): this {
    const [B, T] = batchShape(logits, targets.length, shape);
    if (B * T !== targets.length) throw new RangeError(`AccuracyMeter.add: shape [${B}, ${T}] does not match ${targets.length} targets`);
    const pred = argmaxPredictions(logits, targets.length);
    const C = flat(logits).length / targets.length;
    while (this.posScored.length < T) {
      this.posScored.push(0);
      this.posCorrect.push(0);
    }
    for (let b = 0; b < B; b++) {
      let any = false;
      let all = true;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const y = targets[i]!;
        if (y === IGNORE_INDEX) continue;
        if (!Number.isInteger(y) || y < 0 || y >= C) {
          throw new RangeError(`AccuracyMeter.add: target ${y} at [${b}, ${t}] is outside [0, ${C}) and is not ${IGNORE_INDEX}`);
        }
        any = true;
        this.scored++;
        this.posScored[t]!++;
        if (pred[i] === y) {
          this.correct++;
          this.posCorrect[t]!++;
        } else {
          all = false;
        }
      }
      if (any) {
        this.sequences++;
        if (all) this.exact++;
      }
    }
    return this;
  }

  summary(): AccuracySummary {
    const positionAccuracy = Float64Array.from(this.posScored, (n, t) => (n > 0 ? this.posCorrect[t]! / n : NaN));
    let min = NaN;
    for (const a of positionAccuracy) if (!Number.isNaN(a) && !(a >= min)) min = a;
    return {
      scored: this.scored,
      correct: this.correct,
      accuracy: this.scored > 0 ? this.correct / this.scored : NaN,
      sequences: this.sequences,
      exactSequences: this.exact,
      exactMatch: this.sequences > 0 ? this.exact / this.sequences : NaN,
      positionAccuracy,
      minPositionAccuracy: min,
    };
  }
}

/** Accuracy statistics of one batch. */
export function accuracy(logits: Logits, targets: Int32Array, shape?: readonly [number, number]): AccuracySummary {
  return new AccuracyMeter().add(logits, targets, shape).summary();
}

/** (acc − chance) / (1 − chance): chance level → 0, perfect → 1 (the parity papers' "scaled accuracy"). */
export function scaledAccuracy(acc: number, chance: number): number {
  if (!(chance >= 0 && chance < 1)) throw new RangeError(`scaledAccuracy: chance must be in [0, 1), got ${chance}`);
  return (acc - chance) / (1 - chance);
}

export interface MseSummary {
  readonly count: number;
  readonly sumSquaredError: number;
  /** mean squared error over masked positions (NaN when none) */
  readonly mse: number;
  /** mean squared error at each position (NaN where nothing was scored) */
  readonly positionMse: Float64Array;
}

/** Accumulates masked squared errors over batches. Predictions: [B·T] (or a Tensor [B, T] / [B, T, 1]). */
export class MseMeter {
  private count = 0;
  private sum = 0;
  private posCount: number[] = [];
  private posSum: number[] = [];

  add(predictions: Predictions, targets: Float32Array | Float64Array, mask: Uint8Array, shape?: readonly [number, number]): this {
    const p = flat(predictions);
    if (p.length !== targets.length || mask.length !== targets.length) {
      throw new RangeError(`MseMeter.add: ${p.length} predictions, ${targets.length} targets and ${mask.length} mask entries differ`);
    }
    const [B, T] = batchShape(predictions, targets.length, shape);
    if (B * T !== targets.length) throw new RangeError(`MseMeter.add: shape [${B}, ${T}] does not match ${targets.length} targets`);
    while (this.posCount.length < T) {
      this.posCount.push(0);
      this.posSum.push(0);
    }
    for (let i = 0; i < targets.length; i++) {
      if (!mask[i]) continue;
      const e = p[i]! - targets[i]!;
      const t = i % T;
      this.count++;
      this.sum += e * e;
      this.posCount[t]!++;
      this.posSum[t]! += e * e;
    }
    return this;
  }

  summary(): MseSummary {
    return {
      count: this.count,
      sumSquaredError: this.sum,
      mse: this.count > 0 ? this.sum / this.count : NaN,
      positionMse: Float64Array.from(this.posCount, (n, t) => (n > 0 ? this.posSum[t]! / n : NaN)),
    };
  }
}

/** Masked MSE of one batch. */
export function maskedMse(predictions: Predictions, batch: Pick<RealBatch, "targets" | "mask" | "shape">): MseSummary {
  return new MseMeter().add(predictions, batch.targets, batch.mask, batch.shape).summary();
}

/**
 * The number a task's "solved" rule looks at, from an eval summary (see {@link Task.solvedMetric}).
 * For `normalizedMse` (icl_linear_regression): the worst per-position MSE / dim over the query positions
 * 2(i−1) with i ≥ dim + 2; the spec's second clause (within 0.05 of least squares for smaller i) needs a
 * least-squares baseline and is left to the lab.
 */
export function solvedMetricValue(task: AnyTask, config: unknown, summary: AccuracySummary | MseSummary): number {
  if (task.solvedMetric === "normalizedMse") {
    if (!("positionMse" in summary)) throw new TypeError(`${task.name}: needs an MSE summary`);
    const dim = task.inputDim!(config);
    let worst = NaN;
    for (let t = 2 * (dim + 1); t < summary.positionMse.length; t++) {
      const v = summary.positionMse[t]!;
      if (Number.isNaN(v)) continue;
      if (!(v / dim <= worst)) worst = v / dim;
    }
    return worst;
  }
  if (!("accuracy" in summary)) throw new TypeError(`${task.name}: needs an accuracy summary`);
  switch (task.solvedMetric) {
    case "accuracy":
      return summary.accuracy;
    case "exactMatch":
      return summary.exactMatch;
    case "minPositionAccuracy":
      return summary.minPositionAccuracy;
    case "scaledAccuracy":
      return scaledAccuracy(summary.accuracy, task.chanceAccuracy!(config));
  }
}

/** Whether the summary meets the task's threshold (≥ for accuracy-like metrics, < for normalizedMse). */
export function isSolved(task: AnyTask, config: unknown, summary: AccuracySummary | MseSummary): boolean {
  const v = solvedMetricValue(task, config, summary);
  return task.solvedMetric === "normalizedMse" ? v < task.solvedThreshold : v >= task.solvedThreshold;
}

/** Scores a batch against model outputs with the right meter for the batch kind. */
export function scoreBatch(batch: TaskBatch, outputs: Logits): AccuracySummary | MseSummary {
  return batch.kind === "tokens" ? accuracy(outputs, batch.targets, batch.shape) : maskedMse(outputs, batch);
}
