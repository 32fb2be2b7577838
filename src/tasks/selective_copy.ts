/**
 * Selective copying (Mamba §4.1; the S4 copying loader with `variable=True`), tasks.md §2.
 *
 * Tokens: 0 = blank, A−1 = marker ("now recall"), content 1 … A−2. Per example: M content tokens i.i.d.,
 * written in order at M sorted distinct positions among the first M+L; then M markers. At the j-th marker the
 * target is the j-th content token (no shift). `variable: false` is the classic copying task (tokens at 0 … M−1).
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type Task } from "./types.js";
import { emptyTokenBatch, range, sampleDistinct, tokenBatch } from "./util.js";

export const selectiveCopySchema = z
  .object({
    /** A: alphabet size including blank (0) and marker (A−1) */
    alphabetSize: z.number().int().min(3).default(8),
    /** M: tokens to copy */
    numTokens: z.number().int().min(1).default(6),
    /** L: extra blank positions among which the tokens are scattered */
    numBlanks: z.number().int().min(0).default(26),
    /** scatter the tokens (selective copying); false = contiguous at the start (classic copying) */
    variable: z.boolean().default(true),
  })
  .strict();

export type SelectiveCopyConfig = z.infer<typeof selectiveCopySchema>;

function generate(c: SelectiveCopyConfig, rng: Random, batchSize: number) {
  checkBatchSize("selective_copy", batchSize);
  const A = c.alphabetSize;
  const M = c.numTokens;
  const span = M + c.numBlanks;
  const T = span + M;
  const marker = A - 1;
  const slots = range(0, span);
  const { inputs, targets } = emptyTokenBatch(batchSize, T);
  for (let b = 0; b < batchSize; b++) {
    const row = b * T;
    const tokens: number[] = [];
    for (let j = 0; j < M; j++) tokens.push(rng.integer(1, A - 1));
    const pos = c.variable ? sampleDistinct(rng, slots, M).sort((x, y) => x - y) : range(0, M);
    for (let j = 0; j < M; j++) inputs[row + pos[j]!] = tokens[j]!;
    for (let j = 0; j < M; j++) {
      inputs[row + span + j] = marker;
      targets[row + span + j] = tokens[j]!;
    }
  }
  return tokenBatch(inputs, targets, batchSize, T);
}

export const selectiveCopy: Task<SelectiveCopyConfig> = {
  name: "selective_copy",
  summary: "Selective copying (Mamba): recall the non-blank tokens, in order, after the markers.",
  spec: "tasks.md §2",
  schema: selectiveCopySchema,
  presets: {
    cpu: {},
    harder: { numBlanks: 58 },
    // Mamba: vocabulary 16, 16 tokens, length 4096; the split of 4096 into L and 2M is the spec's recollection
    mamba: { alphabetSize: 16, numTokens: 16, numBlanks: 4064 },
  },
  vocabSize: (c) => c.alphabetSize,
  numClasses: (c) => c.alphabetSize,
  seqLen: (c) => c.numBlanks + 2 * c.numTokens,
  generate,
  metric: "accuracy",
  solvedMetric: "accuracy",
  solvedThreshold: 0.99,
  describe: (c) =>
    `${c.variable ? "selective" : "classic"} copy A=${c.alphabetSize} M=${c.numTokens} L=${c.numBlanks} ` +
    `(T=${c.numBlanks + 2 * c.numTokens}, ${c.numTokens} scored/seq)`,
};
