/**
 * Batched matrix product with NumPy semantics: a [..., M, K] @ b [..., K, N] → [..., M, N], batch axes
 * broadcast; a 1-D operand is a row (a) or a column (b) vector that is dropped from the result.
 * Operands are passed to the kernel by their strides, so transposed views cost no copy; the backward products
 * g·bᵀ and aᵀ·g use that too.
 *
 * Folding: when b is shared by the whole batch (a weight: x·Wᵀ over [B,T,D]) and a's batch and row axes walk
 * memory with one stride, the product is one kernel call with m = batch·M rows instead of one per batch
 * entry (so the weight is staged and packed once), and the weight gradient aᵀ·g summed over the batch is one
 * product with k = batch·M instead of batch products and a reduction.
 */
import { allocateForOverwrite, promoteTypes } from "../dtype.js";
import { broadcastShapes, broadcastStrides, contiguousStrides, shapeString, sizeOf } from "../shape.js";
import { forEachRow } from "../strided.js";
import { record } from "../autograd.js";
import { Tensor } from "../tensor.js";
import { getKernels } from "../../kernels/index.js";
import { cast } from "./elementwise.js";
import { sumTo } from "./reduce.js";
import { reshape, squeeze, transpose, unsqueeze } from "./shape.js";
import type { FloatArray, MatmulArgs } from "../../kernels/types.js";

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new RangeError(`matmul: operands must have at least 1 dimension, got ${shapeString(a.shape)} and ${shapeString(b.shape)}`);
  }
  // a row vector: drop its row axis (the last axis when b is a vector too, since b's column axis is gone)
  if (a.ndim === 1) return squeeze(matmul(unsqueeze(a, 0), b), b.ndim === 1 ? -1 : -2);
  if (b.ndim === 1) return squeeze(matmul(a, unsqueeze(b, -1)), -1);
  const dtype = promoteTypes(a.dtype, b.dtype);
  if (a.dtype !== dtype) return matmul(cast(a, dtype), b);
  if (b.dtype !== dtype) return matmul(a, cast(b, dtype));

  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const n = b.shape[b.ndim - 1]!;
  if (b.shape[b.ndim - 2] !== k) {
    throw new RangeError(`matmul: a ${shapeString(a.shape)} has ${k} columns but b ${shapeString(b.shape)} has ${b.shape[b.ndim - 2]} rows`);
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batch = broadcastShapes("matmul (batch axes)", aBatch, bBatch);
  const out = allocateForOverwrite(dtype, sizeOf(batch) * m * n); // every product writes all of its C (k = 0: zeros)
  const kernels = getKernels();
  const aColStride = a.strides[a.ndim - 1]!;
  const [bRowStride, bColStride] = b.strides.slice(-2) as [number, number];
  const run = (args: Omit<MatmulArgs<FloatArray>, "a" | "b" | "c">): void => {
    if (dtype === "f64") kernels.matmulF64({ ...args, a: a.data as Float64Array, b: b.data as Float64Array, c: out as Float64Array });
    else kernels.matmul({ ...args, a: a.data as Float32Array, b: b.data as Float32Array, c: out as Float32Array });
  };
  const aRows = sizeOf(bBatch) === 1 ? foldedRowStride(a) : undefined;
  if (out.length === 0) {
    // nothing to compute (an empty batch or an empty side); k = 0 leaves the zeros allocate gave
  } else if (aRows !== undefined) {
    // b is the same matrix for every batch entry and a's rows are evenly spaced: one product of all rows
    run({ m: sizeOf(batch) * m, n, k, aOffset: a.offset, aRowStride: aRows, aColStride, bOffset: b.offset, bRowStride, bColStride, cOffset: 0, accumulate: false });
  } else {
    batchedProducts(a, b, batch, m, n, run);
  }
  const y = new Tensor(out, [...batch, m, n]);
  return record(y, "matmul", [a, b], (g) => [
    a.requiresGrad ? sumTo(matmul(g, transpose(b)), a.shape) : null,
    b.requiresGrad ? weightGrad(a, g, b.shape) : null,
  ]);
}

/**
 * The stride between consecutive rows when all of t's axes but the last can be walked as one axis of evenly
 * spaced rows (e.g. a contiguous [B,T,K] tensor: stride K), else undefined.
 */
function foldedRowStride(t: Tensor): number | undefined {
  let stride: number | undefined;
  let span = 1; // rows covered so far by the axes to the right, in units of `stride`
  for (let d = t.ndim - 2; d >= 0; d--) {
    const size = t.shape[d]!;
    if (size === 1) continue;
    if (stride === undefined) stride = t.strides[d]!;
    else if (t.strides[d] !== stride * span) return undefined;
    span *= size;
  }
  return stride ?? t.shape[t.ndim - 1]!;
}

/** ∂L/∂b of a·b: aᵀ·g summed over the batch axes b was broadcast along. */
function weightGrad(a: Tensor, g: Tensor, bShape: readonly number[]): Tensor {
  const k = a.shape[a.ndim - 1]!;
  const n = g.shape[g.ndim - 1]!;
  const aRows = sizeOf(bShape.slice(0, -2)) === 1 ? foldedRowStride(a) : undefined;
  const gRows = aRows === undefined ? undefined : foldedRowStride(g);
  if (aRows === undefined || gRows === undefined || k === 0) return sumTo(matmul(transpose(a), g), bShape);
  // one product over all batch rows: [k × rows] · [rows × n]
  const rows = a.size / k;
  const at = new Tensor(a.data, [k, rows], [a.strides[a.ndim - 1]!, aRows], a.offset);
  const gm = new Tensor(g.data, [rows, n], [gRows, g.strides[g.ndim - 1]!], g.offset);
  return reshape(matmul(at, gm), bShape);
}

/** One kernel call per batch entry (batch axes broadcast by their strides). */
function batchedProducts(
  a: Tensor, b: Tensor, batch: readonly number[], m: number, n: number,
  run: (args: Omit<MatmulArgs<FloatArray>, "a" | "b" | "c">) => void,
): void {
  const k = a.shape[a.ndim - 1]!;
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const [aRowStride, aColStride] = a.strides.slice(-2) as [number, number];
  const [bRowStride, bColStride] = b.strides.slice(-2) as [number, number];
  const operands = [
    { strides: broadcastStrides(aBatch, a.strides.slice(0, -2), batch), offset: a.offset },
    { strides: broadcastStrides(bBatch, b.strides.slice(0, -2), batch), offset: b.offset },
    { strides: contiguousStrides(batch).map((s) => s * m * n), offset: 0 },
  ];
  forEachRow(batch, operands, (pos, len, step) => {
    for (let j = 0; j < len; j++) {
      run({
        m, n, k,
        aOffset: pos[0]! + j * step[0]!, aRowStride, aColStride,
        bOffset: pos[1]! + j * step[1]!, bRowStride, bColStride,
        cOffset: pos[2]! + j * step[2]!,
        accumulate: false,
      });
    }
  });
}
