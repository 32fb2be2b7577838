/**
 * gru, recurrent form: one token at a time with the state h [B,H] (H floats per sequence, spec §9), tensor ops
 * throughout so autodiff runs through a sequence of steps too.
 */
import { zeros } from "../../core/create.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import { gruCell, type GruOptions } from "./common.js";

export const gruRecurrent: RecurrentForm<GruOptions> = {
  /** Zeros [B,H] in gates_x's dtype (gates_x [B,T,3H], w_hh [3H,H]). */
  init(inputs: OpInputs): Tensor {
    const gx = inputs.gates_x!;
    return zeros([gx.shape[0]!, inputs.w_hh!.shape[1]!], { dtype: gx.dtype });
  },

  /** state h [B,H]; gates_x_t [B,3H]; w_hh [3H,H]; b_hh [3H]. Returns o_t = h_t [B,H] and the next state h_t. */
  step(state: Tensor, inputs: OpInputs): { o: Tensor; state: Tensor } {
    const h = gruCell(inputs.gates_x!, inputs.w_hh!, inputs.b_hh!, state);
    return { o: h, state: h };
  },
};
