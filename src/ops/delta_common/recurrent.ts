/**
 * The step form of the delta rule family (spec/mixers.md §7.2), O(K·V) state per head whatever T. Written in
 * the transition form S_t = a_t (I − β_t k_tᵀ k_t) S_{t−1} + β_t k_tᵀ v_t, which the naive loop does not use,
 * so the two forms check each other. Differentiable through autodiff; when no gradient is needed (decoding)
 * the same step runs as one loop on the raw arrays instead, which avoids the per-op overhead of small tensors.
 */
import { isGradEnabled } from "../../core/autograd.js";
import { zeros } from "../../core/create.js";
import { allocate } from "../../core/dtype.js";
import { Tensor } from "../../core/tensor.js";
import { exp } from "../../core/ops/elementwise.js";
import { reshape, squeeze, transpose, unsqueeze } from "../../core/ops/shape.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import { deltaDims, type DeltaOptions, type DeltaVariant } from "./shared.js";

export function deltaRecurrent(variant: DeltaVariant): RecurrentForm<DeltaOptions> {
  return {
    /** zeros [B,H,K,V] in the dtype of q */
    init(inputs: OpInputs, options: DeltaOptions): Tensor {
      const { B, H, K, V } = deltaDims(inputs, options);
      return zeros([B, H, K, V], { dtype: inputs.q!.dtype });
    },
    /** state [B,H,K,V]; q_t, k_t [B,H,K], v_t [B,H,V], beta_t, g_t [B,H] → o_t [B,H,V], next state */
    step(state: Tensor, inputs: OpInputs, options: DeltaOptions): { o: Tensor; state: Tensor } {
      const [B, H, K] = inputs.q!.shape as [number, number, number];
      const scale = options.scale ?? 1 / Math.sqrt(K);
      const used = [state, inputs.q!, inputs.k!, inputs.v!, inputs.beta!, ...(variant.gated ? [inputs.g!] : [])];
      if (!(isGradEnabled() && used.some((t) => t.requiresGrad))) return rawStep(variant.gated, state, inputs, scale);
      const kRow = unsqueeze(inputs.k!, 2); // [B,H,1,K]
      const kCol = transpose(kRow); // [B,H,K,1]
      const b = reshape(inputs.beta!, [B, H, 1, 1]);
      // (I − β kᵀk) S = S − kᵀ (β (k S))
      let S = state.sub(kCol.matmul(b.mul(kRow.matmul(state))));
      if (variant.gated) S = S.mul(reshape(exp(inputs.g!), [B, H, 1, 1]));
      S = S.add(kCol.matmul(b.mul(unsqueeze(inputs.v!, 2)))); // + β kᵀ v
      const o = squeeze(unsqueeze(inputs.q!, 2).matmul(S), 2).mul(scale);
      return { o, state: S };
    },
  };
}

/**
 * The step without autodiff, per (b, h) on key-major S [K,V]: p = k S; u = β (v − a p); S' = a S + kᵀ u;
 * o = τ q S'. Same math as the tensor path (which tests compare against it); a new state array is returned.
 */
function rawStep(gated: boolean, state: Tensor, inputs: OpInputs, scale: number): { o: Tensor; state: Tensor } {
  const [B, H, K] = inputs.q!.shape as [number, number, number];
  const V = inputs.v!.shape[2]!;
  const q = inputs.q!.values();
  const k = inputs.k!.values();
  const v = inputs.v!.values();
  const beta = inputs.beta!.values();
  const g = gated ? inputs.g!.values() : null;
  const S = state.values();
  const next = allocate(state.dtype, B * H * K * V);
  const o = allocate(state.dtype, B * H * V);
  const u = new Float64Array(V);
  const acc = new Float64Array(V);
  for (let bh = 0; bh < B * H; bh++) {
    const a = g ? Math.exp(g[bh]!) : 1;
    const bt = beta[bh]!;
    const s0 = bh * K * V;
    const ko = bh * K;
    u.fill(0);
    for (let i = 0; i < K; i++) {
      const ki = k[ko + i]!;
      const row = s0 + i * V;
      for (let j = 0; j < V; j++) u[j] += ki * S[row + j]!;
    }
    for (let j = 0; j < V; j++) u[j] = bt * (v[bh * V + j]! - a * u[j]!);
    acc.fill(0);
    for (let i = 0; i < K; i++) {
      const ki = k[ko + i]!;
      const qi = scale * q[ko + i]!;
      const row = s0 + i * V;
      for (let j = 0; j < V; j++) {
        const x = a * S[row + j]! + ki * u[j]!;
        next[row + j] = x;
        acc[j] += qi * x;
      }
    }
    for (let j = 0; j < V; j++) o[bh * V + j] = acc[j]!;
  }
  return { o: new Tensor(o, [B, H, V]), state: new Tensor(next, [B, H, K, V]) };
}
