/**
 * The blocking loops of the wasm f32 matrix product (the classic packed GEMM): for each panel of NC columns
 * of C, for each k-block of KC, pack that block of B once; for each block of MC rows, pack A's block and run
 * the macro-kernel over all its tiles. Operands are already in the module's memory (`GemmJob` holds byte
 * addresses); the same function runs a whole product on one thread or one slice of it in a worker.
 */
import { MR, NR } from "./gemm_code.js";

/** k-block: an NR-wide B strip of KC rows (8 KiB) stays in L1 while every A strip of the block meets it. */
export const KC = 256;
/** Rows per packed A block (a multiple of MR): MC×KC floats = 96 KiB, in L2. */
export const MC = 96;
/** Columns per packed B panel (a multiple of NR): KC×NC floats = 512 KiB, in L2. */
export const NC = 512;

/** Bytes of packing scratch one thread needs (packed A block, then packed B block). */
export const SCRATCH_BYTES = 4 * (MC * KC + KC * NC);

/** The exported functions of the gemm module (see gemm_code.ts for their contracts). */
export interface GemmExports {
  packA(src: number, rowStride: number, colStride: number, mcb: number, kc: number, dst: number): void;
  packB(src: number, rowStride: number, colStride: number, kc: number, ncb: number, dst: number): void;
  macro(pa: number, pb: number, pc: number, mStrips: number, nStrips: number, kc: number, ldc: number, load: number): void;
}

/**
 * C[m×n] (+)= A[m×k]·B[k×n] inside the module's memory. Addresses are in bytes; strides and `ldc` in
 * elements. C's rows are padded: the tile grid (m rounded up to MR rows, n up to NR columns) must lie inside
 * the buffer, and nothing else may live in that padding. m, n, k ≥ 1.
 */
export interface GemmJob {
  m: number;
  n: number;
  k: number;
  a: number;
  aRowStride: number;
  aColStride: number;
  b: number;
  bRowStride: number;
  bColStride: number;
  c: number;
  ldc: number;
  accumulate: boolean;
  /** SCRATCH_BYTES of memory owned by the thread running the job (16-byte aligned). */
  scratch: number;
}

export function runGemm(w: GemmExports, job: GemmJob): void {
  const { m, n, k, a, aRowStride, aColStride, b, bRowStride, bColStride, c, ldc, accumulate, scratch } = job;
  const packedA = scratch;
  const packedB = scratch + 4 * MC * KC;
  for (let j0 = 0; j0 < n; j0 += NC) {
    const ncb = Math.min(NC, n - j0);
    const nStrips = Math.ceil(ncb / NR);
    for (let p0 = 0; p0 < k; p0 += KC) {
      const kc = Math.min(KC, k - p0);
      w.packB(b + 4 * (p0 * bRowStride + j0 * bColStride), bRowStride, bColStride, kc, ncb, packedB);
      const load = accumulate || p0 > 0 ? 1 : 0;
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mcb = Math.min(MC, m - i0);
        w.packA(a + 4 * (i0 * aRowStride + p0 * aColStride), aRowStride, aColStride, mcb, kc, packedA);
        w.macro(packedA, packedB, c + 4 * (i0 * ldc + j0), Math.ceil(mcb / MR), nStrips, kc, 4 * ldc, load);
      }
    }
  }
}
