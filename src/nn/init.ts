/** Parameter initializers (the same distributions as torch.nn.init), writing into a tensor's storage. */
import { Tensor } from "../core/tensor.js";
import { allocate, type DType } from "../core/dtype.js";
import type { Random } from "../core/random.js";

export function uniform(shape: readonly number[], low: number, high: number, rng: Random, dtype: DType = "f32"): Tensor {
  const t = new Tensor(allocate(dtype, shape.reduce((a, b) => a * b, 1)), shape);
  if (low === high) t.data.fill(low);
  else rng.fillUniform(t.data, low, high);
  return t;
}

export function normal(shape: readonly number[], std: number, rng: Random, dtype: DType = "f32", mean = 0): Tensor {
  const t = new Tensor(allocate(dtype, shape.reduce((a, b) => a * b, 1)), shape);
  rng.fillNormal(t.data, mean, std);
  return t;
}

export function constant(shape: readonly number[], value: number, dtype: DType = "f32"): Tensor {
  return new Tensor(allocate(dtype, shape.reduce((a, b) => a * b, 1)).fill(value), shape);
}

/** fan_in of a weight laid out [out, in, ...kernel] as in PyTorch. */
export function fanIn(shape: readonly number[]): number {
  return shape.length < 2 ? shape[0] ?? 1 : shape.slice(1).reduce((a, b) => a * b, 1);
}

export function fanOut(shape: readonly number[]): number {
  return shape.length < 2 ? shape[0] ?? 1 : shape[0]! * shape.slice(2).reduce((a, b) => a * b, 1);
}

/**
 * PyTorch's default for Linear and Conv weights: kaiming_uniform with a = √5, which is U(−1/√fan_in, 1/√fan_in).
 */
export function torchDefault(shape: readonly number[], rng: Random, dtype: DType = "f32"): Tensor {
  const bound = 1 / Math.sqrt(Math.max(1, fanIn(shape)));
  return uniform(shape, -bound, bound, rng, dtype);
}

/** Glorot/Xavier uniform: U(−a, a), a = gain·√(6 / (fan_in + fan_out)). */
export function xavierUniform(shape: readonly number[], rng: Random, dtype: DType = "f32", gain = 1): Tensor {
  const a = gain * Math.sqrt(6 / (fanIn(shape) + fanOut(shape)));
  return uniform(shape, -a, a, rng, dtype);
}

/** Kaiming/He normal for a ReLU-like nonlinearity: N(0, gain²/fan_in), gain √2. */
export function kaimingNormal(shape: readonly number[], rng: Random, dtype: DType = "f32", gain = Math.SQRT2): Tensor {
  return normal(shape, gain / Math.sqrt(Math.max(1, fanIn(shape))), rng, dtype);
}

export type InitName = "torch" | "xavier" | "normal" | "zeros";

/** An initializer by name; "normal" uses `std` (default 0.02, the GPT-2 / fla convention). */
export function initWeight(name: InitName, shape: readonly number[], rng: Random, dtype: DType = "f32", std = 0.02): Tensor {
  switch (name) {
    case "torch":
      return torchDefault(shape, rng, dtype);
    case "xavier":
      return xavierUniform(shape, rng, dtype);
    case "normal":
      return normal(shape, std, rng, dtype);
    case "zeros":
      return constant(shape, 0, dtype);
  }
}
