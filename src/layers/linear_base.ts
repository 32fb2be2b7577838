/**
 * What the `linear_attn`, `based`, `retnet` and `gla` layers share (spec/mixers.md §0.2, §3–§6): fla's gated
 * output norm, the grouped-query head repeat, the width/head checks with errors that name the config field,
 * the optional q/k/v short convolutions, and the plumbing of a layer state { recurrent: the op's state, plus
 * whatever else the layer carries (conv FIFOs, a RoPE position) } around a linear-recurrence op's chunk form
 * (forward) and recurrent step (step). Each layer file documents its own parameters and their fla names.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { rmsNorm, swiglu } from "../core/ops/nn.js";
import { expand, reshape, squeeze, unsqueeze } from "../core/ops/shape.js";
import { zeros } from "../core/create.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { ShortConv } from "../nn/shortconv.js";
import { constant } from "../nn/init.js";
import { parseOptions } from "../ops/options.js";
import { runOp } from "../ops/run.js";
import type { AnyOp } from "../ops/types.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";

/**
 * fla's FusedRMSNormGated with the swish gate (norm, then gate; spec §0.2): y = RMSNorm(x) ⊙ weight ⊙ SiLU(g)
 * over the last axis (one head), a learned scale `weight` [m] initialised to 1, no bias.
 */
export class FusedRMSNormGated extends Module {
  readonly weight: Tensor;

  constructor(readonly dim: number, readonly eps: number, options: { dtype: DType }) {
    super();
    this.weight = this.param("weight", constant([dim], 1, options.dtype));
  }

  forward(x: Tensor, g: Tensor): Tensor {
    return swiglu(g, rmsNorm(x, this.weight, this.eps)); // SiLU(g) ⊙ norm in one fused op
  }
}

/** "layers[i] (type)", the prefix the registry gives config errors; construction errors use it too. */
export function where(type: string, context: Pick<LayerContext, "layerIdx">): string {
  return `layers[${context.layerIdx}] (${type})`;
}

/**
 * round(dModel·expand) when that is a positive integer (fla asserts the same), else an error naming `field`
 * (with `quoteField`, the message starts with '<field>':, as the delta-rule layers' errors do).
 */
export function expandedWidth(type: string, context: Pick<LayerContext, "dModel" | "layerIdx">, field: string, expand: number, quoteField = false): number {
  const w = context.dModel * expand;
  const r = Math.round(w);
  if (Math.abs(w - r) > 1e-9 * Math.max(1, w) || r < 1) {
    throw new Error(`${where(type, context)}: ${quoteField ? `'${field}': ` : ""}dModel·${field} = ${context.dModel}·${expand} = ${w} must be a positive integer width`);
  }
  return r;
}

/**
 * The head count: the configured one, which must divide every width (error naming numHeads and the width's
 * field), or fla's default when it divides them all, else 1.
 */
export function resolveHeads(
  type: string,
  context: Pick<LayerContext, "layerIdx">,
  configured: number | null,
  flaDefault: number,
  widths: ReadonlyArray<readonly [field: string, width: number]>,
): number {
  if (configured === null) return widths.every(([, w]) => w % flaDefault === 0) ? flaDefault : 1;
  for (const [field, w] of widths) {
    if (w % configured !== 0) {
      throw new Error(`${where(type, context)}: numHeads=${configured} must divide the ${field} width ${w} (each head gets an equal share)`);
    }
  }
  return configured;
}

/** numKvHeads (default numHeads) must divide numHeads: an error naming both. */
export function resolveKvHeads(type: string, context: Pick<LayerContext, "layerIdx">, numHeads: number, configured: number | null): number {
  const kv = configured ?? numHeads;
  if (numHeads % kv !== 0) {
    throw new Error(`${where(type, context)}: numKvHeads=${kv} must divide numHeads=${numHeads} (grouped-query: each kv head serves numHeads/numKvHeads query heads)`);
  }
  return kv;
}

/** Head counts and per-head widths of a layer with q/k of width dModel·expandK and v of width dModel·expandV. */
export interface QkvHeads {
  /** query heads H */
  readonly numHeads: number;
  /** key/value heads Hkv (divides H) */
  readonly numKvHeads: number;
  /** key width per head K */
  readonly headKDim: number;
  /** value width per head V */
  readonly headVDim: number;
}

/**
 * The key and value widths dModel·expandK, dModel·expandV (expandedWidth), the heads (resolveHeads with fla's
 * default `flaDefault`) and kv heads (resolveKvHeads), and the per-head widths; errors name the field.
 */
export function resolveQkvHeads(
  type: string,
  context: Pick<LayerContext, "dModel" | "layerIdx">,
  config: { readonly expandK: number; readonly expandV: number; readonly numHeads: number | null; readonly numKvHeads: number | null },
  flaDefault: number,
): QkvHeads {
  const keyDim = expandedWidth(type, context, "expandK", config.expandK);
  const valueDim = expandedWidth(type, context, "expandV", config.expandV);
  const H = resolveHeads(type, context, config.numHeads, flaDefault, [["key (dModel·expandK)", keyDim], ["value (dModel·expandV)", valueDim]]);
  const Hkv = resolveKvHeads(type, context, H, config.numKvHeads);
  return { numHeads: H, numKvHeads: Hkv, headKDim: keyDim / H, headVDim: valueDim / H };
}

/** Builds Linear(inF → outF) with weights N(0, std) (spec §16) and, with `bias`, biases 0 (fla's _init_weights). */
export type NormalLinear = (inF: number, outF: number, std: number, bias?: boolean) => Linear;

/** A NormalLinear drawing from the layer context's generator, in the layer's dtype. */
export function normalLinear(context: Pick<LayerContext, "rng" | "dtype">): NormalLinear {
  const { rng, dtype } = context;
  return (inF, outF, std, bias = false) => {
    const l = new Linear(inF, outF, { rng, dtype, bias, init: "normal", std });
    l.bias?.data.fill(0);
    return l;
  };
}

/**
 * Grouped-query repeat over the head axis (second to last): [..., Hkv, d] → [..., Hkv·G, d], kv head j serving
 * query heads j·G … j·G+G−1 (fla's `repeat(x, '... (h d) -> ... (h g) d')`, spec §0.2 ⌊h/G⌋).
 */
export function repeatHeads(x: Tensor, groups: number): Tensor {
  if (groups === 1) return x;
  const shape = x.shape;
  const lead = shape.slice(0, -2);
  const [hkv, d] = shape.slice(-2) as [number, number];
  const e = expand(unsqueeze(x, -2), [...lead, hkv, groups, d]);
  return reshape(e, [...lead, hkv * groups, d]);
}

/** The tensors one range of tokens gives the op, and the non-op state entries after that range. */
export interface Prepared {
  /** op inputs: per-step ones with the time axis ([B,T,…]), the others whole (e.g. gamma) */
  readonly inputs: Record<string, Tensor>;
  /** the state entries other than `recurrent` after these tokens (conv FIFOs, position) */
  readonly carry: Record<string, Tensor>;
}

/**
 * A mixer around one linear-recurrence op: forward = the op's chunk form (continuing from state.recurrent),
 * step = the op's recurrent step (O(1) in T). Subclasses build the op inputs and the readout.
 */
export abstract class LinearMixerBase extends MixerLayer {
  protected abstract readonly op: AnyOp;
  /** options of the op besides outputFinalState (scale, normalize, eps, chunkSize) */
  protected abstract opOptions(): Record<string, unknown>;
  /** x [B,T,D] (continuing from `prev`, the state before x) → the op inputs and the carried entries after x */
  protected abstract prepare(x: Tensor, prev: LayerState | null): Prepared;
  /** o [..., H, V] (the op output) and the layer input x [..., D] → y [..., D] */
  protected abstract readout(o: Tensor, x: Tensor): Tensor;
  /** shapes of every state tensor for `batch` sequences, `recurrent` (the op's state) included */
  protected abstract stateShapes(batch: number): Record<string, number[]>;

  private stepOptionsCache: unknown = null;

  /** the dtype of the layer's parameters (and of its state) */
  protected abstract get dtype(): DType;

  private get stepOptions(): unknown {
    this.stepOptionsCache ??= parseOptions(this.op.name, this.op.options, this.opOptions());
    return this.stepOptionsCache;
  }

  initState(batch: number): LayerState {
    const out: Record<string, Tensor> = {};
    for (const [key, shape] of Object.entries(this.stateShapes(batch))) out[key] = zeros(shape, { dtype: this.dtype });
    return out;
  }

  /** Every tensor of `stateShapes` is present with its shape; errors name the tensor. */
  protected checkState(state: LayerState, batch: number): void {
    for (const [key, want] of Object.entries(this.stateShapes(batch))) {
      const t = state[key];
      if (t === undefined || t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new RangeError(`${this.type}: state.${key} must have shape [${want.join(",")}] (from initState or forward), got ${t ? `[${t.shape.join(",")}]` : "nothing"}`);
      }
    }
  }

  protected checkInput(x: Tensor, rank: 2 | 3): void {
    const ok = x.ndim === rank && x.shape[rank - 1] === this.dModel;
    if (!ok) throw new RangeError(`${this.type}: x must have shape ${rank === 3 ? "[B,T," : "[B,"}${this.dModel}], got [${x.shape.join(",")}]`);
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    this.checkInput(x, 3);
    const prev = options.state ?? null;
    if (prev) this.checkState(prev, x.shape[0]!);
    const outputState = options.outputState ?? false;
    const { inputs, carry } = this.prepare(x, prev);
    const r = runOp(this.op, { ...inputs, ...(prev ? { initial_state: prev.recurrent! } : {}) }, "chunk", {
      ...this.opOptions(),
      outputFinalState: outputState,
    });
    const y = this.readout(r.o, x);
    return outputState ? { y, state: { ...carry, recurrent: r.finalState! } } : { y };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    this.checkInput(x, 2);
    this.checkState(state, x.shape[0]!);
    const { inputs, carry } = this.prepare(unsqueeze(x, 1), state);
    const at: Record<string, Tensor> = {};
    for (const spec of this.op.inputs) {
      const t = inputs[spec.name];
      if (t !== undefined) at[spec.name] = spec.perStep ? squeeze(t, 1) : t;
    }
    const r = this.op.recurrent.step(state.recurrent!, at, this.stepOptions);
    return { y: this.readout(r.o, x), state: { ...carry, recurrent: r.state } };
  }

  /** the floats of every state tensor, per sequence (constant in T) */
  stateSize(_tokens?: number): number {
    return Object.values(this.stateShapes(1)).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  }
}

/**
 * Builds `proj` → optional short conv (SiLU) for each branch of x [B,T,D]: returns the outputs [B,T,C] and the
 * conv FIFOs after x (continuing from prev[key]).
 */
export function projectWithConvs(
  x: Tensor,
  prev: LayerState | null,
  branches: ReadonlyArray<{ proj: Linear; conv: ShortConv | null; key: string }>,
): { outs: Tensor[]; convState: Record<string, Tensor> } {
  const convState: Record<string, Tensor> = {};
  const outs = branches.map(({ proj, conv, key }) => {
    const z = proj.forward(x);
    if (!conv) return z;
    const r = conv.forward(z, prev?.[key] ?? null);
    convState[key] = r.state;
    return r.y;
  });
  return { outs, convState };
}

/**
 * The zod fields gla's and retnet's configs start with (fla GatedLinearAttention / MultiScaleRetention names in
 * the comments), in this order; the layers differ in the expand defaults and the default head count.
 */
export function gatedQkvFields(defaults: { expandK: number; expandV: number }) {
  return {
    /** heads H (fla num_heads); default the layer's fla default when it divides the key and value widths, else 1 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** key/value heads (fla num_kv_heads; must divide numHeads); default numHeads */
    numKvHeads: z.number().int().min(1).nullable().default(null),
    /** total key width H·K = dModel·expandK (fla expand_k) */
    expandK: z.number().positive().default(defaults.expandK),
    /** total value width H·V = dModel·expandV (fla expand_v) */
    expandV: z.number().positive().default(defaults.expandV),
    /** causal depthwise conv + SiLU on q, k, v after their projections (fla use_short_conv) */
    useShortConv: z.boolean().default(false),
    /** its kernel width (fla conv_size) */
    convSize: z.number().int().min(1).default(4),
    /** conv biases (fla conv_bias) */
    convBias: z.boolean().default(false),
    /** output gate g_proj with the gated RMSNorm (fla use_output_gate) */
    useOutputGate: z.boolean().default(true),
    /** ε of the output RMSNorm (fla norm_eps) */
    normEps: z.number().positive().default(1e-5),
  };
}

/** The config fields GatedQkvMixerBase reads (fla names in the layer files). */
export interface GatedQkvConfig {
  readonly useShortConv: boolean;
  readonly convSize: number;
  readonly convBias: boolean;
  readonly useOutputGate: boolean;
  readonly normEps: number;
  readonly chunkSize: number;
}

/**
 * What `gla` and `retnet` share (fla GatedLinearAttention / MultiScaleRetention): q_proj [H·K, D], k_proj
 * [Hkv·K, D], v_proj [Hkv·V, D], g_proj [H·V, D] (useOutputGate), q/k/v_conv1d (useShortConv, SiLU), o_proj
 * [D, H·V], and the per-head output norm: g_norm_swish_gate (fla FusedRMSNormGated) with the output gate, else a
 * plain g_norm (RMSNorm). The subclass constructor calls buildProjections() and buildOutput(), registering its
 * own modules in between, so each layer keeps fla's registration (and RNG draw) order.
 */
export abstract class GatedQkvMixerBase extends LinearMixerBase {
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headKDim: number;
  readonly headVDim: number;

  // registered by the subclass constructor through `build*`
  q_proj!: Linear;
  k_proj!: Linear;
  v_proj!: Linear;
  g_proj: Linear | null = null;
  q_conv1d: ShortConv | null = null;
  k_conv1d: ShortConv | null = null;
  v_conv1d: ShortConv | null = null;
  o_proj!: Linear;
  g_norm_swish_gate: FusedRMSNormGated | null = null;
  g_norm: RMSNorm | null = null;

  /** Linear with N(0, std) weights and zero biases, from the context's generator */
  protected readonly lin: NormalLinear;

  constructor(readonly dModel: number, private readonly qkvConfig: GatedQkvConfig, heads: QkvHeads, protected readonly context: LayerContext) {
    super();
    this.numHeads = heads.numHeads;
    this.numKvHeads = heads.numKvHeads;
    this.headKDim = heads.headKDim;
    this.headVDim = heads.headVDim;
    this.lin = normalLinear(context);
  }

  /** q_proj, k_proj, v_proj, g_proj (useOutputGate): N(0, initStd); then q/k/v_conv1d (useShortConv, PyTorch Conv1d init). */
  protected buildProjections(): void {
    const { numHeads: H, numKvHeads: Hkv, headKDim: K, headVDim: V, dModel, qkvConfig: config } = this;
    const { rng, dtype, initStd } = this.context;
    this.q_proj = this.module("q_proj", this.lin(dModel, H * K, initStd));
    this.k_proj = this.module("k_proj", this.lin(dModel, Hkv * K, initStd));
    this.v_proj = this.module("v_proj", this.lin(dModel, Hkv * V, initStd));
    this.g_proj = config.useOutputGate ? this.module("g_proj", this.lin(dModel, H * V, initStd)) : null;
    const conv = (name: string, channels: number) =>
      config.useShortConv ? this.module(name, new ShortConv(channels, config.convSize, { rng, dtype, bias: config.convBias, activation: "silu" })) : null;
    this.q_conv1d = conv("q_conv1d", H * K);
    this.k_conv1d = conv("k_conv1d", Hkv * K);
    this.v_conv1d = conv("v_conv1d", Hkv * V);
  }

  /** o_proj N(0, initStd/√(2·nLayers)), then g_norm_swish_gate (with the output gate) or g_norm, weights 1. */
  protected buildOutput(): void {
    const { initStd, nLayers, dtype } = this.context;
    const { numHeads: H, headVDim: V, qkvConfig: config } = this;
    this.o_proj = this.module("o_proj", this.lin(H * V, this.dModel, initStd / Math.sqrt(2 * nLayers)));
    if (config.useOutputGate) {
      this.g_norm_swish_gate = this.module("g_norm_swish_gate", new FusedRMSNormGated(V, config.normEps, { dtype }));
    } else {
      this.g_norm = this.module("g_norm", new RMSNorm(V, config.normEps, { dtype }));
    }
  }

  protected get dtype(): DType {
    return this.q_proj.weight.dtype;
  }

  protected opOptions(): Record<string, unknown> {
    return { chunkSize: this.qkvConfig.chunkSize };
  }

  /** the conv FIFOs q_conv, k_conv, v_conv [batch, W−1, C] (with useShortConv) */
  protected convStateShapes(batch: number): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [key, c] of [["q_conv", this.q_conv1d], ["k_conv", this.k_conv1d], ["v_conv", this.v_conv1d]] as const) {
      if (c) out[key] = [batch, c.kernelSize - 1, c.channels];
    }
    return out;
  }

  /**
   * x [B,T,D] → q [B,T,H,K], k [B,T,Hkv,K], v [B,T,Hkv,V] (projections, then the short convs continuing from
   * `prev`), before any GQA repeat, and the conv FIFOs after x.
   */
  protected projectQkv(x: Tensor, prev: LayerState | null): { q: Tensor; k: Tensor; v: Tensor; convState: Record<string, Tensor> } {
    const [B, T] = x.shape as [number, number];
    const { numHeads: H, numKvHeads: Hkv, headKDim: K, headVDim: V } = this;
    const { outs, convState } = projectWithConvs(x, prev, [
      { proj: this.q_proj, conv: this.q_conv1d, key: "q_conv" },
      { proj: this.k_proj, conv: this.k_conv1d, key: "k_conv" },
      { proj: this.v_proj, conv: this.v_conv1d, key: "v_conv" },
    ]);
    return { q: reshape(outs[0]!, [B, T, H, K]), k: reshape(outs[1]!, [B, T, Hkv, K]), v: reshape(outs[2]!, [B, T, Hkv, V]), convState };
  }

  /** o [..., H, V]: RMSNorm ⊙ weight ⊙ SiLU(g_proj x) per head (else RMSNorm ⊙ weight), merge heads, o_proj. */
  protected readout(o: Tensor, x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const n = this.g_norm_swish_gate
      ? this.g_norm_swish_gate.forward(o, reshape(this.g_proj!.forward(x), [...lead, this.numHeads, this.headVDim]))
      : this.g_norm!.forward(o);
    return this.o_proj.forward(reshape(n, [...lead, this.numHeads * this.headVDim]));
  }
}
