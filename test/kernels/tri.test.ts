/**
 * `Kernels.unitLowerInverse` (the delta rule's T = (I + A)⁻¹): the wasm backend's f64x2 forward substitution
 * gives the JS routine's bits (same operations, same order) for f32 and f64 inputs, with and without d, zero
 * β rows and zero products (skipped by both), at offsets; and the JS routine is an inverse: (I + A)·T = I to a
 * bound derived from the substitution's rounding.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type FloatArray, type Kernels } from "../../src/kernels/index.js";
import { makeRng } from "./matmul_cases.js";

const wasm = createWasmKernels({ threads: 1 });

interface Problem {
  L: number;
  kk: FloatArray;
  kkOffset: number;
  beta: Float64Array;
  betaOffset: number;
  d: Float64Array | null;
}

/** kk = K Kᵀ of L unit-normalised random rows (as the delta rule's keys), β in (0, 1) with some zeros, d ≤ 1. */
function problem(L: number, f64: boolean, gated: boolean, seed: number): Problem {
  const rng = makeRng(seed);
  const K = 8;
  const keys = Array.from({ length: L }, () => {
    const v = Array.from({ length: K }, () => 2 * rng() - 1);
    const n = Math.hypot(...v) || 1;
    return v.map((x) => x / n);
  });
  const kkOffset = 3;
  const kk = f64 ? new Float64Array(kkOffset + L * L) : new Float32Array(kkOffset + L * L);
  for (let r = 0; r < L; r++) for (let c = 0; c < L; c++) kk[kkOffset + r * L + c] = keys[r]!.reduce((s, x, j) => s + x * keys[c]![j]!, 0);
  // one zero product in the strict lower part (skipped by both)
  if (L > 2) kk[kkOffset + 2 * L] = 0;
  const betaOffset = 5;
  const beta = Float64Array.from({ length: betaOffset + L }, (_, i) => (i === betaOffset + 1 ? 0 : rng()));
  let d: Float64Array | null = null;
  if (gated) {
    const g = Array.from({ length: L }, () => -0.3 * rng());
    const b = g.map((_, i) => g.slice(0, i + 1).reduce((s, x) => s + x, 0));
    d = new Float64Array(L * L);
    for (let r = 0; r < L; r++) for (let c = 0; c <= r; c++) d[r * L + c] = Math.exp(b[r]! - b[c]!);
  }
  return { L, kk, kkOffset, beta, betaOffset, d };
}

function invert(k: Kernels, p: Problem, f64: boolean): FloatArray {
  const outOffset = 2;
  const out = f64 ? new Float64Array(outOffset + p.L * p.L + 1).fill(7) : new Float32Array(outOffset + p.L * p.L + 1).fill(7);
  k.unitLowerInverse({ ...p, out, outOffset });
  return out;
}

const SIZES = [0, 1, 2, 3, 5, 17, 64];

test("unitLowerInverse: the wasm backend gives the JS routine's bits (f32 and f64, with and without d)", { skip: !wasm }, () => {
  const k = createWasmKernels({ threads: 1 })!;
  let seed = 1;
  for (const L of SIZES) {
    for (const f64 of [false, true]) {
      for (const gated of [false, true]) {
        const p = problem(L, f64, gated, seed++);
        const want = invert(jsKernels, p, f64);
        const got = invert(k, p, f64);
        assert.deepEqual(got, want, `L ${L}, ${f64 ? "f64" : "f32"}, ${gated ? "with d" : "no d"}`);
        // nothing outside out's L×L block was written
        assert.deepEqual([got[0], got[1], got[got.length - 1]], [7, 7, 7]);
      }
    }
  }
});

test("unitLowerInverse: (I + A)·T = I within the forward substitution's rounding", () => {
  let seed = 100;
  for (const L of SIZES) {
    for (const gated of [false, true]) {
      const p = problem(L, true, gated, seed++);
      const T = invert(jsKernels, p, true).subarray(2, 2 + L * L);
      const A = (r: number, c: number): number => (c < r ? p.beta[p.betaOffset + r]! * p.kk[p.kkOffset + r * L + c]! * (p.d ? p.d[r * L + c]! : 1) : 0);
      // row r of (I + A)T − I: Σ over c ≤ r of |A[r,c]|·|T[c,j]| bounds the size of the terms; each T entry is a
      // recursive sum of at most L products, so the residual is ≤ 4L·2⁻⁵³ times that size
      for (let r = 0; r < L; r++) {
        for (let j = 0; j < L; j++) {
          let res = T[r * L + j]! - (r === j ? 1 : 0);
          let size = Math.abs(T[r * L + j]!);
          for (let c = 0; c < r; c++) {
            res += A(r, c) * T[c * L + j]!;
            size += Math.abs(A(r, c) * T[c * L + j]!);
          }
          assert.ok(Math.abs(res) <= 4 * (L + 1) * 2 ** -53 * Math.max(size, 1), `L ${L}: residual [${r},${j}] ${res}`);
          if (j > r) assert.equal(T[r * L + j], 0, `L ${L}: T[${r},${j}] above the diagonal`);
        }
      }
    }
  }
});

test("unitLowerInverse: bad sizes and short arrays are errors that name them, on both backends", () => {
  const backends: Kernels[] = [jsKernels, ...(wasm ? [createWasmKernels({ threads: 1 })!] : [])];
  const base = { kk: new Float32Array(9), kkOffset: 0, beta: new Float64Array(3), betaOffset: 0, d: null, L: 3, out: new Float32Array(9), outOffset: 0 };
  for (const k of backends) {
    assert.throws(() => k.unitLowerInverse({ ...base, L: -1 }), /L must be a non-negative integer/);
    assert.throws(() => k.unitLowerInverse({ ...base, kkOffset: 1 }), /kk needs elements \[1, 10\) but has 9/);
    assert.throws(() => k.unitLowerInverse({ ...base, beta: new Float64Array(2) }), /beta needs elements/);
    assert.throws(() => k.unitLowerInverse({ ...base, d: new Float64Array(4) }), /d needs elements/);
    assert.throws(() => k.unitLowerInverse({ ...base, out: new Float32Array(8) }), /out needs elements/);
  }
});
