/**
 * selective_scan, naive form: the Mamba-1 (S6) recurrence as a plain loop over time on differentiable tensor
 * ops (spec/mixers.md §8.1; same arithmetic as state-spaces/mamba `selective_scan_ref`). Autodiff gives its
 * gradients; it is the reference the other two forms are tested against.
 */
import { zeros } from "../../core/create.js";
import { slice, squeeze, stack } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { scanTensors, skipAndGate, stepSize, type SelectiveScanOptions } from "./common.js";

/** x[:, t] of a [B,T,…] tensor, time axis removed. */
function at(x: Tensor, t: number): Tensor {
  return squeeze(slice(x, 1, t, t + 1), 1);
}

/**
 * Shapes: u, delta, z [B,T,D]; A [D,N]; Bm, Cm [B,T,N]; Dskip, delta_bias [D]; initial_state [B,D,N].
 * Output o [B,T,D]; final state h [B,D,N].
 *
 * For every channel c and state index n (§8.1, zero-order hold for A, Euler for B):
 *   Δ_t     = softplus(delta_t + delta_bias) or delta_t + delta_bias        [B,D]
 *   h_t     = exp(Δ_t[c]·A[c,n]) · h_{t−1}[c,n] + Δ_t[c]·u_t[c]·Bm_t[n]     [B,D,N]
 *   y_t[c]  = Σ_n Cm_t[n] · h_t[c,n]                                        [B,D]
 *   o       = (y + Dskip ⊙ u) ⊙ SiLU(z)
 */
export function selectiveScanNaive(inputs: OpInputs, options: SelectiveScanOptions): OpOutputs {
  const { u, delta, A, Bm, Cm, Dskip, z, deltaBias, initialState } = scanTensors(inputs);
  const [B, T, D] = u.shape as [number, number, number];
  const N = A.shape[1]!;
  const dt = stepSize(delta, deltaBias, options.deltaSoftplus); // [B,T,D]
  let h = initialState ?? zeros([B, D, N], { dtype: u.dtype }); // [B,D,N]
  const ys: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const dtT = at(dt, t).unsqueeze(2); // [B,D,1]
    const decay = dtT.mul(A).exp(); // [B,D,N]   exp(Δ·A)
    const input = dtT.mul(at(u, t).unsqueeze(2)).mul(at(Bm, t).unsqueeze(1)); // [B,D,1]·[B,1,N] → [B,D,N]
    h = decay.mul(h).add(input);
    ys.push(h.mul(at(Cm, t).unsqueeze(1)).sum(2)); // [B,D]
  }
  const o = skipAndGate(stack(ys, 1), u, Dskip, z); // [B,T,D]
  return options.outputFinalState ? { o, finalState: h } : { o };
}
