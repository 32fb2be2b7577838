/**
 * The `retnet` mixer layer: multi-scale retention with a fixed decay per head (spec/mixers.md §5; RetNet
 * arXiv 2307.08621) around the `retention` op. Per token, with K, V the key and value widths per head and
 * G = H/Hkv:
 *
 *   q, k, v = x W_q, x W_k, x W_v             (each through ShortConv + SiLU with useShortConv)
 *   q, k ← RoPE(q), RoPE(k) per head at the absolute position (rotate-half over all K entries, base ropeTheta)
 *   k, v repeated over the G query heads of each kv head
 *   S_t = γ_h S_{t−1} + k_tᵀ v_t;   o_t = K^-1/2 · q_t S_t,   γ_h = 1 − 2^(−5−h)   (per head h = 0..H−1, the op)
 *   o ← RMSNorm(o) ⊙ weight ⊙ SiLU(x W_g) per head (useOutputGate; else RMSNorm(o) ⊙ weight); y = concat_h(o) W_oᵀ
 *
 * RetNet's paper uses xPos; fla's MultiScaleRetention applies plain RoPE (fla RotaryEmbedding(dim=head_k_dim),
 * rotate-half, base 10000) to q and k after the head split and before the GQA repeat, and so do we. RetNet's
 * row normalisations of the decay and score matrices are omitted (the per-head norm removes them; fla omits them
 * too). The decays are fla's (chunk_retention computes γ_h = 1 − 2^(−5−h) from the head count); `decays` may
 * replace them with any per-head vector in (0, 1] (e.g. Lightning/TransNormer schedules), spec §5.
 *
 * Parameters, one to one with fla `fla/layers/multiscale_retention.py: MultiScaleRetention` (same names, same
 * registration order; inside a model they are model.layers.{i}.attn.<name>):
 *
 *   ours = fla name              shape           when
 *   q_proj.weight                [H·K, D]
 *   k_proj.weight                [Hkv·K, D]
 *   v_proj.weight                [Hkv·V, D]
 *   g_proj.weight                [H·V, D]        useOutputGate (fla use_output_gate)
 *   q_conv1d.weight              [H·K, 1, W]     useShortConv (fla use_short_conv; W = convSize ↔ conv_size)
 *   k_conv1d.weight              [Hkv·K, 1, W]   useShortConv
 *   v_conv1d.weight              [Hkv·V, 1, W]   useShortConv
 *   {q,k,v}_conv1d.bias          [C]             useShortConv and convBias (fla conv_bias)
 *   o_proj.weight                [D, H·V]
 *   g_norm_swish_gate.weight     [V]             useOutputGate: fla FusedRMSNormGated (swish gate, fuse_norm)
 *   g_norm.weight                [V]             without the output gate: fla RMSNorm
 *
 * with H·K = D·expandK, H·V = D·expandV (fla expand_k 1, expand_v 2), H = numHeads (fla num_heads, default 8 when
 * it divides both widths, else 1), Hkv = numKvHeads (fla num_kv_heads). fla's RotaryEmbedding has no parameters
 * (its inv_freq is a buffer, not in the state dict). K must be even (RoPE rotates pairs).
 *
 * Not supported: fla's feature_map (an activation on q, k; default None), gate_fn other than swish,
 * fuse_norm = False (numerically the same, but fla then names the weight g_norm), elementwise_affine = False,
 * `mode` (forward always runs the op's chunk form, step its recurrent form), attention masks / varlen batches.
 *
 * Init (spec §16, fla's _init_weights): projection weights N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), norm
 * weights 1, conv weights (and biases) PyTorch's Conv1d default U(±1/√W); the decays are fixed, not parameters.
 *
 * State per sequence: { recurrent [B, H, K, V] (the op's key-major memory), pos [B] (the absolute position of the
 * next token, for RoPE; one value shared by the batch, exact in f32 up to 2^24), and with useShortConv q_conv
 * [B, W−1, H·K], k_conv [B, W−1, Hkv·K], v_conv [B, W−1, Hkv·V] }: H·K·V + 1 + (W−1)(H·K + Hkv·K + Hkv·V) floats,
 * whatever the length.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { full, tensor } from "../core/create.js";
import { reshape } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { ShortConv } from "../nn/shortconv.js";
import { retention, retnetGammas } from "../ops/retention/index.js";
import { rope } from "../ops/rope/index.js";
import type { AnyOp } from "../ops/types.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext, LayerState } from "./types.js";
import {
  expandedWidth, FusedRMSNormGated, LinearMixerBase, projectWithConvs, repeatHeads, resolveHeads, resolveKvHeads, where, type Prepared,
} from "./linear_base.js";

export const retnetConfig = z
  .object({
    /** heads H (fla num_heads); default 8 when it divides the key and value widths, else 1 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** key/value heads (fla num_kv_heads; must divide numHeads); default numHeads */
    numKvHeads: z.number().int().min(1).nullable().default(null),
    /** total key width H·K = dModel·expandK (fla expand_k) */
    expandK: z.number().positive().default(1),
    /** total value width H·V = dModel·expandV (fla expand_v) */
    expandV: z.number().positive().default(2),
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
    /** RoPE base (fla RotaryEmbedding base) */
    ropeTheta: z.number().positive().default(10000),
    /** per-head decays γ_h in (0, 1], one per head; default RetNet's 1 − 2^(−5−h) (not in fla's layer) */
    decays: z.array(z.number().gt(0).lte(1)).nullable().default(null),
    /** chunk length of the op's chunk form in forward */
    chunkSize: z.number().int().min(1).max(4096).default(64),
  })
  .strict();

export type RetNetLayerConfig = z.output<typeof retnetConfig>;

export class RetNetLayer extends LinearMixerBase {
  readonly type = "retnet";
  protected readonly op: AnyOp = retention;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headKDim: number;
  readonly headVDim: number;
  /** γ_h per query head */
  readonly decays: readonly number[];
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly g_proj: Linear | null;
  readonly q_conv1d: ShortConv | null;
  readonly k_conv1d: ShortConv | null;
  readonly v_conv1d: ShortConv | null;
  readonly o_proj: Linear;
  readonly g_norm_swish_gate: FusedRMSNormGated | null;
  readonly g_norm: RMSNorm | null;
  private gammaCache: Tensor | null = null;

  constructor(readonly dModel: number, readonly config: RetNetLayerConfig, context: LayerContext) {
    super();
    const keyDim = expandedWidth("retnet", context, "expandK", config.expandK);
    const valueDim = expandedWidth("retnet", context, "expandV", config.expandV);
    const H = resolveHeads("retnet", context, config.numHeads, 8, [["key (dModel·expandK)", keyDim], ["value (dModel·expandV)", valueDim]]);
    const Hkv = resolveKvHeads("retnet", context, H, config.numKvHeads);
    const K = keyDim / H;
    if (K % 2 !== 0) {
      throw new Error(`${where("retnet", context)}: the key width per head K = dModel·expandK/numHeads = ${keyDim}/${H} = ${K} must be even (RoPE rotates pairs); change expandK or numHeads`);
    }
    if (config.decays !== null && config.decays.length !== H) {
      throw new Error(`${where("retnet", context)}: decays has ${config.decays.length} entries but numHeads=${H} (one decay per head)`);
    }
    this.numHeads = H;
    this.numKvHeads = Hkv;
    this.headKDim = K;
    this.headVDim = valueDim / H;
    this.decays = config.decays ?? retnetGammas(H);
    const V = this.headVDim;

    const { rng, dtype, initStd, nLayers } = context;
    const lin = (inF: number, outF: number, std: number) => new Linear(inF, outF, { rng, dtype, bias: false, init: "normal", std });
    this.q_proj = this.module("q_proj", lin(dModel, H * K, initStd));
    this.k_proj = this.module("k_proj", lin(dModel, Hkv * K, initStd));
    this.v_proj = this.module("v_proj", lin(dModel, Hkv * V, initStd));
    this.g_proj = config.useOutputGate ? this.module("g_proj", lin(dModel, H * V, initStd)) : null;
    const conv = (name: string, channels: number) =>
      config.useShortConv ? this.module(name, new ShortConv(channels, config.convSize, { rng, dtype, bias: config.convBias, activation: "silu" })) : null;
    this.q_conv1d = conv("q_conv1d", H * K);
    this.k_conv1d = conv("k_conv1d", Hkv * K);
    this.v_conv1d = conv("v_conv1d", Hkv * V);
    this.o_proj = this.module("o_proj", lin(H * V, dModel, initStd / Math.sqrt(2 * nLayers)));
    if (config.useOutputGate) {
      this.g_norm_swish_gate = this.module("g_norm_swish_gate", new FusedRMSNormGated(V, config.normEps, { dtype }));
      this.g_norm = null;
    } else {
      this.g_norm_swish_gate = null;
      this.g_norm = this.module("g_norm", new RMSNorm(V, config.normEps, { dtype }));
    }
  }

  protected get dtype(): DType {
    return this.q_proj.weight.dtype;
  }

  protected opOptions(): Record<string, unknown> {
    return { chunkSize: this.config.chunkSize };
  }

  protected stateShapes(batch: number): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [key, c] of [["q_conv", this.q_conv1d], ["k_conv", this.k_conv1d], ["v_conv", this.v_conv1d]] as const) {
      if (c) out[key] = [batch, c.kernelSize - 1, c.channels];
    }
    out.pos = [batch];
    out.recurrent = [batch, this.numHeads, this.headKDim, this.headVDim];
    return out;
  }

  /** The shared absolute position of the next token (every sequence of the batch must agree). */
  private position(state: LayerState | null): number {
    if (!state) return 0;
    const p = state.pos!.values();
    const p0 = p[0]!;
    for (let i = 0; i < p.length; i++) {
      if (p[i] !== p0) throw new RangeError(`retnet: state.pos must be the same for every sequence (RoPE offset), got ${[...p].join(",")}`);
    }
    if (!Number.isInteger(p0) || p0 < 0) throw new RangeError(`retnet: state.pos must be a non-negative integer, got ${p0}`);
    return p0;
  }

  private gamma(): Tensor {
    if (this.gammaCache === null || this.gammaCache.dtype !== this.dtype) this.gammaCache = tensor([...this.decays], [this.numHeads], { dtype: this.dtype });
    return this.gammaCache;
  }

  protected prepare(x: Tensor, prev: LayerState | null): Prepared {
    const [B, T] = x.shape as [number, number];
    const { numHeads: H, numKvHeads: Hkv, headKDim: K, headVDim: V } = this;
    const G = H / Hkv;
    const offset = this.position(prev);
    const { outs, convState } = projectWithConvs(x, prev, [
      { proj: this.q_proj, conv: this.q_conv1d, key: "q_conv" },
      { proj: this.k_proj, conv: this.k_conv1d, key: "k_conv" },
      { proj: this.v_proj, conv: this.v_conv1d, key: "v_conv" },
    ]);
    const q = rope(reshape(outs[0]!, [B, T, H, K]), { offset, base: this.config.ropeTheta });
    const k = repeatHeads(rope(reshape(outs[1]!, [B, T, Hkv, K]), { offset, base: this.config.ropeTheta }), G);
    const v = repeatHeads(reshape(outs[2]!, [B, T, Hkv, V]), G);
    return { inputs: { q, k, v, gamma: this.gamma() }, carry: { ...convState, pos: full([B], offset + T, { dtype: x.dtype }) } };
  }

  protected readout(o: Tensor, x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const n = this.g_norm_swish_gate
      ? this.g_norm_swish_gate.forward(o, reshape(this.g_proj!.forward(x), [...lead, this.numHeads, this.headVDim]))
      : this.g_norm!.forward(o);
    return this.o_proj.forward(reshape(n, [...lead, this.numHeads * this.headVDim]));
  }
}

export const retnetLayer: LayerDefinition<RetNetLayerConfig> = {
  type: "retnet",
  summary: "multi-scale retention (fla MultiScaleRetention): fixed per-head decay 1 − 2^(−5−h), RoPE on q/k, gated RMSNorm output",
  config: retnetConfig as unknown as z.ZodType<RetNetLayerConfig, unknown>,
  smallConfig: { numHeads: 2, numKvHeads: 1, useShortConv: true, convSize: 3, convBias: true },
  create: (config, context) => new RetNetLayer(context.dModel, config, context),
};
