/**
 * Set disjointness / intersection (JRT, arXiv 2407.05483; tasks.md §6, reference `disjoint_sets` in
 * HazyResearch/prefix-linear-attention).
 *
 * Special tokens 0 (mask, unused), 1 start, 2 list separator, 3 answer separator; content 4 … V−1. Two lists of
 * distinct content tokens that share exactly one element ω; the sequence is [1] a [2] b [3] and the target at
 * the final [3] is ω (next-token prediction; every other position −100).
 *
 * Sampling: the reference shuffles the content tokens, splits them into pools of V/2 and V/2−4, draws a from
 * the first and b from the second, then overwrites a uniform position of b with a uniform element of a. Since
 * the split is re-drawn per example, (a, b) is just a uniformly random pair of disjoint ordered lists; we draw
 * that directly (n_a + n_b − 1 distinct tokens, then ω into b), which has the same distribution and only needs
 * n_a + n_b − 1 ≤ V − 4 — the reference's pool of V/2−4 would reject the spec's own (4, 32) slice at V = 64.
 *
 * Options beyond the reference:
 * - `order`: which list comes first. "as-given" = (listA, listB); "small-first"/"large-first" sort the two
 *   lengths; "random" flips a fair coin per example (the total length, hence T, is unchanged).
 * - `numPasses`: JRT-Prompt repetition of the block [1] a [2] b before the final [3] (1 = the reference).
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type Task } from "./types.js";
import { emptyTokenBatch, fieldIssue, range, sampleDistinct, tokenBatch } from "./util.js";

export const SET_START = 1;
export const SET_SEP = 2;
export const SET_ANSWER = 3;
export const SET_FIRST_CONTENT = 4;

export const setDisjointnessSchema = z
  .object({
    /** V: 4 special tokens + content tokens 4 … V−1 */
    vocabSize: z.number().int().min(6).default(64),
    /** n_a: length of one list (the first one when order is "as-given") */
    listA: z.number().int().min(1).default(4),
    /** n_b: length of the other list */
    listB: z.number().int().min(1).default(16),
    order: z.enum(["as-given", "small-first", "large-first", "random"]).default("as-given"),
    /** JRT-Prompt: how many times the two lists are shown before the question */
    numPasses: z.number().int().min(1).default(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    const content = c.vocabSize - SET_FIRST_CONTENT;
    if (c.listA + c.listB - 1 > content) {
      fieldIssue(ctx, "vocabSize", `needs listA + listB − 1 = ${c.listA + c.listB - 1} distinct content tokens but has ${content}`);
    }
  });

export type SetDisjointnessConfig = z.infer<typeof setDisjointnessSchema>;

/** The first-list and second-list lengths implied by `order` (for "random", the as-given pair; swaps happen per example). */
export function listLengths(c: SetDisjointnessConfig): [number, number] {
  const lo = Math.min(c.listA, c.listB);
  const hi = Math.max(c.listA, c.listB);
  if (c.order === "small-first") return [lo, hi];
  if (c.order === "large-first") return [hi, lo];
  return [c.listA, c.listB];
}

function seqLen(c: SetDisjointnessConfig): number {
  return c.numPasses * (c.listA + c.listB + 2) + 1;
}

function generate(c: SetDisjointnessConfig, rng: Random, batchSize: number) {
  checkBatchSize("set_disjointness", batchSize);
  const T = seqLen(c);
  const pool = range(SET_FIRST_CONTENT, c.vocabSize);
  const { inputs, targets } = emptyTokenBatch(batchSize, T);
  const firstLength = new Int32Array(batchSize);
  for (let b = 0; b < batchSize; b++) {
    let [n1, n2] = listLengths(c);
    if (c.order === "random" && rng.integer(0, 2) === 1) [n1, n2] = [n2, n1];
    firstLength[b] = n1;
    // ω is drawn from the first list and planted in the second, as in the reference
    const drawn = sampleDistinct(rng, pool, n1 + n2 - 1);
    const first = drawn.slice(0, n1);
    const omega = first[rng.integer(0, n1)]!;
    const second = drawn.slice(n1);
    second.splice(rng.integer(0, n2), 0, omega);
    const row = b * T;
    let w = row;
    for (let pass = 0; pass < c.numPasses; pass++) {
      inputs[w++] = SET_START;
      for (const x of first) inputs[w++] = x;
      inputs[w++] = SET_SEP;
      for (const x of second) inputs[w++] = x;
    }
    inputs[w] = SET_ANSWER;
    targets[w] = omega;
  }
  return tokenBatch(inputs, targets, batchSize, T, { firstLength });
}

export const setDisjointness: Task<SetDisjointnessConfig> = {
  name: "set_disjointness",
  summary: "Set intersection (JRT): two token lists sharing exactly one element; name it after the lists.",
  spec: "tasks.md §6",
  schema: setDisjointnessSchema,
  presets: {
    cpu: {},
    "4x16": { listA: 4, listB: 16 },
    "16x4": { listA: 16, listB: 4 },
    "8x24": { listA: 8, listB: 24 },
    "24x8": { listA: 24, listB: 8 },
    "4x32": { listA: 4, listB: 32 },
    "32x4": { listA: 32, listB: 4 },
  },
  vocabSize: (c) => c.vocabSize,
  numClasses: (c) => c.vocabSize,
  seqLen,
  generate,
  metric: "accuracy",
  solvedMetric: "accuracy",
  solvedThreshold: 0.99,
  describe: (c) => {
    const [n1, n2] = listLengths(c);
    const order = c.order === "random" ? `random order of ${n1}/${n2}` : `${n1} then ${n2}`;
    return `set disjointness V=${c.vocabSize} lists ${order}${c.numPasses > 1 ? ` ×${c.numPasses} passes` : ""} (T=${seqLen(c)}, 1 scored/seq)`;
  },
};
