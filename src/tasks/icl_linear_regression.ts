/**
 * In-context linear regression (tasks.md §9; Garg, Tsipras, Liang & Valiant, arXiv 2208.01066).
 *
 * Per sequence: w ~ N(0, I_d), x_i ~ N(0, I_d), y_i = w·x_i + σ·ε_i (i = 1 … k). Real-valued tokens of width d:
 * x_1, ỹ_1, x_2, ỹ_2, …, x_k, ỹ_k with ỹ_i = (y_i, 0, …, 0) — length T = 2k. The model gets a linear read-in
 * R^d → R^model and a scalar read-out; the prediction at the x_i position (index 2(i−1)) must be y_i, so the
 * mask is 1 exactly at the even positions. Metric: squared error / d per position (zero predictor ≈ 1 when
 * σ = 0); solved when it is < 0.05 at every i ≥ d + 2.
 *
 * Sampling order per example (for reproducibility): w, then for each i: x_i, then ε_i (only when σ > 0).
 * meta.weights holds each sequence's w ([B·d]) for oracle baselines and tests.
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type RealBatch, type Task } from "./types.js";

export const iclLinearRegressionSchema = z
  .object({
    /** n_x: input dimension */
    dim: z.number().int().min(1).default(4),
    /** k: in-context examples (T = 2k) */
    numExamples: z.number().int().min(1).default(12),
    /** σ: standard deviation of the label noise */
    noiseStd: z.number().min(0).finite().default(0),
  })
  .strict();

export type IclLinearRegressionConfig = z.infer<typeof iclLinearRegressionSchema>;

function generate(c: IclLinearRegressionConfig, rng: Random, batchSize: number): RealBatch {
  checkBatchSize("icl_linear_regression", batchSize);
  const d = c.dim;
  const k = c.numExamples;
  const T = 2 * k;
  const inputs = new Float32Array(batchSize * T * d);
  const targets = new Float32Array(batchSize * T);
  const mask = new Uint8Array(batchSize * T);
  const weights = new Float32Array(batchSize * d);
  const w = new Float64Array(d);
  for (let b = 0; b < batchSize; b++) {
    for (let j = 0; j < d; j++) {
      w[j] = Math.fround(rng.normal()); // rounded first, so meta.weights is exactly the w used
      weights[b * d + j] = w[j]!;
    }
    for (let i = 0; i < k; i++) {
      const xBase = (b * T + 2 * i) * d;
      let y = 0;
      for (let j = 0; j < d; j++) {
        const x = Math.fround(rng.normal());
        inputs[xBase + j] = x;
        y += w[j]! * x;
      }
      if (c.noiseStd > 0) y += c.noiseStd * rng.normal();
      inputs[xBase + d] = y; // first feature of the ỹ token that follows (index 2i+1)
      targets[b * T + 2 * i] = y;
      mask[b * T + 2 * i] = 1;
    }
  }
  return { kind: "real", inputs, inputDim: d, targets, mask, shape: [batchSize, T], meta: { weights } };
}

export const iclLinearRegression: Task<IclLinearRegressionConfig> = {
  name: "icl_linear_regression",
  summary: "In-context linear regression: predict y = w·x for a fresh w per sequence from the (x, y) pairs so far.",
  spec: "tasks.md §9",
  schema: iclLinearRegressionSchema,
  presets: { cpu: {}, paper: { dim: 20, numExamples: 41 } },
  vocabSize: () => 0,
  numClasses: () => 1,
  seqLen: (c) => 2 * c.numExamples,
  inputDim: (c) => c.dim,
  generate,
  metric: "mse",
  solvedMetric: "normalizedMse",
  solvedThreshold: 0.05,
  describe: (c) =>
    `ICL linear regression d=${c.dim} k=${c.numExamples} σ=${c.noiseStd} (T=${2 * c.numExamples}, ` +
    `${c.numExamples} scored/seq, solved when error/d < 0.05 for i ≥ ${c.dim + 2})`,
};
