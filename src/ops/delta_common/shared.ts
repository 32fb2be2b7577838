/**
 * What `delta_rule` and `gated_delta_rule` share (spec/mixers.md §7): the options schema, the sizes read off
 * the inputs, the boundary checks, and the example inputs. The gated op is the plain one plus a per-head log
 * decay g, so every form is written once with an optional g and bound to each op by its name.
 */
import { z } from "zod";
import { rand, randn } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import { shapeString } from "../../core/shape.js";
import { Tensor } from "../../core/tensor.js";
import { expectRank, expectShape, required } from "../check.js";
import { commonOptions, scaleOption, OpError } from "../options.js";
import type { ExampleSizes, InputSpec, OpInputs } from "../types.js";

export const deltaOptions = z
  .object({
    ...commonOptions,
    scale: scaleOption,
  })
  .strict();

export type DeltaOptions = z.infer<typeof deltaOptions>;

/** Which op a shared form is running as: the name (for errors and graph nodes) and whether g is an input. */
export interface DeltaVariant {
  readonly name: "delta_rule" | "gated_delta_rule";
  readonly gated: boolean;
}

export const DELTA: DeltaVariant = { name: "delta_rule", gated: false };
export const GATED_DELTA: DeltaVariant = { name: "gated_delta_rule", gated: true };

export const STATE_SHAPE =
  "[B,H,K,V]: one key-major memory S per sequence and head (spec §0.1); o_t = τ·q_t·S_t, and the key k reads k·S ∈ R^V";

export function deltaInputs(variant: DeltaVariant): InputSpec[] {
  return [
    { name: "q", shape: "[B,T,H,K]", perStep: true },
    { name: "k", shape: "[B,T,H,K]", perStep: true },
    { name: "v", shape: "[B,T,H,V]", perStep: true },
    { name: "beta", shape: "[B,T,H]", perStep: true },
    ...(variant.gated ? [{ name: "g", shape: "[B,T,H]", perStep: true }] : []),
    { name: "initial_state", shape: "[B,H,K,V]", optional: true, perStep: false },
  ];
}

export interface DeltaDims {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
  scale: number;
}

/** Sizes of one call, from full-sequence inputs (q [B,T,H,K], v [B,T,H,V]). */
export function deltaDims(inputs: OpInputs, options: DeltaOptions): DeltaDims {
  const [B, T, H, K] = inputs.q!.shape as [number, number, number, number];
  const V = inputs.v!.shape[3]!;
  return { B, T, H, K, V, scale: options.scale ?? 1 / Math.sqrt(K) };
}

/** "[b,t,h]" of flat index i in a [B,T,H] tensor. */
function where3(i: number, T: number, H: number): string {
  const h = i % H;
  const t = Math.floor(i / H) % T;
  const b = Math.floor(i / (H * T));
  return `[${b},${t},${h}]`;
}

/**
 * Shapes, then the legal ranges of the gates:
 *  - beta ∈ [0, 2]. 0 is allowed (no write; the spec's "beta = 0 outputs zeros" case) and so is 2 (the
 *    eigenvalue 1 − β of the transition along a unit key is −1: a reflection, still non-expansive). The
 *    layers produce β = σ(·) ∈ (0,1) or 2σ(·) ∈ (0,2); anything past 2 makes |1 − β| > 1 and the
 *    recurrence diverge, so it is rejected. NaN is rejected.
 *  - g finite and ≤ 0 (a = e^g ∈ (0,1], spec §0.1); −∞ (a hard reset) is rejected because the chunk form
 *    exponentiates differences of cumulative sums, which would be −∞ − (−∞).
 */
export function validateDelta(variant: DeltaVariant, inputs: OpInputs): void {
  const op = variant.name;
  const q = required(op, inputs, "q", "[B,T,H,K]");
  const k = required(op, inputs, "k", "[B,T,H,K]");
  const v = required(op, inputs, "v", "[B,T,H,V]");
  const beta = required(op, inputs, "beta", "[B,T,H]");
  expectRank(op, "q", q, 4, "[B,T,H,K]");
  const [B, T, H, K] = q.shape as [number, number, number, number];
  if (H < 1 || K < 1) throw new OpError(`${op}: q must have H ≥ 1 heads and K ≥ 1, got ${shapeString(q.shape)}`);
  expectShape(op, "k", k, [B, T, H, K], "like q");
  expectRank(op, "v", v, 4, "[B,T,H,V]");
  expectShape(op, "v", v, [B, T, H, undefined], "([B,T,H,V] with B, T, H of q)");
  const V = v.shape[3]!;
  if (V < 1) throw new OpError(`${op}: v must have V ≥ 1, got ${shapeString(v.shape)}`);
  expectShape(op, "beta", beta, [B, T, H], "([B,T,H] of q)");
  const bv = beta.values();
  for (let i = 0; i < bv.length; i++) {
    const x = bv[i]!;
    if (!(x >= 0 && x <= 2)) {
      throw new OpError(`${op}: beta must lie in [0, 2] (the write strength; (1,2] gives negative eigenvalues), got ${x} at ${where3(i, T, H)}`);
    }
  }
  if (variant.gated) {
    const g = required(op, inputs, "g", "[B,T,H]");
    expectShape(op, "g", g, [B, T, H], "([B,T,H] of q)");
    const gv = g.values();
    for (let i = 0; i < gv.length; i++) {
      const x = gv[i]!;
      if (!(x <= 0 && x > -Infinity)) {
        throw new OpError(`${op}: g is a log decay and must be finite and ≤ 0, got ${x} at ${where3(i, T, H)}`);
      }
    }
  } else if (inputs.g !== undefined) {
    throw new OpError(`${op}: unexpected input 'g'; the decay belongs to gated_delta_rule`);
  }
  const s0 = inputs.initial_state;
  if (s0 !== undefined) expectShape(op, "initial_state", s0, [B, H, K, V], "([B,H,K,V] from q and v)");
}

/** H·K·V floats per sequence, whatever the number of tokens. */
export function deltaStateSize(shapes: Readonly<Record<string, readonly number[]>>): number {
  const q = shapes.q!;
  const v = shapes.v!;
  return q[2]! * q[3]! * v[3]!;
}

/** Rows of the last axis scaled to unit L2 norm (spec §0.2 l2n, with its 1e-6), as the layers will feed keys. */
export function l2normRows(t: Tensor): Tensor {
  const x = t.values().slice();
  const n = t.shape[t.ndim - 1]!;
  for (let r = 0; r < x.length; r += n) {
    let s = 0;
    for (let j = 0; j < n; j++) s += x[r + j]! * x[r + j]!;
    const inv = 1 / Math.sqrt(s + 1e-6);
    for (let j = 0; j < n; j++) x[r + j] = x[r + j]! * inv;
  }
  return new Tensor(x, t.shape);
}

export interface DeltaExampleOptions {
  /** range of beta (default [0.05, 0.95]: the sigmoid range; use [1.05, 1.95] for negative eigenvalues) */
  beta?: readonly [number, number];
  /** range of g (default [−0.5, −0.01]) */
  g?: readonly [number, number];
}

/** q, k with unit rows (as the layers produce), v normal, beta and g uniform in their ranges. */
export function deltaExample(
  variant: DeltaVariant,
  rng: Random,
  dtype: DType,
  sizes: Partial<ExampleSizes> = {},
  ranges: DeltaExampleOptions = {},
): Record<string, Tensor> {
  const { B = 2, T = 7, H = 3, K = 5, V = 4 } = sizes;
  const [blo, bhi] = ranges.beta ?? [0.05, 0.95];
  const out: Record<string, Tensor> = {
    q: l2normRows(randn([B, T, H, K], rng, { dtype })),
    k: l2normRows(randn([B, T, H, K], rng, { dtype })),
    v: randn([B, T, H, V], rng, { dtype }),
    beta: rand([B, T, H], rng, { dtype, low: blo, high: bhi }),
  };
  if (variant.gated) {
    const [glo, ghi] = ranges.g ?? [-0.5, -0.01];
    out.g = rand([B, T, H], rng, { dtype, low: glo, high: ghi });
  }
  return out;
}
