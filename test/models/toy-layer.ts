/**
 * A tiny mixer used to test the model machinery before (and independently of) the real layers: a per-channel
 * exponential moving average, h_t = a ⊙ h_{t−1} + (1 − a) ⊙ (x_t W_inᵀ), y_t = h_t W_outᵀ.
 */
import { z } from "zod";
import { Tensor } from "../../src/core/tensor.js";
import { zeros } from "../../src/core/create.js";
import { stack, slice, squeeze } from "../../src/core/ops/shape.js";
import { Linear } from "../../src/nn/linear.js";
import { normal } from "../../src/nn/init.js";
import { MixerLayer, type LayerContext, type LayerDefinition, type LayerForwardOptions, type LayerState } from "../../src/layers/index.js";

class ToyEma extends MixerLayer {
  readonly type = "toy_ema";
  readonly in_proj: Linear;
  readonly out_proj: Linear;
  readonly decay: Tensor;

  constructor(readonly dModel: number, context: LayerContext) {
    super();
    const opts = { rng: context.rng, dtype: context.dtype, bias: false };
    this.in_proj = this.module("in_proj", new Linear(dModel, dModel, opts));
    this.out_proj = this.module("out_proj", new Linear(dModel, dModel, opts));
    this.decay = this.param("decay", normal([dModel], 1, context.rng, context.dtype));
  }

  private gate(): Tensor {
    return this.decay.sigmoid();
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    let state = options.state ?? this.initState(x.shape[0]!);
    const ys: Tensor[] = [];
    for (let t = 0; t < x.shape[1]!; t++) {
      const r = this.step(squeeze(slice(x, 1, t, t + 1), 1), state);
      ys.push(r.y);
      state = r.state;
    }
    const y = stack(ys, 1);
    return options.outputState ? { y, state } : { y };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    const a = this.gate();
    const h = state.h!.mul(a).add(this.in_proj.forward(x).mul(a.neg().add(1)));
    return { y: this.out_proj.forward(h), state: { h } };
  }

  initState(batch: number): LayerState {
    return { h: zeros([batch, this.dModel], { dtype: this.decay.dtype }) };
  }

  stateSize(): number {
    return this.dModel;
  }
}

export const toyEma: LayerDefinition<Record<string, never>> = {
  type: "toy_ema",
  summary: "test-only moving-average mixer",
  config: z.object({}).strict() as unknown as z.ZodType<Record<string, never>, unknown>,
  create: (_config, context) => new ToyEma(context.dModel, context),
};
