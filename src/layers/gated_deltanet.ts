/**
 * The `gated_deltanet` mixer layer (spec/mixers.md §7.1; arXiv 2412.06464), fla's GatedDeltaNet, around the
 * `gated_delta_rule` op. Per token and head: the DeltaNet branches (see delta_net.ts: q, k, v through short conv +
 * SiLU, q and k L2-normalised per head, β = σ(x W_β), × 2 with allowNegEigval), plus a Mamba-2-style scalar decay
 *
 *   g = −exp(A_log) · softplus(x W_a + dt_bias) ≤ 0,   a = e^g
 *   S_t = a (I − β kᵀk) S_{t−1} + β kᵀ v;  o = K^-1/2 · q S_t
 *   o ← RMSNorm(o) ⊙ SiLU(x W_g) per head (norm then gate; plain RMSNorm without useGate);  y = concat_h(o) W_oᵀ
 *
 * Parameters, one to one with fla `fla/layers/gated_deltanet.py: GatedDeltaNet` (named_parameters order: the
 * layer's own tensors first, then sub-modules in registration order, as PyTorch lists them):
 *
 *   ours = fla name       shape          when
 *   A_log                 [H]
 *   dt_bias               [H]
 *   q_proj.weight         [H·K, D]
 *   k_proj.weight         [H·K, D]
 *   v_proj.weight         [H·V, D]
 *   a_proj.weight         [H, D]
 *   b_proj.weight         [H, D]
 *   q_conv1d.weight       [H·K, 1, W]    useShortConv (fla use_short_conv; W = convSize ↔ conv_size)
 *   k_conv1d.weight       [H·K, 1, W]    useShortConv
 *   v_conv1d.weight       [H·V, 1, W]    useShortConv
 *   {q,k,v}_conv1d.bias   [C]            useShortConv and convBias (fla conv_bias)
 *   g_proj.weight         [H·V, D]       useGate (fla use_gate, default on)
 *   o_norm.weight         [V]            FusedRMSNormGated with useGate, else RMSNorm (eps normEps ↔ norm_eps)
 *   o_proj.weight         [D, H·V]
 *
 * with K = headDim (fla head_dim), V = headDim·expandV (fla expand_v), H = numHeads (fla num_heads).
 *
 * Defaults scaled from fla's (hidden 2048, head_dim 256, num_heads 6, i.e. a key width H·K = 0.75·D, expand_v 2):
 * numHeads = max(1, round(0.75·D/256)) and headDim = ⌊0.75·D/numHeads⌋, so D = 2048 gives fla's 6 × 256 and D = 16
 * one head of 12 (with V = 24); given only one of them, the other keeps H·K ≈ 0.75·D.
 *
 * Not supported: num_v_heads (grouped value heads, GVA) — the op has one key head per value head; `mode`; masks.
 *
 * Init (fla): A = U(0,16] → A_log = log A; dt = exp(U[0,1)·(ln 0.1 − ln 0.001) + ln 0.001) floored at 1e-4,
 * dt_bias = softplus⁻¹(dt) = dt + log(−expm1(−dt)); projections N(0, initStd), o_proj N(0, initStd/√(2·nLayers));
 * o_norm weight 1; conv weights PyTorch's Conv1d default as fla's layer (its model init redraws them N(0, initStd)).
 *
 * State: { conv_q, conv_k [B, W−1, H·K], conv_v [B, W−1, H·V] (with useShortConv), recurrent [B, H, K, V] }:
 * H·K·V + (W−1)(2·H·K + H·V) floats per sequence whatever the length.
 */
import { z } from "zod";
import { Tensor } from "../core/tensor.js";
import { allocate } from "../core/dtype.js";
import { Linear } from "../nn/linear.js";
import { gatedDeltaRule } from "../ops/gated_delta_rule/index.js";
import type { AnyOp } from "../ops/types.js";
import { DeltaLayerBase, deltaDims, deltaSwitchFields, where, type DeltaLayerDims } from "./delta_base.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext } from "./types.js";

export const gatedDeltaNetConfig = z
  .object({
    /** heads H (fla num_heads); default max(1, round(0.75·D / headDim)) with headDim default 256 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** key width per head K (fla head_dim); default ⌊0.75·D / numHeads⌋ */
    headDim: z.number().int().min(1).nullable().default(null),
    /** value width per head V = headDim·expandV (fla expand_v) */
    expandV: z.number().positive().default(2),
    ...deltaSwitchFields({ useGate: true }),
  })
  .strict();

export type GatedDeltaNetLayerConfig = z.output<typeof gatedDeltaNetConfig>;

/** fla's dt range for dt_bias (hard-coded there too). */
const DT_MIN = 0.001;
const DT_MAX = 0.1;
const DT_FLOOR = 1e-4;

export class GatedDeltaNetLayer extends DeltaLayerBase {
  readonly type = "gated_deltanet";
  protected readonly op: AnyOp = gatedDeltaRule;
  /** [H] log of the decay rate A > 0 */
  readonly A_log: Tensor;
  /** [H] bias inside the softplus of the step size */
  readonly dt_bias: Tensor;
  readonly a_proj: Linear;

  constructor(dModel: number, config: GatedDeltaNetLayerConfig, context: LayerContext) {
    super(dModel, GatedDeltaNetLayer.dims(config, context), context);
    const { rng, dtype, initStd } = context;
    const H = this.numHeads;
    // draw in fla's constructor order: projections, A, dt, convs, gate, output
    this.buildQkv();
    this.a_proj = this.linear("a_proj", dModel, H, initStd);
    this.buildBeta();
    const aLog = allocate(dtype, H);
    for (let h = 0; h < H; h++) aLog[h] = Math.log(16 - rng.uniform(0, 16)); // A ∈ (0, 16]
    this.A_log = this.param("A_log", new Tensor(aLog, [H]));
    const dtBias = allocate(dtype, H);
    for (let h = 0; h < H; h++) {
      const dt = Math.max(DT_FLOOR, Math.exp(rng.uniform() * (Math.log(DT_MAX) - Math.log(DT_MIN)) + Math.log(DT_MIN)));
      dtBias[h] = dt + Math.log(-Math.expm1(-dt));
    }
    this.dt_bias = this.param("dt_bias", new Tensor(dtBias, [H]));
    this.buildConvs();
    this.buildOutput();
  }

  /** The resolved sizes (defaults filled, checked) for a parsed config; errors name the field. */
  static dims(config: GatedDeltaNetLayerConfig, context: Pick<LayerContext, "dModel" | "layerIdx">): DeltaLayerDims {
    const at = where("gated_deltanet", context);
    const D = context.dModel;
    const budget = 0.75 * D; // fla's key width H·K
    let H: number;
    let K: number;
    if (config.headDim !== null) {
      K = config.headDim;
      H = config.numHeads ?? Math.max(1, Math.round(budget / K));
    } else {
      H = config.numHeads ?? Math.max(1, Math.round(budget / 256));
      K = Math.floor(budget / H);
      if (K < 1) {
        throw new Error(`${at}: 'numHeads'=${H} leaves no default head width ⌊0.75·dModel/numHeads⌋ = 0 (dModel=${D}); set headDim or fewer heads`);
      }
    }
    const v = K * config.expandV;
    const V = Math.round(v);
    if (Math.abs(v - V) > 1e-9 * Math.max(1, v) || V < 1) {
      throw new Error(`${at}: 'expandV': headDim·expandV = ${K}·${config.expandV} = ${v} must be a positive integer value width`);
    }
    return deltaDims(H, K, V, true, config);
  }

  /** g = −exp(A_log) · softplus(a_proj x + dt_bias): [B,T,H], ≤ 0. */
  protected override decay(x: Tensor): Tensor {
    return this.a_proj.forward(x).add(this.dt_bias).softplus().mul(this.A_log.exp().neg());
  }
}

export const gatedDeltaNetLayer: LayerDefinition<GatedDeltaNetLayerConfig> = {
  type: "gated_deltanet",
  summary: "Gated DeltaNet: delta rule with a Mamba-2-style per-head decay, short convs, L2-normed q/k, gated RMSNorm",
  config: gatedDeltaNetConfig as unknown as z.ZodType<GatedDeltaNetLayerConfig, unknown>,
  smallConfig: { numHeads: 2, headDim: 4, expandV: 1.5, allowNegEigval: true, convSize: 3, convBias: true, chunkSize: 4 },
  create: (config, context) => new GatedDeltaNetLayer(context.dModel, config, context),
};
