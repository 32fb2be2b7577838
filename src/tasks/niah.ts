/**
 * Single needle in a haystack, token level (tasks.md §5; RULER S-NIAH, arXiv 2404.06654).
 *
 * Vocabulary (ids in this order): words W0…W(n_w−1), keys K0…K(n_k−1), values (digits 0–9, plus six more hex
 * symbols for the `uuid` variant), then BOS, NEEDLE, IS, ASK, ANS. So V = n_w + n_k + 15 (+6 for uuid), and the
 * `noise`/`text` variants share one vocabulary.
 *
 * Full sequence (T+1 tokens): [BOS] + haystack-with-needle + [ASK, κ, ANS] + ν, with the needle
 * [NEEDLE, κ, IS, ν] (κ = k_len key tokens i.i.d. from the key pool, ν = v_len value tokens i.i.d. from the
 * value pool) inserted at haystack index round(δ·h), h = T − 2·k_len − 2·v_len − 4. Haystack:
 * - `noise`: periodic filler cycling through the first `fillerPeriod` words (as passkey);
 * - `text`, `uuid`: i.i.d. uniform words (never key or value tokens, so the key is unambiguous).
 * Scored: the v_len positions predicting ν (ANS and the first v_len−1 value tokens).
 * Multi-key distractors (MK-NIAH) are not implemented; this is the single-needle task.
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type Task } from "./types.js";
import { depthSchema, drawDepth } from "./passkey.js";
import { emptyTokenBatch, fieldIssue, tokenBatch } from "./util.js";

export const niahSchema = z
  .object({
    /** haystack kind: periodic filler, i.i.d. words, or i.i.d. words with hex values */
    variant: z.enum(["noise", "text", "uuid"]).default("text"),
    /** T: input length */
    seqLen: z.number().int().min(1).default(64),
    /** k_len: tokens in the key */
    keyLength: z.number().int().min(1).default(2),
    /** v_len: tokens in the value (scored positions per sequence) */
    valueLength: z.number().int().min(1).default(4),
    /** n_w: word pool size (haystack tokens) */
    numWords: z.number().int().min(1).default(24),
    /** n_k: key pool size */
    numKeys: z.number().int().min(1).default(8),
    /** period of the `noise` haystack (uses words W0 … W(fillerPeriod−1)); ignored by the other variants */
    fillerPeriod: z.number().int().min(1).default(5),
    /** δ ∈ [0, 1], or "uniform" per example */
    depth: depthSchema.default("uniform"),
  })
  .strict()
  .superRefine((c, ctx) => {
    const min = 2 * c.keyLength + 2 * c.valueLength + 4;
    if (c.seqLen < min) {
      fieldIssue(ctx, "seqLen", `must be ≥ 2·keyLength + 2·valueLength + 4 = ${min} (empty haystack), got ${c.seqLen}`);
    }
    if (c.fillerPeriod > c.numWords) fieldIssue(ctx, "fillerPeriod", `must be ≤ numWords ${c.numWords}, got ${c.fillerPeriod}`);
  });

export type NiahConfig = z.infer<typeof niahSchema>;

/** Token ids of the NIAH vocabulary. */
export function niahTokens(c: NiahConfig) {
  const word0 = 0;
  const key0 = c.numWords;
  const value0 = key0 + c.numKeys;
  const numValues = c.variant === "uuid" ? 16 : 10;
  const m = value0 + numValues;
  return { word0, key0, value0, numValues, BOS: m, NEEDLE: m + 1, IS: m + 2, ASK: m + 3, ANS: m + 4, vocabSize: m + 5 };
}

function generate(c: NiahConfig, rng: Random, batchSize: number) {
  checkBatchSize("niah", batchSize);
  const T = c.seqLen;
  const kl = c.keyLength;
  const vl = c.valueLength;
  const tok = niahTokens(c);
  const h = T - 2 * kl - 2 * vl - 4;
  const { inputs, targets } = emptyTokenBatch(batchSize, T);
  const needleStart = new Int32Array(batchSize);
  const depths = new Float32Array(batchSize);
  const full = new Int32Array(T + 1);
  const hay = new Int32Array(h);
  for (let b = 0; b < batchSize; b++) {
    const key: number[] = [];
    for (let i = 0; i < kl; i++) key.push(tok.key0 + rng.integer(0, c.numKeys));
    const value: number[] = [];
    for (let i = 0; i < vl; i++) value.push(tok.value0 + rng.integer(0, tok.numValues));
    const delta = drawDepth(c.depth, rng);
    const at = Math.round(delta * h);
    for (let i = 0; i < h; i++) {
      hay[i] = c.variant === "noise" ? tok.word0 + (i % c.fillerPeriod) : tok.word0 + rng.integer(0, c.numWords);
    }
    let w = 0;
    full[w++] = tok.BOS;
    for (let i = 0; i < at; i++) full[w++] = hay[i]!;
    needleStart[b] = w;
    depths[b] = delta;
    full[w++] = tok.NEEDLE;
    for (const k of key) full[w++] = k;
    full[w++] = tok.IS;
    for (const v of value) full[w++] = v;
    for (let i = at; i < h; i++) full[w++] = hay[i]!;
    full[w++] = tok.ASK;
    for (const k of key) full[w++] = k;
    full[w++] = tok.ANS;
    for (const v of value) full[w++] = v;
    const row = b * T;
    inputs.set(full.subarray(0, T), row);
    for (let i = 0; i < vl; i++) targets[row + T - vl + i] = value[i]!;
  }
  return tokenBatch(inputs, targets, batchSize, T, { needleStart, depth: depths });
}

export const niah: Task<NiahConfig> = {
  name: "niah",
  summary: "Single needle in a haystack (RULER S-NIAH): recall the value bound to a key hidden at some depth.",
  spec: "tasks.md §5",
  schema: niahSchema,
  presets: { cpu: {}, noise: { variant: "noise" }, uuid: { variant: "uuid" } },
  vocabSize: (c) => niahTokens(c).vocabSize,
  numClasses: (c) => niahTokens(c).vocabSize,
  seqLen: (c) => c.seqLen,
  generate,
  metric: "accuracy",
  solvedMetric: "exactMatch",
  solvedThreshold: 0.95,
  describe: (c) =>
    `S-NIAH (${c.variant}) T=${c.seqLen} key=${c.keyLength} value=${c.valueLength} words=${c.numWords} keys=${c.numKeys} ` +
    `depth=${c.depth} (V=${niahTokens(c).vocabSize}, ${c.valueLength} scored/seq, solved on exact match)`,
};
