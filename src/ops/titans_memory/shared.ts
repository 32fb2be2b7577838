/**
 * What the three forms of `titans_memory` share: options, input list, sizes, checks, the packed state and the
 * per-token update (spec/mixers.md §10.1).
 */
import { z } from "zod";
import { rand, randn, zeros } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import { concat, expand, reshape, slice, stack } from "../../core/ops/shape.js";
import { Tensor } from "../../core/tensor.js";
import { expectRank, expectShape, required } from "../check.js";
import { commonOptions, OpError } from "../options.js";
import type { ExampleSizes, InputSpec, OpInputs } from "../types.js";
import { l2normRows } from "../delta_common/shared.js";
import { positionOf, QKV_INPUTS, validateQKV } from "../decay_chunk/shared.js";
import { layerDims, weightCount, type MemoryNet } from "./memory.js";
import { errorGrad } from "./miras.js";

export const OP = "titans_memory";

/** Deepest memory the op takes (one optional input w1…w4 per weight matrix). */
export const MAX_DEPTH = 4;
export const WEIGHT_NAMES = Array.from({ length: MAX_DEPTH }, (_, l) => `w${l + 1}`);

export const titansOptions = z
  .object({
    ...commonOptions,
    /** number of weight matrices L: 1 = linear memory k W, ≥ 2 = MLP */
    depth: z.number().int().min(1).max(MAX_DEPTH).default(1),
    /** hidden width of an MLP memory = expansion · K */
    expansion: z.number().int().min(1).max(64).default(4),
    activation: z.enum(["gelu", "silu"]).default("gelu"),
    /** M(k) = k + LN(MLP(k)) (needs K = V) */
    residual: z.boolean().default(false),
    /** per_token: y_t = M(q_t; W_t); lagged: y_t = M(q_t; W at the start of t's chunk) (W_{t−1} token by token) */
    retrieve: z.enum(["per_token", "lagged"]).default("per_token"),
    // Miras (spec §11, miras.ts): the inner loss and how the weights are read from the state
    /** attentional bias: l2 ‖e‖² (Titans), lp ‖e‖_p^p (Moneta), huber with a per-token threshold input `delta` (Yaad) */
    bias: z.enum(["l2", "lp", "huber"]).default("l2"),
    /** p of the lp bias (the paper's Moneta: 3) */
    p: z.number().min(1).max(16).default(3),
    /** retention: l2 the forget gate (Titans), lq q-norm normalisation (Moneta), kl softmax of log-weights (Memora) */
    retention: z.enum(["l2", "lq", "kl"]).default("l2"),
    /** q of the lq retention (the paper's Moneta: 4) */
    q: z.number().min(1).max(16).default(4),
    /** c of the kl retention: each row of every weight matrix sums to c */
    klScale: z.number().positive().default(1),
  })
  .strict();

export type TitansOptions = z.infer<typeof titansOptions>;

export const STATE_SHAPE =
  "[B,H,2,n_W]: [:,:,0] the memory weights W¹…W^L flattened row-major one after the other, [:,:,1] the momentum S in the same layout";

export const titansInputs: InputSpec[] = [
  ...QKV_INPUTS,
  { name: "lr", shape: "[B,T,H]", perStep: true },
  { name: "momentum", shape: "[B,T,H]", perStep: true },
  { name: "decay", shape: "[B,T,H]", perStep: true },
  { name: "delta", shape: "[B,T,H]", optional: true, perStep: true },
  ...WEIGHT_NAMES.map((name, l) => ({ name, shape: l === 0 ? "[H,K,V] (linear) or [H,K,E·K]" : "[H,E·K,E·K] or [H,E·K,V]", optional: true, perStep: false })),
  { name: "initial_state", shape: "[B,H,2,n_W]", optional: true, perStep: false },
];

export interface TitansDims {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
}

/** Sizes from full-sequence inputs (or from one step's inputs, where q is [B,H,K]). */
export function titansDims(inputs: OpInputs): TitansDims {
  const q = inputs.q!;
  const v = inputs.v!;
  if (q.ndim === 3) return { B: q.shape[0]!, T: 1, H: q.shape[1]!, K: q.shape[2]!, V: v.shape[2]! };
  const [B, T, H, K] = q.shape as [number, number, number, number];
  return { B, T, H, K, V: v.shape[3]! };
}

/** The memory network the options describe, with its attentional bias. */
export function memoryNet(options: TitansOptions, K: number, V: number): MemoryNet {
  return {
    depth: options.depth,
    dims: layerDims(K, V, options.depth, options.expansion),
    activation: options.activation,
    residual: options.residual,
    errorGrad: (e, ctx) => errorGrad(options, e, ctx),
  };
}

/** Every value of t passes `ok` (NaN never does), with an error naming the input, the rule, the value and where. */
function expectValues(name: string, t: Tensor, ok: (x: number) => boolean, rule: string): void {
  const x = t.values();
  for (let i = 0; i < x.length; i++) {
    if (!ok(x[i]!)) throw new OpError(`${OP}: ${name} ${rule}, got ${x[i]} at ${positionOf(i, t.shape)}`);
  }
}

const inUnit = (x: number): boolean => x >= 0 && x <= 1;

/**
 * Shapes, then the gate ranges: lr θ ≥ 0 and finite; momentum η ∈ [0, 1] (0 = no momentum); decay α ∈ [0, 1]
 * (1 = forget everything); delta > 0 with the huber bias (and only there). Initial weights: either initial_state or w1…w_L (all of them, shapes per layer), not
 * both; an MLP memory needs one of the two (all-zero MLP weights have zero gradient and never learn).
 */
export function validateTitans(inputs: OpInputs, options: TitansOptions): void {
  const { B, T, H, K, V } = validateQKV(OP, inputs);
  const gates: ReadonlyArray<[string, (x: number) => boolean, string]> = [
    ["lr", (x) => x >= 0 && x < Infinity, "(the inner learning rate θ) must be finite and ≥ 0"],
    ["momentum", inUnit, "(the momentum decay η) must lie in [0, 1]"],
    ["decay", inUnit, "(the forget gate α) must lie in [0, 1]"],
  ];
  for (const [name, ok, rule] of gates) {
    const t = required(OP, inputs, name, "[B,T,H]");
    expectShape(OP, name, t, [B, T, H], "([B,T,H] of q)");
    expectValues(name, t, ok, rule);
  }
  const delta = inputs.delta;
  if (options.bias === "huber") {
    const t = required(OP, inputs, "delta", "[B,T,H]");
    expectShape(OP, "delta", t, [B, T, H], "([B,T,H] of q)");
    expectValues("delta", t, (x) => x > 0 && x < Infinity, "(the Huber threshold δ) must be finite and > 0");
  } else if (delta !== undefined) {
    throw new OpError(`${OP}: unexpected input 'delta'; the Huber threshold is used only with the option bias: "huber"`);
  }
  if (options.residual && K !== V) throw new OpError(`${OP}: option 'residual' (M(k) = k + LN(MLP(k))) needs K = V, got K = ${K} and V = ${V}`);
  const dims = layerDims(K, V, options.depth, options.expansion);
  const given = WEIGHT_NAMES.filter((n) => inputs[n] !== undefined);
  const s0 = inputs.initial_state;
  if (s0 !== undefined) {
    expectShape(OP, "initial_state", s0, [B, H, 2, weightCount(dims)], `([B,H,2,n_W] with n_W = ${weightCount(dims)} for memory widths [${dims.join(",")}])`);
    if (given.length > 0) throw new OpError(`${OP}: give either initial_state or the initial weights (${given.join(", ")}), not both`);
    return;
  }
  const wanted = WEIGHT_NAMES.slice(0, options.depth);
  if (given.length === 0) {
    if (options.depth > 1) throw new OpError(`${OP}: an MLP memory (depth ${options.depth}) needs its initial weights ${wanted.join(", ")} or an initial_state`);
    return;
  }
  for (const name of given) if (!wanted.includes(name)) throw new OpError(`${OP}: unexpected input '${name}' for a memory of depth ${options.depth} (weights ${wanted.join(", ")})`);
  wanted.forEach((name, l) => {
    const w = required(OP, inputs, name, `[H,${dims[l]},${dims[l + 1]}]`);
    expectRank(OP, name, w, 3, "[H,in,out]");
    expectShape(OP, name, w, [H, dims[l], dims[l + 1]], `(layer ${l + 1} of the memory widths [${dims.join(",")}])`);
  });
}

/**
 * Memory state W[l] and momenta S[l], each [B or 1, H, dims[l], dims[l+1]]. W is the memory's weights for the
 * l2 retention; for lq and kl it is the state A the weights are read from (miras.ts readWeights).
 */
export interface MemoryState {
  W: Tensor[];
  S: Tensor[];
}

/** The state before the first token: initial_state unpacked, else the weights w1…w_L (zeros if absent) and S = 0. */
export function startState(inputs: OpInputs, net: MemoryNet, H: number): MemoryState {
  const dtype = inputs.q!.dtype;
  if (inputs.initial_state) return unpackState(inputs.initial_state, net.dims);
  const W: Tensor[] = [];
  const S: Tensor[] = [];
  for (let l = 0; l < net.depth; l++) {
    const shape = [1, H, net.dims[l]!, net.dims[l + 1]!];
    const w = inputs[WEIGHT_NAMES[l]!];
    W.push(w ? reshape(w, shape) : zeros(shape, { dtype }));
    S.push(zeros(shape, { dtype }));
  }
  return { W, S };
}

/** [B,H,2,n_W] → per-layer W and S (views of the state). */
export function unpackState(state: Tensor, dims: readonly number[]): MemoryState {
  const [B, H] = state.shape as [number, number];
  const W: Tensor[] = [];
  const S: Tensor[] = [];
  let at = 0;
  for (let l = 0; l + 1 < dims.length; l++) {
    const n = dims[l]! * dims[l + 1]!;
    const part = slice(state, 3, at, at + n);
    W.push(reshape(slice(part, 2, 0, 1), [B, H, dims[l]!, dims[l + 1]!]));
    S.push(reshape(slice(part, 2, 1, 2), [B, H, dims[l]!, dims[l + 1]!]));
    at += n;
  }
  return { W, S };
}

/** Per-layer W and S (broadcast to batch B) → [B,H,2,n_W]. */
export function packState(state: MemoryState, B: number): Tensor {
  const flat = (ts: Tensor[]): Tensor =>
    concat(ts.map((t) => reshape(expand(t, [B, ...t.shape.slice(1)]).contiguous(), [B, t.shape[1]!, t.shape[2]! * t.shape[3]!])), 2);
  return stack([flat(state.W), flat(state.S)], 2);
}

/**
 * One token's update (spec §10.1) from its gradient u^l = xᵀ g per layer (x [B,H,1,in], g [B,H,1,out]) and its
 * gates θ, η, α as [B,H,1,1]:  S ← η S − θ u,  W ← (1 − α) W + S.
 */
export function applyToken(state: MemoryState, x: readonly Tensor[], g: readonly Tensor[], lr: Tensor, momentum: Tensor, decay: Tensor): MemoryState {
  const keep = decay.neg().add(1);
  const S = state.S.map((s, l) => momentum.mul(s).sub(lr.mul(x[l]!.transpose().matmul(g[l]!))));
  const W = state.W.map((w, l) => keep.mul(w).add(S[l]!));
  return { W, S };
}

/** 2·H·n_W floats per sequence (weights and momentum), whatever T. */
export function titansStateSize(shapes: Readonly<Record<string, readonly number[]>>, options: TitansOptions): number {
  const q = shapes.q!;
  const dims = layerDims(q[3]!, shapes.v![3]!, options.depth, options.expansion);
  return 2 * q[2]! * weightCount(dims);
}

/** Unit-norm q and k (the paper's l2n), v normal, lr ∈ [0.05, 0.5], momentum ∈ [0, 0.9], decay ∈ [0, 0.2]. */
export function titansExample(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
  const { B = 2, T = 7, H = 3, K = 5, V = 4 } = sizes;
  return {
    q: l2normRows(randn([B, T, H, K], rng, { dtype })),
    k: l2normRows(randn([B, T, H, K], rng, { dtype })),
    v: randn([B, T, H, V], rng, { dtype }),
    lr: rand([B, T, H], rng, { dtype, low: 0.05, high: 0.5 }),
    momentum: rand([B, T, H], rng, { dtype, low: 0, high: 0.9 }),
    decay: rand([B, T, H], rng, { dtype, low: 0, high: 0.2 }),
  };
}
