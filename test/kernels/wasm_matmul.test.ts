/**
 * The wasm f32 matmul (SIMD128 and relaxed-SIMD FMA variants) against the JS kernel, over the shared odd
 * shapes × layouts × accumulate, plus shapes that cross every blocking boundary of the wasm GEMM (several
 * MC row blocks, KC k-blocks and NC column panels, partial micro-tiles on both sides).
 *
 * Tolerance, per element of C: |wasm − js| ≤ (k + 2)·ε_f32·(|C₀| + Σ_p |A[i,p]·B[p,j]|), ε_f32 = 2⁻²³.
 * The wasm kernel sums in f32 (k roundings of a partial sum, each within ε_f32/2 of it relative to
 * Σ|a·b|, and the final addition to C₀); the JS kernel rounds once. 2⁻²³ = 2u leaves a factor-2 margin over
 * the classical bound k·u of recursive summation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, hasRelaxedSimd, hasSimd128, type FloatArray, type Kernels, type MatmulArgs } from "../../src/kernels/index.js";
import { matmulFast } from "../../src/kernels/js/matmul.js";
import { compareMatmul, LAYOUTS, SHAPES, type Case, type Layout, type MatmulFn } from "./matmul_cases.js";

const F32_EPS = 2 ** -23;
const tolerance = (k: number): number => (k + 2) * F32_EPS;

/** Products that cross the wasm blocking boundaries (MC = 96 rows, KC = 256, NC = 512 columns; MR×NR = 4×8). */
const BLOCK_SHAPES: [number, number, number][] = [
  [97, 257, 513], [200, 31, 9], [5, 600, 1030], [193, 64, 17], [4, 8, 8], [3, 7, 9], [130, 300, 401],
];

function variants(): { label: string; kernels: Kernels }[] {
  const out: { label: string; kernels: Kernels }[] = [];
  const plain = createWasmKernels({ fma: false });
  if (plain) out.push({ label: "simd128", kernels: plain });
  if (hasRelaxedSimd) {
    const fma = createWasmKernels({ fma: true });
    if (fma) out.push({ label: "relaxed-simd", kernels: fma });
  }
  return out;
}

function check(kernels: Kernels, cs: Case, seed: number): void {
  compareMatmul(cs, seed, kernels.matmul as MatmulFn, matmulFast as MatmulFn, tolerance);
}

test("wasm kernels exist where the engine runs SIMD128", () => {
  assert.equal(createWasmKernels() !== undefined, hasSimd128);
  // the SIMD128-only module too (a function that fails to compile would silently turn the backend off)
  assert.equal(createWasmKernels({ fma: false, threads: 1 }) !== undefined, hasSimd128);
});

for (const { label, kernels } of variants()) {
  test(`wasm matmul (${label}) matches the JS kernel over shapes × layouts × accumulate`, () => {
    let seed = 1;
    for (const [m, k, n] of [...SHAPES, ...BLOCK_SHAPES]) {
      for (const [aLayout, bLayout] of LAYOUTS) {
        for (const accumulate of [false, true]) check(kernels, { m, k, n, dtype: "f32", aLayout, bLayout, accumulate }, seed++);
      }
    }
  });

  test(`wasm matmul (${label}): views spread over much wider matrices are gathered`, () => {
    const layouts: [Layout, Layout][] = [["sparse", "rowmajor"], ["rowmajor", "sparse"], ["sparse", "sparse"]];
    let seed = 300;
    for (const [m, k, n] of [[33, 65, 17], [97, 257, 40]] as const) {
      for (const [aLayout, bLayout] of layouts) check(kernels, { m, k, n, dtype: "f32", aLayout, bLayout, accumulate: true }, seed++);
    }
  });

  test(`wasm matmul (${label}): very large k, and alternating big and small calls`, () => {
    check(kernels, { m: 5, k: 40000, n: 50, dtype: "f32", aLayout: "rowmajor", bLayout: "rowmajor", accumulate: false }, 99);
    let seed = 500;
    for (const [m, k, n] of [[130, 300, 401], [5, 6, 7], [200, 20, 30], [9, 9, 9], [130, 300, 401]] as const) {
      check(kernels, { m, k, n, dtype: "f32", aLayout: "rowmajor", bLayout: "transposed", accumulate: true }, seed++);
    }
  });

  test(`wasm matmul (${label}): invalid arguments are rejected like the JS kernel's`, () => {
    const a = new Float32Array(6);
    const ok: MatmulArgs<Float32Array> = { m: 2, n: 2, k: 3, a, aOffset: 0, aRowStride: 3, aColStride: 1, b: a, bOffset: 0, bRowStride: 2, bColStride: 1, c: new Float32Array(4), cOffset: 0, accumulate: false };
    assert.throws(() => kernels.matmul({ ...ok, aOffset: 1 }), RangeError);
    assert.throws(() => kernels.matmul({ ...ok, c: new Float64Array(4) as FloatArray as Float32Array }), TypeError);
  });
}
