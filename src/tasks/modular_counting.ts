/**
 * Counting modulo k over a bit stream — the generalisation of parity (parity is k = 2). tasks.md has no section
 * for it; it follows §7's layout so the two tasks differ only in the modulus and the label encoding.
 *
 * Vocabulary: 0 = padding, 1 = bit 0, 2 = bit 1. Per example a length n ∈ [minLength, maxLength] (uniform): bits
 * at positions 0 … n−2, zeros after (position n−1 is where parity's reference stores the answer, masked to 0 in
 * the input). Labels are classes 0 … k−1 = (number of 1-bits so far) mod k:
 * - `final`: only position n−2 is scored (the count over all n−1 bits);
 * - `running`: every position j ≤ n−2 is scored with the count over bits 0 … j.
 * (The sum of arbitrary residues mod k — the Z_k word problem — is s5_composition with group "Z<k>".)
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type Task } from "./types.js";
import { emptyTokenBatch, fieldIssue, tokenBatch, type IssueSink } from "./util.js";

/** Fields shared with parity. */
export const countingFields = {
  /** "final": score the last bit's position only (the reference); "running": score every bit position */
  variant: z.enum(["final", "running"]).default("final"),
  /** shortest example length n (n−1 bits) */
  minLength: z.number().int().min(2).default(3),
  /** longest example length n */
  maxLength: z.number().int().min(2).default(20),
  /** Lc: padded input length T */
  seqLen: z.number().int().min(2).default(24),
};

export interface CountingConfig {
  variant: "final" | "running";
  minLength: number;
  maxLength: number;
  seqLen: number;
}

export function checkCountingLengths(c: CountingConfig, ctx: IssueSink): void {
  if (c.maxLength < c.minLength) fieldIssue(ctx, "maxLength", `must be ≥ minLength ${c.minLength}, got ${c.maxLength}`);
  if (c.maxLength > c.seqLen) fieldIssue(ctx, "maxLength", `must be ≤ seqLen ${c.seqLen}, got ${c.maxLength}`);
}

/**
 * Bits at 0 … n−2 as tokens 1/2; label at scored position j = labelOffset + (ones in 0 … j) mod k.
 * meta.length holds each example's n.
 */
export function countingBatch(c: CountingConfig, modulus: number, labelOffset: number, rng: Random, batchSize: number) {
  const T = c.seqLen;
  const { inputs, targets } = emptyTokenBatch(batchSize, T);
  const lengths = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) {
    const n = rng.integer(c.minLength, c.maxLength + 1);
    lengths[b] = n;
    const row = b * T;
    let count = 0;
    for (let j = 0; j <= n - 2; j++) {
      const bit = rng.integer(0, 2);
      inputs[row + j] = 1 + bit;
      count = (count + bit) % modulus;
      if (c.variant === "running" || j === n - 2) targets[row + j] = labelOffset + count;
    }
  }
  return tokenBatch(inputs, targets, batchSize, T, { length: lengths });
}

export const modularCountingSchema = z
  .object({
    /** k: count the 1-bits modulo k */
    modulus: z.number().int().min(2).max(1024).default(3),
    ...countingFields,
  })
  .strict()
  .superRefine((c, ctx) => checkCountingLengths(c, ctx));

export type ModularCountingConfig = z.infer<typeof modularCountingSchema>;

export const modularCounting: Task<ModularCountingConfig> = {
  name: "modular_counting",
  summary: "Counting mod k: the number of 1-bits seen so far, modulo k (parity is k = 2).",
  spec: "tasks.md §7 (generalised; no section of its own)",
  schema: modularCountingSchema,
  presets: {
    cpu: {},
    test: { minLength: 21, maxLength: 64, seqLen: 64 },
    running: { variant: "running" },
  },
  vocabSize: () => 3,
  numClasses: (c) => c.modulus,
  seqLen: (c) => c.seqLen,
  generate(c, rng, batchSize) {
    checkBatchSize("modular_counting", batchSize);
    return countingBatch(c, c.modulus, 0, rng, batchSize);
  },
  metric: "accuracy",
  solvedMetric: "scaledAccuracy",
  solvedThreshold: 0.99,
  chanceAccuracy: (c) => 1 / c.modulus,
  describe: (c) =>
    `count mod ${c.modulus} (${c.variant}) n∈[${c.minLength},${c.maxLength}] T=${c.seqLen} ` +
    `(${c.variant === "final" ? "1" : "n−1"} scored/seq)`,
};
