/**
 * Tensor: a view (shape, strides, offset) over a typed array of f32 or f64, with an optional autodiff node.
 * Views (transpose, permute, slice, expand, reshape of contiguous data) share storage; ops produce new,
 * contiguous tensors. Tensors are immutable through the public API except for `.grad` and in-place parameter
 * updates done by optimizers under no-grad.
 */
import { outsideArena } from "./arena.js";
import { allocate, dtypeOfArray, type DType, type FloatArray } from "./dtype.js";
import { contiguousStrides, shapeString, sizeOf, type Shape } from "./shape.js";
import { forEachRow } from "./strided.js";
import { runBackward, type BackwardOptions, type GradNode } from "./autograd.js";
import * as ew from "./ops/elementwise.js";
import * as mm from "./ops/matmul.js";
import * as red from "./ops/reduce.js";
import * as sh from "./ops/shape.js";

export type TensorLike = Tensor | number;

/** A dense, owned gradient buffer of `shape` (zeros, or a copy of `from`) in the dtype of `like`. */
function denseGrad(shape: readonly number[], like: Tensor, from?: Tensor): Tensor {
  const data = allocate(like.dtype, sizeOf(shape));
  if (from !== undefined) data.set(from.values());
  return new Tensor(data, shape);
}

export class Tensor {
  readonly data: FloatArray;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** true for parameters and for anything computed from them while gradients are enabled */
  requiresGrad = false;
  /** accumulated gradient (leaves, and tensors that called retainGrad()) */
  grad: Tensor | null = null;
  /** how this tensor was computed; null for leaves */
  node: GradNode | null = null;
  retainsGrad = false;

  constructor(data: FloatArray, shape: Shape, strides?: Shape, offset = 0) {
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = dtypeOfArray(data);
    if (strides === undefined && offset + sizeOf(shape) > data.length) {
      throw new RangeError(`Tensor: shape ${shapeString(shape)} needs ${sizeOf(shape)} elements but the data has ${data.length - offset}`);
    }
  }

  get size(): number {
    return sizeOf(this.shape);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get isLeaf(): boolean {
    return this.node === null;
  }

  /** Row-major with unit innermost stride and no gaps (offset may be non-zero). */
  isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      const d = this.shape[i]!;
      if (d !== 1 && this.strides[i] !== expected) return false;
      expected *= d;
    }
    return true;
  }

  /** The elements in row-major order as a typed array: the storage itself when it already is exactly that. */
  values(): FloatArray {
    if (this.isContiguous()) {
      if (this.offset === 0 && this.data.length === this.size) return this.data;
      return this.data.subarray(this.offset, this.offset + this.size);
    }
    const out = allocate(this.dtype, this.size);
    let w = 0;
    const src = this.data;
    forEachRow(this.shape, [this], (pos, len, step) => {
      let p = pos[0]!;
      const s = step[0]!;
      for (let j = 0; j < len; j++, p += s) out[w++] = src[p]!;
    });
    return out;
  }

  toArray(): number[] {
    return Array.from(this.values());
  }

  /** Nested arrays, like `tensor.tolist()` in PyTorch. */
  toNested(): unknown {
    const flat = this.values();
    const build = (axis: number, start: number): unknown => {
      if (axis === this.ndim) return flat[start];
      const inner = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: this.shape[axis]! }, (_, i) => build(axis + 1, start + i * inner));
    };
    return build(0, 0);
  }

  item(): number {
    if (this.size !== 1) throw new RangeError(`item: expected a tensor with one element, got shape ${shapeString(this.shape)}`);
    return this.data[this.offset]!;
  }

  /** Element at a multi-index (negative indices count from the end). */
  get(...index: number[]): number {
    if (index.length !== this.ndim) throw new RangeError(`get: expected ${this.ndim} indices, got ${index.length}`);
    let p = this.offset;
    index.forEach((i, d) => {
      const n = this.shape[d]!;
      const j = i < 0 ? i + n : i;
      if (!Number.isInteger(j) || j < 0 || j >= n) throw new RangeError(`get: index ${i} out of range for axis ${d} of size ${n}`);
      p += j * this.strides[d]!;
    });
    return this.data[p]!;
  }

  toString(): string {
    const preview = this.size <= 16 ? ` ${JSON.stringify(this.toNested())}` : "";
    return `Tensor(${this.dtype}, ${shapeString(this.shape)}${this.requiresGrad ? ", requiresGrad" : ""})${preview}`;
  }

  /** Marks a leaf as a parameter-like tensor that collects gradients. Returns this. */
  requireGrad(flag = true): this {
    if (this.node !== null && !flag) throw new Error("requireGrad(false): only leaves can stop requiring grad; use detach()");
    this.requiresGrad = flag;
    return this;
  }

  /** Keep `.grad` on this non-leaf during backward. */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }

  /** Same storage, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, this.strides, this.offset);
  }

  /** A contiguous copy that owns its storage, cut from the graph. */
  clone(): Tensor {
    const v = this.values();
    return new Tensor(v === this.data ? v.slice() : v.slice(), this.shape);
  }

  zeroGrad(): void {
    this.grad = null;
  }

  /** Adds `g` into `.grad` (a contiguous buffer owned by this tensor). */
  accumulateGrad(g: Tensor): void {
    if (this.grad === null) {
      const own = outsideArena(() => allocate(this.dtype, this.size)); // .grad outlives an arena scope
      own.set(g.values());
      this.grad = new Tensor(own, this.shape);
      return;
    }
    const acc = this.grad.data;
    const src = g.values();
    for (let i = 0; i < acc.length; i++) acc[i] += src[i]!;
  }

  /**
   * Reverse-mode autodiff from this tensor. Without an argument the tensor must have one element (a loss);
   * otherwise `grad` is d(something)/d(this) with this tensor's shape.
   */
  backward(grad?: Tensor, options?: BackwardOptions): void {
    if (!this.requiresGrad) throw new Error("backward: this tensor does not require grad (no parameter with requiresGrad contributed to it, or it was computed under noGrad)");
    let seed: Tensor;
    if (grad === undefined) {
      if (this.size !== 1) throw new Error(`backward: a gradient argument is needed for a non-scalar output of shape ${shapeString(this.shape)}`);
      seed = new Tensor(allocate(this.dtype, 1).fill(1), this.shape);
    } else {
      if (grad.shape.length !== this.shape.length || grad.shape.some((d, i) => d !== this.shape[i])) {
        throw new RangeError(`backward: grad has shape ${shapeString(grad.shape)}, expected ${shapeString(this.shape)}`);
      }
      seed = grad;
    }
    runBackward(this, seed, ew.add, denseGrad, options);
  }

  // ---- fluent op methods (see ops/ for the definitions and backward rules) ----
  add(o: TensorLike): Tensor { return ew.add(this, o); }
  sub(o: TensorLike): Tensor { return ew.sub(this, o); }
  mul(o: TensorLike): Tensor { return ew.mul(this, o); }
  div(o: TensorLike): Tensor { return ew.div(this, o); }
  pow(o: TensorLike): Tensor { return ew.pow(this, o); }
  maximum(o: TensorLike): Tensor { return ew.maximum(this, o); }
  minimum(o: TensorLike): Tensor { return ew.minimum(this, o); }
  neg(): Tensor { return ew.neg(this); }
  exp(): Tensor { return ew.exp(this); }
  log(): Tensor { return ew.log(this); }
  sqrt(): Tensor { return ew.sqrt(this); }
  rsqrt(): Tensor { return ew.rsqrt(this); }
  abs(): Tensor { return ew.abs(this); }
  square(): Tensor { return ew.square(this); }
  tanh(): Tensor { return ew.tanh(this); }
  sigmoid(): Tensor { return ew.sigmoid(this); }
  silu(): Tensor { return ew.silu(this); }
  gelu(): Tensor { return ew.gelu(this); }
  relu(): Tensor { return ew.relu(this); }
  elu(alpha = 1): Tensor { return ew.elu(this, alpha); }
  softplus(): Tensor { return ew.softplus(this); }
  logsigmoid(): Tensor { return ew.logsigmoid(this); }
  clamp(min: number | null, max: number | null): Tensor { return ew.clamp(this, min, max); }
  to(dtype: DType): Tensor { return ew.cast(this, dtype); }
  matmul(o: Tensor): Tensor { return mm.matmul(this, o); }
  sum(axis?: number | readonly number[], keepdim = false): Tensor { return red.sum(this, axis, keepdim); }
  mean(axis?: number | readonly number[], keepdim = false): Tensor { return red.mean(this, axis, keepdim); }
  max(axis?: number | readonly number[], keepdim = false): Tensor { return red.max(this, axis, keepdim); }
  logsumexp(axis: number | readonly number[], keepdim = false): Tensor { return red.logsumexp(this, axis, keepdim); }
  softmax(axis = -1): Tensor { return red.softmax(this, axis); }
  logSoftmax(axis = -1): Tensor { return red.logSoftmax(this, axis); }
  cumsum(axis: number, reverse = false): Tensor { return red.cumsum(this, axis, reverse); }
  reshape(...shape: number[]): Tensor { return sh.reshape(this, shape); }
  permute(...dims: number[]): Tensor { return sh.permute(this, dims); }
  transpose(a = -2, b = -1): Tensor { return sh.transpose(this, a, b); }
  slice(axis: number, start: number, end?: number, step = 1): Tensor { return sh.slice(this, axis, start, end, step); }
  expand(...shape: number[]): Tensor { return sh.expand(this, shape); }
  unsqueeze(axis: number): Tensor { return sh.unsqueeze(this, axis); }
  squeeze(axis?: number): Tensor { return sh.squeeze(this, axis); }
  contiguous(): Tensor { return sh.contiguous(this); }
}
