/**
 * RMSNorm's row kernels (`Kernels.rmsNormRows` / `rmsNormBackwardRows`): the wasm backend's f64x2 loops against
 * the JS loops on the same f32 inputs, on odd widths (1, 3, 4, 5, 17, 128, 131), row ranges that start and end
 * mid-array, with and without a weight, with operands staged and in place (lent by the backend), and the
 * weight gradient added into existing partial sums.
 *
 * Bounds. Both compute every result in f64 with the same operations per element and round once; only the
 * row sums (Σx², Σu·x̂) are added in another order (four partial sums). A sum of n f64 terms is within
 * n·2⁻⁵³·Σ|terms| of the exact one either way, so inv agrees to a relative 2n·2⁻⁵³, and an f32 result, whose
 * f64 value then differs by far less than half an f32 ulp, rounds to the same f32 or to its neighbour:
 * |wasm − js| ≤ 1 ulp of the JS result. dw differs by at most 2·rows·2⁻⁵³·Σ|g·x̂| (the per-element products
 * are the same; x̂ carries inv's difference, ≤ 2n·2⁻⁵³ relative). f64 calls on the wasm backend are the JS
 * loops, bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type Kernels } from "../../src/kernels/index.js";
import { makeRng } from "./matmul_cases.js";

const wasm = createWasmKernels({ threads: 1 });
const EPS53 = 2 ** -53;

/** The spacing of f32 values at |v| (the ulp of v as an f32). */
function ulp32(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** got equals want, both NaN, or is within one f32 ulp of it. */
const withinUlp = (got: number, want: number): boolean =>
  got === want || (Number.isNaN(got) && Number.isNaN(want)) || Math.abs(got - want) <= ulp32(want);

function randomF32(n: number, seed: number, scale = 1): Float32Array {
  const rng = makeRng(seed);
  return Float32Array.from({ length: n }, () => scale * (2 * rng() - 1));
}

/** A copy of `values` in an array the backend lent (used in place by its kernels), or null if it lends none. */
function lentCopy(k: Kernels, values: Float32Array): Float32Array | null {
  const a = k.lend?.(values.length) ?? null;
  if (a) a.set(values);
  return a;
}

interface Case {
  rows: number;
  width: number;
  r0: number;
  r1: number;
  weighted: boolean;
  /** operands lent by the wasm backend (in place) instead of ordinary arrays */
  inPlace: boolean;
}

const CASES: Case[] = [];
for (const width of [1, 3, 4, 5, 17, 128, 131]) {
  for (const weighted of [false, true]) {
    CASES.push({ rows: 9, width, r0: 0, r1: 9, weighted, inPlace: false });
    CASES.push({ rows: 40, width, r0: 3, r1: 37, weighted, inPlace: width % 2 === 1 });
  }
}
// more rows than one staged block (16384 floats) of width 128 holds
CASES.push({ rows: 300, width: 128, r0: 1, r1: 300, weighted: true, inPlace: false });
CASES.push({ rows: 300, width: 128, r0: 0, r1: 299, weighted: true, inPlace: true });

function caseName(c: Case): string {
  return `rows ${c.r0}…${c.r1} of ${c.rows}, width ${c.width}, ${c.weighted ? "weighted" : "no weight"}, ${c.inPlace ? "in place" : "staged"}`;
}

test("rmsNormRows: wasm f32 equals the JS loops to one f32 rounding; inv to 2n·2⁻⁵³", { skip: !wasm }, () => {
  const k = createWasmKernels({ threads: 1 })!;
  CASES.forEach((c, i) => {
    const n = c.rows * c.width;
    const x0 = randomF32(n, 10 + i, 3);
    const weight = c.weighted ? randomF32(c.width, 200 + i, 2) : null;
    const outJs = new Float32Array(n).fill(7);
    const invJs = new Float64Array(c.rows).fill(7);
    jsKernels.rmsNormRows({ x: x0, weight, out: outJs, inv: invJs, r0: c.r0, r1: c.r1, width: c.width, eps: 1e-6 });
    const x = (c.inPlace ? lentCopy(k, x0) : null) ?? x0;
    const out = (c.inPlace ? lentCopy(k, new Float32Array(n).fill(7)) : null) ?? new Float32Array(n).fill(7);
    const inv = new Float64Array(c.rows).fill(7);
    k.rmsNormRows({ x, weight, out, inv, r0: c.r0, r1: c.r1, width: c.width, eps: 1e-6 });
    for (let r = 0; r < c.rows; r++) {
      const inside = r >= c.r0 && r < c.r1;
      if (!inside) assert.equal(inv[r], 7, `${caseName(c)}: inv[${r}] outside the rows was written`);
      else assert.ok(Math.abs(inv[r]! - invJs[r]!) <= 2 * c.width * EPS53 * invJs[r]!, `${caseName(c)}: inv[${r}] ${inv[r]} vs ${invJs[r]}`);
      for (let j = 0; j < c.width; j++) {
        const e = r * c.width + j;
        if (!inside) assert.equal(out[e], 7, `${caseName(c)}: out[${e}] outside the rows was written`);
        else assert.ok(Math.abs(out[e]! - outJs[e]!) <= ulp32(outJs[e]!), `${caseName(c)}: out[${r},${j}] ${out[e]} vs ${outJs[e]}`);
      }
    }
    if (c.inPlace && k.release) {
      if (x !== x0) k.release(x);
      if (out instanceof Float32Array && k.release) k.release(out);
    }
  });
});

test("rmsNormBackwardRows: wasm f32 equals the JS loops to one f32 rounding; dw to 2·rows·2⁻⁵³·Σ|g·x̂|", { skip: !wasm }, () => {
  const k = createWasmKernels({ threads: 1 })!;
  CASES.forEach((c, i) => {
    const n = c.rows * c.width;
    const x0 = randomF32(n, 30 + i, 3);
    const g0 = randomF32(n, 60 + i);
    const weight = c.weighted ? randomF32(c.width, 90 + i, 2) : null;
    const inv = new Float64Array(c.rows);
    jsKernels.rmsNormRows({ x: x0, weight: null, out: new Float32Array(n), inv, r0: 0, r1: c.rows, width: c.width, eps: 1e-6 });
    const dwStart = Float64Array.from({ length: c.width }, (_, j) => 0.25 * j - 1);
    const dxJs = new Float32Array(n).fill(7);
    const dwJs = c.weighted ? dwStart.slice() : null;
    jsKernels.rmsNormBackwardRows({ x: x0, g: g0, weight, inv, dx: dxJs, dw: dwJs, r0: c.r0, r1: c.r1, width: c.width });
    const x = (c.inPlace ? lentCopy(k, x0) : null) ?? x0;
    const g = (c.inPlace ? lentCopy(k, g0) : null) ?? g0;
    const dx = (c.inPlace ? lentCopy(k, new Float32Array(n).fill(7)) : null) ?? new Float32Array(n).fill(7);
    const dw = c.weighted ? dwStart.slice() : null;
    k.rmsNormBackwardRows({ x, g, weight, inv, dx, dw, r0: c.r0, r1: c.r1, width: c.width });
    for (let r = 0; r < c.rows; r++) {
      for (let j = 0; j < c.width; j++) {
        const e = r * c.width + j;
        if (r < c.r0 || r >= c.r1) assert.equal(dx[e], 7, `${caseName(c)}: dx[${e}] outside the rows was written`);
        else assert.ok(Math.abs(dx[e]! - dxJs[e]!) <= ulp32(dxJs[e]!), `${caseName(c)}: dx[${r},${j}] ${dx[e]} vs ${dxJs[e]}`);
      }
    }
    if (dw && dwJs) {
      for (let j = 0; j < c.width; j++) {
        let mass = Math.abs(dwStart[j]!);
        for (let r = c.r0; r < c.r1; r++) mass += Math.abs(g0[r * c.width + j]! * x0[r * c.width + j]! * inv[r]!);
        const bound = 2 * (c.r1 - c.r0 + 1) * (c.width + 1) * EPS53 * mass;
        assert.ok(Math.abs(dw[j]! - dwJs[j]!) <= bound, `${caseName(c)}: dw[${j}] ${dw[j]} vs ${dwJs[j]} (bound ${bound})`);
      }
    }
    for (const a of [x, g, dx]) if (c.inPlace && a !== x0 && a !== g0 && k.release) k.release(a);
  });
});

test("rmsNorm kernels: a weighted backward without dw, zero rows, and huge or tiny rows", { skip: !wasm }, () => {
  const k = createWasmKernels({ threads: 1 })!;
  const width = 6;
  // row 0 zeros (inv = 1/√eps), row 1 near the f32 maximum (x² overflows f32 but not f64), row 2 subnormal-small
  const x = new Float32Array([0, 0, 0, 0, 0, 0, 3e38, -3e38, 1e38, 2e38, -1e38, 3e38, 1e-40, -2e-40, 3e-40, 0, 1e-39, 5e-41]);
  const weight = new Float32Array([1, 2, 3, 4, 5, 6]);
  for (const eps of [1e-6, 0]) {
    const want = new Float32Array(x.length), got = new Float32Array(x.length);
    const invJs = new Float64Array(3), inv = new Float64Array(3);
    jsKernels.rmsNormRows({ x, weight, out: want, inv: invJs, r0: 0, r1: 3, width, eps });
    k.rmsNormRows({ x, weight, out: got, inv, r0: 0, r1: 3, width, eps });
    for (let e = 0; e < x.length; e++) assert.ok(withinUlp(got[e]!, want[e]!), `eps ${eps}: out[${e}] ${got[e]} vs ${want[e]}`);
    const g = Float32Array.from(x, (_, i) => (i % 5) - 2);
    const dxJs = new Float32Array(x.length), dx = new Float32Array(x.length);
    jsKernels.rmsNormBackwardRows({ x, g, weight, inv: invJs, dx: dxJs, dw: null, r0: 0, r1: 3, width });
    k.rmsNormBackwardRows({ x, g, weight, inv: invJs, dx, dw: null, r0: 0, r1: 3, width });
    for (let e = 0; e < x.length; e++) assert.ok(withinUlp(dx[e]!, dxJs[e]!), `eps ${eps}: dx[${e}] ${dx[e]} vs ${dxJs[e]}`);
  }
  // an empty row range does nothing
  const out = new Float32Array(width).fill(7);
  k.rmsNormRows({ x, weight, out, inv: new Float64Array(1), r0: 1, r1: 1, width, eps: 1e-6 });
  assert.deepEqual([...out], new Array(width).fill(7));
});

test("rmsNorm kernels: f64 and mixed calls on the wasm backend are the JS loops, bit for bit", { skip: !wasm }, () => {
  const k = createWasmKernels({ threads: 1 })!;
  const rows = 5, width = 7, n = rows * width;
  const x = Float64Array.from(randomF32(n, 1, 2));
  const g = Float64Array.from(randomF32(n, 2));
  const weight32 = randomF32(width, 3);
  for (const weight of [null, Float64Array.from(weight32), weight32]) {
    const outs = [new Float64Array(n), new Float64Array(n)];
    const invs = [new Float64Array(rows), new Float64Array(rows)];
    [jsKernels, k].forEach((b, i) => b.rmsNormRows({ x, weight, out: outs[i]!, inv: invs[i]!, r0: 0, r1: rows, width, eps: 1e-5 }));
    assert.deepEqual(outs[1], outs[0]);
    assert.deepEqual(invs[1], invs[0]);
    const dxs = [new Float64Array(n), new Float64Array(n)];
    const dws = [new Float64Array(width), new Float64Array(width)];
    [jsKernels, k].forEach((b, i) => b.rmsNormBackwardRows({ x, g, weight, inv: invs[0]!, dx: dxs[i]!, dw: weight ? dws[i]! : null, r0: 1, r1: rows, width }));
    assert.deepEqual(dxs[1], dxs[0]);
    assert.deepEqual(dws[1], dws[0]);
  }
});

test("rmsNorm kernels: bad arguments are errors that name them, on both backends", () => {
  const backends: Kernels[] = [jsKernels, ...(wasm ? [createWasmKernels({ threads: 1 })!] : [])];
  const x = new Float32Array(12);
  for (const b of backends) {
    assert.throws(() => b.rmsNormRows({ x, weight: null, out: new Float32Array(12), inv: new Float64Array(3), r0: 0, r1: 3, width: 0, eps: 1e-6 }), /width must be a positive integer/);
    assert.throws(() => b.rmsNormRows({ x, weight: null, out: new Float32Array(12), inv: new Float64Array(3), r0: 2, r1: 1, width: 4, eps: 1e-6 }), /rows \[r0, r1\)/);
    assert.throws(() => b.rmsNormRows({ x, weight: null, out: new Float32Array(8), inv: new Float64Array(3), r0: 0, r1: 3, width: 4, eps: 1e-6 }), /out must hold at least 12/);
    assert.throws(() => b.rmsNormRows({ x, weight: new Float32Array(3), out: new Float32Array(12), inv: new Float64Array(3), r0: 0, r1: 3, width: 4, eps: 1e-6 }), /weight must hold at least 4/);
    assert.throws(() => b.rmsNormBackwardRows({ x, g: x, weight: new Float32Array(4), inv: new Float64Array(2), dx: new Float32Array(12), dw: null, r0: 0, r1: 3, width: 4 }), /inv must hold at least 3/);
    assert.throws(() => b.rmsNormBackwardRows({ x, g: x, weight: new Float32Array(4), inv: new Float64Array(3), dx: new Float32Array(12), dw: new Float64Array(2), r0: 0, r1: 3, width: 4 }), /dw must hold at least 4/);
  }
});
