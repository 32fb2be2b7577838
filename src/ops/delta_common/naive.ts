/**
 * The reference form of the delta rule family: the loop over time of spec/mixers.md §7.2, one token at a
 * time, with differentiable tensor ops (autodiff gives its gradients; tests compare the other forms to it).
 */
import { zeros } from "../../core/create.js";
import { exp } from "../../core/ops/elementwise.js";
import { reshape, slice, squeeze, stack, transpose, unsqueeze } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { deltaDims, type DeltaOptions, type DeltaVariant } from "./shared.js";

/** x[:, t] of a [B,T,...] tensor, as [B,...]. */
const at = (x: Tensor, t: number): Tensor => squeeze(slice(x, 1, t, t + 1), 1);

/**
 * q, k [B,T,H,K], v [B,T,H,V], beta [B,T,H], g [B,T,H] (gated only), initial_state [B,H,K,V] → o [B,T,H,V].
 * Per token (rows are row vectors, S key-major [K,V]):
 *   a_t = exp(g_t)                       (1 for the plain delta rule)
 *   u_t = β_t (v_t − a_t k_t S_{t−1})    prediction error of the decayed memory, [1,V]
 *   S_t = a_t S_{t−1} + k_tᵀ u_t
 *   o_t = τ q_t S_t
 */
export function deltaNaive(variant: DeltaVariant, inputs: OpInputs, options: DeltaOptions): OpOutputs {
  const { q, k, v, beta } = inputs as Record<string, Tensor>;
  const g = variant.gated ? inputs.g! : undefined;
  const { B, T, H, K, V, scale } = deltaDims(inputs, options);
  let S: Tensor = inputs.initial_state ?? zeros([B, H, K, V], { dtype: q!.dtype });
  const outs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const qRow = unsqueeze(at(q!, t), 2); // [B,H,1,K]
    const kRow = unsqueeze(at(k!, t), 2); // [B,H,1,K]
    const vRow = unsqueeze(at(v!, t), 2); // [B,H,1,V]
    const b = reshape(at(beta!, t), [B, H, 1, 1]);
    if (g) S = S.mul(reshape(exp(at(g, t)), [B, H, 1, 1])); // a_t S_{t−1}
    const u = b.mul(vRow.sub(kRow.matmul(S))); // [B,H,1,V]
    S = S.add(transpose(kRow).matmul(u)); // + k_tᵀ u_t
    outs.push(squeeze(qRow.matmul(S), 2).mul(scale)); // [B,H,V]
  }
  const o = stack(outs, 1);
  return options.outputFinalState ? { o, finalState: S } : { o };
}
