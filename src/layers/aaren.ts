/**
 * The `aaren` mixer layer (spec/mixers.md §2, arXiv 2405.13956): per head, softmax attention of one learned
 * query over every position ≤ t, computed as a many-to-many RNN, around the `aaren` op.
 *
 *   k_t = x_t W_kᵀ, v_t = x_t W_vᵀ split into H heads;  s_t = τ·query_h·k_t^{(h)}, τ = K^-1/2;
 *   o_t^{(h)} = Σ_{i≤t} softmax_{i≤t}(s_i) v_i^{(h)};   y_t = concat_h(o_t^{(h)}) W_oᵀ.
 *
 * There is no fla (or mamba) layer for Aaren; the names follow fla's attention layer where a counterpart exists:
 *
 *   ours            shape       role
 *   query           [H, K]      the learned query, one per head (the op's input `q`); no input dependence
 *   k_proj.weight   [H·K, D]    as fla Attention k_proj
 *   v_proj.weight   [H·V, D]    as fla Attention v_proj
 *   o_proj.weight   [D, H·V]    as fla Attention o_proj
 *   k_conv1d.weight [H·K, 1, W] only with useShortConv (named as fla's linear-attention layers name theirs)
 *   v_conv1d.weight [H·V, 1, W] only with useShortConv
 *   {k,v}_conv1d.bias [C]       only with useShortConv and convBias
 * with K = V = headDim. No projection biases, no positional encoding (positional information can only come from
 * earlier layers or the short conv, spec §2). A per-head query, the τ factor and o_proj are seqmix choices (spec
 * §2 marks them unverified against the paper); so is the optional short conv (causal depthwise, kernel convSize,
 * SiLU) on k and v after their projections, there because spec/tasks.md gives every mixer one in the recall
 * presets.
 *
 * Init: k_proj, v_proj N(0, initStd); o_proj N(0, initStd/√(2·nLayers)) (spec §16). The query is drawn
 * N(0, initStd²·D), the distribution of x W_qᵀ for an input of unit RMS (the normed block input) and a q_proj
 * drawn N(0, initStd), so it starts at the scale an attention layer's queries have; a query of std initStd would
 * make the score path second order in two small weights (∂L/∂query ∝ k, ∂L/∂W_k ∝ query) at init. Conv weights:
 * PyTorch's Conv1d default U(±1/√W), as fla's ShortConvolution.
 *
 * State: { state: the op's [B, H, V+2] — per head the running max score m, the denominator u and the numerator
 * w_1..w_V }, with useShortConv also k_conv, v_conv [B, convSize−1, H·K] (the last inputs of each conv):
 * H·(V+2) (+ 2·(convSize−1)·H·K) floats per sequence whatever the number of tokens. The empty op state is
 * (−∞, 0, 0).
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import { full } from "../core/create.js";
import { concat, reshape, squeeze, unsqueeze } from "../core/ops/shape.js";
import { normal } from "../nn/init.js";
import { Linear } from "../nn/linear.js";
import { ShortConv } from "../nn/shortconv.js";
import { aaren, type AarenOptions } from "../ops/aaren/index.js";
import { parseOptions } from "../ops/options.js";
import { runOp } from "../ops/run.js";
import { defaultNumHeads } from "./attention.js";
import type { LayerDefinition } from "./registry.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";

export const aarenConfig = z
  .object({
    /** heads H, each with its own learned query; default: D/64 when D is a multiple of 64, else 1 */
    numHeads: z.number().int().min(1).nullable().default(null),
    /** key and value width per head K = V; default D / numHeads */
    headDim: z.number().int().min(1).nullable().default(null),
    /** causal depthwise conv + SiLU on k and v after their projections */
    useShortConv: z.boolean().default(false),
    /** its kernel width */
    convSize: z.number().int().min(1).default(4),
    /** conv biases */
    convBias: z.boolean().default(false),
  })
  .strict();

export type AarenLayerConfig = z.output<typeof aarenConfig>;

export class AarenLayer extends MixerLayer {
  readonly type = "aaren";
  readonly numHeads: number;
  readonly headDim: number;
  /** [H, K] */
  readonly query: Tensor;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;
  readonly k_conv1d: ShortConv | null;
  readonly v_conv1d: ShortConv | null;
  private readonly stepOptions: AarenOptions;

  constructor(readonly dModel: number, config: AarenLayerConfig, context: LayerContext) {
    super();
    const H = config.numHeads ?? defaultNumHeads(dModel);
    if (config.headDim === null && dModel % H !== 0) {
      throw new Error(`layers[${context.layerIdx}] (aaren): dModel=${dModel} is not divisible by numHeads=${H}; choose numHeads dividing dModel or set headDim`);
    }
    const K = config.headDim ?? dModel / H;
    this.numHeads = H;
    this.headDim = K;
    const { rng, dtype, initStd } = context;
    this.query = this.param("query", normal([H, K], initStd * Math.sqrt(dModel), rng, dtype));
    const lin = (name: string, inF: number, outF: number, std: number) =>
      this.module(name, new Linear(inF, outF, { rng, dtype, bias: false, init: "normal", std }));
    this.k_proj = lin("k_proj", dModel, H * K, initStd);
    this.v_proj = lin("v_proj", dModel, H * K, initStd);
    this.o_proj = lin("o_proj", H * K, dModel, initStd / Math.sqrt(2 * context.nLayers));
    const conv = (name: string) =>
      config.useShortConv ? this.module(name, new ShortConv(H * K, config.convSize, { rng, dtype, bias: config.convBias, activation: "silu" })) : null;
    this.k_conv1d = conv("k_conv1d");
    this.v_conv1d = conv("v_conv1d");
    this.stepOptions = parseOptions(aaren.name, aaren.options, {});
  }

  initState(batch: number): LayerState {
    const dtype = this.query.dtype;
    const H = this.numHeads;
    return {
      state: concat([full([batch, H, 1], -Infinity, { dtype }), full([batch, H, this.headDim + 1], 0, { dtype })], 2),
      ...(this.k_conv1d && this.v_conv1d ? { k_conv: this.k_conv1d.initState(batch), v_conv: this.v_conv1d.initState(batch) } : {}),
    };
  }

  /** Checks every tensor of a state for `batch` sequences; returns the op's state. */
  private checkState(state: LayerState, batch: number): Tensor {
    const wants: Array<[string, number[]]> = [["state", [batch, this.numHeads, this.headDim + 2]]];
    for (const [key, c] of [["k_conv", this.k_conv1d], ["v_conv", this.v_conv1d]] as const) {
      if (c) wants.push([key, [batch, c.kernelSize - 1, c.channels]]);
    }
    for (const [key, want] of wants) {
      const t = state[key];
      if (t === undefined || t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new RangeError(`aaren: state.${key} must have shape [${want.join(",")}] (from initState or forward), got ${t ? `[${t.shape.join(",")}]` : "nothing"}`);
      }
    }
    return state.state!;
  }

  /**
   * x [B,T,D] → k, v [B,T,H,K] and the conv FIFOs after x (continuing from `prev`, the state before x, if any).
   */
  private kv(x: Tensor, prev: LayerState | null): { k: Tensor; v: Tensor; convState: Record<string, Tensor> } {
    const [B, T] = x.shape as [number, number];
    const shape = [B, T, this.numHeads, this.headDim];
    const convState: Record<string, Tensor> = {};
    const branch = (proj: Linear, c: ShortConv | null, key: string): Tensor => {
      let z = proj.forward(x);
      if (c) {
        const r = c.forward(z, prev?.[key] ?? null);
        z = r.y;
        convState[key] = r.state;
      }
      return reshape(z, shape);
    };
    return { k: branch(this.k_proj, this.k_conv1d, "k_conv"), v: branch(this.v_proj, this.v_conv1d, "v_conv"), convState };
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    if (x.ndim !== 3 || x.shape[2] !== this.dModel) {
      throw new RangeError(`aaren: x must have shape [B,T,${this.dModel}], got [${x.shape.join(",")}]`);
    }
    const [B, T] = x.shape as [number, number];
    const init = options.state ? { initial_state: this.checkState(options.state, B) } : {};
    const outputState = options.outputState ?? false;
    const { k, v, convState } = this.kv(x, options.state ?? null);
    const r = runOp(aaren, { q: this.query, k, v, ...init }, "chunk", { outputFinalState: outputState });
    const y = this.o_proj.forward(reshape(r.o, [B, T, this.numHeads * this.headDim]));
    return outputState ? { y, state: { state: r.finalState!, ...convState } } : { y };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    if (x.ndim !== 2 || x.shape[1] !== this.dModel) {
      throw new RangeError(`aaren: x must have shape [B,${this.dModel}], got [${x.shape.join(",")}]`);
    }
    const B = x.shape[0]!;
    const s = this.checkState(state, B);
    const { k, v, convState } = this.kv(unsqueeze(x, 1), state);
    const r = aaren.recurrent.step(s, { q: this.query, k: squeeze(k, 1), v: squeeze(v, 1) }, this.stepOptions);
    const y = this.o_proj.forward(reshape(r.o, [B, this.numHeads * this.headDim]));
    return { y, state: { state: r.state, ...convState } };
  }

  /** H·(V+2) plus the conv FIFOs, whatever the number of tokens. */
  stateSize(): number {
    const convs = [this.k_conv1d, this.v_conv1d].reduce((n, c) => n + (c ? (c.kernelSize - 1) * c.channels : 0), 0);
    return this.numHeads * (this.headDim + 2) + convs;
  }
}

export const aarenLayer: LayerDefinition<AarenLayerConfig> = {
  type: "aaren",
  summary: "Aaren: softmax attention of one learned query per head over the prefix, as an RNN (prefix-scan parallel form)",
  config: aarenConfig as unknown as z.ZodType<AarenLayerConfig, unknown>,
  smallConfig: { numHeads: 2, headDim: 6, useShortConv: true, convSize: 3 },
  create: (config, context) => new AarenLayer(context.dModel, config, context),
};
