/**
 * Shape ops. reshape (of contiguous data), permute/transpose, slice, expand, unsqueeze/squeeze are views that
 * share storage; concat, stack, pad, indexSelect, gather copy. Each backward routes the gradient back to the
 * input's layout.
 */
import { allocate, promoteTypes, type DType } from "../dtype.js";
import { contiguousStrides, normalizeAxis, sameShape, shapeString, sizeOf, validateShape, type Shape } from "../shape.js";
import { forEachRow, type StridedOperand } from "../strided.js";
import { record, SparseGrad } from "../autograd.js";
import { Tensor } from "../tensor.js";
import { cast } from "./elementwise.js";
import { sumTo } from "./reduce.js";

/** Copies src (any layout) into dst storage viewed through `view` (same shape as src). */
function copyInto(dst: Tensor["data"], view: StridedOperand, src: Tensor): void {
  const s = src.data;
  forEachRow(src.shape, [src, view], (pos, len, step) => {
    let p = pos[0]!;
    let q = pos[1]!;
    const sp = step[0]!;
    const sq = step[1]!;
    for (let j = 0; j < len; j++, p += sp, q += sq) dst[q] = s[p]!;
  });
}

/** Adds src (any layout) into dst storage viewed through `view` (same shape as src). */
function addInto(dst: Tensor["data"], view: StridedOperand, src: Tensor): void {
  const s = src.data;
  forEachRow(src.shape, [src, view], (pos, len, step) => {
    let p = pos[0]!;
    let q = pos[1]!;
    const sp = step[0]!;
    const sq = step[1]!;
    for (let j = 0; j < len; j++, p += sp, q += sq) dst[q] += s[p]!;
  });
}

/** A contiguous copy (the tensor itself if it is already contiguous). */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  const y = new Tensor(x.values(), x.shape);
  return record(y, "contiguous", [x], (g) => [g]);
}

function resolveShape(op: string, shape: readonly number[], size: number, from: Shape): number[] {
  const free = shape.filter((d) => d === -1).length;
  if (free > 1) throw new RangeError(`${op}: only one dimension can be -1, got ${shapeString(shape)}`);
  const known = shape.reduce((n, d) => (d === -1 ? n : n * d), 1);
  const resolved = shape.map((d) => (d === -1 ? (known === 0 ? 0 : size / known) : d));
  if (shape.some((d) => d !== -1 && (!Number.isSafeInteger(d) || d < 0))) {
    throw new RangeError(`${op}: shape entries must be non-negative integers (or one -1), got ${shapeString(shape)}`);
  }
  if (sizeOf(resolved) !== size || resolved.some((d) => !Number.isInteger(d))) {
    throw new RangeError(`${op}: cannot reshape a tensor of shape ${shapeString(from)} (${size} elements) to ${shapeString(shape)}`);
  }
  return resolved;
}

/** Same elements in row-major order under a new shape (one entry may be -1). A view when x is contiguous. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveShape("reshape", shape, x.size, x.shape);
  if (sameShape(target, x.shape)) return x;
  const base = x.isContiguous() ? x : new Tensor(x.values(), x.shape);
  const y = new Tensor(base.data, target, contiguousStrides(target), base.offset);
  return record(y, "reshape", [x], (g) => [reshape(g, x.shape)]);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const n = x.ndim;
  const axes = dims.map((d) => normalizeAxis("permute", d, n));
  if (axes.length !== n || new Set(axes).size !== n) {
    throw new RangeError(`permute: dims must be a permutation of 0..${n - 1}, got [${dims.join(",")}]`);
  }
  const y = new Tensor(x.data, axes.map((a) => x.shape[a]!), axes.map((a) => x.strides[a]!), x.offset);
  const inverse = new Array<number>(n);
  axes.forEach((a, i) => (inverse[a] = i));
  return record(y, "permute", [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const dims = Array.from({ length: x.ndim }, (_, i) => i);
  const i = normalizeAxis("transpose", a, x.ndim);
  const j = normalizeAxis("transpose", b, x.ndim);
  [dims[i], dims[j]] = [dims[j]!, dims[i]!];
  return permute(x, dims);
}

/**
 * x[start:end:step] along one axis, with Python semantics for negative and out-of-range bounds (step ≥ 1).
 * A view; its backward scatters the gradient into zeros of x's shape.
 */
export function slice(x: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  const ax = normalizeAxis("slice", axis, x.ndim);
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`slice: step must be a positive integer, got ${step}`);
  const n = x.shape[ax]!;
  const clampIndex = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end))) {
    throw new RangeError(`slice: start and end must be integers, got ${start} and ${end}`);
  }
  const lo = clampIndex(start);
  const hi = Math.max(lo, clampIndex(end ?? n));
  const len = Math.ceil((hi - lo) / step);
  const shape = [...x.shape];
  shape[ax] = len;
  const strides = [...x.strides];
  strides[ax] = x.strides[ax]! * step;
  const y = new Tensor(x.data, shape, strides, x.offset + lo * x.strides[ax]!);
  return record(y, "slice", [x], (g) => {
    // added straight into the input's gradient buffer: O(slice), not O(input)
    const outStrides = contiguousStrides(x.shape);
    const viewStrides = [...outStrides];
    viewStrides[ax] = outStrides[ax]! * step;
    const view = { strides: viewStrides, offset: lo * outStrides[ax]! };
    return [new SparseGrad(x.shape, (dst) => addInto(dst, view, g))];
  });
}

/** Broadcast view to `shape` (-1 keeps a dimension; new leading axes allowed). Backward sums back. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  if (lead < 0) throw new RangeError(`expand: target ${shapeString(shape)} has fewer dimensions than ${shapeString(x.shape)}`);
  const target = shape.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  validateShape(target, "expand: shape");
  const strides = target.map((d, i) => {
    if (i < lead) return 0;
    const own = x.shape[i - lead]!;
    if (own === d) return x.strides[i - lead]!;
    if (own === 1) return 0;
    throw new RangeError(`expand: cannot expand ${shapeString(x.shape)} to ${shapeString(shape)} (axis ${i}: ${own} vs ${d})`);
  });
  if (sameShape(target, x.shape)) return x;
  const y = new Tensor(x.data, target, strides, x.offset);
  return record(y, "expand", [x], (g) => [sumTo(g, x.shape)]);
}

/** Inserts an axis of size 1 (a view for any layout). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = normalizeAxis("unsqueeze", axis, x.ndim + 1);
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape.splice(ax, 0, 1);
  strides.splice(ax, 0, ax < x.ndim ? x.strides[ax]! * x.shape[ax]! : 1);
  const y = new Tensor(x.data, shape, strides, x.offset);
  return record(y, "unsqueeze", [x], (g) => [reshape(g, x.shape)]);
}

/** Removes the given size-1 axis, or every size-1 axis (a view). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  let keep: number[];
  if (axis === undefined) {
    keep = x.shape.map((_, i) => i).filter((i) => x.shape[i] !== 1);
  } else {
    const ax = normalizeAxis("squeeze", axis, x.ndim);
    if (x.shape[ax] !== 1) throw new RangeError(`squeeze: axis ${axis} has size ${x.shape[ax]}, expected 1`);
    keep = x.shape.map((_, i) => i).filter((i) => i !== ax);
  }
  if (keep.length === x.ndim) return x;
  const y = new Tensor(x.data, keep.map((i) => x.shape[i]!), keep.map((i) => x.strides[i]!), x.offset);
  return record(y, "squeeze", [x], (g) => [reshape(g, x.shape)]);
}

/** Joins tensors along an existing axis. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("concat: expected at least one tensor");
  const first = tensors[0]!;
  const ax = normalizeAxis("concat", axis, first.ndim);
  tensors.forEach((t, k) => {
    if (t.ndim !== first.ndim || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new RangeError(`concat: tensor ${k} has shape ${shapeString(t.shape)}, expected ${shapeString(first.shape)} except along axis ${ax}`);
    }
  });
  const dtype = tensors.reduce<DType>((d, t) => promoteTypes(d, t.dtype), first.dtype);
  const shape = [...first.shape];
  shape[ax] = tensors.reduce((n, t) => n + t.shape[ax]!, 0);
  const out = allocate(dtype, sizeOf(shape));
  const strides = contiguousStrides(shape);
  const starts: number[] = [];
  let at = 0;
  for (const t of tensors) {
    starts.push(at);
    copyInto(out, { strides, offset: at * strides[ax]! }, t);
    at += t.shape[ax]!;
  }
  const y = new Tensor(out, shape);
  return record(y, "concat", tensors, (g) =>
    tensors.map((t, k) => (t.requiresGrad ? cast(slice(g, ax, starts[k]!, starts[k]! + t.shape[ax]!), t.dtype) : null)),
  );
}

/** Joins tensors of equal shape along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("stack: expected at least one tensor");
  const first = tensors[0]!;
  tensors.forEach((t, k) => {
    if (!sameShape(t.shape, first.shape)) throw new RangeError(`stack: tensor ${k} has shape ${shapeString(t.shape)}, expected ${shapeString(first.shape)}`);
  });
  const ax = normalizeAxis("stack", axis, first.ndim + 1);
  return concat(tensors.map((t) => unsqueeze(t, ax)), ax);
}

/** Pads with a constant: widths[i] = [before, after] for every axis i (widths.length = ndim). */
export function pad(x: Tensor, widths: ReadonlyArray<readonly [number, number]>, value = 0): Tensor {
  if (widths.length !== x.ndim) throw new RangeError(`pad: widths must give [before, after] for each of the ${x.ndim} axes, got ${widths.length}`);
  widths.forEach(([b, a], i) => {
    if (!Number.isInteger(b) || !Number.isInteger(a) || b < 0 || a < 0) throw new RangeError(`pad: widths[${i}] must be two non-negative integers, got [${b},${a}]`);
  });
  const shape = x.shape.map((d, i) => d + widths[i]![0] + widths[i]![1]);
  const out = allocate(x.dtype, sizeOf(shape)).fill(value);
  const strides = contiguousStrides(shape);
  const offset = widths.reduce((o, [b], i) => o + b * strides[i]!, 0);
  copyInto(out, { strides, offset }, x);
  const y = new Tensor(out, shape);
  return record(y, "pad", [x], (g) => [widths.reduce((t, [b], i) => slice(t, i, b, b + x.shape[i]!), g)]);
}

/** Integer indices with their shape (token ids, labels). Plain arrays; they take no gradient. */
export interface Indices {
  readonly data: ArrayLike<number>;
  readonly shape: readonly number[];
}

export function indices(data: ArrayLike<number>, shape: readonly number[] = [data.length]): Indices {
  validateShape(shape, "indices: shape");
  if (sizeOf(shape) !== data.length) throw new RangeError(`indices: shape ${shapeString(shape)} needs ${sizeOf(shape)} values, got ${data.length}`);
  return { data, shape };
}

function checkIndex(op: string, value: number, size: number, position: number): number {
  const j = value < 0 ? value + size : value;
  if (!Number.isInteger(value) || j < 0 || j >= size) {
    throw new RangeError(`${op}: index ${value} at position ${position} is out of range for an axis of size ${size}`);
  }
  return j;
}

/**
 * indexSelect(x, axis, idx): out = x.shape[:axis] + idx.shape + x.shape[axis+1:], taking slices of x along axis
 * (an embedding lookup is indexSelect(weight, 0, tokens)). Backward scatter-adds into x's shape.
 */
export function indexSelect(x: Tensor, axis: number, idx: Indices | ArrayLike<number>): Tensor {
  const ix = "shape" in idx && "data" in idx ? (idx as Indices) : indices(idx as ArrayLike<number>);
  const ax = normalizeAxis("indexSelect", axis, x.ndim);
  const n = x.shape[ax]!;
  const picks = Int32Array.from(ix.data, (v, p) => checkIndex("indexSelect", v, n, p));
  const outer = sizeOf(x.shape.slice(0, ax));
  const inner = sizeOf(x.shape.slice(ax + 1));
  const shape = [...x.shape.slice(0, ax), ...ix.shape, ...x.shape.slice(ax + 1)];
  const src = x.isContiguous() ? x.values() : new Tensor(x.values(), x.shape).data;
  const out = allocate(x.dtype, sizeOf(shape));
  let w = 0;
  for (let o = 0; o < outer; o++) {
    for (let p = 0; p < picks.length; p++) {
      const base = (o * n + picks[p]!) * inner;
      out.set(src.subarray(base, base + inner), w);
      w += inner;
    }
  }
  const y = new Tensor(out, shape);
  return record(y, "indexSelect", [x], (g) => {
    const gv = g.values();
    const dx = allocate(x.dtype, x.size);
    let r = 0;
    for (let o = 0; o < outer; o++) {
      for (let p = 0; p < picks.length; p++) {
        const base = (o * n + picks[p]!) * inner;
        for (let j = 0; j < inner; j++) dx[base + j] += gv[r++]!;
      }
    }
    return [new Tensor(dx, x.shape)];
  });
}

/** gather(x, axis, idx): out[..., i, ...] = x[..., idx[..., i, ...], ...] (idx has x's shape except along axis). */
export function gather(x: Tensor, axis: number, idx: Indices): Tensor {
  const ax = normalizeAxis("gather", axis, x.ndim);
  if (idx.shape.length !== x.ndim || idx.shape.some((d, i) => i !== ax && d !== x.shape[i])) {
    throw new RangeError(`gather: index shape ${shapeString(idx.shape)} must match x ${shapeString(x.shape)} on every axis but ${ax}`);
  }
  const n = x.shape[ax]!;
  const xc = contiguous(x.detach());
  const xStrides = contiguousStrides(x.shape);
  const outStrides = contiguousStrides(idx.shape);
  const size = sizeOf(idx.shape);
  // storage position in x of each output element
  const where = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    let rem = i;
    let p = 0;
    for (let d = 0; d < idx.shape.length; d++) {
      const c = Math.floor(rem / outStrides[d]!);
      rem -= c * outStrides[d]!;
      p += (d === ax ? checkIndex("gather", idx.data[i]!, n, i) : c) * xStrides[d]!;
    }
    where[i] = p;
  }
  const out = allocate(x.dtype, size);
  const src = xc.values();
  for (let i = 0; i < size; i++) out[i] = src[where[i]!]!;
  const y = new Tensor(out, idx.shape);
  return record(y, "gather", [x], (g) => {
    const gv = g.values();
    const dx = allocate(x.dtype, x.size);
    for (let i = 0; i < size; i++) dx[where[i]!] += gv[i]!;
    return [new Tensor(dx, x.shape)];
  });
}

/** One-hot rows: out.shape = idx.shape + [numClasses]. Takes no gradient. */
export function oneHot(idx: Indices | ArrayLike<number>, numClasses: number, dtype: DType = "f32"): Tensor {
  const ix = "shape" in idx && "data" in idx ? (idx as Indices) : indices(idx as ArrayLike<number>);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`oneHot: numClasses must be a positive integer, got ${numClasses}`);
  const out = allocate(dtype, ix.data.length * numClasses);
  for (let i = 0; i < ix.data.length; i++) out[i * numClasses + checkIndex("oneHot", ix.data[i]!, numClasses, i)] = 1;
  return new Tensor(out, [...ix.shape, numClasses]);
}

function triangle(op: string, x: Tensor, keep: (row: number, col: number) => boolean): Tensor {
  if (x.ndim < 2) throw new RangeError(`${op}: expected at least 2 dimensions, got shape ${shapeString(x.shape)}`);
  const rows = x.shape[x.ndim - 2]!;
  const cols = x.shape[x.ndim - 1]!;
  const apply = (t: Tensor): Tensor => {
    const v = t.values();
    const out = allocate(t.dtype, v.length);
    for (let i = 0; i < v.length; i++) {
      const c = i % cols;
      const r = Math.floor(i / cols) % rows;
      out[i] = keep(r, c) ? v[i]! : 0;
    }
    return new Tensor(out, t.shape);
  };
  return record(apply(x), op, [x], (g) => [apply(g)]);
}

/** Keeps entries with col − row ≤ k on the last two axes (k = 0: lower triangle with the diagonal). */
export function tril(x: Tensor, k = 0): Tensor {
  return triangle("tril", x, (r, c) => c - r <= k);
}

/** Keeps entries with col − row ≥ k on the last two axes. */
export function triu(x: Tensor, k = 0): Tensor {
  return triangle("triu", x, (r, c) => c - r >= k);
}
