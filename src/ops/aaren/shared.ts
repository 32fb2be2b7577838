/**
 * What the three forms of `aaren` share (spec/mixers.md §2): options, sizes, boundary checks and the state
 * layout. The state is [B,H,V+2] holding, per head, (m, u, w_1..w_V): the running max score m, the denominator
 * u = Σ exp(s_i − m) and the numerator w = Σ exp(s_i − m)·v_i of everything seen so far. "Nothing seen" is
 * (m, u, w) = (−∞, 0, 0).
 *
 * The triple is a redundant representation: (m, u, w) and (m+δ, u·e^−δ, w·e^−δ) are the same state. Every form
 * treats m as a constant in backward (spec §2 "Gradient note"): no gradient reaches the m of initial_state
 * (its gradient is 0) and none is read from the m of the final state. That is the exact gradient of any loss
 * that depends on the state only through what it represents (u·e^m, w·e^m) — the outputs, or a continuation
 * from the final state — and it avoids subgradients of max.
 */
import { z } from "zod";
import { shapeString } from "../../core/shape.js";
import { expectRank, expectShape, required } from "../check.js";
import { commonOptions, scaleOption, OpError } from "../options.js";
import type { OpInputs } from "../types.js";

export const OP = "aaren";

export const aarenOptions = z
  .object({
    ...commonOptions,
    scale: scaleOption,
  })
  .strict();

export type AarenOptions = z.infer<typeof aarenOptions>;

export interface AarenDims {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
  scale: number;
}

export function aarenDims(inputs: OpInputs, options: AarenOptions): AarenDims {
  const [B, T, H, K] = inputs.k!.shape as [number, number, number, number];
  return { B, T, H, K, V: inputs.v!.shape[3]!, scale: options.scale ?? 1 / Math.sqrt(K) };
}

export function validateAaren(inputs: OpInputs): void {
  const q = required(OP, inputs, "q", "[H,K]");
  const k = required(OP, inputs, "k", "[B,T,H,K]");
  const v = required(OP, inputs, "v", "[B,T,H,V]");
  expectRank(OP, "k", k, 4, "[B,T,H,K]");
  const [B, T, H, K] = k.shape as [number, number, number, number];
  if (H < 1 || K < 1) throw new OpError(`${OP}: k must have at least one head and K ≥ 1, got ${shapeString(k.shape)}`);
  expectShape(OP, "q", q, [H, K], "(one learned query per head: [H,K] with H, K of k)");
  expectRank(OP, "v", v, 4, "[B,T,H,V]");
  expectShape(OP, "v", v, [B, T, H, undefined], "([B,T,H,V] with B, T, H of k)");
  const V = v.shape[3]!;
  if (V < 1) throw new OpError(`${OP}: v must have V ≥ 1, got ${shapeString(v.shape)}`);
  const init = inputs.initial_state;
  if (init !== undefined) {
    expectShape(OP, "initial_state", init, [B, H, V + 2], `([B,H,V+2]: per head the running max m, the denominator u and the numerator w_1..w_V, for V=${V})`);
  }
}
