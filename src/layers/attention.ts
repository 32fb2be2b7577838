/**
 * The `attention` mixer layer: causal softmax attention with grouped-query heads, RoPE, optional per-head q/k
 * RMSNorm and an optional sliding window (spec/mixers.md §1, §0.2, §0.3) around the `attention` op.
 *
 * Parameters map one to one onto fla's `fla.layers.attn.Attention` (hidden_size = D, num_heads = H,
 * num_kv_heads = Hkv, head_dim m = D/H):
 *
 *   ours               reference (fla)        shape
 *   q_proj.weight      q_proj.weight          [H·m, D]
 *   q_proj.bias        q_proj.bias            [H·m]          only with qkvBias (fla qkv_bias)
 *   k_proj.weight      k_proj.weight          [Hkv·m, D]
 *   k_proj.bias        k_proj.bias            [Hkv·m]        only with qkvBias
 *   v_proj.weight      v_proj.weight          [Hkv·m, D]
 *   v_proj.bias        v_proj.bias            [Hkv·m]        only with qkvBias
 *   o_proj.weight      o_proj.weight          [D, H·m]       never a bias (as fla)
 *   q_norm.weight      q_norm.weight          [m]            only with qkNorm (fla qk_norm), eps 1e-5
 *   k_norm.weight      k_norm.weight          [m]            only with qkNorm
 *   q_conv1d.weight    (q_conv1d.weight)      [H·m, 1, W]    only with useShortConv
 *   k_conv1d.weight    (k_conv1d.weight)      [Hkv·m, 1, W]  only with useShortConv
 *   v_conv1d.weight    (v_conv1d.weight)      [Hkv·m, 1, W]  only with useShortConv
 *   {q,k,v}_conv1d.bias                       [C]            only with useShortConv and convBias
 * In a LanguageModel these sit under `model.layers.{i}.attn.`. Config ↔ fla: numHeads ↔ num_heads,
 * numKvHeads ↔ num_kv_heads, window ↔ window_size (W keys u ∈ (t−W, t], flash-attn window (W−1, 0)),
 * ropeTheta ↔ rope_theta, qkvBias ↔ qkv_bias, qkNorm ↔ qk_norm. RoPE is fla's default rotate-half layout over
 * the whole head (fla's RotaryEmbedding(dim=head_dim)), applied after the q/k norm; the score scale is m^-1/2.
 * Not supported from fla: max_position_embeddings (irrelevant without a precomputed table), attention_mask
 * padding and cu_seqlens varlen batches, output_attentions. Additions: `rope: false` switches RoPE off (fla
 * always rotates); `headDim` may set m explicitly (fla fixes m = D/H; with H·m ≠ D the projections are
 * [H·m, D] and [D, H·m], which fla cannot express); and `useShortConv` puts a causal depthwise short
 * convolution (kernel convSize, SiLU) on each of q, k, v right after its projection, before the head split, the
 * q/k norm and RoPE. fla's Attention has no such option; the parenthesised names are those fla's linear-attention
 * layers (GLA, DeltaNet, …) give the same ShortConvolution, use_short_conv / conv_size / conv_bias. It is
 * here because spec/tasks.md (MQAR) gives every mixer a short conv on its inputs for the recall presets.
 *
 * Init (spec §16): q/k/v_proj weights N(0, initStd), o_proj weight N(0, initStd/√(2·nLayers)), biases 0,
 * norm weights 1; conv weights (and biases) PyTorch's Conv1d default U(±1/√W), as fla's ShortConvolution.
 *
 * State: { kv: the op's KV cache [B, S, Hkv, 2m] (post-RoPE keys then values on the last axis, S = min(t, W)
 * positions), pos: [B] the absolute position of the next token (= tokens seen) }. With a window the cache
 * length stops at W while the RoPE position keeps counting, hence `pos`; with useShortConv also q_conv
 * [B, convSize−1, H·m], k_conv and v_conv [B, convSize−1, Hkv·m], the last convSize−1 projected inputs of each
 * convolution. Floats per sequence after t tokens: Hkv·2m·min(t, W) + 1 (+ (convSize−1)·(H + 2·Hkv)·m). All
 * sequences of a batch share one position (the cache is one tensor); positions are exact in f32 up to 2^24.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import { full, zeros } from "../core/create.js";
import { reshape, squeeze, unsqueeze } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { ShortConv } from "../nn/shortconv.js";
import { attention, type AttentionOptions } from "../ops/attention/index.js";
import { parseOptions } from "../ops/options.js";
import { runOp } from "../ops/run.js";
import { rope } from "../ops/rope/index.js";
import type { LayerDefinition } from "./registry.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";
import { projectWithConvs } from "./linear_base.js";

export const attentionConfig = z
  .object({
    /** query heads H; default: D/64 when D is a multiple of 64 (fla's head width 64), else 1 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** key/value heads Hkv (grouped-query attention when < numHeads, MQA at 1); default numHeads */
    numKvHeads: z.number().int().min(1).nullable().default(null),
    /** head width m; default D / numHeads (fla) */
    headDim: z.number().int().min(1).nullable().default(null),
    /** sliding window of W keys (fla window_size), or null for full causal attention */
    window: z.number().int().min(1).nullable().default(null),
    /** rotary position embedding on q and k */
    rope: z.boolean().default(true),
    /** RoPE base (fla rope_theta) */
    ropeTheta: z.number().positive().default(10000),
    /** biases on q/k/v_proj (fla qkv_bias) */
    qkvBias: z.boolean().default(false),
    /** per-head RMSNorm of q and k before RoPE (fla qk_norm) */
    qkNorm: z.boolean().default(false),
    /** causal depthwise conv + SiLU on q, k, v after their projections (fla use_short_conv; not in fla Attention) */
    useShortConv: z.boolean().default(false),
    /** its kernel width (fla conv_size) */
    convSize: z.number().int().min(1).default(4),
    /** conv biases (fla conv_bias) */
    convBias: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.numHeads !== null && c.numKvHeads !== null && c.numHeads % c.numKvHeads !== 0) {
      ctx.addIssue({
        code: "custom",
        path: ["numKvHeads"],
        message: `numKvHeads=${c.numKvHeads} must divide numHeads=${c.numHeads} (grouped-query attention: each kv head serves numHeads/numKvHeads query heads)`,
      });
    }
    if (c.rope && c.headDim !== null && c.headDim % 2 !== 0) {
      ctx.addIssue({ code: "custom", path: ["headDim"], message: `headDim=${c.headDim} must be even when rope is on (RoPE rotates pairs of entries)` });
    }
  });

export type AttentionLayerConfig = z.output<typeof attentionConfig>;

/** The default head count for width D: heads of width 64 when D is a multiple of 64, else one head. */
export function defaultNumHeads(dModel: number): number {
  return dModel % 64 === 0 ? dModel / 64 : 1;
}

export class AttentionLayer extends MixerLayer {
  readonly type = "attention";
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly window: number | null;
  readonly useRope: boolean;
  readonly ropeTheta: number;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly q_norm: RMSNorm | null;
  readonly k_norm: RMSNorm | null;
  readonly q_conv1d: ShortConv | null;
  readonly k_conv1d: ShortConv | null;
  readonly v_conv1d: ShortConv | null;
  /** parsed options of the op's recurrent step */
  private readonly stepOptions: AttentionOptions;

  constructor(readonly dModel: number, config: AttentionLayerConfig, context: LayerContext) {
    super();
    const where = `layers[${context.layerIdx}] (attention)`;
    const H = config.numHeads ?? defaultNumHeads(dModel);
    const Hkv = config.numKvHeads ?? H;
    if (H % Hkv !== 0) {
      throw new Error(`${where}: numKvHeads=${Hkv} must divide numHeads=${H} (grouped-query attention)`);
    }
    if (config.headDim === null && dModel % H !== 0) {
      throw new Error(`${where}: dModel=${dModel} is not divisible by numHeads=${H}; choose numHeads dividing dModel or set headDim`);
    }
    const m = config.headDim ?? dModel / H;
    if (config.rope && m % 2 !== 0) {
      throw new Error(`${where}: the head width ${m} (headDim, default dModel/numHeads = ${dModel}/${H}) must be even when rope is on`);
    }
    this.numHeads = H;
    this.numKvHeads = Hkv;
    this.headDim = m;
    this.window = config.window;
    this.useRope = config.rope;
    this.ropeTheta = config.ropeTheta;

    const { rng, dtype, initStd } = context;
    const lin = (name: string, inF: number, outF: number, std: number, bias: boolean) => {
      const l = this.module(name, new Linear(inF, outF, { rng, dtype, bias, init: "normal", std }));
      l.bias?.data.fill(0); // spec §16: biases 0
      return l;
    };
    this.q_proj = lin("q_proj", dModel, H * m, initStd, config.qkvBias);
    this.k_proj = lin("k_proj", dModel, Hkv * m, initStd, config.qkvBias);
    this.v_proj = lin("v_proj", dModel, Hkv * m, initStd, config.qkvBias);
    this.o_proj = lin("o_proj", H * m, dModel, initStd / Math.sqrt(2 * context.nLayers), false);
    this.q_norm = config.qkNorm ? this.module("q_norm", new RMSNorm(m, 1e-5, { dtype })) : null;
    this.k_norm = config.qkNorm ? this.module("k_norm", new RMSNorm(m, 1e-5, { dtype })) : null;
    const conv = (name: string, channels: number) =>
      config.useShortConv ? this.module(name, new ShortConv(channels, config.convSize, { rng, dtype, bias: config.convBias, activation: "silu" })) : null;
    this.q_conv1d = conv("q_conv1d", H * m);
    this.k_conv1d = conv("k_conv1d", Hkv * m);
    this.v_conv1d = conv("v_conv1d", Hkv * m);
    this.stepOptions = parseOptions(attention.name, attention.options, { window: this.window });
  }

  /**
   * x [B,T,D] at absolute positions offset.. → post-RoPE q [B,T,H,m], k [B,T,Hkv,m], v [B,T,Hkv,m], and the
   * conv FIFOs after x (continuing from `conv`, the ones before x, when given).
   */
  private qkv(x: Tensor, offset: number, conv: LayerState | null): { q: Tensor; k: Tensor; v: Tensor; convState: Record<string, Tensor> } {
    const [B, T] = x.shape as [number, number];
    const m = this.headDim;
    const { outs, convState } = projectWithConvs(x, conv, [
      { proj: this.q_proj, conv: this.q_conv1d, key: "q_conv" },
      { proj: this.k_proj, conv: this.k_conv1d, key: "k_conv" },
      { proj: this.v_proj, conv: this.v_conv1d, key: "v_conv" },
    ]);
    let q = reshape(outs[0]!, [B, T, this.numHeads, m]);
    let k = reshape(outs[1]!, [B, T, this.numKvHeads, m]);
    const v = reshape(outs[2]!, [B, T, this.numKvHeads, m]);
    if (this.q_norm && this.k_norm) {
      q = this.q_norm.forward(q);
      k = this.k_norm.forward(k);
    }
    if (this.useRope) {
      q = rope(q, { offset, base: this.ropeTheta });
      k = rope(k, { offset, base: this.ropeTheta });
    }
    return { q, k, v, convState };
  }

  initState(batch: number): LayerState {
    const dtype = this.q_proj.weight.dtype;
    return {
      kv: zeros([batch, 0, this.numKvHeads, 2 * this.headDim], { dtype }),
      pos: zeros([batch], { dtype }),
      ...(this.q_conv1d && this.k_conv1d && this.v_conv1d
        ? { q_conv: this.q_conv1d.initState(batch), k_conv: this.k_conv1d.initState(batch), v_conv: this.v_conv1d.initState(batch) }
        : {}),
    };
  }

  /** Checks a state for `batch` sequences; returns the cache and the shared absolute position. */
  private readState(state: LayerState, batch: number): { kv: Tensor; pos: number } {
    const { kv, pos } = state;
    const Hkv = this.numKvHeads;
    const w = 2 * this.headDim;
    if (kv === undefined || kv.ndim !== 4 || kv.shape[0] !== batch || kv.shape[2] !== Hkv || kv.shape[3] !== w) {
      throw new RangeError(`attention: state.kv must have shape [${batch},S,${Hkv},${w}] (from initState or forward), got ${kv ? `[${kv.shape.join(",")}]` : "nothing"}`);
    }
    if (pos === undefined || pos.ndim !== 1 || pos.shape[0] !== batch) {
      throw new RangeError(`attention: state.pos must have shape [${batch}] (from initState or forward), got ${pos ? `[${pos.shape.join(",")}]` : "nothing"}`);
    }
    const p = pos.values();
    const p0 = p[0]!;
    for (let i = 0; i < p.length; i++) {
      if (p[i] !== p0) throw new RangeError(`attention: state.pos must be the same for every sequence (one shared KV cache), got ${[...p].join(",")}`);
    }
    if (!Number.isInteger(p0) || p0 < kv.shape[1]!) {
      throw new RangeError(`attention: state.pos (${p0}) must be an integer ≥ the cached positions (${kv.shape[1]})`);
    }
    for (const [key, c] of [["q_conv", this.q_conv1d], ["k_conv", this.k_conv1d], ["v_conv", this.v_conv1d]] as const) {
      if (!c) continue;
      const t = state[key];
      const want = [batch, c.kernelSize - 1, c.channels];
      if (t === undefined || t.ndim !== 3 || t.shape.some((d, i) => d !== want[i])) {
        throw new RangeError(`attention: state.${key} must have shape [${want.join(",")}] (from initState or forward), got ${t ? `[${t.shape.join(",")}]` : "nothing"}`);
      }
    }
    return { kv, pos: p0 };
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    if (x.ndim !== 3 || x.shape[2] !== this.dModel) {
      throw new RangeError(`attention: x must have shape [B,T,${this.dModel}], got [${x.shape.join(",")}]`);
    }
    const [B, T] = x.shape as [number, number];
    const prev = options.state ? this.readState(options.state, B) : null;
    const offset = prev?.pos ?? 0;
    const { q, k, v, convState } = this.qkv(x, offset, options.state ?? null);
    const init = prev && prev.kv.shape[1]! > 0 ? { initial_state: prev.kv } : {};
    const outputState = options.outputState ?? false;
    const r = runOp(attention, { q, k, v, ...init }, "chunk", { outputFinalState: outputState, window: this.window });
    const y = this.o_proj.forward(reshape(r.o, [B, T, this.numHeads * this.headDim]));
    if (!outputState) return { y };
    return { y, state: { kv: r.finalState!, pos: full([B], offset + T, { dtype: x.dtype }), ...convState } };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    if (x.ndim !== 2 || x.shape[1] !== this.dModel) {
      throw new RangeError(`attention: x must have shape [B,${this.dModel}], got [${x.shape.join(",")}]`);
    }
    const B = x.shape[0]!;
    const { kv, pos } = this.readState(state, B);
    const { q, k, v, convState } = this.qkv(unsqueeze(x, 1), pos, state);
    const r = attention.recurrent.step(kv, { q: squeeze(q, 1), k: squeeze(k, 1), v: squeeze(v, 1) }, this.stepOptions);
    const y = this.o_proj.forward(reshape(r.o, [B, this.numHeads * this.headDim]));
    return { y, state: { kv: r.state, pos: full([B], pos + 1, { dtype: x.dtype }), ...convState } };
  }

  /** Hkv·2m floats per cached position (min(tokens, W) of them), the position counter, and the conv FIFOs. */
  stateSize(tokens: number): number {
    const cached = Math.min(tokens, this.window ?? Infinity);
    const convs = [this.q_conv1d, this.k_conv1d, this.v_conv1d].reduce((n, c) => n + (c ? (c.kernelSize - 1) * c.channels : 0), 0);
    return this.numKvHeads * 2 * this.headDim * cached + 1 + convs;
  }
}

export const attentionLayer: LayerDefinition<AttentionLayerConfig> = {
  type: "attention",
  summary: "causal softmax attention (fla Attention): GQA, RoPE, optional q/k RMSNorm and sliding window; KV-cache decoding",
  config: attentionConfig as unknown as z.ZodType<AttentionLayerConfig, unknown>,
  smallConfig: { numHeads: 4, numKvHeads: 2, window: 6, qkNorm: true, qkvBias: true, useShortConv: true, convSize: 3, convBias: true },
  create: (config, context) => new AttentionLayer(context.dModel, config, context),
};
