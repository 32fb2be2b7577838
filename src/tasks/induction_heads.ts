/**
 * Induction heads, Mamba-style single trigger (tasks.md §3), with the H3-style multi-token variant.
 *
 * Special token s = V−1, content tokens 0 … V−2. Per example (pattern length k, k = 1 is Mamba's task):
 * 1. T i.i.d. content tokens;
 * 2. p uniform in {0 … T−2k−1}; x[p] = s; the answer is the k tokens after it, x[p+1 … p+k] (content tokens,
 *    and they end before the final trigger);
 * 3. x[T−k] = s, followed (teacher forcing) by the first k−1 answer tokens;
 * 4. targets: position T−k+j predicts answer token j (j = 0 … k−1), −100 elsewhere.
 * For k = 1 this is exactly the spec: p ∈ {0 … T−3}, x[T−1] = s, one scored token.
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type Task } from "./types.js";
import { emptyTokenBatch, fieldIssue, tokenBatch } from "./util.js";

export const inductionHeadsSchema = z
  .object({
    /** V: content tokens 0 … V−2 plus the trigger V−1 */
    vocabSize: z.number().int().min(3).default(16),
    /** T: training length (evaluate at longer T with the same vocabulary) */
    seqLen: z.number().int().min(3).default(48),
    /** k: tokens to recall after the trigger (1 = Mamba's task; >1 = H3-style multi-token variant) */
    patternLength: z.number().int().min(1).default(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.seqLen < 2 * c.patternLength + 1) {
      fieldIssue(ctx, "seqLen", `must be ≥ 2·patternLength + 1 = ${2 * c.patternLength + 1}, got ${c.seqLen}`);
    }
  });

export type InductionHeadsConfig = z.infer<typeof inductionHeadsSchema>;

function generate(c: InductionHeadsConfig, rng: Random, batchSize: number) {
  checkBatchSize("induction_heads", batchSize);
  const V = c.vocabSize;
  const T = c.seqLen;
  const k = c.patternLength;
  const s = V - 1;
  const { inputs, targets } = emptyTokenBatch(batchSize, T);
  const triggerPos = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) {
    const row = b * T;
    for (let t = 0; t < T; t++) inputs[row + t] = rng.integer(0, s);
    const p = rng.integer(0, T - 2 * k);
    triggerPos[b] = p;
    inputs[row + p] = s;
    const q = T - k; // the final trigger
    inputs[row + q] = s;
    for (let j = 0; j < k; j++) {
      const a = inputs[row + p + 1 + j]!;
      targets[row + q + j] = a;
      if (j + 1 < k) inputs[row + q + 1 + j] = a;
    }
  }
  return tokenBatch(inputs, targets, batchSize, T, { triggerPosition: triggerPos });
}

export const inductionHeads: Task<InductionHeadsConfig> = {
  name: "induction_heads",
  summary: "Induction heads: after the final trigger token, emit the token(s) that followed its first occurrence.",
  spec: "tasks.md §3",
  schema: inductionHeadsSchema,
  presets: { cpu: {}, multiToken: { patternLength: 4 }, mamba: { vocabSize: 16, seqLen: 256 } },
  vocabSize: (c) => c.vocabSize,
  numClasses: (c) => c.vocabSize,
  seqLen: (c) => c.seqLen,
  generate,
  metric: "accuracy",
  solvedMetric: "accuracy",
  solvedThreshold: 0.99,
  describe: (c) =>
    `induction heads V=${c.vocabSize} T=${c.seqLen}${c.patternLength > 1 ? ` pattern=${c.patternLength}` : ""} ` +
    `(${c.patternLength} scored/seq)`,
};
