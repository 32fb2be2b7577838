/**
 * attention, naive form (spec/mixers.md §1 "Parallel form"): for each query position, a plain softmax over the
 * keys it may see, written with differentiable tensor ops. The reference the other forms are tested against.
 */
import type { Tensor } from "../../core/tensor.js";
import { matmul } from "../../core/ops/matmul.js";
import { softmax } from "../../core/ops/reduce.js";
import { concat, permute, reshape, slice, squeeze, stack } from "../../core/ops/shape.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { attentionDims, cacheLength, visibleRange, type AttentionOptions } from "./shared.js";

/**
 * q [B,T,H,K], k [B,T,Hkv,K], v [B,T,Hkv,V], initial_state [B,S,Hkv,K+V] (optional KV cache)
 * → o [B,T,H,V], finalState [B,min(S+T,W),Hkv,K+V]
 */
export function attentionNaive(inputs: OpInputs, options: AttentionOptions): OpOutputs {
  const d = attentionDims(inputs, options);
  const { B, T, H, Hkv, G, K, S } = d;
  const cache = inputs.initial_state;
  // the key axis holds the S cached positions first, then the T new ones: N = S + T keys
  const keys = cache ? concat([slice(cache, 3, 0, K), inputs.k!], 1) : inputs.k!; // [B,N,Hkv,K]
  const values = cache ? concat([slice(cache, 3, K), inputs.v!], 1) : inputs.v!; // [B,N,Hkv,V]
  const N = S + T;
  const keysT = permute(keys, [0, 2, 3, 1]); // [B,Hkv,K,N]
  const valuesH = permute(values, [0, 2, 1, 3]); // [B,Hkv,N,V]

  const outs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    // query t sits at key position S + t; GQA: the G query heads of kv head g are rows of one matmul
    const [lo, hi] = visibleRange(S + t, N, d);
    const qt = reshape(squeeze(slice(inputs.q!, 1, t, t + 1), 1), [B, Hkv, G, K]);
    const scores = matmul(qt, slice(keysT, 3, lo, hi)).mul(d.scale); // [B,Hkv,G,n]
    const p = softmax(scores, -1);
    const ot = matmul(p, slice(valuesH, 2, lo, hi)); // [B,Hkv,G,V]
    outs.push(reshape(ot, [B, H, -1]));
  }
  const o = stack(outs, 1);
  if (!options.outputFinalState) return { o };
  const kv = concat([keys, values], 3); // [B,N,Hkv,K+V]
  const finalState = slice(kv, 1, N - cacheLength(N, d.window));
  return { o, finalState };
}
