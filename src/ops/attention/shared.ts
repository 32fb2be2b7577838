/**
 * What the three forms of `attention` share: the options schema, the sizes read off the inputs, and the
 * boundary checks (spec/mixers.md §1, §0.2 "GQA / MQA").
 */
import { z } from "zod";
import type { Tensor } from "../../core/tensor.js";
import { shapeString } from "../../core/shape.js";
import { expectRank, expectShape, required } from "../check.js";
import { commonOptions, scaleOption, OpError } from "../options.js";
import type { OpInputs } from "../types.js";

export const OP = "attention";

export const attentionOptions = z
  .object({
    ...commonOptions,
    /** mask keys after the query (default true) */
    causal: z.boolean().default(true),
    /** sliding window of W keys u ∈ (t−W, t] (fla's convention), or null for full attention; needs causal */
    window: z.number().int().min(1).nullable().default(null),
    scale: scaleOption,
  })
  .strict();

export type AttentionOptions = z.infer<typeof attentionOptions>;

/** Sizes of one call. The S cached positions of initial_state come first on the key axis (N = S + T keys). */
export interface AttentionDims {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  /** query heads per kv head: query head h reads kv head ⌊h/G⌋ */
  G: number;
  K: number;
  V: number;
  /** cached positions in initial_state (0 without one) */
  S: number;
  scale: number;
  /** the window W, Infinity for full attention */
  window: number;
  causal: boolean;
}

export function attentionDims(inputs: OpInputs, options: AttentionOptions): AttentionDims {
  const q = inputs.q!;
  const k = inputs.k!;
  const v = inputs.v!;
  const [B, T, H, K] = q.shape as [number, number, number, number];
  const Hkv = k.shape[2]!;
  const V = v.shape[3]!;
  const S = inputs.initial_state?.shape[1] ?? 0;
  return {
    B, T, H, Hkv, G: H / Hkv, K, V, S,
    scale: options.scale ?? 1 / Math.sqrt(K),
    window: options.window ?? Infinity,
    causal: options.causal,
  };
}

export function validateAttention(inputs: OpInputs, options: AttentionOptions): void {
  const q = required(OP, inputs, "q", "[B,T,H,K]");
  const k = required(OP, inputs, "k", "[B,T,Hkv,K]");
  const v = required(OP, inputs, "v", "[B,T,Hkv,V]");
  expectRank(OP, "q", q, 4, "[B,T,H,K]");
  const [B, T, H, K] = q.shape as [number, number, number, number];
  if (K < 1 || H < 1) throw new OpError(`${OP}: q must have at least one head and K ≥ 1, got ${shapeString(q.shape)}`);
  expectRank(OP, "k", k, 4, "[B,T,Hkv,K]");
  expectShape(OP, "k", k, [B, T, undefined, K], "([B,T,Hkv,K] with B, T, K of q)");
  const Hkv = k.shape[2]!;
  if (Hkv < 1 || H % Hkv !== 0) {
    throw new OpError(`${OP}: q has H=${H} heads, which is not a multiple of the Hkv=${Hkv} heads of k; grouped-query attention needs H = G·Hkv`);
  }
  expectRank(OP, "v", v, 4, "[B,T,Hkv,V]");
  expectShape(OP, "v", v, [B, T, Hkv, undefined], "([B,T,Hkv,V] with B, T, Hkv of k)");
  if (v.shape[3]! < 1) throw new OpError(`${OP}: v must have V ≥ 1, got ${shapeString(v.shape)}`);
  if (!options.causal && options.window !== null) {
    throw new OpError(`${OP}: option 'window' (${options.window}) needs causal=true; a sliding window of past keys is only defined for causal attention`);
  }
  const init = inputs.initial_state;
  if (init !== undefined) {
    if (!options.causal) {
      throw new OpError(`${OP}: initial_state (a KV cache) needs causal=true; non-causal attention has no streaming form, so it cannot continue from a cache`);
    }
    checkCache(init, B, Hkv, K, v.shape[3]!);
  }
}

/** The KV cache layout [B,S,Hkv,K+V]: keys then values on the last axis. */
export function checkCache(cache: Tensor, B: number, Hkv: number, K: number, V: number, name = "initial_state"): void {
  expectRank(OP, name, cache, 4, "[B,S,Hkv,K+V]");
  expectShape(OP, name, cache, [B, undefined, Hkv, K + V], `([B,S,Hkv,K+V]: the KV cache, keys then values, for B=${B}, Hkv=${Hkv}, K=${K}, V=${V})`);
}

/** Positions kept in the cache after `tokens` keys: all of them, or the last W with a window. */
export function cacheLength(tokens: number, window: number): number {
  return Math.min(tokens, window);
}

/** Query at absolute key position `pos` sees keys [lo, hi) (causal), or all N keys (non-causal). */
export function visibleRange(pos: number, N: number, d: Pick<AttentionDims, "causal" | "window">): [number, number] {
  if (!d.causal) return [0, N];
  return [Math.max(0, pos - d.window + 1), pos + 1];
}
