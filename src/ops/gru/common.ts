/**
 * Pieces shared by the tensor-op forms of `gru` (naive and recurrent): the options and one GRU cell (PyTorch
 * nn.GRU equations, spec/mixers.md §9: gate order r, z, n; the reset gate multiplies h W_hnᵀ + b_hn, i.e. it is
 * applied after the recurrent product). The chunk form works on raw arrays and has its own copy (chunk.ts).
 */
import { matmul } from "../../core/ops/matmul.js";
import { slice, transpose } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";

export const OP = "gru";

/** Options of the op (parsed by the schema in index.ts). chunkSize is accepted and has no effect. */
export interface GruOptions {
  outputFinalState: boolean;
  chunkSize: number;
}

/**
 * One step. gx [B,3H] = x W_ihᵀ + b_ih, w_hh [3H,H], b_hh [3H], h [B,H]:
 *   hp = h W_hhᵀ + b_hh                                 [B,3H], slices r | z | n of width H
 *   r = σ(gx_r + hp_r)   z = σ(gx_z + hp_z)   n = tanh(gx_n + r ⊙ hp_n)
 *   h' = (1 − z) ⊙ n + z ⊙ h
 */
export function gruCell(gx: Tensor, wHh: Tensor, bHh: Tensor, h: Tensor): Tensor {
  const H = wHh.shape[1]!;
  const hp = matmul(h, transpose(wHh)).add(bHh); // [B,3H]
  const r = slice(gx, 1, 0, H).add(slice(hp, 1, 0, H)).sigmoid();
  const z = slice(gx, 1, H, 2 * H).add(slice(hp, 1, H, 2 * H)).sigmoid();
  const n = slice(gx, 1, 2 * H, 3 * H).add(r.mul(slice(hp, 1, 2 * H, 3 * H))).tanh();
  return n.add(z.mul(h.sub(n))); // (1 − z) n + z h
}
