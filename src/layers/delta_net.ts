/**
 * The `deltanet` mixer layer (spec/mixers.md §7.1; arXiv 2406.06484, negative eigenvalues 2411.12537), around the
 * `delta_rule` op. Per token and head:
 *
 *   q, k, v = SiLU(ShortConv(x W_q)), SiLU(ShortConv(x W_k)), SiLU(ShortConv(x W_v))   (SiLU alone without conv)
 *   q, k ← q/√(Σq² + 1e-6), k/√(Σk² + 1e-6)       per head (fla qk_norm = "l2"; the op does not normalise)
 *   β = σ(x W_β)  (× 2 with allowNegEigval, so β ∈ (0,2); β = 1 (or 2) without useBeta)
 *   S_t = S_{t−1} + β kᵀ(v − k S_{t−1});  o = K^-1/2 · q S_t
 *   o ← RMSNorm(o) per head, or RMSNorm(o) ⊙ SiLU(x W_g) with useGate;  y = concat_h(o) W_oᵀ
 *
 * Parameters, one to one with fla `fla/layers/delta_net.py: DeltaNet` (in fla's registration order):
 *
 *   ours = fla name       shape          when
 *   q_proj.weight         [H·K, D]
 *   k_proj.weight         [H·K, D]
 *   v_proj.weight         [H·V, D]
 *   b_proj.weight         [H, D]         useBeta (fla use_beta)
 *   q_conv1d.weight       [H·K, 1, W]    useShortConv (fla use_short_conv; W = convSize ↔ conv_size)
 *   k_conv1d.weight       [H·K, 1, W]    useShortConv
 *   v_conv1d.weight       [H·V, 1, W]    useShortConv
 *   {q,k,v}_conv1d.bias   [C]            useShortConv and convBias (fla conv_bias)
 *   g_proj.weight         [H·V, D]       useGate (fla use_gate)
 *   o_norm.weight         [V]            always: FusedRMSNormGated with useGate, else RMSNorm (eps normEps ↔ norm_eps)
 *   o_proj.weight         [D, H·V]
 *
 * with K = D·expandK / H and V = D·expandV / H (fla expand_k, expand_v, num_heads). Inside a model the names are
 * model.layers.{i}.attn.<name>, as in fla's DeltaNetForCausalLM.
 *
 * Not supported: fla's qk_activation other than "silu" and qk_norm "sum" (we always use SiLU and L2, fla's
 * defaults); `mode` (we always run the chunk form for whole sequences and the step form for one token, which
 * agree); attention masks / varlen. Default numHeads: fla's 4 when 4 divides both widths, else 1.
 *
 * Init: q/k/v/b/g_proj N(0, initStd); o_proj N(0, initStd/√(2·nLayers)) (spec §16, as fla's rescaled
 * prenorm init); o_norm weight 1; conv weights PyTorch's Conv1d default U(±1/√W) as fla's layer (fla's model-level
 * `_init_weights` redraws them N(0, initStd); load a state dict to reproduce that exactly), conv biases U(±1/√W).
 *
 * State (per sequence): { conv_q [B, W−1, H·K], conv_k [B, W−1, H·K], conv_v [B, W−1, H·V] (with useShortConv),
 * recurrent [B, H, K, V] (the op's key-major memory) }: H·K·V + (W−1)(2·H·K + H·V) floats whatever the length.
 */
import { z } from "zod";
import { deltaRule } from "../ops/delta_rule/index.js";
import type { AnyOp } from "../ops/types.js";
import { DeltaLayerBase, deltaDims, deltaSwitchFields, where, type DeltaLayerDims } from "./delta_base.js";
import { expandedWidth } from "./linear_base.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext } from "./types.js";

export const deltaNetConfig = z
  .object({
    /** heads H (fla num_heads); default 4 when it divides the key and value widths, else 1 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** key width H·K = dModel·expandK (fla expand_k) */
    expandK: z.number().positive().default(1),
    /** value width H·V = dModel·expandV (fla expand_v) */
    expandV: z.number().positive().default(1),
    /** β = σ(b_proj x); false: β = 1 and no b_proj (fla use_beta) */
    useBeta: z.boolean().default(true),
    ...deltaSwitchFields({ useGate: false }),
  })
  .strict();

export type DeltaNetLayerConfig = z.output<typeof deltaNetConfig>;

export class DeltaNetLayer extends DeltaLayerBase {
  readonly type = "deltanet";
  protected readonly op: AnyOp = deltaRule;

  constructor(dModel: number, config: DeltaNetLayerConfig, context: LayerContext) {
    super(dModel, DeltaNetLayer.dims(config, context), context);
    this.buildQkv();
    this.buildBeta();
    this.buildConvs();
    this.buildOutput();
  }

  /** The resolved sizes (defaults filled, checked) for a parsed config; errors name the field. */
  static dims(config: DeltaNetLayerConfig, context: Pick<LayerContext, "dModel" | "layerIdx">): DeltaLayerDims {
    const at = where("deltanet", context);
    const keyDim = expandedWidth("deltanet", context, "expandK", config.expandK, true);
    const valueDim = expandedWidth("deltanet", context, "expandV", config.expandV, true);
    const H = config.numHeads ?? (keyDim % 4 === 0 && valueDim % 4 === 0 ? 4 : 1);
    if (keyDim % H !== 0 || valueDim % H !== 0) {
      throw new Error(
        `${at}: 'numHeads'=${H} must divide the key width dModel·expandK = ${keyDim} and the value width dModel·expandV = ${valueDim} (dModel=${context.dModel})`,
      );
    }
    return deltaDims(H, keyDim / H, valueDim / H, config.useBeta, config);
  }
}

export const deltaNetLayer: LayerDefinition<DeltaNetLayerConfig> = {
  type: "deltanet",
  summary: "DeltaNet: delta-rule fast-weight memory (β ∈ (0,1), or (0,2) with allowNegEigval), short convs, L2-normed q/k",
  config: deltaNetConfig as unknown as z.ZodType<DeltaNetLayerConfig, unknown>,
  smallConfig: { numHeads: 2, expandV: 1.5, useGate: true, allowNegEigval: true, convSize: 3, convBias: true, chunkSize: 4 },
  create: (config, context) => new DeltaNetLayer(context.dModel, config, context),
};
