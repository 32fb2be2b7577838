/**
 * selective_scan, recurrent form: one token at a time with the state h [B,D,N] (N floats per channel), O(1)
 * memory in T. Tensor ops, so autodiff runs through a sequence of steps too (spec §8.1, "Step form"; the short
 * convolution of the Mamba layer is not part of this op); without gradients (decoding) one kernel call per
 * batch row instead.
 */
import { isGradEnabled } from "../../core/autograd.js";
import { zeros } from "../../core/create.js";
import { allocate, type FloatArray } from "../../core/dtype.js";
import { contiguous } from "../../core/ops/shape.js";
import { Tensor } from "../../core/tensor.js";
import { getKernels } from "../../kernels/index.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import { scanTensors, skipAndGate, stepSize, type ScanTensors, type SelectiveScanOptions } from "./common.js";

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
    const ts = scanTensors(inputs);
    const { u, delta, A, Bm, Cm, Dskip, z, deltaBias } = ts;
    const operands = [state, u, delta, A, Bm, Cm, Dskip, z, deltaBias].filter((t): t is Tensor => t !== undefined);
    if (!(isGradEnabled() && operands.some((t) => t.requiresGrad)) && operands.every((t) => t.dtype === state.dtype)) {
      return kernelStep(state, ts, options);
    }
    const dt = stepSize(delta, deltaBias, options.deltaSoftplus).unsqueeze(2); // [B,D,1]
    const next = dt.mul(A).exp().mul(state).add(dt.mul(u.unsqueeze(2)).mul(Bm.unsqueeze(1))); // [B,D,N]
    const y = next.mul(Cm.unsqueeze(1)).sum(2); // [B,D]
    return { o: skipAndGate(y, u, Dskip, z), state: next };
  },
};

/**
 * One step without autodiff (decoding): the scan kernel's forward with T = 1 per batch row — the same
 * recurrence as the chunk form, in SIMD on the wasm backend, instead of a dozen tensor ops. A step's [B,D] and
 * [B,N] inputs are the kernel's [B,1,D] and [B,1,N] sequences; the state is its initial and final state.
 */
function kernelStep(state: Tensor, ts: ScanTensors, options: SelectiveScanOptions): { o: Tensor; state: Tensor } {
  const [B, D, N] = state.shape as [number, number, number];
  const dtype = state.dtype;
  const dt = allocate(dtype, B * D);
  const o = allocate(dtype, B * D);
  const hT = allocate(dtype, B * D * N);
  const values = (t: Tensor | undefined): FloatArray | null => (t ? contiguous(t).values() : null);
  const [u, delta, A, Bm, Cm] = [ts.u, ts.delta, ts.A, ts.Bm, ts.Cm].map((t) => values(t)!);
  const [Dskip, z, bias] = [ts.Dskip, ts.z, ts.deltaBias].map(values);
  const h0 = values(state)!;
  const kernels = getKernels();
  for (let b = 0; b < B; b++) {
    kernels.scanForward({
      T: 1, D, N, C: 1, softplus: options.deltaSoftplus, b, c0: 0, c1: D,
      u: u!, delta: delta!, A: A!, Bm: Bm!, Cm: Cm!, Dskip, z, bias, h0, dt, o, hT, checkpoints: null, pre: null,
    });
  }
  return { o: new Tensor(o, [B, D]), state: new Tensor(hT, [B, D, N]) };
}
