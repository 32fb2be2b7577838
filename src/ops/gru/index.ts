/**
 * `gru`: the standard GRU recurrence with PyTorch nn.GRU's equations and packed gate order r, z, n
 * (spec/mixers.md §9; the reset gate is applied after the recurrent product, unlike Cho et al.'s original), as
 * a parameter-free op. The input projection is outside the op: `gates_x` is x W_ihᵀ + b_ih. The recurrent bias
 * b_hh is a separate input because its n slice sits inside r ⊙ (h W_hnᵀ + b_hn) and cannot be folded into
 * gates_x. w_hh and b_hh (= PyTorch's weight_hh_l0, bias_hh_l0) are inputs with gradients like any other.
 */
import { z } from "zod";
import { rand, randn } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import { expectRank, expectShape, required } from "../check.js";
import { commonOptions, OpError } from "../options.js";
import type { ExampleSizes, OpDefinition, OpInputs } from "../types.js";
import { gruChunk } from "./chunk.js";
import { OP, type GruOptions } from "./common.js";
import { gruNaive } from "./naive.js";
import { gruRecurrent } from "./recurrent.js";

export type { GruOptions } from "./common.js";
export { gruCell } from "./common.js";
export { gruNaive } from "./naive.js";
export { gruChunk } from "./chunk.js";
export { gruRecurrent } from "./recurrent.js";

const optionsSchema = z.object({ ...commonOptions }).strict();

/** gates_x [B,T,3H] (last axis a positive multiple of 3), w_hh [3H,H], b_hh [3H], initial_state [B,H]. */
function validate(inputs: OpInputs): void {
  const gx = required(OP, inputs, "gates_x", "[B,T,3·H]");
  expectRank(OP, "gates_x", gx, 3, "[B,T,3·H]");
  const [B, T, G] = gx.shape as [number, number, number];
  if (G < 3 || G % 3 !== 0) {
    throw new OpError(`${OP}: gates_x must have shape [B,T,3·H] (the gates r, z, n side by side), so its last axis must be a positive multiple of 3, got [${B},${T},${G}]`);
  }
  const H = G / 3;
  expectShape(OP, "w_hh", required(OP, inputs, "w_hh", "[3·H,H]"), [G, H], `([3·H,H] with H = ${H} from gates_x)`);
  expectShape(OP, "b_hh", required(OP, inputs, "b_hh", "[3·H]"), [G], `([3·H] with H = ${H} from gates_x)`);
  if (inputs.initial_state) expectShape(OP, "initial_state", inputs.initial_state, [B, H], `(the state h [B,H] with B = ${B}, H = ${H} from gates_x)`);
}

/**
 * Example inputs with hidden size H·K (sizes.H × sizes.K; V is unused): gates_x ~ N(0,1); w_hh and b_hh ~
 * U(−1/√H, 1/√H) (PyTorch's init for nn.GRU).
 */
function example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
  const { B = 2, T = 9, H = 1, K = 5 } = sizes;
  const hidden = H * K;
  const bound = 1 / Math.sqrt(hidden);
  return {
    gates_x: randn([B, T, 3 * hidden], rng, { dtype }),
    w_hh: rand([3 * hidden, hidden], rng, { dtype, low: -bound, high: bound }),
    b_hh: rand([3 * hidden], rng, { dtype, low: -bound, high: bound }),
  };
}

export const gru: OpDefinition<GruOptions> = {
  name: OP,
  summary: "GRU (PyTorch equations, gates r,z,n): n = tanh(gx_n + σ(r)⊙(h W_hnᵀ + b_hn)), h' = (1−σ(z))⊙n + σ(z)⊙h",
  spec: "spec/mixers.md §9",
  inputs: [
    { name: "gates_x", shape: "[B,T,3·H]", perStep: true },
    { name: "w_hh", shape: "[3·H,H]", perStep: false },
    { name: "b_hh", shape: "[3·H]", perStep: false },
    { name: "initial_state", shape: "[B,H]", optional: true, perStep: false },
  ],
  /** h[b, :] (PyTorch's h_n of one layer, batch-first). */
  stateShape: "[B,H]",
  options: optionsSchema as unknown as z.ZodType<GruOptions, unknown>,
  validate,
  naive: gruNaive,
  chunk: gruChunk,
  recurrent: gruRecurrent,
  /** H floats per sequence, whatever the number of tokens. */
  stateSize(shapes: Readonly<Record<string, readonly number[]>>): number {
    const H = shapes.w_hh?.[1] ?? shapes.initial_state?.[1] ?? (shapes.gates_x ? shapes.gates_x[2]! / 3 : undefined);
    if (H === undefined) throw new OpError(`${OP}: stateSize needs the shape of w_hh [3·H,H] or gates_x [B,T,3·H]`);
    return H;
  },
  example,
};
