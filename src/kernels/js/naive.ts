/**
 * The reference matrix product: a plain triple loop, one f64 dot product per output element. It is the
 * baseline the fast kernel is tested and benchmarked against, so it stays deliberately simple.
 */
import { checkMatmulArgs } from "../check.js";
import type { FloatArray, MatmulArgs } from "../types.js";

export function matmulNaive<T extends FloatArray>(args: MatmulArgs<T>): void {
  checkMatmulArgs("matmulNaive", args);
  const { m, n, k, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, c, cOffset, accumulate } = args;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        sum += a[aOffset + i * aRowStride + p * aColStride]! * b[bOffset + p * bRowStride + j * bColStride]!;
      }
      const q = cOffset + i * n + j;
      c[q] = accumulate ? c[q]! + sum : sum;
    }
  }
}
