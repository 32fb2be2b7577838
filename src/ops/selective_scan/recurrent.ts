/**
 * selective_scan, recurrent form: one token at a time with the state h [B,D,N] (N floats per channel), O(1)
 * memory in T. Tensor ops throughout, so autodiff runs through a sequence of steps too (spec §8.1, "Step form";
 * the short convolution of the Mamba layer is not part of this op).
 */
import { zeros } from "../../core/create.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import { scanTensors, skipAndGate, stepSize, type SelectiveScanOptions } from "./common.js";

export const selectiveScanRecurrent: RecurrentForm<SelectiveScanOptions> = {
  /** Zeros [B,D,N] in u's dtype (u [B,T,D], A [D,N]). */
  init(inputs: OpInputs): Tensor {
    const u = inputs.u!;
    const A = inputs.A!;
    return zeros([u.shape[0]!, A.shape[0]!, A.shape[1]!], { dtype: u.dtype });
  },

  /**
   * state h [B,D,N]; per-step inputs u_t, delta_t, z_t [B,D] and Bm_t, Cm_t [B,N]; A [D,N]; Dskip, delta_bias [D].
   * Returns o_t [B,D] and the next state [B,D,N].
   */
  step(state: Tensor, inputs: OpInputs, options: SelectiveScanOptions): { o: Tensor; state: Tensor } {
    const { u, delta, A, Bm, Cm, Dskip, z, deltaBias } = scanTensors(inputs);
    const dt = stepSize(delta, deltaBias, options.deltaSoftplus).unsqueeze(2); // [B,D,1]
    const next = dt.mul(A).exp().mul(state).add(dt.mul(u.unsqueeze(2)).mul(Bm.unsqueeze(1))); // [B,D,N]
    const y = next.mul(Cm.unsqueeze(1)).sum(2); // [B,D]
    return { o: skipAndGate(y, u, Dskip, z), state: next };
  },
};
