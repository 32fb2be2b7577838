/**
 * The step form of linear_attn, retention, simple_gla and gla: O(K·V) state per head whatever T.
 * Written as o_t = τ (q_t ⊙ a_t) S_{t−1} + τ (q_t·k_t) v_t (the read-out before the write), which the naive
 * loop does not use, so the two forms check each other; the new state is a_t ⊙ S_{t−1} + k_tᵀ v_t.
 * Differentiable through autodiff. When no gradient is needed (decoding) the same step runs as one loop on the
 * raw arrays, which avoids the per-op overhead of small tensors.
 */
import { isGradEnabled } from "../../core/autograd.js";
import { ones, zeros } from "../../core/create.js";
import { allocate } from "../../core/dtype.js";
import { concat, slice, squeeze, transpose, unsqueeze } from "../../core/ops/shape.js";
import { Tensor } from "../../core/tensor.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import { decayDims } from "./shared.js";

export interface StepSpec<O> {
  /** eps of linear_attn's normaliser when normalize is set, else null (the state then has V+1 columns) */
  normalizeEps(options: O): number | null;
  /** the decay of one step as a multiplier of S, broadcastable to [B,H,K,V] ([B,H,K,1], [B,H,1,1] or [1,H,1,1]) */
  decay: ((inputs: OpInputs, B: number, H: number) => Tensor) | null;
}

export function decayRecurrent<O extends { scale?: number | undefined }>(spec: StepSpec<O>): RecurrentForm<O> {
  return {
    /** zeros [B,H,K,V] (V+1 with normalize) in the dtype of q */
    init(inputs: OpInputs, options: O): Tensor {
      const { B, H, K, V } = decayDims(inputs, options);
      return zeros([B, H, K, V + (spec.normalizeEps(options) === null ? 0 : 1)], { dtype: inputs.q!.dtype });
    },
    /** state [B,H,K,V(+1)]; q_t, k_t [B,H,K], v_t [B,H,V], gates at t → o_t [B,H,V], next state */
    step(state: Tensor, inputs: OpInputs, options: O): { o: Tensor; state: Tensor } {
      const [B, H, K] = inputs.q!.shape as [number, number, number];
      const V = inputs.v!.shape[2]!;
      const scale = options.scale ?? 1 / Math.sqrt(K);
      const eps = spec.normalizeEps(options);
      const a = spec.decay ? spec.decay(inputs, B, H) : null;
      const used = [state, inputs.q!, inputs.k!, inputs.v!, ...(a ? [a] : [])];
      if (!(isGradEnabled() && used.some((t) => t.requiresGrad))) return rawStep(state, inputs, a, scale, eps);
      const qRow = unsqueeze(inputs.q!, 2); // [B,H,1,K]
      const kRow = unsqueeze(inputs.k!, 2); // [B,H,1,K]
      let vRow = unsqueeze(inputs.v!, 2); // [B,H,1,V]
      if (eps !== null) vRow = concat([vRow, ones([B, H, 1, 1], { dtype: vRow.dtype })], 3); // [v, 1]: the key sum rides along
      const qa = a ? qRow.mul(transpose(a)) : qRow; // q ⊙ a as a row
      const read = qa.matmul(state).add(qRow.matmul(transpose(kRow)).mul(vRow)); // (q⊙a) S + (q·k) v
      let o = squeeze(read, 2).mul(scale); // [B,H,V(+1)]
      if (eps !== null) o = slice(o, 2, 0, V).div(slice(o, 2, V, V + 1).add(eps));
      const next = (a ? state.mul(a) : state).add(transpose(kRow).matmul(vRow));
      return { o, state: next };
    },
  };
}

/**
 * The step without autodiff, per (b, h): S' = a ⊙ S + kᵀ v' and o = τ q S' (v' = [v, 1] and o divided by its
 * last column plus eps with normalize). Same math as the tensor path (tests compare them); a new state array
 * is returned.
 */
function rawStep(state: Tensor, inputs: OpInputs, a: Tensor | null, scale: number, eps: number | null): { o: Tensor; state: Tensor } {
  const [B, H, K] = inputs.q!.shape as [number, number, number];
  const V = inputs.v!.shape[2]!;
  const Vs = eps === null ? V : V + 1;
  const q = inputs.q!.values();
  const k = inputs.k!.values();
  const v = inputs.v!.values();
  const S = state.values();
  // the decay multiplier, broadcast from [B or 1, H, K or 1, 1]
  const av = a ? a.values() : null;
  const aB = a ? a.shape[0]! : 1;
  const aK = a ? a.shape[2]! : 1;
  const next = allocate(state.dtype, B * H * K * Vs);
  const o = allocate(state.dtype, B * H * V);
  const acc = new Float64Array(Vs);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      const aRow = ((aB === 1 ? 0 : b) * H + h) * aK;
      const s0 = bh * K * Vs;
      acc.fill(0);
      for (let i = 0; i < K; i++) {
        const ai = av ? av[aRow + (aK === 1 ? 0 : i)]! : 1;
        const ki = k[bh * K + i]!;
        const qi = scale * q[bh * K + i]!;
        const row = s0 + i * Vs;
        for (let j = 0; j < Vs; j++) {
          const x = ai * S[row + j]! + ki * (j < V ? v[bh * V + j]! : 1);
          next[row + j] = x;
          acc[j] += qi * x;
        }
      }
      const den = eps === null ? 1 : acc[V]! + eps;
      for (let j = 0; j < V; j++) o[bh * V + j] = acc[j]! / den;
    }
  }
  return { o: new Tensor(o, [B, H, V]), state: new Tensor(next, [B, H, K, Vs]) };
}
