/**
 * The `gru` mixer layer: one PyTorch nn.GRU layer (spec/mixers.md §9; the reset gate applied after the
 * recurrent product) around the `gru` op.
 *
 * Parameters map one to one onto the state dict of torch.nn.GRU(input_size=D, hidden_size=H, num_layers=1,
 * batch_first=True):
 *   weight_ih_l0 [3H, D], weight_hh_l0 [3H, H], bias_ih_l0 [3H], bias_hh_l0 [3H]   (gate order r, z, n)
 * all initialised U(−1/√H, 1/√H) as PyTorch does. When hiddenSize H ≠ D an `out_proj` Linear(H, D, no bias)
 * maps h back to the model width (no PyTorch counterpart); when H = D there is no projection and y = h, so the
 * layer is exactly nn.GRU.
 *
 * Forward: gates_x = x W_ihᵀ + b_ih, then the op's fused kernel (its "chunk" form, with hand-written BPTT),
 * which takes b_hh separately (its n slice sits inside r ⊙ (h W_hnᵀ + b_hn)); step: the op's recurrent step.
 * State: { state: h [B,H] }, H floats per sequence.
 */
import type { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import { gru } from "../ops/gru/index.js";
import type { LayerDefinition } from "./registry.js";
import { RecurrentLayer, recurrentConfig, type RecurrentConfig } from "./recurrent_base.js";
import type { LayerContext } from "./types.js";

export type GruLayerConfig = RecurrentConfig;

export class GRULayer extends RecurrentLayer {
  readonly type = "gru";
  protected readonly op = gru;

  constructor(dModel: number, config: GruLayerConfig, context: LayerContext) {
    super(dModel, config, context, 3);
  }

  protected opInputs(x: Tensor): Record<string, Tensor> {
    return { gates_x: this.inputProjection(x), w_hh: this.weight_hh_l0, b_hh: this.bias_hh_l0 };
  }

  protected stateShape(batch: number): number[] {
    return [batch, this.hiddenSize];
  }

  /** H, whatever the number of tokens. */
  stateSize(): number {
    return this.hiddenSize;
  }
}

export const gruLayer: LayerDefinition<GruLayerConfig> = {
  type: "gru",
  summary: "GRU (PyTorch nn.GRU, one layer; out_proj H→D when hiddenSize ≠ D)",
  config: recurrentConfig as unknown as z.ZodType<GruLayerConfig, unknown>,
  smallConfig: { hiddenSize: 12 },
  create: (config, context) => new GRULayer(context.dModel, config, context),
};
