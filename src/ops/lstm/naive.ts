/**
 * lstm, naive form: the PyTorch nn.LSTM recurrence (spec/mixers.md §9) as a plain loop over time on
 * differentiable tensor ops. Autodiff gives its gradients (backpropagation through time); it is the reference
 * the other forms are tested against.
 */
import { zeros } from "../../core/create.js";
import { slice, squeeze, stack } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { joinState, lstmCell, splitState, type LstmOptions } from "./common.js";

/**
 * Shapes: gates_x [B,T,4H]; w_hh [4H,H]; initial_state [B,2,H] = (h, c).
 * Output o = h [B,T,H]; final state [B,2,H].
 */
export function lstmNaive(inputs: OpInputs, options: LstmOptions): OpOutputs {
  const gx = inputs.gates_x!;
  const wHh = inputs.w_hh!;
  const [B, T] = gx.shape as [number, number];
  const H = wHh.shape[1]!;
  let { h, c } = inputs.initial_state ? splitState(inputs.initial_state) : { h: zeros([B, H], { dtype: gx.dtype }), c: zeros([B, H], { dtype: gx.dtype }) };
  const hs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    ({ h, c } = lstmCell(squeeze(slice(gx, 1, t, t + 1), 1), wHh, h, c));
    hs.push(h);
  }
  const o = stack(hs, 1); // [B,T,H]
  return options.outputFinalState ? { o, finalState: joinState(h, c) } : { o };
}
