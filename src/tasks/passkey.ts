/**
 * Passkey retrieval, token-level (tasks.md §4; idea from Landmark Attention, arXiv 2305.16300).
 *
 * Vocabulary: digits D0…D9 = ids 0…9, fillers F0…F(f−1) = ids 10…9+f, then BOS, KEY, END, ASK (V = f + 14).
 * Full sequence (T+1 tokens): [BOS] + haystack-with-needle + [ASK] + π, where the needle [KEY, π₁…π_n, END] is
 * inserted into the periodic filler F0 F1 … F(f−1) F0 … (length h = T − 2n − 3) at haystack index
 * round(δ·h); the filler keeps its phase across the needle. Inputs are the first T tokens; the n positions
 * whose next token is a passkey digit (ASK and the first n−1 digits) are scored.
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type Task } from "./types.js";
import { emptyTokenBatch, fieldIssue, tokenBatch } from "./util.js";

/** Needle depth: a fixed δ ∈ [0, 1] (depth sweeps) or "uniform" (δ ~ U[0, 1] per example). */
export const depthSchema = z.union([z.literal("uniform"), z.number().min(0).max(1)]);

export const passkeySchema = z
  .object({
    /** T: input length */
    seqLen: z.number().int().min(1).default(64),
    /** n_d: digits in the passkey */
    numDigits: z.number().int().min(1).default(4),
    /** f: filler period = number of distinct filler tokens */
    fillerPeriod: z.number().int().min(1).default(5),
    /** δ: where the needle sits in the haystack (0 = right after BOS, 1 = right before the question) */
    depth: depthSchema.default("uniform"),
  })
  .strict()
  .superRefine((c, ctx) => {
    const min = 2 * c.numDigits + 3;
    if (c.seqLen < min) fieldIssue(ctx, "seqLen", `must be ≥ 2·numDigits + 3 = ${min} (empty haystack), got ${c.seqLen}`);
  });

export type PasskeyConfig = z.infer<typeof passkeySchema>;

/** Token ids of the passkey vocabulary. */
export function passkeyTokens(c: PasskeyConfig) {
  const f = c.fillerPeriod;
  return { digit0: 0, filler0: 10, BOS: 10 + f, KEY: 11 + f, END: 12 + f, ASK: 13 + f, vocabSize: 14 + f };
}

/** Draws δ for one example (or returns the fixed one). */
export function drawDepth(depth: "uniform" | number, rng: Random): number {
  return depth === "uniform" ? rng.uniform() : depth;
}

function generate(c: PasskeyConfig, rng: Random, batchSize: number) {
  checkBatchSize("passkey", batchSize);
  const T = c.seqLen;
  const n = c.numDigits;
  const f = c.fillerPeriod;
  const tok = passkeyTokens(c);
  const h = T - 2 * n - 3;
  const { inputs, targets } = emptyTokenBatch(batchSize, T);
  const needleStart = new Int32Array(batchSize);
  const depths = new Float32Array(batchSize);
  const full = new Int32Array(T + 1);
  for (let b = 0; b < batchSize; b++) {
    const key: number[] = [];
    for (let i = 0; i < n; i++) key.push(rng.integer(0, 10));
    const delta = drawDepth(c.depth, rng);
    const at = Math.round(delta * h);
    let w = 0;
    full[w++] = tok.BOS;
    for (let i = 0; i < at; i++) full[w++] = tok.filler0 + (i % f);
    needleStart[b] = w;
    depths[b] = delta;
    full[w++] = tok.KEY;
    for (let i = 0; i < n; i++) full[w++] = key[i]!;
    full[w++] = tok.END;
    for (let i = at; i < h; i++) full[w++] = tok.filler0 + (i % f);
    full[w++] = tok.ASK;
    for (let i = 0; i < n; i++) full[w++] = key[i]!;
    const row = b * T;
    inputs.set(full.subarray(0, T), row);
    for (let i = 0; i < n; i++) targets[row + T - n + i] = key[i]!;
  }
  return tokenBatch(inputs, targets, batchSize, T, { needleStart, depth: depths });
}

export const passkey: Task<PasskeyConfig> = {
  name: "passkey",
  summary: "Passkey retrieval: a digit string hidden at some depth in periodic filler, asked for at the end.",
  spec: "tasks.md §4",
  schema: passkeySchema,
  presets: { cpu: {} },
  vocabSize: (c) => passkeyTokens(c).vocabSize,
  numClasses: (c) => passkeyTokens(c).vocabSize,
  seqLen: (c) => c.seqLen,
  generate,
  metric: "accuracy",
  solvedMetric: "exactMatch",
  solvedThreshold: 0.95,
  describe: (c) =>
    `passkey T=${c.seqLen} digits=${c.numDigits} fillerPeriod=${c.fillerPeriod} depth=${c.depth} ` +
    `(V=${passkeyTokens(c).vocabSize}, ${c.numDigits} scored/seq, solved on exact match)`,
};
