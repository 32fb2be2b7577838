/**
 * Shared cases of the matmul tests: operands in several layouts (row-major, transposed, strided with gaps) at
 * non-zero offsets, odd shapes, and a checker that runs a kernel and a reference on identical inputs.
 */
import assert from "node:assert/strict";
import type { FloatArray, MatmulArgs } from "../../src/kernels/index.js";

export type DType = "f32" | "f64";
/**
 * How an operand is stored: row-major, transposed (column-major), row-major with padded strides, or a block
 * of a much wider row-major matrix (its span is many times its size).
 */
export type Layout = "rowmajor" | "transposed" | "strided" | "sparse";
export type MatmulFn = (args: MatmulArgs<FloatArray>) => void;

/** Small LCG: deterministic values in [-1, 1). */
export function makeRng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

export function alloc(dtype: DType, length: number): FloatArray {
  return dtype === "f64" ? new Float64Array(length) : new Float32Array(length);
}

interface Operand {
  data: FloatArray;
  offset: number;
  rowStride: number;
  colStride: number;
}

/** A rows×cols operand with the given layout, at a non-zero offset in a buffer with slack at both ends. */
function makeOperand(dtype: DType, rows: number, cols: number, layout: Layout, offset: number, rng: () => number): Operand {
  let rowStride: number;
  let colStride: number;
  if (layout === "rowmajor") [rowStride, colStride] = [cols, 1];
  else if (layout === "transposed") [rowStride, colStride] = [1, rows];
  else if (layout === "strided") [rowStride, colStride] = [2 * cols + 3, 2]; // gaps between columns and rows
  else [rowStride, colStride] = [9 * cols + 5, 1];
  const span = rows === 0 || cols === 0 ? 0 : (rows - 1) * rowStride + (cols - 1) * colStride + 1;
  const data = alloc(dtype, offset + span + 4);
  for (let i = 0; i < data.length; i++) data[i] = rng();
  return { data, offset, rowStride, colStride };
}

export interface Case {
  m: number;
  k: number;
  n: number;
  dtype: DType;
  aLayout: Layout;
  bLayout: Layout;
  accumulate: boolean;
}

/**
 * Runs `fast` and `reference` on identical inputs and checks C: inside the block each entry within
 * tol(k) · (|C₀| + Σ_p |A[i,p]·B[p,j]|); outside it untouched.
 */
export function compareMatmul(cs: Case, seed: number, fast: MatmulFn, reference: MatmulFn, tol: (k: number) => number): void {
  const rng = makeRng(seed);
  const A = makeOperand(cs.dtype, cs.m, cs.k, cs.aLayout, 3, rng);
  const B = makeOperand(cs.dtype, cs.k, cs.n, cs.bLayout, 5, rng);
  const cOffset = 7;
  const c0 = alloc(cs.dtype, cOffset + cs.m * cs.n + 6);
  for (let i = 0; i < c0.length; i++) c0[i] = rng();
  const base = {
    m: cs.m, n: cs.n, k: cs.k,
    a: A.data, aOffset: A.offset, aRowStride: A.rowStride, aColStride: A.colStride,
    b: B.data, bOffset: B.offset, bRowStride: B.rowStride, bColStride: B.colStride,
    cOffset, accumulate: cs.accumulate,
  };
  const cFast = c0.slice();
  const cRef = c0.slice();
  fast({ ...base, c: cFast });
  reference({ ...base, c: cRef });
  const allowed = tol(cs.k);
  const label = `${cs.dtype} m=${cs.m} k=${cs.k} n=${cs.n} A:${cs.aLayout} B:${cs.bLayout} acc=${cs.accumulate}`;
  for (let q = 0; q < c0.length; q++) {
    const inside = q >= cOffset && q < cOffset + cs.m * cs.n;
    if (!inside) {
      assert.equal(cFast[q], c0[q], `${label}: C[${q}] outside the block was modified`);
      continue;
    }
    const i = Math.floor((q - cOffset) / cs.n);
    const j = (q - cOffset) % cs.n;
    let scale = cs.accumulate ? Math.abs(c0[q]!) : 0;
    for (let p = 0; p < cs.k; p++) {
      scale += Math.abs(A.data[A.offset + i * A.rowStride + p * A.colStride]! * B.data[B.offset + p * B.rowStride + j * B.colStride]!);
    }
    const err = Math.abs(cFast[q]! - cRef[q]!);
    if (!(err <= allowed * scale + 1e-300)) {
      assert.fail(`${label}: C[${i},${j}] fast ${cFast[q]} vs reference ${cRef[q]} (error ${err}, allowed ${allowed * scale})`);
    }
  }
}

// [m, k, n]; includes k > 256 (several k-blocks), n > 384 (several B panels), a k so large that the B panel
// narrows, vector shapes (direct path) and empty ones.
export const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [7, 5, 3], [17, 33, 9], [64, 64, 64], [65, 31, 130], [1, 100, 1], [100, 1, 100],
  [1, 37, 50], [50, 37, 1], [2, 2, 2], [4, 3, 4], [5, 300, 7], [130, 300, 401], [69, 2, 388],
  [3, 0, 4], [0, 5, 4], [4, 5, 0], [0, 0, 0],
];
export const LAYOUTS: [Layout, Layout][] = [
  ["rowmajor", "rowmajor"], ["transposed", "rowmajor"], ["rowmajor", "transposed"], ["transposed", "transposed"], ["strided", "strided"],
];

