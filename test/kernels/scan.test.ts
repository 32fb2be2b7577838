/**
 * The selective scan's unit kernels (`Kernels.scanForward` / `scanBackward`): the wasm f32 SIMD kernels against
 * the JS routine run in f64 on the same (f32) inputs, entry by entry, on odd shapes — N = 1, 3, 5, 16, 17; T not
 * a multiple of the block; channel blocks of widths that are not multiples of 4, starting mid-row; several
 * units; with and without softplus, Dskip, z, bias, initial state, kept checkpoints and p, final-state
 * gradient. The bound of each entry is derived in scan_bounds.ts (a few ε per operation relative to the sizes
 * of its terms, carried through the recurrence); each test also reports the largest |error| / bound it saw.
 * f64 calls on the wasm backend are the JS routine, bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type FloatArray, type ScanBackwardArgs, type ScanForwardArgs } from "../../src/kernels/index.js";
import { backwardBounds, forwardBounds } from "./scan_bounds.js";
import { makeRng } from "./rng.js";
import { within } from "./within.js";

const wasm = createWasmKernels({ threads: 1 });

interface Case {
  B: number;
  T: number;
  D: number;
  N: number;
  C: number;
  /** channel block width (units: every (b, block)) */
  CB: number;
  softplus: boolean;
  optional: boolean;
  /** with an initial state, kept checkpoints and p, and a final-state gradient */
  state: boolean;
}

type Inputs = Omit<ScanForwardArgs<Float32Array>, "b" | "c0" | "c1" | "dt" | "o" | "hT" | "checkpoints" | "pre"> & { dO: Float32Array; dHT: Float32Array | null };

/** Inputs distributed as selective_scan's example (Δ in [0.05, 0.5], A = −(1..N)·U(0.5, 1.5), the rest normal). */
function inputs(k: Case, seed: number): Inputs {
  const rng = makeRng(seed);
  const normal = (n: number): Float32Array => Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(rng())) * Math.cos(2 * Math.PI * rng()));
  const uniform = (n: number, lo: number, hi: number): Float32Array => Float32Array.from({ length: n }, () => lo + (hi - lo) * rng());
  const { B, T, D, N } = k;
  const A = uniform(D * N, 0.5, 1.5).map((v, i) => -v * ((i % N) + 1));
  return {
    T, D, N, C: k.C, softplus: k.softplus,
    u: normal(B * T * D), delta: uniform(B * T * D, 0.05, 0.5), A, Bm: normal(B * T * N), Cm: normal(B * T * N),
    Dskip: k.optional ? normal(D) : null, z: k.optional ? normal(B * T * D) : null, bias: k.optional ? uniform(D, -0.1, 0.1) : null,
    h0: k.state ? normal(B * D * N) : null, dO: normal(B * T * D), dHT: k.state ? normal(B * D * N) : null,
  };
}

function units(k: Case): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let b = 0; b < k.B; b++) for (let c0 = 0; c0 < k.D; c0 += k.CB) out.push([b, c0, Math.min(k.D, c0 + k.CB)]);
  return out;
}

const f64 = <T extends FloatArray | null>(x: T): T extends null ? null : Float64Array =>
  (x === null ? null : Float64Array.from(x)) as T extends null ? null : Float64Array;

/** Forward outputs of every unit, in f32 (x = the kernels' inputs) or f64. */
function runForward(run: (a: ScanForwardArgs) => void, x: Inputs, k: Case, dtype: "f32" | "f64") {
  const conv = <T extends FloatArray | null>(v: T): T => (dtype === "f64" ? f64(v) : v) as T;
  const alloc = (n: number): FloatArray => (dtype === "f64" ? new Float64Array(n) : new Float32Array(n));
  const { B, T, D, N, C } = k;
  const args = {
    T, D, N, C, softplus: k.softplus, u: conv(x.u), delta: conv(x.delta), A: conv(x.A), Bm: conv(x.Bm), Cm: conv(x.Cm),
    Dskip: conv(x.Dskip), z: conv(x.z), bias: conv(x.bias), h0: conv(x.h0),
    dt: alloc(B * T * D), o: alloc(B * T * D), hT: alloc(B * D * N),
    checkpoints: k.state ? alloc(B * Math.ceil(T / C) * D * N) : null, pre: k.state ? alloc(B * T * D) : null,
  } as Omit<ScanForwardArgs, "b" | "c0" | "c1">;
  for (const [b, c0, c1] of units(k)) run({ ...args, b, c0, c1 });
  return args;
}

/** Backward of every unit from the given Δ, checkpoints, p (f32 values; converted for f64). */
function runBackward(run: (a: ScanBackwardArgs) => void, x: Inputs, saved: { dt: Float32Array; checkpoints: Float32Array; pre: Float32Array | null }, k: Case, dtype: "f32" | "f64") {
  const conv = <T extends FloatArray | null>(v: T): T => (dtype === "f64" ? f64(v) : v) as T;
  const alloc = (n: number): FloatArray => (dtype === "f64" ? new Float64Array(n) : new Float32Array(n));
  const { B, T, D, N, C } = k;
  const cBlocks = Math.ceil(D / k.CB);
  const args = {
    T, D, N, C, softplus: k.softplus, u: conv(x.u), delta: conv(x.delta), A: conv(x.A), Bm: conv(x.Bm), Cm: conv(x.Cm),
    Dskip: conv(x.Dskip), z: conv(x.z), bias: conv(x.bias),
    dt: conv(saved.dt), checkpoints: conv(saved.checkpoints), pre: conv(saved.pre), dO: conv(x.dO), dHT: conv(x.dHT),
    dU: alloc(B * T * D), dDelta: alloc(B * T * D), dZ: x.z ? alloc(B * T * D) : null, dH0: alloc(B * D * N),
    dBm: new Float64Array(cBlocks * B * T * N), dCm: new Float64Array(cBlocks * B * T * N), dA: new Float64Array(B * D * N),
    dDskip: new Float64Array(B * D), dBias: new Float64Array(B * D),
  } as Omit<ScanBackwardArgs, "b" | "c0" | "c1" | "partOffset">;
  const each: ScanBackwardArgs[] = [];
  for (const [b, c0, c1] of units(k)) {
    const unit = { ...args, b, c0, c1, partOffset: (Math.floor(c0 / k.CB) * B + b) * T * N };
    run(unit);
    each.push(unit);
  }
  return { args, each };
}

const CASES: Array<{ label: string; k: Case }> = [];
for (const N of [1, 3, 5, 16, 17]) {
  CASES.push({ label: `N=${N} everything`, k: { B: 2, T: 37, D: 11, N, C: 8, CB: 6, softplus: true, optional: true, state: true } });
  CASES.push({ label: `N=${N} required only`, k: { B: 2, T: 37, D: 11, N, C: 8, CB: 6, softplus: false, optional: false, state: false } });
}
CASES.push({ label: "optional inputs, no softplus, one short block", k: { B: 1, T: 13, D: 9, N: 4, C: 64, CB: 9, softplus: false, optional: true, state: true } });
CASES.push({ label: "softplus, no optional inputs, block 1", k: { B: 3, T: 9, D: 5, N: 7, C: 1, CB: 2, softplus: true, optional: false, state: true } });
CASES.push({ label: "a realistic unit (D=64, N=16, T=200, C=64)", k: { B: 1, T: 200, D: 64, N: 16, C: 64, CB: 64, softplus: true, optional: true, state: false } });

for (const { label, k } of CASES) {
  test(`scan kernels (${wasm?.name}): forward within the derived bounds of the f64 reference — ${label}`, { skip: !wasm }, (t) => {
    const x = inputs(k, 7 * k.N + k.T);
    const got = runForward((a) => wasm!.scanForward(a), x, k, "f32");
    const ref = runForward((a) => jsKernels.scanForward(a), x, k, "f64");
    const bound = { dt: new Float64Array(ref.dt.length), o: new Float64Array(ref.o.length), pre: new Float64Array(ref.o.length), hT: new Float64Array(ref.hT.length), checkpoints: new Float64Array(ref.checkpoints?.length ?? 0) };
    for (const [b, c0, c1] of units(k)) {
      const one = forwardBounds({ ...(ref as ScanForwardArgs<Float64Array>), b, c0, c1 });
      for (const key of Object.keys(bound) as Array<keyof typeof bound>) one[key].forEach((v, i) => (bound[key][i] += v));
    }
    const worst = [
      within("dt", got.dt, ref.dt as Float64Array, bound.dt),
      within("o", got.o, ref.o as Float64Array, bound.o),
      within("hT", got.hT, ref.hT as Float64Array, bound.hT),
      ...(k.state ? [within("pre", got.pre!, ref.pre as Float64Array, bound.pre), within("checkpoints", got.checkpoints!, ref.checkpoints as Float64Array, bound.checkpoints)] : []),
    ];
    t.diagnostic(`largest |error| / bound: ${Math.max(...worst).toFixed(3)}`);
  });

  test(`scan kernels (${wasm?.name}): backward within the derived bounds of the f64 reference — ${label}`, { skip: !wasm }, (t) => {
    const x = inputs(k, 11 * k.N + k.T);
    // the saved values as the f32 forward makes them, given to both sides
    const fwd = runForward((a) => jsKernels.scanForward(a), { ...x, h0: x.h0 }, { ...k, state: true }, "f32");
    const saved = { dt: fwd.dt as Float32Array, checkpoints: fwd.checkpoints as Float32Array, pre: x.z ? (fwd.pre as Float32Array) : null };
    const got = runBackward((a) => wasm!.scanBackward(a), x, saved, k, "f32").args;
    const { args: ref, each } = runBackward((a) => jsKernels.scanBackward(a), x, saved, k, "f64");
    const keys = ["dU", "dDelta", "dZ", "dH0", "dBm", "dCm", "dA", "dDskip", "dBias"] as const;
    const bound = Object.fromEntries(keys.map((key) => [key, new Float64Array(((ref[key] as FloatArray | null) ?? new Float64Array(0)).length)])) as Record<(typeof keys)[number], Float64Array>;
    for (const unit of each) {
      const one = backwardBounds(unit as ScanBackwardArgs<Float64Array>);
      for (const key of keys) one[key].forEach((v, i) => (bound[key][i] += v));
    }
    const worst: number[] = [];
    for (const key of keys) {
      if (ref[key] === null || (key === "dDskip" && !x.Dskip)) continue;
      worst.push(within(key, got[key] as FloatArray, ref[key] as Float64Array, bound[key]));
    }
    t.diagnostic(`largest |error| / bound: ${Math.max(...worst).toFixed(3)}`);
  });
}

test(`scan kernels (${wasm?.name}): f64 units are the JS routine, bit for bit`, { skip: !wasm }, () => {
  const k: Case = { B: 2, T: 21, D: 7, N: 5, C: 8, CB: 3, softplus: true, optional: true, state: true };
  const x = inputs(k, 3);
  const a = runForward((p) => wasm!.scanForward(p), x, k, "f64");
  const b = runForward((p) => jsKernels.scanForward(p), x, k, "f64");
  for (const key of ["dt", "o", "hT", "checkpoints", "pre"] as const) assert.deepEqual(a[key], b[key], key);
  const saved = { dt: Float32Array.from(b.dt), checkpoints: Float32Array.from(b.checkpoints!), pre: Float32Array.from(b.pre!) };
  const ga = runBackward((p) => wasm!.scanBackward(p), x, saved, k, "f64").args;
  const gb = runBackward((p) => jsKernels.scanBackward(p), x, saved, k, "f64").args;
  for (const key of ["dU", "dDelta", "dZ", "dH0", "dBm", "dCm", "dA", "dDskip", "dBias"] as const) assert.deepEqual(ga[key], gb[key], key);
});
