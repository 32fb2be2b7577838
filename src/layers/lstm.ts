/**
 * The `lstm` mixer layer: one PyTorch nn.LSTM layer (spec/mixers.md §9) around the `lstm` op.
 *
 * Parameters map one to one onto the state dict of torch.nn.LSTM(input_size=D, hidden_size=H, num_layers=1,
 * batch_first=True):
 *   weight_ih_l0 [4H, D], weight_hh_l0 [4H, H], bias_ih_l0 [4H], bias_hh_l0 [4H]   (gate order i, f, g, o)
 * all initialised U(−1/√H, 1/√H) as PyTorch does; `forgetBias` (default 0) is then added to the forget-gate
 * slice bias_ih_l0[H:2H] (the common +1 tweak when set to 1). When hiddenSize H ≠ D an `out_proj`
 * Linear(H, D, no bias) maps h back to the model width (it has no PyTorch counterpart); when H = D there is no
 * projection and y = h, so the layer is exactly nn.LSTM.
 *
 * Forward: gates_x = x W_ihᵀ + b_ih + b_hh, then the op's fused kernel (its "chunk" form, with hand-written
 * BPTT); step: the op's recurrent step. State: { state: [B,2,H] = (h, c) }, 2·H floats per sequence.
 */
import { z } from "zod";
import { noGrad } from "../core/autograd.js";
import type { Tensor } from "../core/tensor.js";
import { lstm } from "../ops/lstm/index.js";
import type { LayerDefinition } from "./registry.js";
import { RecurrentLayer, recurrentConfig } from "./recurrent_base.js";
import type { LayerContext } from "./types.js";

export const lstmConfig = recurrentConfig
  .extend({
    /** added to the forget-gate slice of bias_ih_l0 at init (0: PyTorch's init; 1: the common tweak) */
    forgetBias: z.number().finite().default(0),
  })
  .strict();

export type LstmLayerConfig = z.output<typeof lstmConfig>;

export class LSTMLayer extends RecurrentLayer {
  readonly type = "lstm";
  protected readonly op = lstm;

  constructor(dModel: number, config: LstmLayerConfig, context: LayerContext) {
    super(dModel, config, context, 4);
    const H = this.hiddenSize;
    if (config.forgetBias !== 0) {
      noGrad(() => {
        const b = this.bias_ih_l0.data;
        for (let k = H; k < 2 * H; k++) b[k] = b[k]! + config.forgetBias;
      });
    }
  }

  /** gates_x = x W_ihᵀ + b_ih + b_hh (both biases enter the pre-activations the same way) and w_hh. */
  protected opInputs(x: Tensor): Record<string, Tensor> {
    return { gates_x: this.inputProjection(x).add(this.bias_hh_l0), w_hh: this.weight_hh_l0 };
  }

  protected stateShape(batch: number): number[] {
    return [batch, 2, this.hiddenSize];
  }

  /** 2·H (h and c), whatever the number of tokens. */
  stateSize(): number {
    return 2 * this.hiddenSize;
  }
}

export const lstmLayer: LayerDefinition<LstmLayerConfig> = {
  type: "lstm",
  summary: "LSTM (PyTorch nn.LSTM, one layer; out_proj H→D when hiddenSize ≠ D)",
  config: lstmConfig as unknown as z.ZodType<LstmLayerConfig, unknown>,
  smallConfig: { hiddenSize: 12, forgetBias: 1 },
  create: (config, context) => new LSTMLayer(context.dModel, config, context),
};
