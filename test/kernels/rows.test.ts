/**
 * softmaxRows / logSumExpRows against a direct f64 reference, plus the edge cases of the contract: masked
 * (−∞) entries, fully masked rows (softmax → zeros, logsumexp → −∞), huge values (no overflow), NaN/+∞,
 * in-place softmax and empty shapes, on the JS kernels and (softmaxRows, f32) on the wasm backend.
 * Tolerances: 1e-14 relative (f64), 2e-7 relative (f32 outputs of the JS kernels, which sum in f64). The
 * wasm softmax sums a row in four f32 lanes: its entries are within (cols/4 + 8)·2⁻²⁴ relative (the sum's
 * recursive-summation bound, exp's 2 ulp, the reciprocal and the product), its log-sum-exp within that much
 * absolute (the relative error of the sum) plus 2e-7 relative (m in f32).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels } from "../../src/kernels/index.js";
import type { FloatArray, Kernels } from "../../src/kernels/index.js";

const { logSumExpRows } = jsKernels;
const wasm = createWasmKernels({ threads: 1 });

function makeRng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

/** Reference softmax of one row, in f64 (−∞ rows → zeros). */
function refSoftmax(row: number[]): number[] {
  const mx = Math.max(...row);
  if (mx === -Infinity) return row.map(() => 0);
  const e = row.map((v) => Math.exp(v - mx));
  const s = e.reduce((x, y) => x + y, 0);
  return e.map((v) => v / s);
}

function refLogSumExp(row: number[]): number {
  const mx = Math.max(...row);
  if (!Number.isFinite(mx)) return mx;
  return mx + Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0));
}

function assertClose(actual: number, expected: number, relTol: number, msg: string): void {
  if (Object.is(actual, expected)) return;
  const err = Math.abs(actual - expected);
  if (!(err <= relTol * Math.max(Math.abs(expected), 1e-30))) assert.fail(`${msg}: got ${actual}, expected ${expected}`);
}

const rowsOf = (x: FloatArray, rows: number, cols: number): number[][] =>
  Array.from({ length: rows }, (_, r) => Array.from(x.subarray(r * cols, (r + 1) * cols)));

const CASES: Array<{ name: string; Ctor: Float32ArrayConstructor | Float64ArrayConstructor; kernels: Kernels; tol: (cols: number) => number }> = [
  { name: "f64", Ctor: Float64Array, kernels: jsKernels, tol: () => 1e-14 },
  { name: "f32", Ctor: Float32Array, kernels: jsKernels, tol: () => 2e-7 },
  ...(wasm ? [{ name: `f32 ${wasm.name}`, Ctor: Float32Array, kernels: wasm as Kernels, tol: (cols: number) => Math.max(2e-7, (cols / 4 + 8) * 2 ** -24) }] : []),
];

for (const { name, Ctor, kernels, tol: tolOf } of CASES) {
  const softmaxRows = kernels.softmaxRows;
  test(`softmaxRows / logSumExpRows ${name}: random data vs reference, masked entries, large values`, () => {
    const rng = makeRng(7);
    for (const [rows, cols] of [[1, 1], [3, 5], [7, 64], [2, 1000], [300, 7]]) {
      const tol = tolOf(cols);
      const x = new Ctor(rows * cols);
      for (let i = 0; i < x.length; i++) {
        const u = rng();
        x[i] = u < -0.8 ? -Infinity : 30 * u + (i % 3 === 0 ? 1000 : 0); // some masked, some near 1000
      }
      x[0] = 5; // keep row 0 non-empty even with cols = 1
      const sm = new Ctor(x.length);
      const lse = new Ctor(rows);
      const lseTogether = new Float64Array(rows);
      softmaxRows(x, sm, rows, cols, lseTogether);
      logSumExpRows(x, lse, rows, cols);
      rowsOf(x, rows, cols).forEach((row, r) => {
        const ref = refSoftmax(row);
        let total = 0;
        for (let j = 0; j < cols; j++) {
          const got = sm[r * cols + j]!;
          total += got;
          if (row[j] === -Infinity) assert.equal(got, 0, `masked entry (${r},${j})`);
          assertClose(got, ref[j]!, tol * 4, `${name} softmax (${r},${j}) of ${rows}×${cols}`);
        }
        assertClose(total, 1, tol * cols + 1e-15, `${name} softmax row ${r} sums to 1`);
        assertClose(lse[r]!, refLogSumExp(row), Ctor === Float64Array ? 1e-14 : 2e-7, `${name} logsumexp row ${r}`); // the JS kernel
        const lseRef = refLogSumExp(row);
        assert.ok(Math.abs(lseTogether[r]! - lseRef) <= tol * (1 + Math.abs(lseRef)), `${name} softmax's logsumexp row ${r}: ${lseTogether[r]} vs ${lseRef}`);
      });
    }
  });

  test(`softmaxRows / logSumExpRows ${name}: fully masked rows, huge values, NaN and +∞`, () => {
    const cols = 3;
    const tol = tolOf(cols);
    const x = new Ctor([
      -Infinity, -Infinity, -Infinity, // fully masked
      1000, 1001, -Infinity, // would overflow exp without the max shift
      -1e4, -1e4, -1e4, // would underflow to 0/0 without it
      1, NaN, 2,
      1, Infinity, 2,
    ]);
    const sm = new Ctor(x.length).fill(7);
    const lse = new Ctor(5);
    const lseTogether = new Float64Array(5);
    softmaxRows(x, sm, 5, cols, lseTogether);
    logSumExpRows(x, lse, 5, cols);
    assert.equal(lseTogether[0], -Infinity);
    assert.ok(Number.isNaN(lseTogether[3]!));
    assert.equal(lseTogether[4], Infinity);
    assertClose(lseTogether[1]!, 1001 + Math.log1p(Math.exp(-1)), tol, "large row lse (with softmax)");
    assert.deepEqual([...sm.subarray(0, 3)], [0, 0, 0]);
    assert.equal(lse[0], -Infinity);
    const e = Math.E;
    assertClose(sm[3]!, 1 / (1 + e), tol * 2, "large row p0");
    assertClose(sm[4]!, e / (1 + e), tol * 2, "large row p1");
    assert.equal(sm[5], 0);
    assertClose(lse[1]!, 1001 + Math.log1p(Math.exp(-1)), tol, "large row lse");
    for (let j = 6; j < 9; j++) assertClose(sm[j]!, 1 / 3, tol * 2, "uniform row");
    assertClose(lse[2]!, -1e4 + Math.log(3), tol, "very negative row lse");
    assert.ok([...sm.subarray(9, 15)].every(Number.isNaN), "NaN or +∞ in a row gives a NaN softmax row");
    assert.ok(Number.isNaN(lse[3]!));
    assert.equal(lse[4], Infinity);
  });
}

test("softmaxRows: in place (out === x) matches out-of-place", () => {
  const softmaxRows = (wasm ?? jsKernels).softmaxRows;
  const rng = makeRng(3);
  const x = new Float32Array(4 * 9).map(() => 5 * rng());
  const expected = new Float32Array(x.length);
  softmaxRows(x, expected, 4, 9);
  softmaxRows(x, x, 4, 9);
  assert.deepEqual([...x], [...expected]);
});

test("softmaxRows / logSumExpRows: empty shapes and bad sizes", () => {
  const softmaxRows = jsKernels.softmaxRows;
  const x = new Float64Array(0);
  softmaxRows(x, x, 0, 5);
  softmaxRows(x, x, 3, 0);
  const lse = new Float64Array(3);
  logSumExpRows(x, lse, 3, 0);
  assert.deepEqual([...lse], [-Infinity, -Infinity, -Infinity]); // log of an empty sum
  assert.throws(() => softmaxRows(new Float64Array(5), new Float64Array(6), 2, 3), RangeError);
  assert.throws(() => softmaxRows(new Float64Array(6), new Float64Array(5), 2, 3), RangeError);
  assert.throws(() => logSumExpRows(new Float64Array(6), new Float64Array(1), 2, 3), RangeError);
  assert.throws(() => logSumExpRows(new Float64Array(6), new Float64Array(2), -1, 3), RangeError);
  for (const k of [jsKernels, ...(wasm ? [wasm] : [])]) {
    assert.throws(() => k.softmaxRows(new Float32Array(6), new Float32Array(6), 2, 3, new Float32Array(1)), /2 rows need 2 log-sum-exp outputs but logSumExp has 1/);
    k.softmaxRows(new Float32Array(0), new Float32Array(0), 4, 0, new Float32Array(4));
  }
});
