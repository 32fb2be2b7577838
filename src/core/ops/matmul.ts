/**
 * Batched matrix product with NumPy semantics: a [..., M, K] @ b [..., K, N] → [..., M, N], batch axes
 * broadcast; a 1-D operand is a row (a) or a column (b) vector that is dropped from the result.
 * Operands are passed to the kernel by their strides, so transposed views cost no copy; the backward products
 * g·bᵀ and aᵀ·g use that too.
 */
import { allocate, promoteTypes } from "../dtype.js";
import { broadcastShapes, broadcastStrides, contiguousStrides, shapeString, sizeOf } from "../shape.js";
import { forEachRow } from "../strided.js";
import { record } from "../autograd.js";
import { Tensor } from "../tensor.js";
import { getKernels } from "../../kernels/index.js";
import { cast } from "./elementwise.js";
import { sumTo } from "./reduce.js";
import { squeeze, transpose, unsqueeze } from "./shape.js";

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
  const out = allocate(dtype, sizeOf(batch) * m * n);
  const operands = [
    { strides: broadcastStrides(aBatch, a.strides.slice(0, -2), batch), offset: a.offset },
    { strides: broadcastStrides(bBatch, b.strides.slice(0, -2), batch), offset: b.offset },
    { strides: contiguousStrides(batch).map((s) => s * m * n), offset: 0 },
  ];
  const kernels = getKernels();
  const [aRowStride, aColStride] = a.strides.slice(-2) as [number, number];
  const [bRowStride, bColStride] = b.strides.slice(-2) as [number, number];
  forEachRow(batch, operands, (pos, len, step) => {
    for (let j = 0; j < len; j++) {
      const args = {
        m, n, k,
        aOffset: pos[0]! + j * step[0]!, aRowStride, aColStride,
        bOffset: pos[1]! + j * step[1]!, bRowStride, bColStride,
        cOffset: pos[2]! + j * step[2]!,
        accumulate: false,
      };
      if (dtype === "f64") {
        kernels.matmulF64({ ...args, a: a.data as Float64Array, b: b.data as Float64Array, c: out as Float64Array });
      } else {
        kernels.matmul({ ...args, a: a.data as Float32Array, b: b.data as Float32Array, c: out as Float32Array });
      }
    }
  });
  const y = new Tensor(out, [...batch, m, n]);
  return record(y, "matmul", [a, b], (g) => [
    a.requiresGrad ? sumTo(matmul(g, transpose(b)), a.shape) : null,
    b.requiresGrad ? sumTo(matmul(transpose(a), g), b.shape) : null,
  ]);
}
