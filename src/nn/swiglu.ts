/**
 * SwiGLU MLP: y = down(silu(gate(x)) ⊙ up(x)), the gate fused into one op (core/ops/nn.ts swiglu). Parameter names as fla's GatedMLP and Llama's MLP:
 * gate_proj.weight [hidden, d], up_proj.weight [hidden, d], down_proj.weight [d, hidden], no biases.
 */
import type { Tensor } from "../core/tensor.js";
import { swiglu } from "../core/ops/nn.js";
import { Module } from "./module.js";
import { Linear } from "./linear.js";
import { requirePositiveInt, type ModuleOptions } from "./options.js";

export interface SwiGLUOptions extends ModuleOptions {
  /** inner width; default as fla: round_up(⌊d · 4 · 2/3⌋, 256) for d ≥ 256, else ⌊d · 8/3⌋ */
  hiddenSize?: number;
  /** weight init of the three projections (default "torch"); with "normal", std for gate/up and outStd for down */
  init?: "torch" | "normal";
  std?: number;
  outStd?: number;
}

export function defaultSwiGLUHidden(dim: number): number {
  const h = Math.floor((dim * 4 * 2) / 3);
  return dim >= 256 ? Math.ceil(h / 256) * 256 : h;
}

export class SwiGLU extends Module {
  readonly gate_proj: Linear;
  readonly up_proj: Linear;
  readonly down_proj: Linear;
  readonly hiddenSize: number;

  constructor(readonly dim: number, options: SwiGLUOptions) {
    super();
    requirePositiveInt("SwiGLU", "dim", dim);
    this.hiddenSize = requirePositiveInt("SwiGLU", "hiddenSize", options.hiddenSize ?? defaultSwiGLUHidden(dim));
    const linear = { rng: options.rng, dtype: options.dtype, bias: false, init: options.init ?? "torch", std: options.std };
    this.gate_proj = this.module("gate_proj", new Linear(dim, this.hiddenSize, linear));
    this.up_proj = this.module("up_proj", new Linear(dim, this.hiddenSize, linear));
    this.down_proj = this.module("down_proj", new Linear(this.hiddenSize, dim, { ...linear, std: options.outStd ?? options.std }));
  }

  forward(x: Tensor): Tensor {
    return this.down_proj.forward(swiglu(this.gate_proj.forward(x), this.up_proj.forward(x)));
  }
}
