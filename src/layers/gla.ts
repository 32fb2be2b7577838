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
import { reshape } from "../core/ops/shape.js";
import type { Linear } from "../nn/linear.js";
import { ModuleList } from "../nn/module.js";
import { gla } from "../ops/gla/index.js";
import type { AnyOp } from "../ops/types.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext, LayerState } from "./types.js";
import { gatedQkvFields, GatedQkvMixerBase, repeatHeads, resolveQkvHeads, type Prepared } from "./linear_base.js";

export const glaConfig = z
  .object({
    // numHeads (default 4 when it divides the key and value widths, else 1), numKvHeads, expandK, expandV,
    // useShortConv, convSize, convBias, useOutputGate, normEps
    ...gatedQkvFields({ expandK: 0.5, expandV: 1 }),
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

export class GlaLayer extends GatedQkvMixerBase {
  readonly type = "gla";
  protected readonly op: AnyOp = gla;
  readonly gk_proj: ModuleList<Linear>;

  constructor(dModel: number, readonly config: GlaLayerConfig, context: LayerContext) {
    super(dModel, config, resolveQkvHeads("gla", context, config, 4), context);
    // fla's registration order: q, k, v, g_proj, convs, gk_proj, o_proj, norm
    this.buildProjections();
    const r = config.gateLowRankDim;
    this.gk_proj = this.module("gk_proj", new ModuleList([this.lin(dModel, r, context.initStd), this.lin(r, this.numKvHeads * this.headKDim, context.initStd, true)]));
    this.buildOutput();
  }

  protected stateShapes(batch: number): Record<string, number[]> {
    return { ...this.convStateShapes(batch), recurrent: [batch, this.numHeads, this.headKDim, this.headVDim] };
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
    const G = this.numHeads / this.numKvHeads;
    const { q, k, v, convState } = this.projectQkv(x, prev);
    const gk = reshape(this.gate(x), [B, T, this.numKvHeads, this.headKDim]);
    return { inputs: { q, k: repeatHeads(k, G), v: repeatHeads(v, G), gk: repeatHeads(gk, G) }, carry: convState };
  }
}

export const glaLayer: LayerDefinition<GlaLayerConfig> = {
  type: "gla",
  summary: "gated linear attention (fla GatedLinearAttention): low-rank per-channel forget gate, gated RMSNorm output, optional short conv",
  config: glaConfig as unknown as z.ZodType<GlaLayerConfig, unknown>,
  smallConfig: { numHeads: 2, numKvHeads: 1, useShortConv: true, convSize: 3, convBias: true, gateLowRankDim: 4, clampMin: -0.2 },
  create: (config, context) => new GlaLayer(context.dModel, config, context),
};
