/**
 * gru, naive form: the PyTorch nn.GRU recurrence (spec/mixers.md §9) as a plain loop over time on
 * differentiable tensor ops. Autodiff gives its gradients; it is the reference the other forms are tested
 * against.
 */
import { zeros } from "../../core/create.js";
import { slice, squeeze, stack } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { gruCell, type GruOptions } from "./common.js";

/**
 * Shapes: gates_x [B,T,3H]; w_hh [3H,H]; b_hh [3H]; initial_state [B,H].
 * Output o = h [B,T,H]; final state h [B,H].
 */
export function gruNaive(inputs: OpInputs, options: GruOptions): OpOutputs {
  const gx = inputs.gates_x!;
  const wHh = inputs.w_hh!;
  const bHh = inputs.b_hh!;
  const [B, T] = gx.shape as [number, number];
  let h = inputs.initial_state ?? zeros([B, wHh.shape[1]!], { dtype: gx.dtype });
  const hs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    h = gruCell(squeeze(slice(gx, 1, t, t + 1), 1), wHh, bHh, h);
    hs.push(h);
  }
  const o = stack(hs, 1); // [B,T,H]
  return options.outputFinalState ? { o, finalState: h } : { o };
}
