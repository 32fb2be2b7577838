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
import { getKernels, hasSimd128, jsKernels, setKernels, type Kernels, type MatmulArgs } from "../../src/kernels/index.js";
import { matmulFast } from "../../src/kernels/js/matmul.js";
import { matmulNaive } from "../../src/kernels/js/naive.js";
import { compareMatmul, LAYOUTS, SHAPES, type Case, type DType } from "./matmul_cases.js";

/** Both kernels accumulate in f64 and round once: they differ by about one ulp of the result. */
const tolerance = (dtype: DType) => (): number => (dtype === "f64" ? 1e-12 : 1e-5);

function check(cs: Case, seed: number): void {
  compareMatmul(cs, seed, matmulFast, matmulNaive, tolerance(cs.dtype));
}

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

test("getKernels / setKernels: wasm backend by default where SIMD runs (else JS), switchable", () => {
  const initial = getKernels();
  const wantJs = !hasSimd128 || process.env.SEQMIX_KERNELS === "js";
  assert.equal(initial.name.startsWith("wasm"), !wantJs, `default backend ${initial.name}`);
  const other: Kernels = { ...jsKernels, name: "other" };
  setKernels(other);
  try {
    assert.equal(getKernels().name, "other");
  } finally {
    setKernels(initial);
  }
  assert.equal(getKernels(), initial);
});
