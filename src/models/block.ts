/**
 * The pre-norm residual block (spec/mixers.md §16): h = x + mixer(RMSNorm(x)); y = h + MLP(RMSNorm(h)).
 * Parameter names as fla's blocks: attn_norm, attn (the mixer, whatever its type), mlp_norm, mlp.
 */
import type { Tensor } from "../core/tensor.js";
import { add } from "../core/ops/elementwise.js";
import { Module } from "../nn/module.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { SwiGLU } from "../nn/swiglu.js";
import { createLayer } from "../layers/registry.js";
import type { LayerContext, LayerState, MixerLayer } from "../layers/types.js";
import type { LMConfig } from "./config.js";

export class Block extends Module {
  readonly attn_norm: RMSNorm;
  readonly attn: MixerLayer;
  readonly mlp_norm: RMSNorm | null;
  readonly mlp: SwiGLU | null;

  constructor(spec: { type: string } & Record<string, unknown>, config: LMConfig, context: LayerContext) {
    super();
    const dtype = config.dtype;
    this.attn_norm = this.module("attn_norm", new RMSNorm(config.dModel, config.normEps, { dtype }));
    this.attn = this.module("attn", createLayer(spec, context));
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
    const r = this.attn.forward(this.attn_norm.forward(x), { state, outputState });
    return { x: this.withMlp(add(x, r.y)), ...(r.state ? { state: r.state } : {}) };
  }

  /** x [B,D] */
  step(x: Tensor, state: LayerState): { x: Tensor; state: LayerState } {
    const r = this.attn.step(this.attn_norm.forward(x), state);
    return { x: this.withMlp(add(x, r.y)), state: r.state };
  }
}
