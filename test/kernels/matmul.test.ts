/**
 * The fast JS matmul against the naive triple loop, over odd shapes, both dtypes, transposed and strided
 * operands, offsets and accumulate on/off.
 *
 * Tolerance, per element of C: |fast − naive| ≤ tol · (|C₀| + Σ_p |A[i,p]·B[p,j]|) + 1e-300, with
 * tol = 1e-12 for f64 and 1e-5 for f32 (both kernels accumulate in f64 and round to f32 once, so they
 * differ by at most about one f32 ulp of the result; 1e-5 leaves a wide margin).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { getKernels, jsKernels, setKernels, type FloatArray, type Kernels, type MatmulArgs } from "../../src/kernels/index.js";
import { matmulFast } from "../../src/kernels/js/matmul.js";
import { matmulNaive } from "../../src/kernels/js/naive.js";

type DType = "f32" | "f64";
/** How an operand is stored: row-major, transposed (column-major) or row-major with padded strides. */
type Layout = "rowmajor" | "transposed" | "strided";

/** Small LCG: deterministic values in [-1, 1). */
function makeRng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

function alloc(dtype: DType, length: number): FloatArray {
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
  else [rowStride, colStride] = [2 * cols + 3, 2]; // gaps between columns and at the end of each row
  const span = rows === 0 || cols === 0 ? 0 : (rows - 1) * rowStride + (cols - 1) * colStride + 1;
  const data = alloc(dtype, offset + span + 4);
  for (let i = 0; i < data.length; i++) data[i] = rng();
  return { data, offset, rowStride, colStride };
}

interface Case {
  m: number;
  k: number;
  n: number;
  dtype: DType;
  aLayout: Layout;
  bLayout: Layout;
  accumulate: boolean;
}

/** Runs fast and naive on identical inputs and checks C (inside the block: tolerance; outside: untouched). */
function check(cs: Case, seed: number): void {
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
  const cNaive = c0.slice();
  matmulFast({ ...base, c: cFast } as MatmulArgs<FloatArray>);
  matmulNaive({ ...base, c: cNaive } as MatmulArgs<FloatArray>);
  const tol = cs.dtype === "f64" ? 1e-12 : 1e-5;
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
    const err = Math.abs(cFast[q]! - cNaive[q]!);
    if (!(err <= tol * scale + 1e-300)) {
      assert.fail(`${label}: C[${i},${j}] fast ${cFast[q]} vs naive ${cNaive[q]} (error ${err}, allowed ${tol * scale})`);
    }
  }
}

// [m, k, n]; includes k > 256 (several k-blocks), n > 384 (several B panels), a k so large that the B panel
// narrows, vector shapes (direct path) and empty ones.
const SHAPES: [number, number, number][] = [
  [1, 1, 1], [3, 5, 7], [7, 5, 3], [17, 33, 9], [64, 64, 64], [65, 31, 130], [1, 100, 1], [100, 1, 100],
  [1, 37, 50], [50, 37, 1], [2, 2, 2], [4, 3, 4], [5, 300, 7], [130, 300, 401], [69, 2, 388],
  [3, 0, 4], [0, 5, 4], [4, 5, 0], [0, 0, 0],
];
const LAYOUTS: [Layout, Layout][] = [
  ["rowmajor", "rowmajor"], ["transposed", "rowmajor"], ["rowmajor", "transposed"], ["transposed", "transposed"], ["strided", "strided"],
];

for (const dtype of ["f64", "f32"] as const) {
  test(`matmul ${dtype}: fast matches naive over shapes × layouts × accumulate`, () => {
    let seed = 1;
    for (const [m, k, n] of SHAPES) {
      for (const [aLayout, bLayout] of LAYOUTS) {
        for (const accumulate of [false, true]) check({ m, k, n, dtype, aLayout, bLayout, accumulate }, seed++);
      }
    }
  });

  test(`matmul ${dtype}: very large k narrows the packed B panel and still matches`, () => {
    check({ m: 5, k: 40000, n: 50, dtype, aLayout: "rowmajor", bLayout: "rowmajor", accumulate: false }, 99);
    check({ m: 6, k: 3001, n: 400, dtype, aLayout: "transposed", bLayout: "strided", accumulate: true }, 98);
  });
}

test("matmul: a small known product, through the kernel interface", () => {
  // [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
  for (const ctor of [Float32Array, Float64Array]) {
    const a = new ctor([1, 2, 3, 4, 5, 6]);
    const b = new ctor([7, 8, 9, 10, 11, 12]);
    const c = new ctor(4).fill(1);
    const args = { m: 2, n: 2, k: 3, a, aOffset: 0, aRowStride: 3, aColStride: 1, b, bOffset: 0, bRowStride: 2, bColStride: 1, c, cOffset: 0, accumulate: false };
    if (ctor === Float32Array) jsKernels.matmul(args as MatmulArgs<Float32Array>);
    else jsKernels.matmulF64(args as MatmulArgs<Float64Array>);
    assert.deepEqual([...c], [58, 64, 139, 154]);
    args.accumulate = true;
    if (ctor === Float32Array) jsKernels.matmul(args as MatmulArgs<Float32Array>);
    else jsKernels.matmulF64(args as MatmulArgs<Float64Array>);
    assert.deepEqual([...c], [116, 128, 278, 308]);
  }
});

test("matmul: k = 0 zeroes C (accumulate false) or leaves it unchanged (accumulate true)", () => {
  const c = new Float32Array([9, 1, 2, 3, 4, 5, 6, 9]);
  const empty = new Float32Array(0);
  const args = { m: 2, n: 3, k: 0, a: empty, aOffset: 0, aRowStride: 0, aColStride: 1, b: empty, bOffset: 0, bRowStride: 3, bColStride: 1, c, cOffset: 1, accumulate: true };
  matmulFast(args);
  assert.deepEqual([...c], [9, 1, 2, 3, 4, 5, 6, 9]);
  args.accumulate = false;
  matmulFast(args);
  assert.deepEqual([...c], [9, 0, 0, 0, 0, 0, 0, 9]);
});

test("matmul f32: inner products accumulate in f64 and round once", () => {
  // 2^24 + 1 − 2^24: an f32 running sum loses the 1 (2^24 + 1 is not representable); an f64 one keeps it.
  const big = 2 ** 24;
  for (const [m, n] of [[4, 4], [1, 4], [4, 1], [9, 7]]) {
    const k = 3;
    const a = new Float32Array(m * k).fill(1);
    const b = new Float32Array(k * n);
    for (let j = 0; j < n; j++) [b[j], b[n + j], b[2 * n + j]] = [big, 1, -big];
    const c = new Float32Array(m * n);
    matmulFast({ m, n, k, a, aOffset: 0, aRowStride: k, aColStride: 1, b, bOffset: 0, bRowStride: n, bColStride: 1, c, cOffset: 0, accumulate: false });
    assert.deepEqual([...c], new Array(m * n).fill(1), `m=${m} n=${n}`);
  }
});

test("matmul: scratch buffers are reused safely across big and small calls", () => {
  let seed = 500;
  for (const [m, k, n] of [[130, 300, 401], [5, 6, 7], [200, 20, 30], [9, 9, 9], [130, 300, 401]]) {
    check({ m, k, n, dtype: "f32", aLayout: "rowmajor", bLayout: "rowmajor", accumulate: true }, seed++);
  }
});

test("matmul: invalid arguments are rejected", () => {
  const a = new Float64Array(6);
  const b = new Float64Array(6);
  const c = new Float64Array(4);
  const ok = { m: 2, n: 2, k: 3, a, aOffset: 0, aRowStride: 3, aColStride: 1, b, bOffset: 0, bRowStride: 2, bColStride: 1, c, cOffset: 0, accumulate: false };
  assert.doesNotThrow(() => matmulFast(ok));
  assert.throws(() => matmulFast({ ...ok, aOffset: 1 }), RangeError); // A runs past its end
  assert.throws(() => matmulFast({ ...ok, b: new Float64Array(5) }), RangeError);
  assert.throws(() => matmulFast({ ...ok, cOffset: 1 }), RangeError);
  assert.throws(() => matmulFast({ ...ok, m: 1.5 }), RangeError);
  assert.throws(() => matmulFast({ ...ok, k: -1 }), RangeError);
  assert.throws(() => matmulFast({ ...ok, aColStride: -1 }), RangeError);
  assert.throws(() => matmulFast({ ...ok, c: new Float32Array(4) } as unknown as MatmulArgs<Float64Array>), TypeError);
  assert.throws(() => matmulNaive({ ...ok, aOffset: 1 }), RangeError);
});

test("getKernels / setKernels: JS backend by default, switchable", () => {
  assert.equal(getKernels(), jsKernels);
  assert.equal(getKernels().name, "js");
  const other: Kernels = { ...jsKernels, name: "other" };
  setKernels(other);
  try {
    assert.equal(getKernels().name, "other");
  } finally {
    setKernels(jsKernels);
  }
  assert.equal(getKernels(), jsKernels);
});
