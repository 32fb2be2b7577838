/**
 * Reductions over axes (sum, mean, max, logsumexp), softmax / log-softmax and cumulative sums along an axis.
 * Accumulation is in JS numbers (f64) for both dtypes.
 */
import { allocate } from "../dtype.js";
import { contiguousStrides, normalizeAxes, normalizeAxis, sameShape, shapeString, sizeOf, type Shape } from "../shape.js";
import { forEachRow, type StridedOperand } from "../strided.js";
import { record } from "../autograd.js";
import { Tensor } from "../tensor.js";
import { mapBinary, mapTernary, mapUnary } from "./elementwise.js";
import { expand, reshape } from "./shape.js";
import { getKernels } from "../../kernels/index.js";

type Axes = number | readonly number[] | undefined;

function keptShape(shape: Shape, axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/**
 * Folds x into an output of the kept shape: out[j] = combine(out[j], x[i]) for every element i that maps to j.
 * The output is addressed through strides that are 0 on the reduced axes, so one pass over x suffices.
 */
function reduceRaw(x: Tensor, axes: readonly number[], init: number, combine: (acc: number, v: number) => number): Tensor {
  const kept = keptShape(x.shape, axes);
  const acc = new Float64Array(sizeOf(kept)).fill(init);
  const outStrides = contiguousStrides(kept).map((s, i) => (axes.includes(i) ? 0 : s));
  const src = x.data;
  forEachRow(x.shape, [x, { strides: outStrides, offset: 0 }], (pos, len, step) => {
    let p = pos[0]!;
    let q = pos[1]!;
    const sp = step[0]!;
    const sq = step[1]!;
    for (let j = 0; j < len; j++, p += sp, q += sq) acc[q] = combine(acc[q]!, src[p]!);
  });
  const out = allocate(x.dtype, acc.length);
  out.set(acc);
  return new Tensor(out, kept);
}

/**
 * Sum over axes: when x is contiguous and the axes are one run [k..l] (leading axes, as in the gradient of a
 * bias; trailing axes, as a row sum; or a block between), a tight loop over [outer, mid, inner] blocks adds the
 * rows in the same order as reduceRaw, so the result is identical; any other case goes through reduceRaw.
 */
function sumRaw(x: Tensor, axes: readonly number[]): Tensor {
  const run = axes.length > 0 && axes[axes.length - 1]! - axes[0]! === axes.length - 1;
  if (!run || !x.isContiguous()) return reduceRaw(x, axes, 0, (a, v) => a + v);
  const first = axes[0]!;
  const last = axes[axes.length - 1]!;
  let outer = 1;
  let mid = 1;
  let inner = 1;
  x.shape.forEach((d, i) => {
    if (i < first) outer *= d;
    else if (i <= last) mid *= d;
    else inner *= d;
  });
  const src = x.data;
  const off = x.offset;
  const acc = new Float64Array(outer * inner);
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let total = 0;
      for (let m = 0, p = off + o * mid; m < mid; m++, p++) total += src[p]!;
      acc[o] = total;
    }
  } else {
    for (let o = 0; o < outer; o++) {
      const a0 = o * inner;
      for (let m = 0, p = off + o * mid * inner; m < mid; m++, p += inner) {
        for (let j = 0; j < inner; j++) acc[a0 + j] += src[p + j]!;
      }
    }
  }
  const out = allocate(x.dtype, acc.length);
  out.set(acc);
  return new Tensor(out, keptShape(x.shape, axes));
}

function finish(kept: Tensor, x: Tensor, axes: readonly number[], keepdim: boolean): Tensor {
  return keepdim ? kept : reshape(kept, x.shape.filter((_, i) => !axes.includes(i)));
}

/** Broadcasts a gradient of the reduced shape back over x's shape (a stride-0 view, no copy). */
function spread(g: Tensor, x: Tensor, axes: readonly number[]): Tensor {
  return expand(reshape(g, keptShape(x.shape, axes)), x.shape);
}

export function sum(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  const axes = normalizeAxes("sum", axis, x.ndim);
  const kept = sumRaw(x, axes);
  return record(finish(kept, x, axes, keepdim), "sum", [x], (g) => [spread(g, x, axes)]);
}

export function mean(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  const axes = normalizeAxes("mean", axis, x.ndim);
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  const kept = sumRaw(x, axes);
  const scaled = mapUnary(kept, (v) => v / count);
  return record(finish(scaled, x, axes, keepdim), "mean", [x], (g) => [
    spread(mapUnary(g, (v) => v / count), x, axes),
  ]);
}

/** Maximum over axes. The gradient is shared evenly among tied maxima (as PyTorch's amax). */
export function max(x: Tensor, axis?: Axes, keepdim = false): Tensor {
  const axes = normalizeAxes("max", axis, x.ndim);
  if (axes.some((a) => x.shape[a] === 0)) throw new RangeError(`max: cannot reduce over an empty axis of shape ${shapeString(x.shape)}`);
  const kept = reduceRaw(x, axes, -Infinity, (a, v) => (v > a || Number.isNaN(v) ? v : a));
  return record(finish(kept, x, axes, keepdim), "max", [x], (g) => {
    const m = expand(kept, x.shape);
    const isMax = mapBinary("max", x, m, (v, mv) => (v === mv ? 1 : 0));
    const ties = reduceRaw(isMax, axes, 0, (a, v) => a + v);
    const share = mapBinary("max", reshape(g, kept.shape), ties, (gi, n) => gi / n);
    return [mapBinary("max", isMax, expand(share, x.shape), (flag, s) => flag * s)];
  });
}

/** log Σ exp(x) over axes, shifted by the maximum; an all −∞ slice gives −∞. */
export function logsumexp(x: Tensor, axis: Axes, keepdim = false): Tensor {
  const axes = normalizeAxes("logsumexp", axis, x.ndim);
  const m = reduceRaw(x, axes, -Infinity, (a, v) => (v > a ? v : a));
  const shift = mapUnary(m, (v) => (Number.isFinite(v) ? v : 0));
  const sumExp = reduceRaw(
    mapBinary("logsumexp", x, expand(shift, x.shape), (v, s) => Math.exp(v - s)),
    axes,
    0,
    (a, v) => a + v,
  );
  const kept = mapBinary("logsumexp", sumExp, shift, (s, c) => Math.log(s) + c);
  return record(finish(kept, x, axes, keepdim), "logsumexp", [x], (g) => [
    mapTernary("logsumexp", x, expand(kept, x.shape), spread(g, x, axes), (v, l, gi) => (l === -Infinity ? 0 : gi * Math.exp(v - l))),
  ]);
}

// ---- ops along one axis ----

/** Calls line(pos, len, step) for every 1-D line of `shape` along `axis`, for each operand. */
export function forEachLine(
  shape: Shape,
  operands: readonly StridedOperand[],
  axis: number,
  line: (pos: readonly number[], len: number, step: readonly number[]) => void,
): void {
  const outerShape = shape.filter((_, i) => i !== axis);
  const outer = operands.map((o) => ({ strides: o.strides.filter((_, i) => i !== axis), offset: o.offset }));
  const len = shape[axis]!;
  const step = operands.map((o) => o.strides[axis]!);
  const start = operands.map(() => 0);
  forEachRow(outerShape, outer, (pos, rowLen, rowStep) => {
    for (let r = 0; r < rowLen; r++) {
      for (let k = 0; k < pos.length; k++) start[k] = pos[k]! + r * rowStep[k]!;
      line(start, len, step);
    }
  });
}

/** Applies `fill(src, srcPos, srcStep, dst, dstPos, len)` to every line of x along axis, into a new tensor. */
function perLine(
  x: Tensor,
  axis: number,
  fill: (src: Tensor["data"], p: number, s: number, dst: Float64Array, len: number) => void,
): Tensor {
  const out = allocate(x.dtype, x.size);
  const outOp = { strides: contiguousStrides(x.shape), offset: 0 };
  const len = x.shape[axis]!;
  const buf = new Float64Array(len);
  forEachLine(x.shape, [x, outOp], axis, (pos, n, step) => {
    fill(x.data, pos[0]!, step[0]!, buf, n);
    let q = pos[1]!;
    const sq = step[1]!;
    for (let j = 0; j < n; j++, q += sq) out[q] = buf[j]!;
  });
  return new Tensor(out, x.shape);
}

function softmaxLine(src: Tensor["data"], p: number, s: number, dst: Float64Array, len: number): void {
  let m = -Infinity;
  for (let j = 0, q = p; j < len; j++, q += s) if (src[q]! > m) m = src[q]!;
  if (m === -Infinity) {
    dst.fill(0, 0, len); // every entry masked: no probability mass (documented choice, see softmax)
    return;
  }
  let total = 0;
  for (let j = 0, q = p; j < len; j++, q += s) total += dst[j] = Math.exp(src[q]! - m);
  for (let j = 0; j < len; j++) dst[j]! /= total;
}

/** Row-wise view of a contiguous tensor along its last axis, for the kernel fast path. */
function lastAxisRows(x: Tensor, axis: number): { rows: number; cols: number } | null {
  if (axis !== x.ndim - 1 || !x.isContiguous() || x.offset !== 0 || x.data.length !== x.size) return null;
  const cols = x.shape[axis]!;
  return { rows: cols === 0 ? 0 : x.size / cols, cols };
}

/**
 * softmax along axis. A slice that is entirely −∞ (fully masked) gives zeros rather than NaN.
 * Backward: dx = y ⊙ (g − Σ_axis g ⊙ y).
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const ax = normalizeAxis("softmax", axis, x.ndim);
  const rows = lastAxisRows(x, ax);
  let y: Tensor;
  if (rows !== null) {
    const out = allocate(x.dtype, x.size);
    getKernels().softmaxRows(x.data, out, rows.rows, rows.cols);
    y = new Tensor(out, x.shape);
  } else {
    y = perLine(x, ax, softmaxLine);
  }
  return record(y, "softmax", [x], (g) => {
    const gy = mapBinary("softmax", g, y, (a, b) => a * b);
    const dot = sum(gy, ax, true);
    return [mapTernary("softmax", y, g, expand(dot, x.shape), (yi, gi, d) => yi * (gi - d))];
  });
}

/** log-softmax along axis: x − logsumexp(x). Backward: dx = g − softmax(x) · Σ_axis g. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const ax = normalizeAxis("logSoftmax", axis, x.ndim);
  // lse is kept in f64: rounding it to f32 first would cost ~|lse|·2^-24 absolute error in every output
  const lse = logsumexp(x.detach().to("f64"), ax, true);
  const y = mapBinary("logSoftmax", x, lse, (v, l) => v - l, x.dtype);
  return record(y, "logSoftmax", [x], (g) => {
    const total = sum(g, ax, true);
    return [mapTernary("logSoftmax", g, y, expand(total, x.shape), (gi, yi, t) => (yi === -Infinity ? gi : gi - Math.exp(yi) * t))];
  });
}

/** Inclusive cumulative sum along axis (from the end when reverse). Backward: the cumsum the other way. */
export function cumsum(x: Tensor, axis: number, reverse = false): Tensor {
  const ax = normalizeAxis("cumsum", axis, x.ndim);
  const y = perLine(x, ax, (src, p, s, dst, len) => {
    let run = 0;
    if (reverse) {
      for (let j = len - 1; j >= 0; j--) dst[j] = run += src[p + j * s]!;
    } else {
      for (let j = 0, q = p; j < len; j++, q += s) dst[j] = run += src[q]!;
    }
  });
  return record(y, "cumsum", [x], (g) => [cumsum(g, ax, !reverse)]);
}

/** Sums a broadcast gradient back to `shape` (leading axes and axes where shape has 1). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return reshape(sum(g, axes, true), shape);
}
