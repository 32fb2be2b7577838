/**
 * `selective_scan`: the Mamba-1 (S6) selective state-space scan (spec/mixers.md §8.1), with the inputs of
 * state-spaces/mamba `selective_scan_fn` (u, delta, A, B, C, D, z, delta_bias, delta_softplus) in the
 * [B,T,·] layout. B, C and D are named Bm, Cm and Dskip so they do not clash with the batch and width symbols.
 *
 * Differences from `selective_scan_fn`: delta_bias is an input tensor (as there), not an option, since options
 * are JSON scalars; an `initial_state` [B,D,N] may be given and the final state is differentiable (mamba's
 * fused kernel starts from zero and drops the last state's gradient); A must be real and ≤ 0.
 */
import { z } from "zod";
import { rand, randn } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import { expectRank, expectShape, required } from "../check.js";
import { commonOptions, OpError } from "../options.js";
import type { ExampleSizes, OpDefinition, OpInputs } from "../types.js";
import { selectiveScanChunk } from "./chunk.js";
import { OP, type SelectiveScanOptions } from "./common.js";
import { selectiveScanNaive } from "./naive.js";
import { selectiveScanRecurrent } from "./recurrent.js";

export type { SelectiveScanOptions } from "./common.js";
export { selectiveScanNaive } from "./naive.js";
export { selectiveScanChunk } from "./chunk.js";
export { selectiveScanRecurrent } from "./recurrent.js";

const optionsSchema = z
  .object({
    ...commonOptions,
    deltaSoftplus: z.boolean().default(false),
    // mamba's delta_bias is a [D] tensor: here it is the input `delta_bias`, and this key explains so
    deltaBias: z.never({ error: "delta_bias is an input tensor [D] named 'delta_bias', not an option" }).optional(),
  })
  .strict();

/** Checks presence, ranks, shapes (all tied to u [B,T,D] and A [D,N]) and that A ≤ 0. */
function validate(inputs: OpInputs): void {
  const u = required(OP, inputs, "u", "[B,T,D]");
  expectRank(OP, "u", u, 3, "[B,T,D]");
  const [B, T, D] = u.shape as [number, number, number];
  const delta = required(OP, inputs, "delta", "[B,T,D]");
  expectShape(OP, "delta", delta, [B, T, D], "like u");
  const A = required(OP, inputs, "A", "[D,N]");
  expectRank(OP, "A", A, 2, "[D,N]");
  expectShape(OP, "A", A, [D, undefined], `([D,N] with D = ${D} from u)`);
  const N = A.shape[1]!;
  if (N < 1) throw new OpError(`${OP}: A must have shape [D,N] with N ≥ 1, got [${A.shape.join(",")}]`);
  const values = A.values();
  for (let i = 0; i < values.length; i++) {
    const a = values[i]!;
    if (!(a <= 0)) {
      throw new OpError(
        `${OP}: A must be real and ≤ 0 (the decay is exp(Δ·A); mamba passes A = −exp(A_log)), got A[${Math.floor(i / N)},${i % N}] = ${a}`,
      );
    }
  }
  const bLike = `([B,T,N] with B = ${B}, T = ${T} from u and N = ${N} from A)`;
  expectShape(OP, "Bm", required(OP, inputs, "Bm", "[B,T,N]"), [B, T, N], bLike);
  expectShape(OP, "Cm", required(OP, inputs, "Cm", "[B,T,N]"), [B, T, N], bLike);
  const perChannel = `([D] with D = ${D} from u)`;
  if (inputs.Dskip) expectShape(OP, "Dskip", inputs.Dskip, [D], perChannel);
  if (inputs.delta_bias) expectShape(OP, "delta_bias", inputs.delta_bias, [D], perChannel);
  if (inputs.z) expectShape(OP, "z", inputs.z, [B, T, D], "like u");
  if (inputs.initial_state) {
    expectShape(OP, "initial_state", inputs.initial_state, [B, D, N], `(the state [B,D,N] with B, D from u and N from A)`);
  }
}

/**
 * Example inputs: D = H·V channels (a channel is a "head" of width 1 in §17's accounting), N = K state entries.
 * Δ in [0.05, 0.5] (a step size as it is, also fine through softplus), A = −(1..N) scaled by U(0.5, 1.5)
 * (mamba's S4D-real init A = −exp(log(1..N)), jittered), all optional inputs included.
 */
function example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
  const { B = 2, T = 9, H = 3, K = 5, V = 3 } = sizes;
  const D = H * V;
  const N = K;
  const A = rand([D, N], rng, { dtype, low: 0.5, high: 1.5 });
  const a = A.data;
  for (let i = 0; i < a.length; i++) a[i] = -a[i]! * ((i % N) + 1);
  return {
    u: randn([B, T, D], rng, { dtype }),
    delta: rand([B, T, D], rng, { dtype, low: 0.05, high: 0.5 }),
    A,
    Bm: randn([B, T, N], rng, { dtype }),
    Cm: randn([B, T, N], rng, { dtype }),
    Dskip: randn([D], rng, { dtype }),
    z: randn([B, T, D], rng, { dtype }),
    delta_bias: rand([D], rng, { dtype, low: -0.1, high: 0.1 }),
  };
}

export const selectiveScan: OpDefinition<SelectiveScanOptions> = {
  name: OP,
  summary: "Mamba-1 (S6) selective scan: h_t = exp(Δ_t·A)⊙h_{t−1} + Δ_t·u_t·Bm_t, y_t = Cm_t·h_t + Dskip·u_t, gated by SiLU(z)",
  spec: "spec/mixers.md §8.1",
  inputs: [
    { name: "u", shape: "[B,T,D]", perStep: true },
    { name: "delta", shape: "[B,T,D]", perStep: true },
    { name: "A", shape: "[D,N]", perStep: false },
    { name: "Bm", shape: "[B,T,N]", perStep: true },
    { name: "Cm", shape: "[B,T,N]", perStep: true },
    { name: "Dskip", shape: "[D]", optional: true, perStep: false },
    { name: "z", shape: "[B,T,D]", optional: true, perStep: true },
    { name: "delta_bias", shape: "[D]", optional: true, perStep: false },
    { name: "initial_state", shape: "[B,D,N]", optional: true, perStep: false },
  ],
  /** h[b, c, n]: channel-major, the N state entries of each channel contiguous (mamba's last_state layout). */
  stateShape: "[B,D,N]",
  options: optionsSchema as unknown as z.ZodType<SelectiveScanOptions, unknown>,
  validate,
  naive: selectiveScanNaive,
  chunk: selectiveScanChunk,
  recurrent: selectiveScanRecurrent,
  /** D·N floats per sequence (N per channel), whatever the number of tokens. */
  stateSize(shapes: Readonly<Record<string, readonly number[]>>): number {
    const A = shapes.A ?? shapes.initial_state?.slice(1);
    if (!A || A.length !== 2) throw new OpError(`${OP}: stateSize needs the shape of A [D,N]`);
    return A[0]! * A[1]!;
  },
  example,
};
