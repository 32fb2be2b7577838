/**
 * The pre-norm residual block (spec/mixers.md §16): h = x + mixer(RMSNorm(x)); y = h + MLP(RMSNorm(h)).
 * Parameter names as fla's blocks: attn_norm, attn (the mixer, whatever its type), mlp_norm, mlp.
 *
 * A layer spec may carry `inputConv: W` (W ≥ 2): a causal depthwise short convolution with SiLU
 * (`input_conv.weight` [D,1,W]) on the normed input of the mixer, the BaseConv/H3-style short conv the Based
 * and Zoology sweeps pair every mixer with (tasks.md §1: recall is not learnable in the CPU budget without one).
 * It is for mixers without a conv of their own (linear_attn, based, …); its W−1 inputs join the layer's state
 * under the key `input_conv`.
 */
import type { Tensor } from "../core/tensor.js";
import { add } from "../core/ops/elementwise.js";
import { Module } from "../nn/module.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { SwiGLU } from "../nn/swiglu.js";
import { ShortConv } from "../nn/shortconv.js";
import { createLayer } from "../layers/registry.js";
import type { LayerContext, LayerState, MixerLayer } from "../layers/types.js";
import type { LMConfig } from "./config.js";

export class Block extends Module {
  readonly attn_norm: RMSNorm;
  readonly input_conv: ShortConv | null;
  readonly attn: MixerLayer;
  readonly mlp_norm: RMSNorm | null;
  readonly mlp: SwiGLU | null;

  constructor(spec: { type: string } & Record<string, unknown>, config: LMConfig, context: LayerContext) {
    super();
    const dtype = config.dtype;
    this.attn_norm = this.module("attn_norm", new RMSNorm(config.dModel, config.normEps, { dtype }));
    const { inputConv, ...layerSpec } = spec;
    if (inputConv !== undefined && inputConv !== null && !(Number.isInteger(inputConv) && (inputConv as number) >= 2)) {
      throw new RangeError(`layer ${context.layerIdx} (${spec.type}): inputConv must be an integer kernel width ≥ 2, got ${JSON.stringify(inputConv)}`);
    }
    this.input_conv =
      typeof inputConv === "number" ? this.module("input_conv", new ShortConv(config.dModel, inputConv, { rng: context.rng, dtype, activation: "silu" })) : null;
    this.attn = this.module("attn", createLayer(layerSpec as typeof spec, context));
    if (config.mlp === "swiglu") {
      this.mlp_norm = this.module("mlp_norm", new RMSNorm(config.dModel, config.normEps, { dtype }));
      this.mlp = this.module(
        "mlp",
        new SwiGLU(config.dModel, {
          rng: context.rng,
          dtype,
          ...(config.mlpHidden !== undefined ? { hiddenSize: config.mlpHidden } : {}),
          init: "normal",
          std: config.initStd,
          outStd: config.initStd / Math.sqrt(2 * context.nLayers),
        }),
      );
    } else {
      this.mlp_norm = null;
      this.mlp = null;
    }
  }

  private withMlp(h: Tensor): Tensor {
    return this.mlp && this.mlp_norm ? add(h, this.mlp.forward(this.mlp_norm.forward(h))) : h;
  }

  /** x [B,T,D] */
  forward(x: Tensor, state: LayerState | null, outputState: boolean): { x: Tensor; state?: LayerState } {
    let h = this.attn_norm.forward(x);
    let convState: Tensor | null = null;
    if (this.input_conv) {
      const c = this.input_conv.forward(h, state?.[INPUT_CONV] ?? null);
      h = c.y;
      convState = c.state;
    }
    const r = this.attn.forward(h, { state: state && this.input_conv ? withoutConv(state) : state, outputState });
    const next = r.state && convState ? { ...r.state, [INPUT_CONV]: convState } : r.state;
    return { x: this.withMlp(add(x, r.y)), ...(next ? { state: next } : {}) };
  }

  /** x [B,D] */
  step(x: Tensor, state: LayerState): { x: Tensor; state: LayerState } {
    let h = this.attn_norm.forward(x);
    if (!this.input_conv) {
      const r = this.attn.step(h, state);
      return { x: this.withMlp(add(x, r.y)), state: r.state };
    }
    const convIn = state[INPUT_CONV];
    if (!convIn) throw new RangeError(`block: the state has no '${INPUT_CONV}' entry (build it with initState)`);
    const c = this.input_conv.step(h, convIn);
    h = c.y;
    const r = this.attn.step(h, withoutConv(state));
    return { x: this.withMlp(add(x, r.y)), state: { ...r.state, [INPUT_CONV]: c.state } };
  }

  /** The state before any token. */
  initState(batch: number): LayerState {
    const s = this.attn.initState(batch);
    return this.input_conv ? { ...s, [INPUT_CONV]: this.input_conv.initState(batch) } : s;
  }

  /** Floats per sequence carried after `tokens` tokens (the mixer's plus the input conv's W−1 inputs). */
  stateSize(tokens: number): number {
    const conv = this.input_conv ? (this.input_conv.kernelSize - 1) * this.input_conv.channels : 0;
    return this.attn.stateSize(tokens) + conv;
  }
}

const INPUT_CONV = "input_conv";

function withoutConv(state: LayerState): LayerState {
  const { [INPUT_CONV]: _conv, ...rest } = state;
  void _conv;
  return rest;
}
