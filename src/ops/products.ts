/**
 * The dense products of the ops' hand-written chunk forms (decay engine, delta engine, attention), through getKernels().matmul / matmulF64 in the arrays' precision.
 * The output block is dense row-major with row length n.
 */
import type { FloatArray, Kernels, MatmulArgs } from "../kernels/types.js";

/** C[m×n] (+)= A[m×k] B[k×n] with A, B given by offset, row stride and column stride. */
export function mm(
  kern: Kernels, m: number, n: number, k: number,
  a: FloatArray, ao: number, ars: number, acs: number,
  b: FloatArray, bo: number, brs: number, bcs: number,
  c: FloatArray, co: number, accumulate: boolean,
): void {
  const args = { m, n, k, a, aOffset: ao, aRowStride: ars, aColStride: acs, b, bOffset: bo, bRowStride: brs, bColStride: bcs, c, cOffset: co, accumulate };
  if (c instanceof Float64Array) kern.matmulF64(args as MatmulArgs<Float64Array>);
  else kern.matmul(args as MatmulArgs<Float32Array>);
}
/** C[m×n] (+)= A[m×k] B[k×n], A and B dense row-major */
export function mmNN(kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void {
  mm(kern, m, n, k, a, ao, k, 1, b, bo, n, 1, c, co, acc);
}
/** C[m×n] (+)= A[m×k] B[n×k]ᵀ */
export function mmNT(kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void {
  mm(kern, m, n, k, a, ao, k, 1, b, bo, 1, k, c, co, acc);
}
/** C[m×n] (+)= A[k×m]ᵀ B[k×n] */
export function mmTN(kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void {
  mm(kern, m, n, k, a, ao, 1, m, b, bo, n, 1, c, co, acc);
}
