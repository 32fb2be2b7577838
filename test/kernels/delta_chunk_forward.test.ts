/**
 * The delta-rule chunk engine's forward elementwise kernel (`Kernels.deltaChunkForwardPrep`): the wasm f32 SIMD
 * kernel against the JS routine run in f64 on the same (f32) inputs, entry by entry, on odd shapes — L = 1, 3,
 * 17, 64 rows, K, V = 1, 5, 16, 64 (row widths that are not whole quads), rows inside larger arrays (an offset and
 * a stride wider than the row), gated (decays near 1, moderate, and strong enough that D underflows through the
 * f32 subnormal range) and plain. Each test reports the largest |error| / bound it saw.
 *
 * Bounds (ε = 2⁻²⁴; η = 2⁻¹⁵⁰, half the smallest f32 subnormal, the absolute error of a rounding there):
 * - a row scaling y = f·x (kb, vb, ke, qp's left part, sOut): the reference forms f in f64 (f = −βΓ, β, e, τΓ or
 *   Γ_{L−1}) and f·x in f64 (relative error ≤ 2⁻⁵³ of y); the kernel rounds f to f32 (f(1 + δ₁) + η₁) and the
 *   product to f32 ((·)(1 + δ₂) + η₂), so |got − y| ≤ (2ε + ε²)|y| + |x|η + 2η, and against the f64 reference
 *   |got − ref| ≤ (2ε + 2⁻⁴⁰)|ref| + (|x| + 2)η;
 * - P = τ·qk·D on and below the diagonal: the kernel runs the reference's f64 operations and rounds once to f32,
 *   |got − ref| ≤ ε|ref| + η — and it equals the JS routine's f32 result bit for bit; above the diagonal exactly 0.
 * Entries outside the rows (the offsets, the gaps of wider strides) must keep their old values.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type DeltaChunkForwardPrepArgs, type FloatArray, type Kernels, type StridedRows } from "../../src/kernels/index.js";
import { makeRng } from "./rng.js";
import { within } from "./within.js";

const wasm = createWasmKernels({ threads: 1 });

const EPS = 2 ** -24;
const ETA = 2 ** -150;
const SENTINEL = 7.5;

interface Case {
  L: number;
  K: number;
  V: number;
  /** log-decay range, or null for the plain rule */
  g: readonly [number, number] | null;
  /** extra floats per row beyond the row's width, and before the first row */
  pad: number;
}

const SHAPES: ReadonlyArray<readonly [number, number]> = [[1, 5], [5, 1], [5, 5], [16, 64], [64, 16], [64, 64]];
const DECAYS: ReadonlyArray<readonly [number, number] | null> = [null, [-1e-3, 0], [-1, -0.01], [-8, -2]];
const CASES: Case[] = [];
for (const L of [1, 3, 17, 64]) {
  for (const [K, V] of SHAPES) for (const g of DECAYS) CASES.push({ L, K, V, g, pad: (L + K + V) % 3 });
}

/** The named row blocks of a call, each with its width and row count. */
const INPUTS = ["k", "q", "v", "qk", "s"] as const;
const OUTPUTS = ["kb", "vb", "ke", "qp", "sOut"] as const;
type Name = (typeof INPUTS)[number] | (typeof OUTPUTS)[number];

function shapeOf(name: Name, c: Case): [rows: number, width: number] {
  const { L, K, V } = c;
  switch (name) {
    case "k": case "q": case "kb": case "ke": return [L, K];
    case "v": case "vb": return [L, V];
    case "qk": return [L, L];
    case "qp": return [L, K + L];
    case "s": case "sOut": return [K, V];
  }
}

/** Where a block's rows sit in its array: `pad` floats first, rows `width + pad` apart, `pad` after the last. */
const layout = (name: Name, c: Case): { offset: number; stride: number; length: number; rows: number; width: number } => {
  const [rows, width] = shapeOf(name, c);
  const stride = width + c.pad;
  return { offset: c.pad, stride, length: c.pad + rows * stride, rows, width };
};

/** A problem's inputs (f32 values) and f64 decays. */
interface Problem {
  c: Case;
  x: Record<(typeof INPUTS)[number], Float32Array>;
  beta: Float64Array;
  gam: Float64Array;
  e: Float64Array;
  d: Float64Array | null;
  scale: number;
}

function problem(c: Case, seed: number): Problem {
  const rng = makeRng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(rng())) * Math.cos(2 * Math.PI * rng());
  const x = Object.fromEntries(INPUTS.map((n) => [n, Float32Array.from({ length: layout(n, c).length }, normal)])) as Problem["x"];
  const { L } = c;
  const beta = Float64Array.from({ length: L + 2 }, () => Math.fround(rng())); // read from betaOffset = 2
  const gam = new Float64Array(L).fill(1), e = new Float64Array(L).fill(1);
  let d: Float64Array | null = null;
  if (c.g) {
    // as the engine's decays: b = cumulative g, Γ = exp(b), e = exp(b_{L−1} − b), D = exp(b_r − b_c) for c ≤ r
    const [lo, hi] = c.g;
    const b = new Float64Array(L);
    let acc = 0;
    for (let r = 0; r < L; r++) b[r] = acc += Math.fround(lo + (hi - lo) * rng());
    d = new Float64Array(L * L).fill(NaN); // above the diagonal is never read
    for (let r = 0; r < L; r++) {
      gam[r] = Math.exp(b[r]!);
      e[r] = Math.exp(b[L - 1]! - b[r]!);
      for (let s = 0; s <= r; s++) d[r * L + s] = Math.exp(b[r]! - b[s]!);
    }
  }
  return { c, x, beta, gam, e, d, scale: 1 / Math.sqrt(c.K) + 0.01 };
}

type Arrays = Record<Name, FloatArray>;

/** The call's arrays: the problem's inputs (converted by `input`) and fresh outputs filled with SENTINEL. */
function arrays(p: Problem, input: (x: Float32Array) => FloatArray, output: (n: number) => FloatArray): Arrays {
  const out = Object.fromEntries(OUTPUTS.map((n) => [n, output(layout(n, p.c).length).fill(SENTINEL)]));
  return { ...Object.fromEntries(INPUTS.map((n) => [n, input(p.x[n])])), ...out } as Arrays;
}

function run(kern: Kernels, p: Problem, a: Arrays): void {
  const rb = (n: Name): StridedRows => ({ data: a[n], offset: layout(n, p.c).offset, stride: layout(n, p.c).stride });
  const { L, K, V, g } = p.c;
  const args: DeltaChunkForwardPrepArgs = {
    L, K, V, scale: p.scale,
    k: rb("k"), q: rb("q"), v: rb("v"), qk: rb("qk"),
    beta: p.beta, betaOffset: 2, gam: p.gam, e: p.e, d: p.d,
    kb: rb("kb"), vb: rb("vb"), ke: g ? rb("ke") : null, qp: rb("qp"), s: rb("s"), sOut: rb("sOut"),
    sScale: g ? p.gam[L - 1]! : 1,
  };
  kern.deltaChunkForwardPrep(args);
}

/** Entry i of a block's array is inside its rows. */
function inRows(n: Name, c: Case, i: number): boolean {
  const { offset, stride, rows, width } = layout(n, c);
  const j = i - offset;
  return j >= 0 && j < rows * stride && j % stride < width;
}

/** Per entry of output n: the input x it scales (for the absolute term), or null for P's entries. */
function scaled(n: Name, p: Problem, i: number): { x: number | null; aboveDiagonal: boolean } {
  const { c } = p;
  const { offset, stride } = layout(n, c);
  const r = Math.floor((i - offset) / stride), j = (i - offset) % stride;
  const at = (m: Name, row: number, col: number): number => p.x[m as (typeof INPUTS)[number]][layout(m, c).offset + row * layout(m, c).stride + col]!;
  switch (n) {
    case "kb": case "ke": return { x: at("k", r, j), aboveDiagonal: false };
    case "vb": return { x: at("v", r, j), aboveDiagonal: false };
    case "sOut": return { x: at("s", r, j), aboveDiagonal: false };
    case "qp": return j < c.K ? { x: at("q", r, j), aboveDiagonal: false } : { x: null, aboveDiagonal: j - c.K > r };
    default: throw new Error(n);
  }
}

/** The bound of every entry of output n (see the header), from the f64 reference. */
function bounds(n: Name, p: Problem, ref: FloatArray): Float64Array {
  return Float64Array.from(ref, (y, i) => {
    if (!inRows(n, p.c, i)) return 0;
    const { x, aboveDiagonal } = scaled(n, p, i);
    if (aboveDiagonal) return 0;
    if (x === null) return EPS * Math.abs(y) + ETA;
    return (2 * EPS + 2 ** -40) * Math.abs(y) + (Math.abs(x) + 2) * ETA;
  });
}

const outputsOf = (c: Case): Array<(typeof OUTPUTS)[number]> => OUTPUTS.filter((n) => n !== "ke" || c.g !== null);

test("deltaChunkForwardPrep: wasm f32 = JS f64 within the derived per-entry bounds; P = the JS f32 bits; nothing written outside the rows", { skip: !wasm }, () => {
  let worst = 0;
  let seed = 1;
  for (const c of CASES) {
    const p = problem(c, seed++);
    const got = arrays(p, (x) => x, (n) => new Float32Array(n));
    run(wasm!, p, got);
    const ref = arrays(p, (x) => Float64Array.from(x), (n) => new Float64Array(n));
    run(jsKernels, p, ref);
    const js32 = arrays(p, (x) => x, (n) => new Float32Array(n));
    run(jsKernels, p, js32);
    const what = `L=${c.L} K=${c.K} V=${c.V} g=${c.g ? c.g.join("…") : "none"} pad=${c.pad}`;
    for (const n of outputsOf(c)) {
      worst = Math.max(worst, within(`${what} ${n}`, got[n], ref[n], bounds(n, p, ref[n])));
      got[n].forEach((y, i) => {
        if (!inRows(n, c, i)) assert.equal(y, SENTINEL, `${what} ${n}[${i}] outside the rows was written`);
        else if (n === "qp" && scaled(n, p, i).x === null) assert.equal(y, js32[n][i], `${what} P at ${i}: not the JS f32 bits`);
      });
    }
    if (!c.g) assert.ok(got.ke.every((y) => y === SENTINEL), `${what}: ke written without decay`);
  }
  console.log(`deltaChunkForwardPrep: worst |error| / bound ${worst.toFixed(3)}`);
});

test("deltaChunkForwardPrep: arrays in the wasm memory are used in place, the same bits as staged", { skip: !wasm || typeof SharedArrayBuffer !== "function" }, () => {
  const lent: Float32Array[] = [];
  const lend = (n: number): Float32Array => {
    const y = wasm!.lend!(n);
    assert.ok(y, "the wasm backend lends memory");
    lent.push(y);
    return y;
  };
  let seed = 100;
  try {
    for (const c of CASES.filter((_, i) => i % 3 === 0)) {
      const p = problem(c, seed++);
      const staged = arrays(p, (x) => x, (n) => new Float32Array(n));
      run(wasm!, p, staged);
      for (const where of ["all", "inputs", "outputs"] as const) {
        const inPlace = arrays(
          p,
          (x) => {
            if (where === "outputs") return x;
            const y = lend(x.length);
            y.set(x);
            return y;
          },
          (n) => (where === "inputs" ? new Float32Array(n) : lend(n)),
        );
        run(wasm!, p, inPlace);
        for (const n of outputsOf(c)) {
          assert.deepEqual(inPlace[n], staged[n], `L=${c.L} K=${c.K} V=${c.V} ${where} in place: ${n}`);
        }
      }
    }
  } finally {
    for (const x of lent) wasm!.release!(x);
  }
});

test("deltaChunkForwardPrep: f64 calls on the wasm backend are the JS routine, bit for bit", { skip: !wasm }, () => {
  let seed = 200;
  for (const c of CASES) {
    const p = problem(c, seed++);
    const a = arrays(p, (x) => Float64Array.from(x), (n) => new Float64Array(n));
    run(wasm!, p, a);
    const b = arrays(p, (x) => Float64Array.from(x), (n) => new Float64Array(n));
    run(jsKernels, p, b);
    for (const n of outputsOf(c)) assert.deepEqual(a[n], b[n], `L=${c.L} K=${c.K} V=${c.V} f64: ${n}`);
  }
});
