/**
 * The delta layers' short conv – SiLU – L2 norm kernels (`Kernels.shortConvForward` / `shortConvBackward`): the
 * wasm f32 SIMD kernels against the JS routine run in f64 on the same (f32) inputs, entry by entry, on odd shapes
 * — C = 1, 3, 5, 17, 128; W = 1, 2, 4 and no conv; T < W, T = 1, T longer than a block of the backward's sums;
 * with and without bias, state, norm (widths that are and are not multiples of 4). Bounds per entry are derived
 * in short_conv_bounds.ts; each test reports the largest |error| / bound it saw. Rows that live in the module's
 * memory (lent, used in place) give the same bits as staged rows. f64 calls on the wasm backend are the JS
 * routine, bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type FloatArray, type Kernels, type ShortConvBackwardArgs, type ShortConvForwardArgs } from "../../src/kernels/index.js";
import { backwardBounds, forwardBounds, type Problem } from "./short_conv_bounds.js";
import { makeRng } from "./rng.js";
import { within } from "./within.js";

const wasm = createWasmKernels({ threads: 1 });

interface Case {
  B: number;
  T: number;
  C: number;
  /** taps; 0: no conv */
  W: number;
  bias: boolean;
  state: boolean;
  normWidth: number;
}

const CASES: Case[] = [
  { B: 2, T: 37, C: 128, W: 4, bias: false, state: false, normWidth: 32 }, // the layers' q, k (vector norm)
  { B: 2, T: 150, C: 128, W: 4, bias: true, state: true, normWidth: 0 }, // v; T > one block of the backward sums
  { B: 3, T: 7, C: 17, W: 4, bias: true, state: true, normWidth: 17 },
  { B: 2, T: 2, C: 5, W: 4, bias: true, state: true, normWidth: 5 }, // T < W − 1: the state feeds every row
  { B: 2, T: 1, C: 3, W: 2, bias: false, state: true, normWidth: 1 }, // T = 1
  { B: 1, T: 9, C: 1, W: 1, bias: true, state: false, normWidth: 1 }, // one channel, a 1-tap conv
  { B: 2, T: 3, C: 5, W: 4, bias: false, state: false, normWidth: 0 }, // T < W, no state
  { B: 2, T: 11, C: 12, W: 2, bias: true, state: false, normWidth: 4 },
  { B: 2, T: 6, C: 20, W: 4, bias: false, state: true, normWidth: 10 }, // C % 4 = 0, head width not
  { B: 2, T: 5, C: 8, W: 0, bias: false, state: false, normWidth: 4 }, // no conv: SiLU + norm
  { B: 1, T: 4, C: 7, W: 0, bias: false, state: false, normWidth: 0 }, // SiLU alone
];

const label = (k: Case): string =>
  `B=${k.B} T=${k.T} C=${k.C} W=${k.W || "none"}${k.bias ? " bias" : ""}${k.state ? " state" : ""} norm=${k.normWidth || "none"}`;

/** The inputs as f32 values (z ~ N(0, 1.5²), w ~ N(0, 0.7²), bias, state, upstream gradient ~ N(0, 1)). */
function problem(k: Case, seed: number): Problem & { g: Float32Array; f32: Record<string, Float32Array | null> } {
  const rng = makeRng(seed);
  const normal = (n: number, std: number): Float32Array => Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(rng())) * Math.cos(2 * Math.PI * rng()));
  const P = Math.max(k.W - 1, 0);
  const z = normal(k.B * k.T * k.C, 1.5);
  const weight = k.W > 0 ? normal(k.C * k.W, 0.7) : null;
  const bias = k.W > 0 && k.bias ? normal(k.C, 0.5) : null;
  const state = k.W > 1 && k.state ? normal(k.B * P * k.C, 1) : null;
  const g = normal(k.B * k.T * k.C, 1);
  const d = (x: Float32Array | null): Float64Array | null => (x ? Float64Array.from(x) : null);
  return { B: k.B, T: k.T, C: k.C, W: k.W, normWidth: k.normWidth, z: d(z)!, weight: d(weight), bias: d(bias), state: d(state), g, f32: { z, weight, bias, state } };
}

type Arrays = ReturnType<typeof problem>;

const f32 = (n: number): Float32Array => new Float32Array(n);
const f64 = (n: number): Float64Array => new Float64Array(n);

/** Runs the forward over every batch row in `dtype` (inputs converted from the f32 values). */
function forward(kern: Kernels, x: Arrays, dtype: "f32" | "f64", alloc?: (n: number) => Float32Array) {
  const { B, T, C, W, normWidth } = x;
  const n = B * T * C;
  const make = (m: number): FloatArray => (dtype === "f64" ? f64(m) : (alloc ?? f32)(m));
  const conv = <A extends FloatArray | null>(v: Float32Array | null): A => (v === null ? null : dtype === "f64" ? Float64Array.from(v) : v) as A;
  const z = make(n);
  z.set(x.f32.z!);
  const args: Omit<ShortConvForwardArgs, "b"> = {
    T, C, W: W || 1, normWidth, z, weight: conv(x.f32.weight!), state: conv(x.f32.state!), bias: conv(x.f32.bias!),
    a: make(n), sig: make(n), y: normWidth > 0 ? make(n) : null, rinv: normWidth > 0 ? f64(B * T * (C / normWidth)) : null,
  };
  for (let b = 0; b < B; b++) kern.shortConvForward({ ...args, b });
  return args;
}

/** Runs the backward over every batch row on the saved a, σ, rinv given (as f32 values), upstream g. */
function backward(kern: Kernels, x: Arrays, saved: { a: Float32Array; sig: Float32Array; rinv: Float64Array | null }, dtype: "f32" | "f64", alloc?: (n: number) => Float32Array) {
  const { B, T, C, W, normWidth } = x;
  const n = B * T * C;
  const P = Math.max(W - 1, 0);
  const make = (m: number): FloatArray => (dtype === "f64" ? f64(m) : (alloc ?? f32)(m));
  const copy = (v: Float32Array): FloatArray => {
    const out = make(v.length);
    out.set(v);
    return out;
  };
  const conv = <A extends FloatArray | null>(v: Float32Array | null): A => (v === null ? null : dtype === "f64" ? Float64Array.from(v) : v) as A;
  const args: Omit<ShortConvBackwardArgs, "b"> = {
    T, C, W: W || 1, normWidth, z: copy(x.f32.z!), weight: conv(x.f32.weight!), state: conv(x.f32.state!),
    a: copy(saved.a), sig: copy(saved.sig), rinv: saved.rinv, gc: copy(x.g),
    gz: W > 0 ? make(n) : null, gs: W > 0 && x.f32.state ? make(B * P * C) : null,
    gw: W > 0 ? f64(B * C * W) : null, gb: W > 0 ? f64(B * C) : null,
  };
  for (let b = 0; b < B; b++) kern.shortConvBackward({ ...args, b });
  return args;
}

/** Σ over the leading axis of [count, width] (the per-row partials → the gradient). */
function sumRows(parts: Float64Array, count: number, width: number): Float64Array {
  const out = new Float64Array(width);
  for (let i = 0; i < count; i++) for (let j = 0; j < width; j++) out[j] += parts[i * width + j]!;
  return out;
}

for (const [i, k] of CASES.entries()) {
  test(`shortConvForward: wasm f32 within the derived bounds of the JS routine in f64: ${label(k)}`, { skip: !wasm }, (t) => {
    const x = problem(k, 10 + i);
    const got = forward(wasm!, x, "f32");
    const ref = forward(jsKernels, x, "f64");
    const bound = forwardBounds(x);
    const worst = [
      within("a", got.a, ref.a, bound.a),
      within("σ", got.sig, ref.sig, bound.sig),
      ...(k.normWidth > 0 ? [within("y", got.y!, ref.y!, bound.y!), within("rinv", got.rinv!, ref.rinv!, bound.rinv!)] : []),
    ];
    t.diagnostic(`largest |error| / bound: ${Math.max(...worst).toFixed(3)}`);
  });

  test(`shortConvBackward: wasm f32 within the derived bounds of the JS routine in f64: ${label(k)}`, { skip: !wasm }, (t) => {
    const x = problem(k, 20 + i);
    // saved values: the f32 forward of the JS routine (any f32 values will do; both sides get the same)
    const fw = forward(jsKernels, x, "f32");
    const saved = { a: fw.a as Float32Array, sig: fw.sig as Float32Array, rinv: fw.rinv };
    const got = backward(wasm!, x, saved, "f32");
    const ref = backward(jsKernels, x, saved, "f64");
    const bound = backwardBounds(x, { a: Float64Array.from(saved.a), sig: Float64Array.from(saved.sig), rinv: saved.rinv, g: Float64Array.from(x.g) });
    const worst = [within("gc", got.gc, ref.gc, bound.gc)];
    if (k.W > 0) {
      worst.push(within("gz", got.gz!, ref.gz!, bound.gz!));
      worst.push(within("gw", sumRows(got.gw!, k.B, k.C * k.W), sumRows(ref.gw!, k.B, k.C * k.W), bound.gw!));
      worst.push(within("gb", sumRows(got.gb!, k.B, k.C), sumRows(ref.gb!, k.B, k.C), bound.gb!));
      if (got.gs) worst.push(within("gs", got.gs, ref.gs!, bound.gs!));
    }
    t.diagnostic(`largest |error| / bound: ${Math.max(...worst).toFixed(3)}`);
  });
}

test("shortConv on the wasm backend: f64 rows are the JS routine, bit for bit", { skip: !wasm }, () => {
  for (const [i, k] of CASES.entries()) {
    const x = problem(k, 30 + i);
    const a = forward(wasm!, x, "f64");
    const b = forward(jsKernels, x, "f64");
    assert.deepEqual([a.a, a.sig, a.y, a.rinv], [b.a, b.sig, b.y, b.rinv], label(k));
    const saved = { a: Float32Array.from(b.a), sig: Float32Array.from(b.sig), rinv: b.rinv };
    const ga = backward(wasm!, x, saved, "f64");
    const gb = backward(jsKernels, x, saved, "f64");
    assert.deepEqual([ga.gc, ga.gz, ga.gs, ga.gw, ga.gb], [gb.gc, gb.gz, gb.gs, gb.gw, gb.gb], label(k));
  }
});

const lender = createWasmKernels({ threads: 1 });
const canLend = lender?.lend?.(4) != null;

test("shortConv on rows lent by the wasm memory (used in place) gives the same bits as staged rows", { skip: !canLend }, () => {
  const lent: Float32Array[] = [];
  const alloc = (n: number): Float32Array => {
    const v = lender!.lend!(n)!;
    lent.push(v);
    return v;
  };
  try {
    for (const [i, k] of CASES.entries()) {
      const x = problem(k, 40 + i);
      const inPlace = forward(lender!, x, "f32", alloc);
      const staged = forward(lender!, x, "f32");
      assert.deepEqual([inPlace.a, inPlace.sig, inPlace.y, inPlace.rinv].map((v) => v && Array.from(v)), [staged.a, staged.sig, staged.y, staged.rinv].map((v) => v && Array.from(v)), `forward ${label(k)}`);
      const saved = { a: staged.a as Float32Array, sig: staged.sig as Float32Array, rinv: staged.rinv };
      const gi = backward(lender!, x, saved, "f32", alloc);
      const gs = backward(lender!, x, saved, "f32");
      assert.deepEqual([gi.gc, gi.gz, gi.gs, gi.gw, gi.gb].map((v) => v && Array.from(v)), [gs.gc, gs.gz, gs.gs, gs.gw, gs.gb].map((v) => v && Array.from(v)), `backward ${label(k)}`);
    }
  } finally {
    for (const v of lent) lender!.release!(v);
  }
});
