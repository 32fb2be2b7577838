/**
 * What linear_attn, retention, simple_gla and gla share (spec/mixers.md §0.4, §3, §5, §6, §8.2): the option
 * schemas, the sizes read off the inputs, the boundary checks with messages that name the tensor, the state
 * layout, and example inputs.
 */
import { z } from "zod";
import { rand, randn } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import { shapeString } from "../../core/shape.js";
import type { Tensor } from "../../core/tensor.js";
import { expectRank, expectShape, required } from "../check.js";
import { commonOptions, scaleOption, OpError } from "../options.js";
import type { ExampleSizes, InputSpec, OpInputs } from "../types.js";


/** retention, gla, simple_gla */
export const decayOptions = z.object({ ...commonOptions, scale: scaleOption }).strict();
export type DecayOptions = z.infer<typeof decayOptions>;

/** linear_attn: o_t = τ q_t S_t, or with normalize o_t = τ q_t S_t / (τ q_t·z_t + eps), z_t = Σ_{s≤t} k_s */
export const linearAttnOptions = z
  .object({
    ...commonOptions,
    scale: scaleOption,
    normalize: z.boolean().default(false),
    /** added to the denominator when normalize is set; 1e-10 as in fla's linear attention (spec §3) */
    eps: z.number().positive().default(1e-10),
  })
  .strict();
export type LinearAttnOptions = z.infer<typeof linearAttnOptions>;

export const STATE_SHAPE =
  "[B,H,K,V]: one key-major memory S per sequence and head (spec §0.1), S_t = Diag(a_t) S_{t−1} + k_tᵀ v_t, o_t = τ q_t S_t";

export const QKV_INPUTS: readonly InputSpec[] = [
  { name: "q", shape: "[B,T,H,K]", perStep: true },
  { name: "k", shape: "[B,T,H,K]", perStep: true },
  { name: "v", shape: "[B,T,H,V]", perStep: true },
];

export interface DecayDims {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
  /** τ */
  scale: number;
}

/** Sizes of one call from full-sequence inputs q [B,T,H,K], v [B,T,H,V]; τ defaults to K^-1/2. */
export function decayDims(inputs: OpInputs, options: { scale?: number | undefined }): DecayDims {
  const [B, T, H, K] = inputs.q!.shape as [number, number, number, number];
  const V = inputs.v!.shape[3]!;
  return { B, T, H, K, V, scale: options.scale ?? 1 / Math.sqrt(K) };
}

/** "[i,j,…]" of flat index i in a row-major tensor of the given shape. */
export function positionOf(i: number, shape: readonly number[]): string {
  const idx: number[] = [];
  for (let a = shape.length - 1; a >= 0; a--) {
    idx.push(i % shape[a]!);
    i = Math.floor(i / shape[a]!);
  }
  return `[${idx.reverse().join(",")}]`;
}

/** q, k [B,T,H,K] and v [B,T,H,V]: presence, ranks, matching sizes. Returns the sizes. */
export function validateQKV(op: string, inputs: OpInputs): Omit<DecayDims, "scale"> {
  const q = required(op, inputs, "q", "[B,T,H,K]");
  const k = required(op, inputs, "k", "[B,T,H,K]");
  const v = required(op, inputs, "v", "[B,T,H,V]");
  expectRank(op, "q", q, 4, "[B,T,H,K]");
  const [B, T, H, K] = q.shape as [number, number, number, number];
  if (B < 1 || H < 1 || K < 1) throw new OpError(`${op}: q must have B ≥ 1, H ≥ 1 and K ≥ 1, got ${shapeString(q.shape)}`);
  expectShape(op, "k", k, [B, T, H, K], "like q");
  expectRank(op, "v", v, 4, "[B,T,H,V]");
  expectShape(op, "v", v, [B, T, H, undefined], "([B,T,H,V] with B, T, H of q)");
  const V = v.shape[3]!;
  if (V < 1) throw new OpError(`${op}: v must have V ≥ 1, got ${shapeString(v.shape)}`);
  return { B, T, H, K, V };
}

/**
 * A log gate (log of a decay in (0,1]): the shape, then every value finite and ≤ 0. −∞ (a hard reset) is
 * refused: the chunk form exponentiates differences of cumulative sums, which would be −∞ − (−∞).
 */
export function validateLogGate(op: string, name: string, t: Tensor | undefined, shape: readonly number[], symbols: string, like: string): void {
  if (t === undefined) throw new OpError(`${op}: missing input '${name}' (expected shape ${symbols})`);
  expectShape(op, name, t, shape, like);
  const x = t.values();
  for (let i = 0; i < x.length; i++) {
    const g = x[i]!;
    if (!(g <= 0 && g > -Infinity)) {
      throw new OpError(`${op}: ${name} is a log decay and must be finite and ≤ 0, got ${g} at ${positionOf(i, t.shape)}`);
    }
  }
}

/** initial_state, when given, has exactly the state shape. */
export function validateInitialState(op: string, inputs: OpInputs, shape: readonly number[], like: string): void {
  const s0 = inputs.initial_state;
  if (s0 !== undefined) expectShape(op, "initial_state", s0, shape, like);
}

/** H·K·(V + extra) floats per sequence, whatever the number of tokens. */
export function matrixStateSize(shapes: Readonly<Record<string, readonly number[]>>, extraColumns = 0): number {
  const q = shapes.q!;
  const v = shapes.v!;
  return q[2]! * q[3]! * (v[3]! + extraColumns);
}

export interface ExampleGate {
  /** none; a scalar log gate g [B,T,H]; a vector log gate gk [B,T,H,K] */
  kind: "none" | "scalar" | "vector";
  /** range of the log gates (default [−0.5, −0.01]) */
  range?: readonly [number, number];
  /** q and k through elu+1 (positive features, as linear attention with normalize expects) */
  positive?: boolean;
}

/** q, k, v standard normal (or positive features), and the log gate uniform in its range. */
export function decayExample(rng: Random, dtype: DType, sizes: Partial<ExampleSizes>, gate: ExampleGate): Record<string, Tensor> {
  const { B = 2, T = 7, H = 3, K = 5, V = 4 } = sizes;
  const feature = (t: Tensor): Tensor => (gate.positive ? t.elu().add(1) : t);
  const out: Record<string, Tensor> = {
    q: feature(randn([B, T, H, K], rng, { dtype })),
    k: feature(randn([B, T, H, K], rng, { dtype })),
    v: randn([B, T, H, V], rng, { dtype }),
  };
  const [lo, hi] = gate.range ?? [-0.5, -0.01];
  if (gate.kind === "scalar") out.g = rand([B, T, H], rng, { dtype, low: lo, high: hi });
  if (gate.kind === "vector") out.gk = rand([B, T, H, K], rng, { dtype, low: lo, high: hi });
  return out;
}
