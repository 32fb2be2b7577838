/**
 * Multi-query associative recall, zoology's definition (tasks.md §1; zoology `multiquery_ar`, arXiv 2312.04927).
 *
 * Per example: P distinct keys from {1 … V/2−1} and P distinct values from {V/2 … V−1}; the context lists the
 * pairs k₁ v₁ k₂ v₂ … (repeated `numPasses` times, JRT-Prompt); after it, each key is queried exactly once at
 * position Lc + 2γᵢ, where the gaps γ₁…γ_P are distinct and drawn one after another from the power law
 * w(g) ∝ (g+1)^(powerA−1) over g ∈ [0, (T−Lc)/2). Key i (in context order) goes to the i-th drawn gap, as in the
 * reference. The target at a query position is the value bound to that key (next-token prediction: the value
 * itself is never written after the query). All other positions are 0, replaced by uniform tokens from [0, V)
 * when `randomNonQueries` (the reference does not keep those fillers away from key or value tokens).
 *
 * Spec vs reference: the spec restates zoology faithfully. One implementation difference, same distribution:
 * numpy's `choice(replace=False, p=…)` draws batches and drops repeats, which yields the same law as the
 * successive draw-remove-renormalise used here, only with a different use of the random stream.
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type Task } from "./types.js";
import { deterministicPow, emptyTokenBatch, fieldIssue, range, sampleDistinct, tokenBatch } from "./util.js";

export const mqarSchema = z
  .object({
    /** V: even; keys are 1 … V/2−1, values V/2 … V−1, 0 is the filler */
    vocabSize: z.number().int().min(4).default(64),
    /** T: even, and V > T as in the reference */
    seqLen: z.number().int().min(4).default(32),
    /** P: key-value pairs, each queried once */
    numKvPairs: z.number().int().min(1).default(4),
    /** exponent of the gap power law: small values put queries near the context, 1 is uniform */
    powerA: z.number().positive().finite().default(0.01),
    /** JRT-Prompt repetition of the key-value context (1 = plain MQAR) */
    numPasses: z.number().int().min(1).default(1),
    /** replace the 0 fillers by uniform random tokens from [0, V) (zoology default; Figure-2 configs use false) */
    randomNonQueries: z.boolean().default(true),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.vocabSize % 2 !== 0) fieldIssue(ctx, "vocabSize", `must be even, got ${c.vocabSize}`);
    if (c.seqLen % 2 !== 0) fieldIssue(ctx, "seqLen", `must be even, got ${c.seqLen}`);
    if (!(c.vocabSize > c.seqLen)) {
      fieldIssue(ctx, "vocabSize", `must exceed seqLen (zoology's constraint), got vocabSize ${c.vocabSize} ≤ seqLen ${c.seqLen}`);
    }
    const need = 2 * c.numKvPairs * c.numPasses + 2 * c.numKvPairs;
    if (need > c.seqLen) {
      fieldIssue(
        ctx,
        "numKvPairs",
        `2·numKvPairs·numPasses + 2·numKvPairs = ${need} must be ≤ seqLen ${c.seqLen} (numKvPairs ${c.numKvPairs}, numPasses ${c.numPasses})`,
      );
    }
    if (c.numKvPairs > c.vocabSize / 2 - 1) {
      fieldIssue(ctx, "numKvPairs", `must be ≤ vocabSize/2 − 1 = ${c.vocabSize / 2 - 1} distinct keys, got ${c.numKvPairs}`);
    }
  });

export type MqarConfig = z.infer<typeof mqarSchema>;

/** Normalised gap probabilities p(g) ∝ (g+1)^(a−1), g = 0 … space−1 (exported for tests and plots). */
export function mqarGapWeights(space: number, powerA: number): Float64Array {
  const w = new Float64Array(space);
  let total = 0;
  for (let g = 0; g < space; g++) {
    w[g] = powerA * deterministicPow(g + 1, powerA - 1);
    total += w[g]!;
  }
  for (let g = 0; g < space; g++) w[g]! /= total;
  return w;
}

/** Context length Lc = 2·P·numPasses. */
export function mqarContextLength(c: MqarConfig): number {
  return 2 * c.numKvPairs * c.numPasses;
}

function generate(c: MqarConfig, rng: Random, batchSize: number) {
  checkBatchSize("mqar", batchSize);
  const V = c.vocabSize;
  const T = c.seqLen;
  const P = c.numKvPairs;
  const half = V / 2;
  const Lc = mqarContextLength(c);
  const space = Math.floor((T - Lc) / 2);
  const baseWeights = mqarGapWeights(space, c.powerA);
  const gapIds = range(0, space);
  const keyPool = range(1, half);
  const valuePool = range(half, V);
  const { inputs, targets } = emptyTokenBatch(batchSize, T);
  const weights = new Float64Array(space);

  for (let b = 0; b < batchSize; b++) {
    const row = b * T;
    const keys = sampleDistinct(rng, keyPool, P);
    const values = sampleDistinct(rng, valuePool, P);
    for (let pass = 0; pass < c.numPasses; pass++) {
      for (let i = 0; i < P; i++) {
        inputs[row + pass * 2 * P + 2 * i] = keys[i]!;
        inputs[row + pass * 2 * P + 2 * i + 1] = values[i]!;
      }
    }
    // successive weighted draws without replacement: the i-th drawn gap hosts key i
    weights.set(baseWeights);
    for (let i = 0; i < P; i++) {
      const g = rng.choice(gapIds, weights);
      weights[g] = 0;
      const pos = Lc + 2 * g;
      inputs[row + pos] = keys[i]!;
      targets[row + pos] = values[i]!;
    }
    if (c.randomNonQueries) {
      // the reference draws a full random row and uses it where the input is 0; drawing only where needed
      // gives the same distribution
      for (let t = 0; t < T; t++) if (inputs[row + t] === 0) inputs[row + t] = rng.integer(0, V);
    }
  }
  return tokenBatch(inputs, targets, batchSize, T);
}

export const mqar: Task<MqarConfig> = {
  name: "mqar",
  summary: "Multi-query associative recall (zoology): key-value pairs, then every key queried once at power-law gaps.",
  spec: "tasks.md §1",
  schema: mqarSchema,
  presets: {
    cpu: {},
    harder: { seqLen: 48, numKvPairs: 8 },
    zoologyFig2: { vocabSize: 8192, seqLen: 64, numKvPairs: 4, randomNonQueries: false },
  },
  vocabSize: (c) => c.vocabSize,
  numClasses: (c) => c.vocabSize,
  seqLen: (c) => c.seqLen,
  generate,
  metric: "accuracy",
  solvedMetric: "accuracy",
  solvedThreshold: 0.99,
  describe: (c) =>
    `MQAR V=${c.vocabSize} T=${c.seqLen} P=${c.numKvPairs} powerA=${c.powerA}` +
    `${c.numPasses > 1 ? ` passes=${c.numPasses}` : ""}${c.randomNonQueries ? " random-fillers" : " zero-fillers"}` +
    ` (context ${mqarContextLength(c)} tokens, ${c.numKvPairs} scored/seq)`,
};
