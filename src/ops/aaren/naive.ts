/**
 * aaren, naive form (spec/mixers.md §2 "Parallel form" 1, the quadratic masked form): at each t, the softmax of
 * the one query's scores over positions ≤ t, with the initial state (m₀, u₀, w₀) counted as a block of earlier
 * positions whose exp-weighted sums are u₀·e^m₀ and w₀·e^m₀. Written with differentiable tensor ops.
 */
import type { Tensor } from "../../core/tensor.js";
import { full } from "../../core/create.js";
import { exp, maximum } from "../../core/ops/elementwise.js";
import { matmul } from "../../core/ops/matmul.js";
import { max } from "../../core/ops/reduce.js";
import { concat, permute, slice, squeeze, stack, unsqueeze } from "../../core/ops/shape.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { aarenDims, type AarenOptions } from "./shared.js";

/** q [H,K], k [B,T,H,K], v [B,T,H,V], initial_state [B,H,V+2] (optional) → o [B,T,H,V], finalState [B,H,V+2] */
export function aarenNaive(inputs: OpInputs, options: AarenOptions): OpOutputs {
  const { B, T, H, scale } = aarenDims(inputs, options);
  const k = inputs.k!;
  const scores = permute(k.mul(inputs.q!).sum(-1).mul(scale), [0, 2, 1]); // s [B,H,T]
  const values = permute(inputs.v!, [0, 2, 1, 3]); // [B,H,T,V]
  const init = inputs.initial_state ?? concat([full([B, H, 1], -Infinity, { dtype: k.dtype }), full([B, H, 1], 0, { dtype: k.dtype }), full([B, H, values.shape[3]!], 0, { dtype: k.dtype })], 2);
  const m0 = slice(init, 2, 0, 1).detach(); // [B,H,1]; m is a constant in backward (see shared.ts)
  const u0 = slice(init, 2, 1, 2); // [B,H,1]
  const w0 = slice(init, 2, 2); // [B,H,V]

  const outs: Tensor[] = [];
  let last: Tensor | undefined;
  for (let t = 0; t < T; t++) {
    const seen = slice(scores, 2, 0, t + 1); // [B,H,t+1]
    const M = maximum(max(seen.detach(), -1, true), m0); // [B,H,1], max over the initial block and s_0..s_t
    const weights = exp(seen.sub(M)); // e^{s_i − M} ≤ 1
    const carry = exp(m0.sub(M)); // e^{m₀ − M}: 0 for an empty initial state (m₀ = −∞)
    const num = squeeze(matmul(unsqueeze(weights, 2), slice(values, 2, 0, t + 1)), 2).add(w0.mul(carry)); // [B,H,V]
    const den = weights.sum(-1, true).add(u0.mul(carry)); // [B,H,1]
    outs.push(num.div(den));
    if (t === T - 1) last = concat([M, den, num], 2);
  }
  const o = stack(outs, 1);
  return options.outputFinalState ? { o, finalState: last! } : { o };
}
