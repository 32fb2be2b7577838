/** Tensor factories. The default dtype is f32. */
import { allocate, checkDType, dtypeOfArray, type DType, type FloatArray } from "./dtype.js";
import { shapeString, sizeOf, validateShape, type Shape } from "./shape.js";
import { Tensor } from "./tensor.js";
import type { Random } from "./random.js";

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

type Nested = number | readonly Nested[];

function inferShape(values: Nested): number[] {
  const shape: number[] = [];
  let v: Nested = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = (v as readonly Nested[])[0] as Nested;
    if (v === undefined) break;
  }
  return shape;
}

function flatten(values: Nested, shape: readonly number[], axis: number, out: number[]): void {
  if (axis === shape.length) {
    if (typeof values !== "number") throw new TypeError(`tensor: expected a number at depth ${axis}, got ${typeof values}`);
    out.push(values);
    return;
  }
  if (!Array.isArray(values) || values.length !== shape[axis]) {
    throw new RangeError(`tensor: ragged nested array: expected ${shape[axis]} entries at depth ${axis}`);
  }
  for (const v of values as readonly Nested[]) flatten(v, shape, axis + 1, out);
}

function finish(t: Tensor, options: CreateOptions): Tensor {
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/**
 * A tensor from nested arrays (shape inferred) or from flat values with an explicit shape. A Float32Array or
 * Float64Array of the requested dtype becomes the storage without a copy.
 */
export function tensor(values: Nested | ArrayLike<number>, shape?: Shape, options: CreateOptions = {}): Tensor {
  const isTyped = values instanceof Float32Array || values instanceof Float64Array;
  const dtype = options.dtype !== undefined ? checkDType(options.dtype, "dtype") : isTyped ? dtypeOfArray(values as FloatArray) : "f32";
  let flat: ArrayLike<number>;
  let finalShape: number[];
  if (typeof values === "number") {
    flat = [values];
    finalShape = shape ? validateShape(shape, "tensor: shape") : [];
  } else if (shape !== undefined) {
    finalShape = validateShape(shape, "tensor: shape");
    flat = Array.isArray(values) && values.some((v) => Array.isArray(v)) ? (() => {
      const out: number[] = [];
      flatten(values as Nested, inferShape(values as Nested), 0, out);
      return out;
    })() : (values as ArrayLike<number>);
  } else if (isTyped || !Array.isArray(values)) {
    flat = values as ArrayLike<number>;
    finalShape = [flat.length];
  } else {
    finalShape = inferShape(values as Nested);
    const out: number[] = [];
    flatten(values as Nested, finalShape, 0, out);
    flat = out;
  }
  if (flat.length !== sizeOf(finalShape)) {
    throw new RangeError(`tensor: shape ${shapeString(finalShape)} needs ${sizeOf(finalShape)} values, got ${flat.length}`);
  }
  let data: FloatArray;
  if (isTyped && dtypeOfArray(values as FloatArray) === dtype) data = values as FloatArray;
  else {
    data = allocate(dtype, flat.length);
    data.set(flat);
  }
  return finish(new Tensor(data, finalShape), options);
}

export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  const s = validateShape(shape, "full: shape");
  return finish(new Tensor(allocate(options.dtype ?? "f32", sizeOf(s)).fill(value), s), options);
}

export const zeros = (shape: Shape, options: CreateOptions = {}): Tensor => full(shape, 0, options);
export const ones = (shape: Shape, options: CreateOptions = {}): Tensor => full(shape, 1, options);
export const zerosLike = (t: Tensor, options: CreateOptions = {}): Tensor => full(t.shape, 0, { dtype: t.dtype, ...options });
export const onesLike = (t: Tensor, options: CreateOptions = {}): Tensor => full(t.shape, 1, { dtype: t.dtype, ...options });
export const scalar = (value: number, options: CreateOptions = {}): Tensor => full([], value, options);

/** [start, start+step, …) below end, like numpy.arange. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  if (step === 0 || !Number.isFinite(step)) throw new RangeError(`arange: step must be a finite non-zero number, got ${step}`);
  const n = Math.max(0, Math.ceil((hi - lo) / step));
  const data = allocate(options.dtype ?? "f32", n);
  for (let i = 0; i < n; i++) data[i] = lo + i * step;
  return finish(new Tensor(data, [n]), options);
}

export interface RandomOptions extends CreateOptions {
  mean?: number;
  std?: number;
}

/** Normal samples from a seeded generator. */
export function randn(shape: Shape, rng: Random, options: RandomOptions = {}): Tensor {
  const s = validateShape(shape, "randn: shape");
  const data = allocate(options.dtype ?? "f32", sizeOf(s));
  rng.fillNormal(data, options.mean ?? 0, options.std ?? 1);
  return finish(new Tensor(data, s), options);
}

/** Uniform samples in [low, high) from a seeded generator. */
export function rand(shape: Shape, rng: Random, options: CreateOptions & { low?: number; high?: number } = {}): Tensor {
  const s = validateShape(shape, "rand: shape");
  const data = allocate(options.dtype ?? "f32", sizeOf(s));
  rng.fillUniform(data, options.low ?? 0, options.high ?? 1);
  return finish(new Tensor(data, s), options);
}
