/**
 * `lstm`: the standard LSTM recurrence with PyTorch nn.LSTM's equations and packed gate order i, f, g, o
 * (spec/mixers.md §9), as a parameter-free op. The input projection is outside the op: `gates_x` is
 * x W_ihᵀ + b_ih + b_hh already summed (both biases enter the pre-activations the same way), so the op's only
 * weight is the recurrent w_hh (= PyTorch's weight_hh_l0), an input with a gradient like any other.
 */
import { z } from "zod";
import { rand, randn } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import { expectRank, expectShape, required } from "../check.js";
import { commonOptions, OpError } from "../options.js";
import type { ExampleSizes, OpDefinition, OpInputs } from "../types.js";
import { lstmChunk } from "./chunk.js";
import { OP, type LstmOptions } from "./common.js";
import { lstmNaive } from "./naive.js";
import { lstmRecurrent } from "./recurrent.js";

export type { LstmOptions } from "./common.js";
export { lstmCell } from "./common.js";
export { lstmNaive } from "./naive.js";
export { lstmChunk } from "./chunk.js";
export { lstmRecurrent } from "./recurrent.js";

const optionsSchema = z.object({ ...commonOptions }).strict();

/** gates_x [B,T,4H] (last axis a positive multiple of 4), w_hh [4H,H], initial_state [B,2,H]. */
function validate(inputs: OpInputs): void {
  const gx = required(OP, inputs, "gates_x", "[B,T,4·H]");
  expectRank(OP, "gates_x", gx, 3, "[B,T,4·H]");
  const [B, T, G] = gx.shape as [number, number, number];
  if (G < 4 || G % 4 !== 0) {
    throw new OpError(`${OP}: gates_x must have shape [B,T,4·H] (the gates i, f, g, o side by side), so its last axis must be a positive multiple of 4, got [${B},${T},${G}]`);
  }
  const H = G / 4;
  const w = required(OP, inputs, "w_hh", "[4·H,H]");
  expectShape(OP, "w_hh", w, [G, H], `([4·H,H] with H = ${H} from gates_x)`);
  if (inputs.initial_state) expectShape(OP, "initial_state", inputs.initial_state, [B, 2, H], `(the state [B,2,H] = (h, c) with B = ${B}, H = ${H} from gates_x)`);
}

/**
 * Example inputs with hidden size H·K (sizes.H × sizes.K; V is unused): gates_x ~ N(0,1) and w_hh ~
 * U(−1/√H, 1/√H) (PyTorch's init for nn.LSTM).
 */
function example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
  const { B = 2, T = 9, H = 1, K = 5 } = sizes;
  const hidden = H * K;
  const bound = 1 / Math.sqrt(hidden);
  return {
    gates_x: randn([B, T, 4 * hidden], rng, { dtype }),
    w_hh: rand([4 * hidden, hidden], rng, { dtype, low: -bound, high: bound }),
  };
}

export const lstm: OpDefinition<LstmOptions> = {
  name: OP,
  summary: "LSTM (PyTorch equations, gates i,f,g,o): c' = σ(f)⊙c + σ(i)⊙tanh(g), h' = σ(o)⊙tanh(c'), pre = gates_x + h W_hhᵀ",
  spec: "spec/mixers.md §9",
  inputs: [
    { name: "gates_x", shape: "[B,T,4·H]", perStep: true },
    { name: "w_hh", shape: "[4·H,H]", perStep: false },
    { name: "initial_state", shape: "[B,2,H]", optional: true, perStep: false },
  ],
  /** state[b, 0, :] = h, state[b, 1, :] = c (PyTorch's (h_n, c_n) of one layer, batch-first and stacked). */
  stateShape: "[B,2,H]",
  options: optionsSchema as unknown as z.ZodType<LstmOptions, unknown>,
  validate,
  naive: lstmNaive,
  chunk: lstmChunk,
  recurrent: lstmRecurrent,
  /** 2·H floats per sequence (h and c), whatever the number of tokens. */
  stateSize(shapes: Readonly<Record<string, readonly number[]>>): number {
    const H = shapes.w_hh?.[1] ?? shapes.initial_state?.[2] ?? (shapes.gates_x ? shapes.gates_x[2]! / 4 : undefined);
    if (H === undefined) throw new OpError(`${OP}: stateSize needs the shape of w_hh [4·H,H] or gates_x [B,T,4·H]`);
    return 2 * H;
  },
  example,
};
