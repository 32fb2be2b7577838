/**
 * The `linear_attn` mixer layer: causal linear attention with a feature map (spec/mixers.md §3; Katharopoulos
 * et al. 2020) around the `linear_attn` op. Per token, with K, V the key and value widths per head, G = H/Hkv and
 * φ the feature map (width f = K, or 1 + K + K² for taylor_exp):
 *
 *   q, k, v = x W_q, x W_k, x W_v;  k, v repeated over the G query heads of each kv head
 *   q, k ← φ_q(q), φ_k(k) per head;  q ← q / (Σ q + 1e-4) with normQ, k ← k / (Σ k + 1e-4) with normK
 *   S_t = S_{t−1} + k_tᵀ v_t;  o_t = τ q_t S_t, or with doFeatureMapNorm o_t = τ q_t S_t / (τ q_t·Σ_{s≤t} k_s + 1e-10)
 *   o ← RMSNorm(o) ⊙ weight per head (outputNorm "rmsnorm"; nothing with "identity");  y = concat_h(o) W_oᵀ
 *
 * τ = f^-1/2 (fla's chunk_linear_attn default, f the feature width), except τ = 1 for taylor_exp, whose map
 * carries its own 1/√K (spec §3, as fla's Based layer calls the op with scale 1).
 *
 * Feature maps (featureMap ↔ fla feature_map):
 *   elementwise_product  φ(z) = (z A₁ᵀ + a₁) ⊙ (z A₂ᵀ + a₂), learned [K,K] maps, separate for q and k (fla's
 *                        HadamardFeatureMap; fla's default)
 *   elu                  φ(z) = ELU(z) + 1 (fla's "elu", which adds the 1)
 *   relu                 φ(z) = max(z, 0)
 *   identity             φ(z) = z
 *   taylor_exp           φ(z) = [1, z/K^¼, vec(z zᵀ)/(√2·√K)], f = 1 + K + K² (spec §3; fla's Based feature map
 *                        packs the i ≤ j products instead, f = 1 + K + K(K+1)/2, same inner products; not in fla's
 *                        LinearAttention, which has no such option)
 *
 * Parameters, one to one with fla `fla/layers/linear_attn.py: LinearAttention` (same names, same registration
 * order; inside a model they are model.layers.{i}.attn.<name>):
 *
 *   ours = fla name              shape           when
 *   feature_map_q.layer1.weight  [K, K]          featureMap elementwise_product (also .bias [K])
 *   feature_map_q.layer2.weight  [K, K]          (also .bias [K])
 *   feature_map_k.layer1.weight  [K, K]          (also .bias [K])
 *   feature_map_k.layer2.weight  [K, K]          (also .bias [K])
 *   q_proj.weight                [H·K, D]
 *   k_proj.weight                [Hkv·K, D]
 *   v_proj.weight                [Hkv·V, D]
 *   norm.weight                  [V]             outputNorm rmsnorm (fla output_norm, elementwise_affine)
 *   o_proj.weight                [D, H·V]
 *
 * with H·K = D·expandK, H·V = D·expandV (fla expand_k, expand_v; default 1), H = numHeads (fla num_heads, default
 * 8 when it divides both widths, else 1), Hkv = numKvHeads (fla num_kv_heads). Config ↔ fla: normQ ↔ norm_q,
 * normK ↔ norm_k, doFeatureMapNorm ↔ do_feature_map_norm, outputNorm ↔ output_norm, normEps ↔ norm_eps.
 *
 * Not supported: the hedgehog, t2r and dpfp feature maps, tie_feature_map_qk, elementwise_affine = False,
 * `mode`. Refused: featureMap identity with doFeatureMapNorm (the denominator q·Σk can be 0 or negative; spec §3).
 * Difference from fla: with doFeatureMapNorm, fla's normaliser restarts its key sum at every call (it does not
 * carry Σk in the cache); ours carries it, so prefill-then-continue equals one pass.
 *
 * Init (spec §16, fla's _init_weights): every Linear weight N(0, initStd) (the feature-map layers too) except o_proj,
 * N(0, initStd/√(2·nLayers)); feature-map biases 0; norm weight 1.
 *
 * State per sequence: { recurrent [B, H, f, V] (the op's memory Σ φ(k)ᵀv), or [B, H, f, V+1] with doFeatureMapNorm
 * (column V holds Σ φ(k)) }: H·f·V (+ H·f) floats, whatever the length.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { reshape } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { linearAttn } from "../ops/linear_attn/index.js";
import { eluPlusOne, identityMap, reluMap, taylor2 } from "../ops/feature_maps/index.js";
import type { AnyOp } from "../ops/types.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext, LayerState } from "./types.js";
import { LinearMixerBase, normalLinear, repeatHeads, resolveQkvHeads, where, type Prepared } from "./linear_base.js";

export const LINEAR_ATTN_FEATURE_MAPS = ["elementwise_product", "elu", "relu", "identity", "taylor_exp"] as const;
export type LinearAttnFeatureMap = (typeof LINEAR_ATTN_FEATURE_MAPS)[number];

export const linearAttnConfig = z
  .object({
    /** heads H (fla num_heads); default 8 when it divides the key and value widths, else 1 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** key/value heads (fla num_kv_heads; must divide numHeads); default numHeads */
    numKvHeads: z.number().int().min(1).nullable().default(null),
    /** total key width H·K = dModel·expandK before the feature map (fla expand_k) */
    expandK: z.number().positive().default(1),
    /** total value width H·V = dModel·expandV (fla expand_v) */
    expandV: z.number().positive().default(1),
    /** φ applied to q and k per head (fla feature_map; "elu" is ELU + 1) */
    featureMap: z.enum(LINEAR_ATTN_FEATURE_MAPS).default("elementwise_product"),
    /** q ← q / (Σq + 1e-4) after the map (fla norm_q) */
    normQ: z.boolean().default(false),
    /** k ← k / (Σk + 1e-4) after the map (fla norm_k) */
    normK: z.boolean().default(false),
    /** divide by the normaliser τ q·Σk + eps (fla do_feature_map_norm) */
    doFeatureMapNorm: z.boolean().default(false),
    /** per-head output norm (fla output_norm) */
    outputNorm: z.enum(["rmsnorm", "identity"]).default("rmsnorm"),
    /** ε of the output RMSNorm (fla norm_eps) */
    normEps: z.number().positive().default(1e-5),
    /** chunk length of the op's chunk form in forward */
    chunkSize: z.number().int().min(1).max(4096).default(64),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.featureMap === "identity" && c.doFeatureMapNorm) {
      ctx.addIssue({
        code: "custom",
        path: ["doFeatureMapNorm"],
        message: "doFeatureMapNorm needs positive features, but featureMap is 'identity' (the normaliser q·Σk can be 0 or negative); use elu, relu or taylor_exp",
      });
    }
  });

export type LinearAttnLayerConfig = z.output<typeof linearAttnConfig>;

/** fla's HadamardFeatureMap: φ(z) = layer1(z) ⊙ layer2(z), two Linear(K, K) with biases. */
export class HadamardFeatureMap extends Module {
  readonly layer1: Linear;
  readonly layer2: Linear;

  constructor(dim: number, context: Pick<LayerContext, "rng" | "dtype" | "initStd">) {
    super();
    const lin = normalLinear(context);
    this.layer1 = this.module("layer1", lin(dim, dim, context.initStd, true));
    this.layer2 = this.module("layer2", lin(dim, dim, context.initStd, true));
  }

  forward(x: Tensor): Tensor {
    return this.layer1.forward(x).mul(this.layer2.forward(x));
  }
}

export class LinearAttnLayer extends LinearMixerBase {
  readonly type = "linear_attn";
  protected readonly op: AnyOp = linearAttn;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** key width per head before the feature map */
  readonly headKDim: number;
  /** feature width f per head (the state's key axis) */
  readonly featureDim: number;
  readonly headVDim: number;
  readonly feature_map_q: HadamardFeatureMap | null;
  readonly feature_map_k: HadamardFeatureMap | null;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly norm: RMSNorm | null;
  readonly o_proj: Linear;
  private readonly phi: (x: Tensor) => Tensor;

  constructor(readonly dModel: number, readonly config: LinearAttnLayerConfig, context: LayerContext) {
    super();
    if (config.featureMap === "identity" && config.doFeatureMapNorm) {
      throw new Error(`${where("linear_attn", context)}: doFeatureMapNorm needs positive features, but featureMap is 'identity'`);
    }
    const { numHeads: H, numKvHeads: Hkv, headKDim: K, headVDim: V } = resolveQkvHeads("linear_attn", context, config, 8);
    this.numHeads = H;
    this.numKvHeads = Hkv;
    this.headKDim = K;
    this.headVDim = V;
    this.featureDim = config.featureMap === "taylor_exp" ? 1 + K + K * K : K;

    const { dtype, initStd, nLayers } = context;
    if (config.featureMap === "elementwise_product") {
      this.feature_map_q = this.module("feature_map_q", new HadamardFeatureMap(K, context));
      this.feature_map_k = this.module("feature_map_k", new HadamardFeatureMap(K, context));
    } else {
      this.feature_map_q = null;
      this.feature_map_k = null;
    }
    const lin = normalLinear(context);
    this.q_proj = this.module("q_proj", lin(dModel, H * K, initStd));
    this.k_proj = this.module("k_proj", lin(dModel, Hkv * K, initStd));
    this.v_proj = this.module("v_proj", lin(dModel, Hkv * V, initStd));
    this.norm = config.outputNorm === "rmsnorm" ? this.module("norm", new RMSNorm(V, config.normEps, { dtype })) : null;
    this.o_proj = this.module("o_proj", lin(H * V, dModel, initStd / Math.sqrt(2 * nLayers)));
    const maps: Record<Exclude<LinearAttnFeatureMap, "elementwise_product">, (x: Tensor) => Tensor> = {
      elu: eluPlusOne,
      relu: reluMap,
      identity: identityMap,
      taylor_exp: taylor2,
    };
    this.phi = config.featureMap === "elementwise_product" ? identityMap : maps[config.featureMap];
  }

  protected get dtype(): DType {
    return this.q_proj.weight.dtype;
  }

  protected opOptions(): Record<string, unknown> {
    return {
      chunkSize: this.config.chunkSize,
      normalize: this.config.doFeatureMapNorm,
      ...(this.config.featureMap === "taylor_exp" ? { scale: 1 } : {}),
    };
  }

  protected stateShapes(batch: number): Record<string, number[]> {
    return { recurrent: [batch, this.numHeads, this.featureDim, this.headVDim + (this.config.doFeatureMapNorm ? 1 : 0)] };
  }

  protected prepare(x: Tensor, _prev: LayerState | null): Prepared {
    const [B, T] = x.shape as [number, number];
    const { numHeads: H, numKvHeads: Hkv, headKDim: K, headVDim: V } = this;
    const G = H / Hkv;
    let q = reshape(this.q_proj.forward(x), [B, T, H, K]);
    let k = repeatHeads(reshape(this.k_proj.forward(x), [B, T, Hkv, K]), G);
    const v = repeatHeads(reshape(this.v_proj.forward(x), [B, T, Hkv, V]), G);
    q = this.feature_map_q ? this.feature_map_q.forward(q) : this.phi(q);
    k = this.feature_map_k ? this.feature_map_k.forward(k) : this.phi(k);
    if (this.config.normQ) q = q.div(q.sum(-1, true).add(1e-4));
    if (this.config.normK) k = k.div(k.sum(-1, true).add(1e-4));
    return { inputs: { q, k, v }, carry: {} };
  }

  protected readout(o: Tensor, x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    const n = this.norm ? this.norm.forward(o) : o;
    return this.o_proj.forward(reshape(n, [...lead, this.numHeads * this.headVDim]));
  }
}

export const linearAttnLayer: LayerDefinition<LinearAttnLayerConfig> = {
  type: "linear_attn",
  summary: "linear attention (fla LinearAttention): feature maps (hadamard, elu+1, relu, identity, Taylor-2), optional normaliser, RMSNorm output",
  config: linearAttnConfig as unknown as z.ZodType<LinearAttnLayerConfig, unknown>,
  smallConfig: { numHeads: 4, numKvHeads: 2, expandK: 0.5, featureMap: "elu", normK: true, doFeatureMapNorm: true },
  create: (config, context) => new LinearAttnLayer(context.dModel, config, context),
};
