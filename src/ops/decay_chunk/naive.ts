/**
 * The reference form of linear_attn, retention, simple_gla and gla: the loop over time of spec/mixers.md §0.4
 * (and §3 for the normalised variant), one token at a time with differentiable tensor ops, so autodiff gives
 * its gradients and the tests compare the other forms against it.
 */
import { zeros } from "../../core/create.js";
import { concat, slice, squeeze, stack, transpose, unsqueeze } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpOutputs } from "../types.js";

/** x[:, t] of a [B,T,...] tensor, as [B,...]. */
export const at = (x: Tensor, t: number): Tensor => squeeze(slice(x, 1, t, t + 1), 1);

export interface NaiveCall {
  /** q, k [B,T,H,K], v [B,T,H,V] */
  q: Tensor;
  k: Tensor;
  v: Tensor;
  /** [B,H,K,V], or [B,H,K,V+1] with normalize (last column: the key sum z) */
  initialState: Tensor | undefined;
  /** the decay a_t of step t as a multiplier of S, broadcastable to [B,H,K,V]; null for no decay */
  decayAt: ((t: number) => Tensor) | null;
  scale: number;
  /** eps of the normaliser (linear_attn normalize), or null */
  normalizeEps: number | null;
  outputFinalState: boolean;
}

/**
 * → o [B,T,H,V]. Per token, with S key-major [K,V] per head and rows as row vectors:
 *   S_t = a_t ⊙ S_{t−1} + k_tᵀ v_t                      (§0.4; a_t = 1 for linear attention)
 *   o_t = τ q_t S_t                                     (un-normalised)
 *   z_t = z_{t−1} + k_tᵀ,  o_t = τ q_t S_t / (τ q_t z_t + eps)      (normalised, §3)
 */
export function decayNaive(c: NaiveCall): OpOutputs {
  const { q, k, v } = c;
  const [B, T, H, K] = q.shape as [number, number, number, number];
  const V = v.shape[3]!;
  const norm = c.normalizeEps !== null;
  let S: Tensor = c.initialState ? (norm ? slice(c.initialState, 3, 0, V) : c.initialState) : zeros([B, H, K, V], { dtype: q.dtype });
  let z: Tensor | null = norm ? (c.initialState ? slice(c.initialState, 3, V, V + 1) : zeros([B, H, K, 1], { dtype: q.dtype })) : null;
  const outs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const qRow = unsqueeze(at(q, t), 2); // [B,H,1,K]
    const kCol = transpose(unsqueeze(at(k, t), 2)); // [B,H,K,1]
    const vRow = unsqueeze(at(v, t), 2); // [B,H,1,V]
    if (c.decayAt) S = S.mul(c.decayAt(t));
    S = S.add(kCol.matmul(vRow));
    let o = squeeze(qRow.matmul(S), 2).mul(c.scale); // [B,H,V]
    if (z) {
      z = z.add(kCol);
      const den = squeeze(qRow.matmul(z), 2).mul(c.scale); // [B,H,1]
      o = o.div(den.add(c.normalizeEps!));
    }
    outs.push(o);
  }
  const o = stack(outs, 1);
  if (!c.outputFinalState) return { o };
  return { o, finalState: z ? concat([S, z], 3) : S };
}
