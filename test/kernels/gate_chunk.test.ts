/**
 * The vector-gate decay's chunk kernels (`Kernels.gateChunkPrepare` / `gateChunkBackward`): the wasm f32 SIMD
 * kernels against the JS routine run in f64 on the same (f32) inputs, entry by entry, on odd shapes — K = 1, 3,
 * 5, 17, 64 (not multiples of 4: padded channel quads); chunks shorter than C and not a multiple of the
 * sub-block; sub-blocks of 1, 3, 8, 16 rows; a head in the middle of the row (offset and stride); log gates
 * near 0 (with exact zeros), moderate, strong (products that underflow across the chunk) and below −90 (every
 * factor subnormal or zero). The bound of each entry is derived in gate_chunk_bounds.ts; each test reports the
 * largest |error| / bound it saw. f64 calls on the wasm backend are the JS routine, bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type FloatArray, type GateChunkScratch, type Kernels } from "../../src/kernels/index.js";
import { backwardBounds, prepareBounds } from "./gate_chunk_bounds.js";
import { makeRng } from "./rng.js";
import { within } from "./within.js";

const wasm = createWasmKernels({ threads: 1 });

/** A chunk of L rows (sub-blocks of `sub`) of head h of H, K channels, inside an array of L + 3 rows (starting at row 2). */
interface Case {
  K: number;
  C: number;
  L: number;
  sub: number;
  H: number;
  h: number;
}

const CASES: Case[] = [
  { K: 1, C: 16, L: 16, sub: 16, H: 2, h: 1 },
  { K: 3, C: 20, L: 17, sub: 3, H: 3, h: 2 },
  { K: 5, C: 20, L: 13, sub: 1, H: 2, h: 0 },
  { K: 17, C: 64, L: 45, sub: 8, H: 2, h: 1 },
  { K: 64, C: 64, L: 64, sub: 8, H: 1, h: 0 },
  { K: 64, C: 64, L: 37, sub: 16, H: 2, h: 1 },
  { K: 16, C: 64, L: 64, sub: 16, H: 4, h: 3 },
];

/** Log-gate ranges: near 0 (a tenth exactly 0), moderate, strong (products underflow), below −90 (factors subnormal or 0). */
const RANGES: ReadonlyArray<readonly [number, number]> = [[-1e-3, 0], [-1, -0.01], [-8, -3], [-110, -90]];

const ROWS_BEFORE = 2;

function scratch(f64: boolean, c: Case): GateChunkScratch {
  const { C, K, sub } = c;
  const nb = Math.ceil(C / sub);
  const pivoted = ((nb * (nb - 1)) / 2) * sub * K;
  const w = (n: number): FloatArray => (f64 ? new Float64Array(n) : new Float32Array(n));
  const d = (n: number): Float64Array => new Float64Array(n);
  return {
    sub, nbMax: nb,
    a: w(C * K), u: w(C * K), w: w(C * K), Qu: w(C * K), Kw: w(C * K), Qg: w(C * K), Ke: w(C * K),
    G: w(nb * K), Ehat: w(nb * K), M: w(nb * nb * K), Kt: w(pivoted), A: w(C * C), dA: w(C * C),
    tq: w(C * K), tk: w(C * K), xq: w(C * K), xk: w(pivoted),
    aSt: d(nb * K), D: d(nb * K), run: d(K), pu: d(K), pw: d(K), x: d(K), gamLast: d(K),
  };
}

const toF64 = (x: FloatArray): Float64Array => Float64Array.from(x);
const absF64 = (x: FloatArray): Float64Array => Float64Array.from(x, Math.abs);

/** The chunk's rows of an op-layout array, dense [L][K] in f64. */
function rows(x: FloatArray, c: Case, offset: number): Float64Array {
  const out = new Float64Array(c.L * c.K);
  for (let r = 0; r < c.L; r++) for (let d = 0; d < c.K; d++) out[r * c.K + d] = x[offset + r * c.H * c.K + d]!;
  return out;
}

interface Problem {
  c: Case;
  offset: number;
  stride: number;
  scale: number;
  q: Float32Array;
  k: Float32Array;
  g: Float32Array;
}

function problem(c: Case, range: readonly [number, number], seed: number): Problem {
  const rng = makeRng(seed);
  const n = (ROWS_BEFORE + c.L + 1) * c.H * c.K;
  const normal = (): number => Math.sqrt(-2 * Math.log(rng())) * Math.cos(2 * Math.PI * rng());
  const q = Float32Array.from({ length: n }, normal);
  const k = Float32Array.from({ length: n }, normal);
  const g = Float32Array.from({ length: n }, () => (range[1] === 0 && rng() < 0.1 ? 0 : range[0] + (range[1] - range[0]) * rng()));
  return { c, offset: ROWS_BEFORE * c.H * c.K + c.h * c.K, stride: c.H * c.K, scale: 1 / Math.sqrt(c.K) + 0.01, q, k, g };
}

function runPrepare(kern: Kernels, p: Problem, s: GateChunkScratch, q: FloatArray, k: FloatArray, g: FloatArray): void {
  kern.gateChunkPrepare({ K: p.c.K, L: p.c.L, scale: p.scale, q, k, g, offset: p.offset, stride: p.stride, s });
}

const PREPARE_OUTPUTS = ["a", "u", "w", "Qu", "Qg", "Ke", "G", "Ehat", "M", "Kt", "gamLast", "A"] as const;

/** The entries of a prepare output that the call defines (M: the pairs j < i of the chunk's blocks). */
function defined(name: (typeof PREPARE_OUTPUTS)[number], s: GateChunkScratch, c: Case): number[] {
  const x = [...s[name]];
  if (name !== "M") return x;
  const nb = Math.ceil(c.L / c.sub);
  return x.filter((_, e) => {
    const pair = Math.floor(e / c.K), i = Math.floor(pair / s.nbMax), j = pair % s.nbMax;
    return i < nb && j < i;
  });
}

test("gateChunkPrepare: wasm f32 = JS f64 within the derived per-entry bounds (odd K, short chunks, sub-blocks 1…16, gates near 0 to −110)", { skip: !wasm }, () => {
  let worst = 0;
  let seed = 1;
  for (const c of CASES) {
    for (const range of RANGES) {
      const p = problem(c, range, seed++);
      const s32 = scratch(false, c);
      runPrepare(wasm!, p, s32, p.q, p.k, p.g);
      const ref = scratch(true, c);
      runPrepare(jsKernels, p, ref, toF64(p.q), toF64(p.k), toF64(p.g));
      const abs = scratch(true, c);
      runPrepare(jsKernels, p, abs, absF64(p.q), absF64(p.k), toF64(p.g));
      const bounds = prepareBounds({ K: c.K, L: c.L, scale: p.scale, q: rows(p.q, c, p.offset), k: rows(p.k, c, p.offset) }, ref as GateChunkScratch<Float64Array>, abs as GateChunkScratch<Float64Array>);
      const { K, L, sub } = c;
      const nb = Math.ceil(L / sub);
      const label = `K=${K} L=${L} sub=${sub} g∈[${range}]`;
      for (const name of PREPARE_OUTPUTS) {
        const got = s32[name], want = ref[name], bound = bounds[name];
        const n = name === "G" || name === "Ehat" ? nb * K : name === "gamLast" ? K : name === "Kt" ? ((nb * (nb - 1)) / 2) * sub * K : name === "A" ? L * L : name === "M" ? nb * s32.nbMax * K : L * K;
        // M: only the pairs j < i are defined
        const skip = name === "M" ? (e: number) => Math.floor(e / K) % s32.nbMax >= Math.floor(e / K / s32.nbMax) : undefined;
        worst = Math.max(worst, within(`${label} ${name}`, got, want, bound, n, skip));
        for (let e = 0; e < n; e++) if (!skip?.(e)) assert.ok(Number.isFinite(got[e]!), `${label} ${name}[${e}] not finite`);
      }
      // A is exactly zero outside the diagonal blocks
      for (let r = 0; r < L; r++) {
        for (let t = 0; t < L; t++) {
          if (Math.floor(r / sub) !== Math.floor(t / sub) || t > r) assert.equal(s32.A[r * L + t], 0, `${label} A[${r},${t}]`);
        }
      }
    }
  }
  console.log(`gateChunkPrepare: largest |error| / bound ${worst.toFixed(3)}`);
});

test("gateChunkBackward: wasm f32 = JS f64 within the derived per-entry bounds (dq, dk, dg rows; the rest of the arrays untouched)", { skip: !wasm }, () => {
  let worst = 0;
  let seed = 100;
  for (const c of CASES) {
    for (const range of RANGES) {
      const p = problem(c, range, seed++);
      const { K, L, sub } = c;
      const rng = makeRng(seed * 7);
      const normal = (): number => Math.sqrt(-2 * Math.log(rng())) * Math.cos(2 * Math.PI * rng());
      // the wasm prepare's f32 factors, and random products, shared by both runs
      const s32 = scratch(false, c);
      runPrepare(wasm!, p, s32, p.q, p.k, p.g);
      for (const name of ["tq", "tk", "xq", "xk", "dA"] as const) for (let e = 0; e < s32[name].length; e++) s32[name][e] = normal();
      const s64 = scratch(true, c);
      const sAbs = scratch(true, c);
      for (const name of ["a", "u", "w", "G", "Ehat", "M", "tq", "tk", "xq", "xk", "dA"] as const) {
        s64[name].set(s32[name]);
        sAbs[name].set(absF64(s32[name]));
      }
      const n = p.q.length;
      const running = Float64Array.from({ length: K }, normal);
      const fill = 12345.5;
      const out32 = { dq: new Float32Array(n).fill(fill), dk: new Float32Array(n).fill(fill), dg: new Float32Array(n).fill(fill) };
      const out64 = { dq: new Float64Array(n), dk: new Float64Array(n), dg: new Float64Array(n) };
      const outAbs = { dq: new Float64Array(n), dk: new Float64Array(n), dg: new Float64Array(n) };
      const run32 = Float64Array.from(running), run64 = Float64Array.from(running);
      const common = { K, L, scale: p.scale, offset: p.offset, stride: p.stride };
      wasm!.gateChunkBackward({ ...common, q: p.q, k: p.k, ...out32, running: run32, s: s32 });
      jsKernels.gateChunkBackward({ ...common, q: toF64(p.q), k: toF64(p.k), ...out64, running: run64, s: s64 });
      jsKernels.gateChunkBackward({ ...common, q: absF64(p.q), k: absF64(p.k), ...outAbs, running: new Float64Array(K), s: sAbs });
      const bounds = backwardBounds({
        K, L, sub, qAbs: rows(absF64(p.q), c, p.offset), kAbs: rows(absF64(p.k), c, p.offset),
        dqAbs: rows(outAbs.dq, c, p.offset), dkAbs: rows(outAbs.dk, c, p.offset), dg: rows(out64.dg, c, p.offset), running,
      });
      const label = `K=${K} L=${L} sub=${sub} g∈[${range}]`;
      for (const name of ["dq", "dk", "dg"] as const) {
        worst = Math.max(worst, within(`${label} ${name}`, rows(out32[name], c, p.offset), rows(out64[name], c, p.offset), bounds[name]));
        // only the chunk's entries of head h are written
        const inChunk = (e: number): boolean => {
          const row = Math.floor(e / (c.H * K)), col = e % (c.H * K);
          return row >= ROWS_BEFORE && row < ROWS_BEFORE + L && col >= c.h * K && col < (c.h + 1) * K;
        };
        for (let e = 0; e < n; e++) if (!inChunk(e)) assert.equal(out32[name][e], fill, `${label} ${name}[${e}] written outside the chunk`);
      }
      // running ← dg_0, in f64
      const dg0 = rows(out64.dg, c, p.offset).subarray(0, K);
      within(`${label} running`, run32, run64, Float64Array.from(bounds.dg.subarray(0, K)));
      assert.deepEqual([...run64], [...dg0], "the reference's running sum is its dg_0");
    }
  }
  console.log(`gateChunkBackward: largest |error| / bound ${worst.toFixed(3)}`);
});

test("f64 calls on the wasm backend are the JS routines, bit for bit", { skip: !wasm }, () => {
  for (const c of [CASES[1]!, CASES[3]!, CASES[6]!]) {
    const p = problem(c, [-2, -0.01], 7);
    const [q, k, g] = [toF64(p.q), toF64(p.k), toF64(p.g)];
    const sw = scratch(true, c), sj = scratch(true, c);
    runPrepare(wasm!, p, sw, q, k, g);
    runPrepare(jsKernels, p, sj, q, k, g);
    for (const name of PREPARE_OUTPUTS) assert.deepEqual(defined(name, sw, c), defined(name, sj, c), `prepare ${name}`);
    const rng = makeRng(3);
    for (const name of ["tq", "tk", "xq", "xk", "dA"] as const) for (let e = 0; e < sw[name].length; e++) sw[name][e] = sj[name][e] = rng() - 0.5;
    const n = q.length;
    const ow = { dq: new Float64Array(n), dk: new Float64Array(n), dg: new Float64Array(n), running: new Float64Array(c.K).fill(0.25) };
    const oj = { dq: new Float64Array(n), dk: new Float64Array(n), dg: new Float64Array(n), running: new Float64Array(c.K).fill(0.25) };
    const common = { K: c.K, L: c.L, scale: p.scale, q, k, offset: p.offset, stride: p.stride };
    wasm!.gateChunkBackward({ ...common, ...ow, s: sw });
    jsKernels.gateChunkBackward({ ...common, ...oj, s: sj });
    for (const name of ["dq", "dk", "dg", "running"] as const) assert.deepEqual([...ow[name]], [...oj[name]], `backward ${name}`);
  }
});

test("arrays that live in the wasm memory are used in place: the same bits as staged, nothing written outside the chunk", { skip: !wasm || typeof SharedArrayBuffer !== "function" }, () => {
  const lent: Float32Array[] = [];
  const lend = (x: Float32Array): Float32Array => {
    if (x.length === 0) return x;
    const y = wasm!.lend!(x.length);
    assert.ok(y, "the wasm backend lends memory");
    y.set(x);
    lent.push(y);
    return y;
  };
  try {
    for (const c of CASES) {
      const p = problem(c, [-3, -0.01], 11);
      const n = p.q.length;
      const sStaged = scratch(false, c);
      runPrepare(wasm!, p, sStaged, p.q, p.k, p.g);
      // the scratch in the wasm memory, and q, k, g: each alone and all together
      for (const where of ["scratch", "rows", "both"] as const) {
        const sIn = scratch(false, c);
        const s = where === "rows" ? sIn : (Object.fromEntries(Object.entries(sIn).map(([key, x]) => [key, x instanceof Float32Array ? lend(x) : x])) as unknown as GateChunkScratch);
        const [q, k, g] = where === "scratch" ? [p.q, p.k, p.g] : [lend(p.q), lend(p.k), lend(p.g)];
        runPrepare(wasm!, p, s, q, k, g);
        for (const name of PREPARE_OUTPUTS) assert.deepEqual(defined(name, s, c), defined(name, sStaged, c), `K=${c.K} ${where}: prepare ${name}`);
        // backward from the same factors and products
        const rng = makeRng(5);
        for (const name of ["tq", "tk", "xq", "xk", "dA"] as const) for (let e = 0; e < s[name].length; e++) s[name][e] = sStaged[name][e] = rng() - 0.5;
        const outs = (inWasm: boolean) => {
          const mk = (): Float32Array => (inWasm ? lend(new Float32Array(n).fill(7.5)) : new Float32Array(n).fill(7.5));
          return { dq: mk(), dk: mk(), dg: mk(), running: new Float64Array(c.K).fill(0.5) };
        };
        const a = outs(false), b = outs(where !== "scratch");
        const common = { K: c.K, L: c.L, scale: p.scale, offset: p.offset, stride: p.stride };
        wasm!.gateChunkBackward({ ...common, q: p.q, k: p.k, ...a, s: sStaged });
        wasm!.gateChunkBackward({ ...common, q, k, ...b, s });
        for (const name of ["dq", "dk", "dg", "running"] as const) assert.deepEqual([...b[name]], [...a[name]], `K=${c.K} ${where}: backward ${name}`);
      }
    }
  } finally {
    for (const x of lent) wasm!.release!(x);
  }
});
