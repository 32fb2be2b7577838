/**
 * The `based` mixer layer (spec/mixers.md §4; Arora et al., arXiv 2402.18668): Taylor linear attention over the
 * whole history plus sliding-window softmax attention over the last `window` tokens, summed in one layer.
 *
 *   linear branch (fla `fla/layers/based.py: BasedLinearAttention`, spec §3 with Taylor-2, normalised):
 *     q, k = x W_q, x W_k split into H heads of f₀ = featureDim;  v = x W_v split into H heads of dv = D/H
 *     φ(z) = [1, z/f₀^¼, vec(z zᵀ)/(√2·√f₀)]  (f = 1 + f₀ + f₀²; φ(q)·φ(k) = 1 + s + s²/2, s = q·k/√f₀)
 *     o_t = φ(q_t) Σ_{s≤t} φ(k_s)ᵀ v_s / (φ(q_t)·Σ_{s≤t} φ(k_s) + eps)          (the `linear_attn` op, scale 1)
 *     y_lin = concat_h(o) W_oᵀ
 *   window branch (spec §1, the `attention` layer with a window): causal softmax attention of windowHeads heads of
 *     width D/windowHeads over the keys u ∈ (t − window, t], RoPE on q, k;  y_win = its o_proj output
 *   y = y_lin + y_win
 *
 * How this follows the spec: Based as published (and spec §4) is a layer-level hybrid (Taylor linear-attention
 * layers, sliding-window layers and BaseConv layers interleaved over depth). Here one layer holds both attention
 * branches side by side and adds their outputs inside one residual; that is the same as concatenating the two
 * branches' heads before one shared output projection. `window: null` drops the window branch and leaves exactly
 * fla's BasedLinearAttention; the paper's depth pattern is then a model `layers` list mixing based
 * (window null) with attention (window W) layers. The knobs are featureDim (f₀) and window (W).
 *
 * Parameters (inside a model: model.layers.{i}.attn.<name>):
 *
 *   ours                        reference                                      shape
 *   q_proj.weight               BasedLinearAttention q_proj.weight             [H·f₀, D]
 *   k_proj.weight               BasedLinearAttention k_proj.weight             [H·f₀, D]
 *   v_proj.weight               BasedLinearAttention v_proj.weight             [H·dv, D]   dv = D/H
 *   o_proj.weight               BasedLinearAttention o_proj.weight             [D, H·dv]
 *   window_attn.q_proj.weight   fla Attention(window_size=W) q_proj.weight     [Hw·m, D]   m = D/Hw
 *   window_attn.k_proj.weight   … k_proj.weight                                 [Hw·m, D]
 *   window_attn.v_proj.weight   … v_proj.weight                                 [Hw·m, D]
 *   window_attn.o_proj.weight   … o_proj.weight                                 [D, Hw·m]
 *
 * with H = numHeads (fla num_heads = num_key_value_heads; default 12 when it divides D, else 1), f₀ = featureDim
 * (fla feature_dim, 16), Hw = windowHeads (default numHeads). Strip `window_attn.` to load that branch into fla's
 * Attention (see attention.ts for its mapping). Config ↔ fla: eps ↔ eps (1e-12).
 *
 * Not supported / differences: fla's BasedLinearAttention takes num_key_value_heads ≠ num_heads in its signature
 * but its reference forward only works when they are equal, so there is one head count here; causal = False and
 * the `mode` switch are not offered (forward always runs the op's chunk form, step its recurrent form). fla's
 * Taylor map packs the i ≤ j products (f = 1 + f₀ + f₀(f₀+1)/2); we keep the full f₀² outer product (spec §3/§17,
 * zoology's TaylorExp) — the same inner products, so the same outputs, with a larger state.
 *
 * Init (spec §16): projection weights N(0, initStd); both o_proj weights N(0, initStd/√(2·nLayers)).
 *
 * State per sequence: { recurrent [B, H, f, dv+1] (the op's Σ φ(k)ᵀv in columns 0..dv−1 and Σ φ(k) in column dv),
 * window_kv [B, S, Hw, 2m] (post-RoPE keys then values of the last S = min(t, W) tokens), window_pos [B] (the
 * absolute position of the next token, for RoPE) }: H·f·(dv+1) + Hw·2m·min(t, W) + 1 floats after t tokens —
 * constant once t ≥ W.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { reshape } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { linearAttn } from "../ops/linear_attn/index.js";
import { taylor2 } from "../ops/feature_maps/index.js";
import type { AnyOp } from "../ops/types.js";
import { AttentionLayer, attentionConfig } from "./attention.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext, LayerForwardOptions, LayerState } from "./types.js";
import { LinearMixerBase, normalLinear, resolveHeads, where, type Prepared } from "./linear_base.js";

export const basedConfig = z
  .object({
    /** heads H of the linear branch (fla num_heads = num_key_value_heads); default 12 when it divides dModel, else 1 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** f₀: the width per head of q and k before the Taylor map (fla feature_dim) */
    featureDim: z.number().int().min(1).default(16),
    /** added to the normaliser (fla eps) */
    eps: z.number().positive().default(1e-12),
    /** W: keys per query of the sliding-window branch (u ∈ (t−W, t]), or null for no window branch */
    window: z.number().int().min(1).nullable().default(64),
    /** heads of the window branch (width dModel/windowHeads); default numHeads */
    windowHeads: z.number().int().min(1).nullable().default(null),
    /** RoPE base of the window branch */
    ropeTheta: z.number().positive().default(10000),
    /** chunk length of the op's chunk form in forward */
    chunkSize: z.number().int().min(1).max(4096).default(64),
  })
  .strict();

export type BasedLayerConfig = z.output<typeof basedConfig>;

export class BasedLayer extends LinearMixerBase {
  readonly type = "based";
  protected readonly op: AnyOp = linearAttn;
  readonly numHeads: number;
  /** f₀ */
  readonly featureDim: number;
  /** the Taylor feature width f = 1 + f₀ + f₀² */
  readonly expandedDim: number;
  readonly headVDim: number;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly window_attn: AttentionLayer | null;

  constructor(readonly dModel: number, readonly config: BasedLayerConfig, context: LayerContext) {
    super();
    const H = resolveHeads("based", context, config.numHeads, 12, [["model (dModel)", dModel]]);
    this.numHeads = H;
    this.featureDim = config.featureDim;
    this.expandedDim = 1 + config.featureDim + config.featureDim * config.featureDim;
    this.headVDim = dModel / H;
    const { initStd, nLayers } = context;
    const lin = normalLinear(context);
    this.q_proj = this.module("q_proj", lin(dModel, H * config.featureDim, initStd));
    this.k_proj = this.module("k_proj", lin(dModel, H * config.featureDim, initStd));
    this.v_proj = this.module("v_proj", lin(dModel, H * this.headVDim, initStd));
    this.o_proj = this.module("o_proj", lin(H * this.headVDim, dModel, initStd / Math.sqrt(2 * nLayers)));
    if (config.window === null) {
      if (config.windowHeads !== null) throw new Error(`${where("based", context)}: windowHeads=${config.windowHeads} is set but window is null (no window branch)`);
      this.window_attn = null;
    } else {
      const Hw = config.windowHeads ?? H;
      if (dModel % Hw !== 0) {
        throw new Error(`${where("based", context)}: windowHeads=${Hw} must divide dModel=${dModel} (window-branch heads of width dModel/windowHeads)`);
      }
      if ((dModel / Hw) % 2 !== 0) {
        throw new Error(`${where("based", context)}: the window-branch head width dModel/windowHeads = ${dModel}/${Hw} must be even (RoPE rotates pairs)`);
      }
      const swa = attentionConfig.parse({ numHeads: Hw, window: config.window, ropeTheta: config.ropeTheta });
      this.window_attn = this.module("window_attn", new AttentionLayer(dModel, swa, context));
    }
  }

  protected get dtype(): DType {
    return this.q_proj.weight.dtype;
  }

  protected opOptions(): Record<string, unknown> {
    return { chunkSize: this.config.chunkSize, normalize: true, eps: this.config.eps, scale: 1 };
  }

  protected stateShapes(batch: number): Record<string, number[]> {
    return { recurrent: [batch, this.numHeads, this.expandedDim, this.headVDim + 1] };
  }

  protected prepare(x: Tensor, _prev: LayerState | null): Prepared {
    const [B, T] = x.shape as [number, number];
    const H = this.numHeads;
    const q = taylor2(reshape(this.q_proj.forward(x), [B, T, H, this.featureDim]));
    const k = taylor2(reshape(this.k_proj.forward(x), [B, T, H, this.featureDim]));
    const v = reshape(this.v_proj.forward(x), [B, T, H, this.headVDim]);
    return { inputs: { q, k, v }, carry: {} };
  }

  protected readout(o: Tensor, x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    return this.o_proj.forward(reshape(o, [...lead, this.numHeads * this.headVDim]));
  }

  /** the window branch's part of a layer state, under the attention layer's own keys */
  private windowState(state: LayerState): LayerState {
    const { window_kv: kv, window_pos: pos } = state;
    if (kv === undefined || pos === undefined) {
      throw new RangeError(`based: state.window_kv and state.window_pos are required with a window branch (from initState or forward), got ${kv ? "" : "no window_kv "}${pos ? "" : "no window_pos"}`.trim());
    }
    return { kv, pos };
  }

  private static renamed(s: LayerState): Record<string, Tensor> {
    return { window_kv: s.kv!, window_pos: s.pos! };
  }

  override initState(batch: number): LayerState {
    const base = super.initState(batch);
    return this.window_attn ? { ...base, ...BasedLayer.renamed(this.window_attn.initState(batch)) } : base;
  }

  override forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    const lin = super.forward(x, options);
    if (!this.window_attn) return lin;
    const prev = options.state ? this.windowState(options.state) : null;
    const win = this.window_attn.forward(x, { state: prev, outputState: options.outputState ?? false });
    const y = lin.y.add(win.y);
    return lin.state ? { y, state: { ...lin.state, ...BasedLayer.renamed(win.state!) } } : { y };
  }

  override step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    const lin = super.step(x, state);
    if (!this.window_attn) return lin;
    const win = this.window_attn.step(x, this.windowState(state));
    return { y: lin.y.add(win.y), state: { ...lin.state, ...BasedLayer.renamed(win.state) } };
  }

  /** H·f·(dv+1) for the linear branch plus the window branch's cache of min(tokens, W) positions and its position */
  override stateSize(tokens = 0): number {
    return super.stateSize(tokens) + (this.window_attn ? this.window_attn.stateSize(tokens) : 0);
  }
}

export const basedLayer: LayerDefinition<BasedLayerConfig> = {
  type: "based",
  summary: "Based: Taylor-2 linear attention (fla BasedLinearAttention) + sliding-window softmax attention, summed; knobs featureDim and window",
  config: basedConfig as unknown as z.ZodType<BasedLayerConfig, unknown>,
  smallConfig: { numHeads: 2, featureDim: 4, window: 4, windowHeads: 4 },
  create: (config, context) => new BasedLayer(context.dModel, config, context),
};
