/**
 * Short causal depthwise convolution (spec/mixers.md §0.2), as fla's ShortConvolution: a Conv1d with
 * groups = channels, `weight` [C, 1, W] and optional `bias` [C], followed by an activation (SiLU by default).
 * The step form keeps the last W−1 inputs per channel (state [B, W−1, C]).
 */
import { Tensor } from "../core/tensor.js";
import { silu } from "../core/ops/elementwise.js";
import { causalConv1d } from "../core/ops/nn.js";
import { concat, reshape, slice, unsqueeze, squeeze } from "../core/ops/shape.js";
import { shapeString } from "../core/shape.js";
import { zeros } from "../core/create.js";
import { Module } from "./module.js";
import { torchDefault, uniform } from "./init.js";
import { requirePositiveInt, type ModuleOptions } from "./options.js";

export interface ShortConvOptions extends ModuleOptions {
  bias?: boolean;
  activation?: "silu" | null;
}

export class ShortConv extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly activation: "silu" | null;

  constructor(readonly channels: number, readonly kernelSize = 4, options: ShortConvOptions) {
    super();
    requirePositiveInt("ShortConv", "channels", channels);
    requirePositiveInt("ShortConv", "kernelSize", kernelSize);
    const dtype = options.dtype ?? "f32";
    this.weight = this.param("weight", torchDefault([channels, 1, kernelSize], options.rng, dtype));
    const bound = 1 / Math.sqrt(kernelSize); // fan_in of a depthwise kernel [C, 1, W]
    this.bias = options.bias ? this.param("bias", uniform([channels], -bound, bound, options.rng, dtype)) : null;
    this.activation = options.activation === undefined ? "silu" : options.activation;
  }

  /** A zero state for `batch` sequences: the previous kernelSize − 1 inputs. */
  initState(batch: number): Tensor {
    return zeros([batch, this.kernelSize - 1, this.channels], { dtype: this.weight.dtype });
  }

  /**
   * x [B, T, C] → { y [B, T, C], state [B, W−1, C] }: the state is the last W−1 inputs (from `state` when T is
   * shorter), so a sequence fed in pieces gives the same output as fed whole.
   */
  forward(x: Tensor, state: Tensor | null = null): { y: Tensor; state: Tensor } {
    if (x.ndim !== 3 || x.shape[2] !== this.channels) {
      throw new RangeError(`ShortConv: x must have shape [B,T,${this.channels}], got ${shapeString(x.shape)}`);
    }
    const w = reshape(this.weight, [this.channels, this.kernelSize]);
    const out = causalConv1d(x, w, this.bias, state);
    const history = concat([state ?? this.initState(x.shape[0]!), x], 1);
    const keep = this.kernelSize - 1;
    return { y: this.activation === "silu" ? silu(out) : out, state: slice(history, 1, history.shape[1]! - keep) };
  }

  /** One time step: x_t [B, C] → { y [B, C], state }. */
  step(x: Tensor, state: Tensor): { y: Tensor; state: Tensor } {
    const r = this.forward(unsqueeze(x, 1), state);
    return { y: squeeze(r.y, 1), state: r.state };
  }
}
