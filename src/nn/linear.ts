/** y = x Wᵀ + b with weight [out, in] and bias [out], as torch.nn.Linear (parameter names `weight`, `bias`). */
import type { Tensor } from "../core/tensor.js";
import { add } from "../core/ops/elementwise.js";
import { matmul } from "../core/ops/matmul.js";
import { transpose } from "../core/ops/shape.js";
import { shapeString } from "../core/shape.js";
import { Module } from "./module.js";
import { initWeight, uniform, type InitName } from "./init.js";
import { requirePositiveInt, type ModuleOptions } from "./options.js";

export interface LinearOptions extends ModuleOptions {
  bias?: boolean;
  /** weight init: "torch" (default, U(±1/√in)), "xavier", "normal" (std), "zeros" */
  init?: InitName;
  std?: number;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions) {
    super();
    requirePositiveInt("Linear", "inFeatures", inFeatures);
    requirePositiveInt("Linear", "outFeatures", outFeatures);
    const dtype = options.dtype ?? "f32";
    this.weight = this.param("weight", initWeight(options.init ?? "torch", [outFeatures, inFeatures], options.rng, dtype, options.std));
    // PyTorch draws the bias from U(±1/√in) too
    const bound = 1 / Math.sqrt(inFeatures);
    this.bias = options.bias === false ? null : this.param("bias", uniform([outFeatures], -bound, bound, options.rng, dtype));
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new RangeError(`Linear: input must end with ${this.inFeatures} features, got ${shapeString(x.shape)}`);
    }
    const y = matmul(x, transpose(this.weight));
    return this.bias ? add(y, this.bias) : y;
  }
}
