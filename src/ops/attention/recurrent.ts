/**
 * attention, recurrent form (spec/mixers.md §1 "Step form (KV cache)"): append k_t, v_t to the cache, drop
 * what falls out of the window, and attend q_t over the cache. The state is the cache itself,
 * [B,S,Hkv,K+V] (keys then values on the last axis), which grows by one position per step, or stays at W.
 */
import { Tensor } from "../../core/tensor.js";
import { allocate, type FloatArray } from "../../core/dtype.js";
import { isGradEnabled } from "../../core/autograd.js";
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

/** Positions written so far into each capacity-backed cache buffer (see appendInPlace). */
const written = new WeakMap<FloatArray, number>();

/**
 * The decoding path (no gradients): appends k_t, v_t into a buffer with spare capacity instead of copying the
 * whole cache every token. The returned cache is a view [B,S,Hkv,E] into a buffer [B,cap,Hkv,E]. A cache is
 * extended in place only when it ends exactly where its buffer's writes end, so stepping twice from one older
 * state never overwrites what the other branch sees; otherwise, or when the buffer is full, the live positions
 * are copied into a fresh buffer of twice their number. Amortised O(Hkv·E) per token instead of O(S·Hkv·E); the
 * numbers are the same as the copying path (the view holds the same values).
 */
function appendInPlace(state: Tensor, entry: Tensor, window: number): Tensor {
  const [B, S, Hkv, E] = state.shape as [number, number, number, number];
  const row = Hkv * E;
  const keep = cacheLength(S + 1, window); // positions after this step
  const isOurView = written.has(state.data) && state.strides[1] === row && state.strides[2] === E && state.strides[3] === 1;
  let buffer = state.data;
  let cap = isOurView ? state.strides[0]! / row : 0;
  let end = isOurView ? state.offset / row + S : -1; // slot the new position goes to
  if (!(isOurView && written.get(buffer) === end && end < cap)) {
    // copy the keep − 1 newest positions into a fresh buffer with room to grow
    const old = state.values(); // [B,S,Hkv,E] contiguous
    const carry = keep - 1;
    cap = Math.max(16, 2 * keep);
    buffer = allocate(state.dtype, B * cap * row);
    for (let b = 0; b < B; b++) {
      const from = (b * S + (S - carry)) * row;
      buffer.set(old.subarray(from, from + carry * row), b * cap * row);
    }
    end = carry;
  }
  const e = entry.values(); // [B,Hkv,E]
  for (let b = 0; b < B; b++) buffer.set(e.subarray(b * row, (b + 1) * row), (b * cap + end) * row);
  written.set(buffer, end + 1);
  return new Tensor(buffer, [B, keep, Hkv, E], [cap * row, row, E, 1], (end + 1 - keep) * row);
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
    const window = options.window ?? Infinity;
    const needsGrad = isGradEnabled() && [state, q, k, inputs.v!].some((t) => t.requiresGrad);
    let cache: Tensor;
    if (needsGrad) {
      cache = concat([state, unsqueeze(concat([k, inputs.v!], 2), 1)], 1); // [B,S+1,Hkv,K+V]
      const S = cache.shape[1]!;
      // with a window the cache keeps the last W positions: exactly the keys the parallel form leaves unmasked
      const keep = cacheLength(S, window);
      if (keep < S) cache = slice(cache, 1, S - keep);
    } else {
      cache = appendInPlace(state, concat([k, inputs.v!], 2), window);
    }
    const keysT = permute(slice(cache, 3, 0, K), [0, 2, 3, 1]); // [B,Hkv,K,S]
    const values = permute(slice(cache, 3, K), [0, 2, 1, 3]); // [B,Hkv,S,V]
    const qg = reshape(q, [B, Hkv, H / Hkv, K]);
    const p = softmax(matmul(qg, keysT).mul(options.scale ?? 1 / Math.sqrt(K)), -1); // [B,Hkv,G,S]
    const o = reshape(matmul(p, values), [B, H, -1]);
    return { o, state: cache };
  },
};
