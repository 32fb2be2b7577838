/** RMSNorm over the last axis with a learned scale `weight` (init 1), spec/mixers.md §0.2. */
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { rmsNorm } from "../core/ops/nn.js";
import { Module } from "./module.js";
import { constant } from "./init.js";
import { requirePositive, requirePositiveInt } from "./options.js";

export class RMSNorm extends Module {
  readonly weight: Tensor;

  constructor(readonly dim: number, readonly eps = 1e-5, options: { dtype?: DType } = {}) {
    super();
    requirePositiveInt("RMSNorm", "dim", dim);
    requirePositive("RMSNorm", "eps", eps);
    this.weight = this.param("weight", constant([dim], 1, options.dtype ?? "f32"));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}
