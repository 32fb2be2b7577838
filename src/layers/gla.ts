/**
 * The `gla` mixer layer: Gated Linear Attention (spec/mixers.md §6; arXiv 2312.06635) around the `gla` op.
 * Per token, with K = H·K/H key and V value widths per head and G = H/Hkv:
 *
 *   q, k, v = x W_q, x W_k, x W_v            (each through ShortConv + SiLU with useShortConv)
 *   gk = logsigmoid((x W_α1) W_α2 + b_α) / gateLogitNormalizer      (max(gk, clampMin) with clampMin)
 *   k, v, gk repeated over the G query heads of each kv head
 *   S_t = Diag(exp(gk_t)) S_{t−1} + k_tᵀ v_t;   o_t = K^-1/2 · q_t S_t                 (per head, the op)
 *   o ← RMSNorm(o) ⊙ weight ⊙ SiLU(x W_g) per head (useOutputGate; else RMSNorm(o) ⊙ weight); y = concat_h(o) W_oᵀ
 *
 * Parameters, one to one with fla `fla/layers/gla.py: GatedLinearAttention` (same names, same registration
 * order; inside a model they are model.layers.{i}.attn.<name>):
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
 *   gk_proj.0.weight             [r, D]          r = gateLowRankDim (fla gate_low_rank_dim), no bias
 *   gk_proj.1.weight             [Hkv·K, r]
 *   gk_proj.1.bias               [Hkv·K]
 *   o_proj.weight                [D, H·V]
 *   g_norm_swish_gate.weight     [V]             useOutputGate: fla FusedRMSNormGated (swish gate, fuse_norm)
 *   g_norm.weight                [V]             without the output gate: fla RMSNorm
 *
 * with H·K = D·expandK, H·V = D·expandV (fla expand_k 0.5, expand_v 1), H = numHeads (fla num_heads, default 4
 * when it divides both widths, else 1), Hkv = numKvHeads (fla num_kv_heads). Config ↔ fla: normEps ↔ norm_eps,
 * gateLogitNormalizer ↔ gate_logit_normalizer (16), clampMin ↔ clamp_min. The brief's "g_norm" is fla's
 * `g_norm_swish_gate` whenever the output gate is on (fla's default, fuse_norm = True); with useOutputGate false
 * fla (and we) register a plain `g_norm`.
 *
 * Not supported: fla's feature_map (an activation on q, k; default None), gate_fn other than swish,
 * fuse_norm = False (numerically the same as the fused norm, but fla then names the weight g_norm),
 * elementwise_affine = False, `mode` (forward always runs the op's chunk form, step its recurrent form; they
 * agree), attention masks / varlen batches.
 *
 * Init (spec §16 and fla's _init_weights): every Linear weight N(0, initStd) (gk_proj.0 and gk_proj.1 too) except
 * o_proj, N(0, initStd/√(2·nLayers)); gk_proj.1.bias 0, so at init gk ≈ logsigmoid(0)/16 ≈ −0.043 (decay ≈ 0.96);
 * norm weights 1; conv weights (and biases) PyTorch's Conv1d default U(±1/√W), as fla's ShortConvolution
 * before any model-level re-init.
 *
 * State per sequence: { recurrent [B, H, K, V] (the op's key-major memory), and with useShortConv q_conv
 * [B, W−1, H·K], k_conv [B, W−1, Hkv·K], v_conv [B, W−1, Hkv·V] (the last W−1 projected inputs of each conv) }:
 * H·K·V + (W−1)(H·K + Hkv·K + Hkv·V) floats, whatever the length.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { reshape } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { ModuleList } from "../nn/module.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { ShortConv } from "../nn/shortconv.js";
import { gla } from "../ops/gla/index.js";
import type { AnyOp } from "../ops/types.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext, LayerState } from "./types.js";
import {
  expandedWidth, FusedRMSNormGated, LinearMixerBase, projectWithConvs, repeatHeads, resolveHeads, resolveKvHeads, type Prepared,
} from "./linear_base.js";

export const glaConfig = z
  .object({
    /** heads H (fla num_heads); default 4 when it divides the key and value widths, else 1 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** key/value heads (fla num_kv_heads; must divide numHeads); default numHeads */
    numKvHeads: z.number().int().min(1).nullable().default(null),
    /** total key width H·K = dModel·expandK (fla expand_k) */
    expandK: z.number().positive().default(0.5),
    /** total value width H·V = dModel·expandV (fla expand_v) */
    expandV: z.number().positive().default(1),
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
    /** gk = logsigmoid(·) / gateLogitNormalizer (fla gate_logit_normalizer) */
    gateLogitNormalizer: z.number().positive().default(16),
    /** rank r of the gate projection gk_proj = (D → r → Hkv·K) (fla gate_low_rank_dim) */
    gateLowRankDim: z.number().int().min(1).default(16),
    /** lower bound of the log gate gk (fla clamp_min), or null; must be < 0 */
    clampMin: z.number().negative().nullable().default(null),
    /** chunk length of the op's chunk form in forward */
    chunkSize: z.number().int().min(1).max(4096).default(64),
  })
  .strict();

export type GlaLayerConfig = z.output<typeof glaConfig>;

export class GlaLayer extends LinearMixerBase {
  readonly type = "gla";
  protected readonly op: AnyOp = gla;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headKDim: number;
  readonly headVDim: number;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly g_proj: Linear | null;
  readonly q_conv1d: ShortConv | null;
  readonly k_conv1d: ShortConv | null;
  readonly v_conv1d: ShortConv | null;
  readonly gk_proj: ModuleList<Linear>;
  readonly o_proj: Linear;
  readonly g_norm_swish_gate: FusedRMSNormGated | null;
  readonly g_norm: RMSNorm | null;

  constructor(readonly dModel: number, readonly config: GlaLayerConfig, context: LayerContext) {
    super();
    const keyDim = expandedWidth("gla", context, "expandK", config.expandK);
    const valueDim = expandedWidth("gla", context, "expandV", config.expandV);
    const H = resolveHeads("gla", context, config.numHeads, 4, [["key (dModel·expandK)", keyDim], ["value (dModel·expandV)", valueDim]]);
    const Hkv = resolveKvHeads("gla", context, H, config.numKvHeads);
    this.numHeads = H;
    this.numKvHeads = Hkv;
    this.headKDim = keyDim / H;
    this.headVDim = valueDim / H;
    const K = this.headKDim;
    const V = this.headVDim;

    const { rng, dtype, initStd, nLayers } = context;
    const lin = (inF: number, outF: number, std: number, bias = false) => {
      const l = new Linear(inF, outF, { rng, dtype, bias, init: "normal", std });
      l.bias?.data.fill(0);
      return l;
    };
    this.q_proj = this.module("q_proj", lin(dModel, H * K, initStd));
    this.k_proj = this.module("k_proj", lin(dModel, Hkv * K, initStd));
    this.v_proj = this.module("v_proj", lin(dModel, Hkv * V, initStd));
    this.g_proj = config.useOutputGate ? this.module("g_proj", lin(dModel, H * V, initStd)) : null;
    const conv = (name: string, channels: number) =>
      config.useShortConv ? this.module(name, new ShortConv(channels, config.convSize, { rng, dtype, bias: config.convBias, activation: "silu" })) : null;
    this.q_conv1d = conv("q_conv1d", H * K);
    this.k_conv1d = conv("k_conv1d", Hkv * K);
    this.v_conv1d = conv("v_conv1d", Hkv * V);
    this.gk_proj = this.module("gk_proj", new ModuleList([lin(dModel, config.gateLowRankDim, initStd), lin(config.gateLowRankDim, Hkv * K, initStd, true)]));
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
    out.recurrent = [batch, this.numHeads, this.headKDim, this.headVDim];
    return out;
  }

  /** The log gate [B,T,Hkv·K]: logsigmoid(gk_proj(x)) / normalizer, clamped below at clampMin. */
  gate(x: Tensor): Tensor {
    const [down, up] = [this.gk_proj.at(0), this.gk_proj.at(1)];
    let gk = up.forward(down.forward(x)).logsigmoid().mul(1 / this.config.gateLogitNormalizer);
    if (this.config.clampMin !== null) gk = gk.clamp(this.config.clampMin, null);
    return gk;
  }

  protected prepare(x: Tensor, prev: LayerState | null): Prepared {
    const [B, T] = x.shape as [number, number];
    const { numHeads: H, numKvHeads: Hkv, headKDim: K, headVDim: V } = this;
    const G = H / Hkv;
    const { outs, convState } = projectWithConvs(x, prev, [
      { proj: this.q_proj, conv: this.q_conv1d, key: "q_conv" },
      { proj: this.k_proj, conv: this.k_conv1d, key: "k_conv" },
      { proj: this.v_proj, conv: this.v_conv1d, key: "v_conv" },
    ]);
    const q = reshape(outs[0]!, [B, T, H, K]);
    const k = repeatHeads(reshape(outs[1]!, [B, T, Hkv, K]), G);
    const v = repeatHeads(reshape(outs[2]!, [B, T, Hkv, V]), G);
    const gk = repeatHeads(reshape(this.gate(x), [B, T, Hkv, K]), G);
    return { inputs: { q, k, v, gk }, carry: convState };
  }

  protected readout(o: Tensor, x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const n = this.g_norm_swish_gate
      ? this.g_norm_swish_gate.forward(o, reshape(this.g_proj!.forward(x), [...lead, this.numHeads, this.headVDim]))
      : this.g_norm!.forward(o);
    return this.o_proj.forward(reshape(n, [...lead, this.numHeads * this.headVDim]));
  }
}

export const glaLayer: LayerDefinition<GlaLayerConfig> = {
  type: "gla",
  summary: "gated linear attention (fla GatedLinearAttention): low-rank per-channel forget gate, gated RMSNorm output, optional short conv",
  config: glaConfig as unknown as z.ZodType<GlaLayerConfig, unknown>,
  smallConfig: { numHeads: 2, numKvHeads: 1, useShortConv: true, convSize: 3, convBias: true, gateLowRankDim: 4, clampMin: -0.2 },
  create: (config, context) => new GlaLayer(context.dModel, config, context),
};
