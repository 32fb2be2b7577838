/**
 * Parity (tasks.md §7; the xLSTM formal-language generator used by arXiv 2411.12537).
 *
 * Vocabulary 0 = padding, 1 = bit 0, 2 = bit 1. Per example n ∈ [minLength, maxLength]: bits at 0 … n−2,
 * zeros after. The reference stores the answer ans = 1 + (ones mod 2) — i.e. the token 1 or 2 — at position n−1
 * and, with `enable_mask` and `shift = 1`, hides it from the input and moves the target one step left, so
 * `targets[n−2] = ans` and nothing else is scored. seqmix keeps that encoding (class ids 1/2, numClasses 3)
 * and uses −100 where the reference uses −1. Variant `running`: every bit position j is scored with the
 * parity of bits 0 … j (same encoding), on the same inputs.
 */
import { z } from "zod";
import { checkBatchSize, type Task } from "./types.js";
import { checkCountingLengths, countingBatch, countingFields } from "./modular_counting.js";

export const paritySchema = z
  .object({ ...countingFields })
  .strict()
  .superRefine((c, ctx) => checkCountingLengths(c, ctx));

export type ParityConfig = z.infer<typeof paritySchema>;

export const parity: Task<ParityConfig> = {
  name: "parity",
  summary: "Parity of a bit string (state tracking); the answer is never shown as input.",
  spec: "tasks.md §7",
  schema: paritySchema,
  presets: {
    cpu: {},
    // the spec's test lengths for the CPU preset (length generalisation)
    test: { minLength: 21, maxLength: 64, seqLen: 64 },
    running: { variant: "running" },
    paper: { minLength: 3, maxLength: 40, seqLen: 256 },
    paperTest: { minLength: 40, maxLength: 256, seqLen: 256 },
  },
  vocabSize: () => 3,
  numClasses: () => 3,
  seqLen: (c) => c.seqLen,
  generate(c, rng, batchSize) {
    checkBatchSize("parity", batchSize);
    return countingBatch(c, 2, 1, rng, batchSize);
  },
  metric: "accuracy",
  solvedMetric: "scaledAccuracy",
  solvedThreshold: 0.99,
  chanceAccuracy: () => 0.5,
  describe: (c) =>
    `parity (${c.variant}) n∈[${c.minLength},${c.maxLength}] T=${c.seqLen} ` +
    `(${c.variant === "final" ? "1" : "n−1"} scored/seq, solved on scaled accuracy)`,
};
