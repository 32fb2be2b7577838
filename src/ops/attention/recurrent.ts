/**
 * attention, recurrent form (spec/mixers.md §1 "Step form (KV cache)"): append k_t, v_t to the cache, drop
 * what falls out of the window, and attend q_t over the cache. The state is the cache itself,
 * [B,S,Hkv,K+V] (keys then values on the last axis), which grows by one position per step, or stays at W.
 */
import type { Tensor } from "../../core/tensor.js";
import { zeros } from "../../core/create.js";
import { matmul } from "../../core/ops/matmul.js";
import { softmax } from "../../core/ops/reduce.js";
import { concat, permute, reshape, slice, unsqueeze } from "../../core/ops/shape.js";
import { OpError } from "../options.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import { OP, cacheLength, type AttentionOptions } from "./shared.js";

function requireCausal(options: AttentionOptions): void {
  if (!options.causal) {
    throw new OpError(`${OP}: the recurrent form (KV cache) needs causal=true; non-causal attention has no step form, use mode naive or chunk`);
  }
}

export const attentionRecurrent: RecurrentForm<AttentionOptions> = {
  /** an empty cache [B,0,Hkv,K+V] */
  init(inputs: OpInputs, options: AttentionOptions): Tensor {
    requireCausal(options);
    const k = inputs.k!;
    return zeros([k.shape[0]!, 0, k.shape[2]!, k.shape[3]! + inputs.v!.shape[3]!], { dtype: k.dtype });
  },

  /** state [B,S,Hkv,K+V], q_t [B,H,K], k_t [B,Hkv,K], v_t [B,Hkv,V] → o_t [B,H,V], state [B,min(S+1,W),Hkv,K+V] */
  step(state: Tensor, inputs: OpInputs, options: AttentionOptions): { o: Tensor; state: Tensor } {
    requireCausal(options);
    const q = inputs.q!;
    const k = inputs.k!;
    const [B, H, K] = q.shape as [number, number, number];
    const Hkv = k.shape[1]!;
    const entry = unsqueeze(concat([k, inputs.v!], 2), 1); // [B,1,Hkv,K+V]
    let cache = concat([state, entry], 1);
    const S = cache.shape[1]!;
    // with a window the cache keeps the last W positions: exactly the keys the parallel form leaves unmasked
    const keep = cacheLength(S, options.window ?? Infinity);
    if (keep < S) cache = slice(cache, 1, S - keep);
    const keysT = permute(slice(cache, 3, 0, K), [0, 2, 3, 1]); // [B,Hkv,K,S]
    const values = permute(slice(cache, 3, K), [0, 2, 1, 3]); // [B,Hkv,S,V]
    const qg = reshape(q, [B, Hkv, H / Hkv, K]);
    const p = softmax(matmul(qg, keysT).mul(options.scale ?? 1 / Math.sqrt(K)), -1); // [B,Hkv,G,S]
    const o = reshape(matmul(p, values), [B, H, -1]);
    return { o, state: cache };
  },
};
