/**
 * lstm, recurrent form: one token at a time with the state (h, c) packed as [B,2,H] (2·H floats per sequence,
 * spec §9), tensor ops throughout so autodiff runs through a sequence of steps too.
 */
import { zeros } from "../../core/create.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import { joinState, lstmCell, splitState, type LstmOptions } from "./common.js";

export const lstmRecurrent: RecurrentForm<LstmOptions> = {
  /** Zeros [B,2,H] in gates_x's dtype (gates_x [B,T,4H], w_hh [4H,H]). */
  init(inputs: OpInputs): Tensor {
    const gx = inputs.gates_x!;
    return zeros([gx.shape[0]!, 2, inputs.w_hh!.shape[1]!], { dtype: gx.dtype });
  },

  /** state [B,2,H]; gates_x_t [B,4H]; w_hh [4H,H]. Returns o_t = h_t [B,H] and the next state [B,2,H]. */
  step(state: Tensor, inputs: OpInputs): { o: Tensor; state: Tensor } {
    const { h, c } = splitState(state);
    const next = lstmCell(inputs.gates_x!, inputs.w_hh!, h, c);
    return { o: next.h, state: joinState(next.h, next.c) };
  },
};
