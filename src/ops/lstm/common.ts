/**
 * Pieces shared by the tensor-op forms of `lstm` (naive and recurrent): the options, reading the inputs, and
 * one LSTM cell (PyTorch nn.LSTM equations, spec/mixers.md §9, gate order i, f, g, o in the packed weights).
 * The chunk form works on raw arrays and has its own copy of this arithmetic (chunk.ts).
 */
import { matmul } from "../../core/ops/matmul.js";
import { slice, squeeze, stack, transpose } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";

export const OP = "lstm";

/** Options of the op (parsed by the schema in index.ts). chunkSize is accepted and has no effect. */
export interface LstmOptions {
  outputFinalState: boolean;
  chunkSize: number;
}

/**
 * One step. gx [B,4H] = x W_ihᵀ + b_ih + b_hh (the input pre-activations), w_hh [4H,H], h and c [B,H]:
 *   pre = gx + h W_hhᵀ                                   [B,4H], slices i | f | g | o of width H
 *   i = σ(pre_i)  f = σ(pre_f)  g = tanh(pre_g)  o = σ(pre_o)
 *   c' = f ⊙ c + i ⊙ g        h' = o ⊙ tanh(c')
 */
export function lstmCell(gx: Tensor, wHh: Tensor, h: Tensor, c: Tensor): { h: Tensor; c: Tensor } {
  const H = wHh.shape[1]!;
  const pre = gx.add(matmul(h, transpose(wHh))); // [B,4H]
  const i = slice(pre, 1, 0, H).sigmoid();
  const f = slice(pre, 1, H, 2 * H).sigmoid();
  const g = slice(pre, 1, 2 * H, 3 * H).tanh();
  const o = slice(pre, 1, 3 * H, 4 * H).sigmoid();
  const cNext = f.mul(c).add(i.mul(g));
  return { h: o.mul(cNext.tanh()), c: cNext };
}

/** (h, c) [B,H] each, from a state [B,2,H] (h at index 0 of axis 1, c at index 1). */
export function splitState(state: Tensor): { h: Tensor; c: Tensor } {
  return { h: squeeze(slice(state, 1, 0, 1), 1), c: squeeze(slice(state, 1, 1, 2), 1) };
}

/** The state [B,2,H] holding h and c [B,H]. */
export function joinState(h: Tensor, c: Tensor): Tensor {
  return stack([h, c], 1);
}
