/**
 * The tiled attention's softmax-tile kernels (`Kernels.softmaxTileForward` / `softmaxTileBackward`): the wasm f32
 * SIMD kernels against the JS routine run in f64 on the same (f32) inputs, entry by entry, with the bounds derived
 * in softmax_tile_bounds.ts, on odd shapes (rows and cols 1, 3, 5, 17, 64), with every kind of band: no mask,
 * causal at offsets that leave the top rows fully masked or see the whole tile (cache offsets), sliding windows
 * (1, 4, 20) that mask the bottom rows fully; first tiles (m = −∞) and later ones (corr < 1 and = 1); scores
 * large enough that an unshifted exp would overflow; −∞ scores. Tiles lent from the wasm memory (worked on in
 * place when cols is a multiple of 4) give the same bits as ordinary arrays. f64 calls on the wasm backend are the
 * JS routine, bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type FloatArray, type Kernels } from "../../src/kernels/index.js";
import { backwardBounds, forwardBounds } from "./softmax_tile_bounds.js";
import { makeRng } from "./rng.js";

const wasm = createWasmKernels({ threads: 1 });

const SIZES = [1, 3, 5, 17, 64];
/** Bands (lo, hi) as the op makes them: causal with δ = first − j0, window W (lo = δ − W + 1, hi = δ + 1), or none. */
const BANDS: Array<{ label: string; lo: number; hi: number }> = [{ label: "none", lo: -Infinity, hi: Infinity }];
for (const delta of [-4, 0, 3, 70]) {
  for (const W of [Infinity, 1, 4, 20]) BANDS.push({ label: `causal δ=${delta} W=${W}`, lo: delta - W + 1, hi: delta + 1 });
}

interface Scores {
  label: string;
  sigma: number;
  scale: number;
  /** some visible entries are −∞ */
  negInf: boolean;
}
const SCORES: Scores[] = [
  { label: "normal, scale 0.125", sigma: 1, scale: 0.125, negInf: false },
  { label: "large (|scale·s| to ~200)", sigma: 50, scale: 1, negInf: false },
  { label: "negative scale, −∞ scores", sigma: 3, scale: -0.7, negInf: true },
];

const rangeOf = (lo: number, hi: number, cols: number) => (r: number): [number, number] => [Math.max(0, lo + r), Math.min(cols, hi + r)];

/** Every entry of `got` within `bound` of `ref` (NaN where the reference is NaN); returns the largest |error| / bound. */
function within(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, bound: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    if (Number.isNaN(ref[i]!)) {
      assert.ok(Number.isNaN(got[i]!), `${what}[${i}]: reference NaN, got ${got[i]}`);
      continue;
    }
    if (got[i] === ref[i]) continue; // ±∞ included
    const err = Math.abs(got[i]! - ref[i]!);
    if (!(err <= bound[i]!)) assert.fail(`${what}[${i}]: got ${got[i]}, reference ${ref[i]}, |error| ${err} > bound ${bound[i]}`);
    if (err > 0) worst = Math.max(worst, err / bound[i]!);
  }
  return worst;
}

function sameBits(what: string, a: FloatArray, b: FloatArray): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

/** Whether the wasm backend lends blocks of its memory (a shared memory). */
const canLend = ((): boolean => {
  const t = wasm?.lend?.(4);
  if (t) wasm!.release!(t);
  return !!t;
})();

/** f32 copies of arrays, in blocks lent by the wasm backend when `lent`; `done` gives those back. */
function copier(kern: Kernels, lent: boolean) {
  const taken: Float32Array[] = [];
  return {
    copy(x: Float32Array): Float32Array {
      const t = lent ? kern.lend!(x.length) : null;
      if (!t) return Float32Array.from(x);
      t.set(x);
      taken.push(t);
      return t;
    },
    done(): void {
      for (const t of taken) kern.release!(t);
    },
  };
}

/** A score that makes scale·s = −∞. */
const minusInf = (scale: number): number => (scale < 0 ? Infinity : -Infinity);

interface ForwardCase {
  rows: number;
  cols: number;
  lo: number;
  hi: number;
  scores: Scores;
  later: boolean;
  V: number;
}

function forwardInputs(k: ForwardCase, seed: number) {
  const rng = makeRng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(rng())) * Math.cos(2 * Math.PI * rng());
  const { rows, cols, V, scores } = k;
  const range = rangeOf(k.lo, k.hi, cols);
  const s = Float32Array.from({ length: rows * cols }, () => scores.sigma * normal());
  const mIn = new Float64Array(rows).fill(-Infinity);
  const lIn = new Float64Array(rows);
  const oIn = new Float32Array(rows * V);
  for (let r = 0; r < rows; r++) {
    const [a, e] = range(r);
    if (scores.negInf) {
      for (let c = a; c < e; c++) if (rng() < 0.3) s[r * cols + c] = minusInf(scores.scale);
      // one row all −∞ (NaN on a first tile, as in the reference; P = 0 on a later one)
      if (r === rows >> 1) for (let c = a; c < e; c++) s[r * cols + c] = minusInf(scores.scale);
    }
    if (!k.later) continue;
    let mx = -Infinity;
    for (let c = a; c < e; c++) mx = Math.max(mx, k.scores.scale * s[r * cols + c]!);
    // a running max below or above this tile's (corr < 1, or exactly 1)
    mIn[r] = Math.fround((Number.isFinite(mx) ? mx : 0) + 6 * (rng() - 0.5));
    lIn[r] = 1 + 10 * rng();
    for (let c = 0; c < V; c++) oIn[r * V + c] = normal();
  }
  return { s, mIn, lIn, oIn, range };
}

function runForward(kern: Kernels, k: ForwardCase, x: ReturnType<typeof forwardInputs>, type: "f32" | "f64", lent = false) {
  const cp = copier(kern, lent);
  const conv = (a: Float32Array): FloatArray => (type === "f64" ? Float64Array.from(a) : cp.copy(a));
  const tile = conv(x.s);
  const o = conv(x.oIn);
  const m = Float64Array.from(x.mIn);
  const l = Float64Array.from(x.lIn);
  kern.softmaxTileForward({ rows: k.rows, cols: k.cols, scale: k.scores.scale, lo: k.lo, hi: k.hi, tile, m, l, o, oOffset: 0, V: k.V });
  const out = { P: Array.from(tile), m, l, o: Array.from(o) };
  cp.done();
  return { out };
}

function* forwardCases(): Generator<ForwardCase> {
  for (const rows of SIZES) for (const cols of SIZES) for (const band of BANDS) for (const scores of SCORES) for (const later of [false, true]) {
    yield { rows, cols, lo: band.lo, hi: band.hi, scores, later, V: 3 + (rows % 4) };
  }
}

test(`softmaxTileForward (${wasm?.name}): f32 within the derived bounds of the f64 reference`, { skip: !wasm }, () => {
  let worst = 0, n = 0, seed = 1;
  for (const k of forwardCases()) {
    const x = forwardInputs(k, seed++);
    const ref = runForward(jsKernels, k, x, "f64").out;
    const got = runForward(wasm!, k, x, "f32").out;
    const bounds = forwardBounds({
      rows: k.rows, cols: k.cols, scale: k.scores.scale, range: x.range, s: Float64Array.from(x.s), mIn: x.mIn, lIn: x.lIn,
      oIn: Float64Array.from(x.oIn), V: k.V, P: Float64Array.from(ref.P), m: ref.m, l: ref.l, o: Float64Array.from(ref.o),
    });
    const what = `${k.rows}×${k.cols} lo=${k.lo} hi=${k.hi} ${k.scores.label}${k.later ? " later" : " first"}`;
    worst = Math.max(worst, within(`${what} P`, got.P, ref.P, bounds.P), within(`${what} m`, got.m, ref.m, bounds.m));
    worst = Math.max(worst, within(`${what} ℓ`, got.l, ref.l, bounds.l), within(`${what} o`, got.o, ref.o, bounds.o));
    // invisible entries are exactly 0, rows that see nothing keep m, ℓ, o
    for (let r = 0; r < k.rows; r++) {
      const [a, e] = x.range(r);
      for (let c = 0; c < k.cols; c++) if (c < a || c >= e) assert.ok(Object.is(got.P[r * k.cols + c], 0), `${what}: P[${r},${c}] masked`);
      if (a >= e) assert.ok(Object.is(got.m[r], x.mIn[r]) && Object.is(got.l[r], x.lIn[r]), `${what}: row ${r} sees nothing`);
    }
    n++;
  }
  console.log(`softmaxTileForward: ${n} cases, largest |error| / bound ${worst.toFixed(3)}`);
});

test(`softmaxTileForward (${wasm?.name}): tiles lent from the wasm memory (in place) give the same bits`, { skip: !canLend }, () => {
  let seed = 1000;
  for (const k of forwardCases()) {
    if (k.scores.negInf || seed++ % 3 !== 0) continue;
    const x = forwardInputs(k, seed);
    const a = runForward(wasm!, k, x, "f32").out;
    const b = runForward(wasm!, k, x, "f32", true).out;
    sameBits("P", Float32Array.from(a.P), Float32Array.from(b.P));
    sameBits("m", a.m, b.m);
    sameBits("ℓ", a.l, b.l);
    sameBits("o", Float32Array.from(a.o), Float32Array.from(b.o));
  }
});

test(`softmaxTileForward (${wasm?.name}): f64 calls are the JS routine, bit for bit`, { skip: !wasm }, () => {
  let seed = 5000;
  for (const k of forwardCases()) {
    if (seed++ % 5 !== 0) continue;
    const x = forwardInputs(k, seed);
    const a = runForward(jsKernels, k, x, "f64").out;
    const b = runForward(wasm!, k, x, "f64").out;
    sameBits("P", Float64Array.from(a.P), Float64Array.from(b.P));
    sameBits("m", a.m, b.m);
    sameBits("ℓ", a.l, b.l);
    sameBits("o", Float64Array.from(a.o), Float64Array.from(b.o));
  }
});

interface BackwardCase {
  rows: number;
  cols: number;
  lo: number;
  hi: number;
  scores: Scores;
}

function backwardInputs(k: BackwardCase, seed: number) {
  const rng = makeRng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(rng())) * Math.cos(2 * Math.PI * rng());
  const { rows, cols, scores } = k;
  const range = rangeOf(k.lo, k.hi, cols);
  const s = Float32Array.from({ length: rows * cols }, () => scores.sigma * normal());
  const dP = Float32Array.from({ length: rows * cols }, () => normal());
  const L = new Float64Array(rows + 2);
  const D = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const [a, e] = range(r);
    if (scores.negInf) for (let c = a; c < e; c++) if (rng() < 0.3) s[r * cols + c] = minusInf(scores.scale);
    // L = the row's log-sum-exp over this tile and (some mass in) the others, so that scale·s − L ≤ 0
    let mx = -Infinity;
    for (let c = a; c < e; c++) mx = Math.max(mx, scores.scale * s[r * cols + c]!);
    if (!Number.isFinite(mx)) mx = 0;
    let sum = 0;
    for (let c = a; c < e; c++) sum += Math.exp(scores.scale * s[r * cols + c]! - mx);
    L[r + 2] = mx + Math.log(sum + 0.1 + 2 * rng());
    D[r] = 2 * normal();
  }
  return { s, dP, L, D, range };
}

function runBackward(kern: Kernels, k: BackwardCase, x: ReturnType<typeof backwardInputs>, type: "f32" | "f64", lent = false) {
  const cp = copier(kern, lent);
  const conv = (a: Float32Array): FloatArray => (type === "f64" ? Float64Array.from(a) : cp.copy(a));
  const p = conv(x.s);
  const ds = conv(x.dP);
  kern.softmaxTileBackward({ rows: k.rows, cols: k.cols, scale: k.scores.scale, lo: k.lo, hi: k.hi, p, ds, lse: x.L, lseOffset: 2, D: x.D });
  const out = { P: Array.from(p), dS: Array.from(ds) };
  cp.done();
  return out;
}

function* backwardCases(): Generator<BackwardCase> {
  for (const rows of SIZES) for (const cols of SIZES) for (const band of BANDS) for (const scores of SCORES) yield { rows, cols, lo: band.lo, hi: band.hi, scores };
}

test(`softmaxTileBackward (${wasm?.name}): f32 within the derived bounds of the f64 reference`, { skip: !wasm }, () => {
  let worst = 0, n = 0, seed = 7;
  for (const k of backwardCases()) {
    const x = backwardInputs(k, seed++);
    const ref = runBackward(jsKernels, k, x, "f64");
    const got = runBackward(wasm!, k, x, "f32");
    const b = backwardBounds({
      rows: k.rows, cols: k.cols, scale: k.scores.scale, range: x.range, s: Float64Array.from(x.s), dP: Float64Array.from(x.dP),
      L: x.L.subarray(2), D: x.D, P: Float64Array.from(ref.P), dS: Float64Array.from(ref.dS),
    });
    const what = `${k.rows}×${k.cols} lo=${k.lo} hi=${k.hi} ${k.scores.label}`;
    worst = Math.max(worst, within(`${what} P`, got.P, ref.P, b.P), within(`${what} dS`, got.dS, ref.dS, b.dS));
    for (let r = 0; r < k.rows; r++) {
      const [a, e] = x.range(r);
      for (let c = 0; c < k.cols; c++) if (c < a || c >= e) assert.ok(Object.is(got.P[r * k.cols + c], 0), `${what}: P[${r},${c}] masked`);
    }
    n++;
  }
  console.log(`softmaxTileBackward: ${n} cases, largest |error| / bound ${worst.toFixed(3)}`);
});

test(`softmaxTileBackward (${wasm?.name}): lent tiles give the same bits; f64 calls are the JS routine, bit for bit`, { skip: !wasm }, () => {
  let seed = 9000;
  for (const k of backwardCases()) {
    if (seed++ % 4 !== 0) continue;
    const x = backwardInputs(k, seed);
    const a = runBackward(wasm!, k, x, "f32");
    if (canLend) {
      const b = runBackward(wasm!, k, x, "f32", true);
      sameBits("P", Float32Array.from(a.P), Float32Array.from(b.P));
      sameBits("dS", Float32Array.from(a.dS), Float32Array.from(b.dS));
    }
    const c = runBackward(jsKernels, k, x, "f64");
    const d = runBackward(wasm!, k, x, "f64");
    sameBits("P", Float64Array.from(c.P), Float64Array.from(d.P));
    sameBits("dS", Float64Array.from(c.dS), Float64Array.from(d.dS));
  }
});
