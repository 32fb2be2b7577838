/**
 * What the lstm and gru layers share: one layer of a PyTorch-style nonlinear RNN (nn.LSTM / nn.GRU with
 * num_layers = 1, batch_first = True) around the parameter-free op of the same name, with PyTorch's parameter
 * names and init, plus an output projection back to the model width when the hidden size differs from it.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import { zeros } from "../core/create.js";
import { matmul } from "../core/ops/matmul.js";
import { transpose } from "../core/ops/shape.js";
import { uniform } from "../nn/init.js";
import { Linear } from "../nn/linear.js";
import { runOp } from "../ops/run.js";
import type { AnyOp } from "../ops/types.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";

/** Config of both layers. */
export const recurrentConfig = z
  .object({
    /** H, the hidden (and state) width; default the model width D */
    hiddenSize: z.number().int().min(1).optional(),
  })
  .strict();

export interface RecurrentConfig {
  hiddenSize?: number | undefined;
}

export abstract class RecurrentLayer extends MixerLayer {
  readonly hiddenSize: number;
  /** [G·H, D], G = 4 (lstm) or 3 (gru) packed gates, as PyTorch */
  readonly weight_ih_l0: Tensor;
  /** [G·H, H] */
  readonly weight_hh_l0: Tensor;
  /** [G·H] */
  readonly bias_ih_l0: Tensor;
  /** [G·H] */
  readonly bias_hh_l0: Tensor;
  /** Linear(H, D, no bias) when H ≠ D; none when H = D */
  readonly out_proj: Linear | null;

  /**
   * PyTorch's init: every weight and bias U(−1/√H, 1/√H), drawn in the order weight_ih, weight_hh, bias_ih,
   * bias_hh. The output projection (only when H ≠ D) follows spec §16: N(0, initStd / √(2·nLayers)).
   */
  constructor(
    readonly dModel: number,
    config: RecurrentConfig,
    context: LayerContext,
    protected readonly gates: number,
  ) {
    super();
    const H = config.hiddenSize ?? dModel;
    this.hiddenSize = H;
    const bound = 1 / Math.sqrt(H);
    const { rng, dtype } = context;
    this.weight_ih_l0 = this.param("weight_ih_l0", uniform([gates * H, dModel], -bound, bound, rng, dtype));
    this.weight_hh_l0 = this.param("weight_hh_l0", uniform([gates * H, H], -bound, bound, rng, dtype));
    this.bias_ih_l0 = this.param("bias_ih_l0", uniform([gates * H], -bound, bound, rng, dtype));
    this.bias_hh_l0 = this.param("bias_hh_l0", uniform([gates * H], -bound, bound, rng, dtype));
    this.out_proj =
      H === dModel
        ? null
        : this.module("out_proj", new Linear(H, dModel, { rng, dtype, bias: false, init: "normal", std: context.initStd / Math.sqrt(2 * context.nLayers) }));
  }

  /** the op (lstm or gru) */
  protected abstract readonly op: AnyOp;

  /** The op's inputs other than the state, for x [B,T,D] (a sequence) or [B,D] (one token). */
  protected abstract opInputs(x: Tensor): Record<string, Tensor>;

  /** the op's state shape for `batch` sequences */
  protected abstract stateShape(batch: number): number[];

  initState(batch: number): LayerState {
    return { state: zeros(this.stateShape(batch), { dtype: this.weight_hh_l0.dtype }) };
  }

  /** x W_ihᵀ + b_ih for x [..., D] → [..., G·H] */
  protected inputProjection(x: Tensor): Tensor {
    return matmul(x, transpose(this.weight_ih_l0)).add(this.bias_ih_l0);
  }

  private project(h: Tensor): Tensor {
    return this.out_proj ? this.out_proj.forward(h) : h;
  }

  /** x [B,T,D] → y [B,T,D] through the op's fused kernel (its "chunk" form, the training path). */
  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    if (x.ndim !== 3 || x.shape[2] !== this.dModel) {
      throw new RangeError(`${this.type}: x must have shape [B,T,${this.dModel}], got [${x.shape.join(",")}]`);
    }
    const initial = options.state?.state;
    const r = runOp(this.op, { ...this.opInputs(x), ...(initial ? { initial_state: initial } : {}) }, "chunk", { outputFinalState: options.outputState ?? false });
    const y = this.project(r.o);
    return options.outputState ? { y, state: { state: r.finalState! } } : { y };
  }

  /** x [B,D] → y [B,D] through the op's recurrent step. */
  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    if (x.ndim !== 2 || x.shape[1] !== this.dModel) {
      throw new RangeError(`${this.type}: x must have shape [B,${this.dModel}], got [${x.shape.join(",")}]`);
    }
    const s = state.state;
    const want = this.stateShape(x.shape[0]!);
    if (s === undefined || s.ndim !== want.length || s.shape.some((d, i) => d !== want[i])) {
      throw new RangeError(`${this.type}: state.state must have shape [${want.join(",")}] (from initState or forward), got ${s ? `[${s.shape.join(",")}]` : "nothing"}`);
    }
    const r = this.op.recurrent.step(s, this.opInputs(x), { outputFinalState: false, chunkSize: 64 });
    return { y: this.project(r.o), state: { state: r.state } };
  }
}
