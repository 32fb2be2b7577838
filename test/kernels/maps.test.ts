/**
 * The elementwise maps (`Kernels.map`): the wasm f32 SIMD maps against the JS maps computed in f64, the JS
 * maps against themselves in f32 (one rounding), special values, block boundaries and offsets, mixed
 * dtypes, and argument errors.
 *
 * Tolerances (u = 2⁻²³·|reference|, an f32 ulp or up to 2× more; plus 2⁻¹²⁶·(1 + |x|)·max(1, |g|) absolute,
 * because a σ or exp below the normal f32 range may be flushed to 0 — e.g. σ(x) for x < −88.7 — and then
 * multiplied by x and g; a reference that overflows f32 must give the same ±∞):
 * - exp 2u: the Cephes scheme's polynomial and range reduction (measured max 0.75u over |x| ≤ 120).
 * - σ, softplus, log σ, the softplus/log σ gradients: 4u (exp's 2u, one addition and one division or the
 *   log1p series, each ≤ 0.5u; measured ≤ 2u).
 * - SiLU and the SwiGLU output: 5u (one or two more products).
 * - SiLU's gradient g·σ(1 + x(1 − σ)) can cancel (it crosses 0 near x = −1.28), so its bound is relative to
 *   the size of its terms: 8·2⁻²³·|g|·(σ + |x|·σ(1 − σ)); the same for SwiGLU's gate gradient with g·u for g
 *   (σ given, so no exp: 4 roundings), and 3u for its up gradient g·a·σ.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type ElementwiseMap, type FloatArray, type Kernels, type Operand } from "../../src/kernels/index.js";

const EPS = 2 ** -23;
const TINY = 2 ** -126;

function makeRng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const SPECIALS = [0, -0, 1, -1, 0.5, -1.2784645, Infinity, -Infinity, NaN, 88.7, 88.73, -87.3, -88.8, -103, -104.5, 1e-30, -1e-30, 1e-8, 50, -50, 17, -17, 0.41, 0.42, -0.88, -0.87];

/** n values: the special ones first, then uniform in ±scale for three scales. */
function inputs(n: number, seed: number): Float32Array {
  const rng = makeRng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i < SPECIALS.length ? SPECIALS[i]! : (2 * rng() - 1) * [1, 8, 120][i % 3]!;
  return x;
}

const op = (data: FloatArray, offset = 0): Operand => ({ data, offset });
const sigma = (x: number): number => 1 / (1 + Math.exp(-x));

/** Allowed |got − ref| for element i of output `out` of map `name`. */
function bound(name: ElementwiseMap, out: number, ref: number, x: number, g: number): number {
  const floor = TINY * (1 + Math.abs(x)) * Math.max(1, Math.abs(g));
  const units: Partial<Record<ElementwiseMap, number>> = { exp: 2, sigmoid: 4, softplus: 4, logsigmoid: 4, softplusGrad: 4, logsigmoidGrad: 4, silu: 5, swiglu: out === 0 ? 5 : 4 };
  if (name === "siluGrad") {
    const s = sigma(x);
    return 8 * EPS * Math.abs(g) * (s + Math.abs(x) * s * (1 - s)) + floor;
  }
  return units[name]! * EPS * Math.abs(ref) + floor;
}

const UNARY: ElementwiseMap[] = ["exp", "sigmoid", "silu", "softplus", "logsigmoid"];
const BINARY: ElementwiseMap[] = ["siluGrad", "softplusGrad", "logsigmoidGrad", "swiglu"];

/** Runs `name` on `k` with f32 outputs and on the JS maps with f64 outputs; returns both. */
function run(k: Kernels, name: ElementwiseMap, ins: Float32Array[], n: number): { got: Float32Array[]; ref: Float64Array[] } {
  const outs = name === "swiglu" ? 2 : 1;
  const got = Array.from({ length: outs }, () => new Float32Array(n));
  const ref = Array.from({ length: outs }, () => new Float64Array(n));
  k.map(name, ins.map((x) => op(x)), got.map((y) => op(y)), n);
  jsKernels.map(name, ins.map((x) => op(x)), ref.map((y) => op(y)), n);
  return { got, ref };
}

function assertClose(name: ElementwiseMap, got: Float32Array[], ref: Float64Array[], x: Float32Array, g: Float32Array | null, label: string): void {
  got.forEach((y, o) => {
    for (let i = 0; i < y.length; i++) {
      const r = ref[o]![i]!;
      const v = y[i]!;
      if (!Number.isFinite(Math.fround(r))) {
        assert.ok(Object.is(v, Math.fround(r)) || (Number.isNaN(r) && Number.isNaN(v)), `${label} ${name}[${o}](x=${x[i]}): got ${v}, expected ${r}`);
        continue;
      }
      const tol = bound(name, o, r, x[i]!, g ? g[i]! : 1);
      assert.ok(Math.abs(v - r) <= tol, `${label} ${name}[${o}](x=${x[i]}${g ? `, g=${g[i]}` : ""}): got ${v}, reference ${r}, |diff| ${Math.abs(v - r)} > ${tol}`);
    }
  });
}

function variants(): { label: string; kernels: Kernels }[] {
  const out: { label: string; kernels: Kernels }[] = [{ label: "js", kernels: jsKernels }];
  const wasm = createWasmKernels({ fma: false });
  if (wasm) out.push({ label: wasm.name, kernels: wasm });
  return out;
}

for (const { label, kernels } of variants()) {
  test(`maps (${label}): unary maps within their bounds of the f64 reference, special values exact`, () => {
    const n = 3 * 4096 + 7; // several staging blocks and a partial vector
    const x = inputs(n, 1);
    for (const name of UNARY) {
      const { got, ref } = run(kernels, name, [x], n);
      assertClose(name, got, ref, x, null, label);
    }
  });

  test(`maps (${label}): gradient maps and swiglu within their bounds`, () => {
    const n = 2 * 4096 + 5;
    const x = inputs(n, 2);
    const g = inputs(n, 3).map((v) => (Number.isFinite(v) ? v / 16 : 0.5));
    for (const name of BINARY) {
      // swiglu's inputs are (a, u); the gradient maps' are (g, x)
      const ins = name === "swiglu" ? [x, g] : [g, x];
      const { got, ref } = run(kernels, name, ins, n);
      assertClose(name, got, ref, x, g, label); // for swiglu, g is u (it scales the flush floor)
    }
  });

  test(`maps (${label}): a result does not depend on the offsets, n or block boundaries`, () => {
    const n = 4096 + 13;
    const x = inputs(n + 9, 4);
    for (const name of UNARY) {
      const whole = new Float32Array(n + 9);
      kernels.map(name, [op(x)], [op(whole)], n + 9);
      // the same elements in uneven pieces, at odd offsets into a larger output
      const pieces = new Float32Array(n + 20);
      for (const [from, len] of [[0, 1], [1, 6], [7, 4090], [4097, n + 9 - 4097]] as const) kernels.map(name, [op(x, from)], [op(pieces, from + 11)], len);
      assert.deepEqual(pieces.subarray(11, 11 + n + 9), whole, `${name}: pieces differ from one call`);
    }
  });
}

for (const { label, kernels } of variants()) {
  test(`maps (${label}): swigluGrad within its bounds, and either output may be skipped`, () => {
    const n = 4096 + 11;
    const a = inputs(n, 7).map((v) => (Number.isFinite(v) ? v : 0));
    const u = inputs(n, 8).map((v) => (Number.isFinite(v) ? v / 8 : 1));
    const g = inputs(n, 9).map((v) => (Number.isFinite(v) ? v / 16 : 0.5));
    const s = new Float32Array(n);
    jsKernels.map("sigmoid", [op(a)], [op(s)], n);
    const got = [new Float32Array(n), new Float32Array(n)];
    const ref = [new Float64Array(n), new Float64Array(n)];
    kernels.map("swigluGrad", [op(g), op(a), op(u), op(s)], got.map((y) => op(y)), n);
    jsKernels.map("swigluGrad", [op(g), op(a), op(u), op(s)], ref.map((y) => op(y)), n);
    for (let i = 0; i < n; i++) {
      const [gi, ai, ui, si] = [g[i]!, a[i]!, u[i]!, s[i]!];
      const tolA = 8 * EPS * Math.abs(gi * ui) * (si + Math.abs(ai) * si * (1 - si)) + TINY;
      const tolU = 3 * EPS * Math.abs(ref[1]![i]!) + TINY;
      assert.ok(Math.abs(got[0]![i]! - ref[0]![i]!) <= tolA, `dgate at a=${ai}: ${got[0]![i]} vs ${ref[0]![i]}`);
      assert.ok(Math.abs(got[1]![i]! - ref[1]![i]!) <= tolU, `dup at a=${ai}: ${got[1]![i]} vs ${ref[1]![i]}`);
    }
    const onlyUp = new Float32Array(n);
    kernels.map("swigluGrad", [op(g), op(a), op(u), op(s)], [null, op(onlyUp)], n);
    assert.deepEqual(onlyUp, got[1]);
    const onlyGate = new Float32Array(n);
    kernels.map("swigluGrad", [op(g), op(a), op(u), op(s)], [op(onlyGate), null], n);
    assert.deepEqual(onlyGate, got[0]);
  });
}

test("maps: the JS maps round the f64 result once for f32 outputs", () => {
  const n = 1000;
  const x = inputs(n, 5);
  for (const name of UNARY) {
    const { got, ref } = run(jsKernels, name, [x], n);
    for (let i = 0; i < n; i++) assert.ok(Object.is(got[0]![i], Math.fround(ref[0]![i]!)), `${name}(${x[i]})`);
  }
});

test("maps: f64 and mixed-dtype calls on the wasm backend equal the JS maps", { skip: createWasmKernels() === undefined }, () => {
  const wasm = createWasmKernels()!;
  const n = 777;
  const x32 = inputs(n, 6);
  const x64 = Float64Array.from(x32, (v, i) => v + (i % 5) * 1e-9);
  for (const name of UNARY) {
    for (const [x, y] of [[x64, new Float64Array(n)], [x32, new Float64Array(n)], [x64, new Float32Array(n)]] as [FloatArray, FloatArray][]) {
      const want = y.slice();
      wasm.map(name, [op(x)], [op(y)], n);
      jsKernels.map(name, [op(x)], [op(want)], n);
      assert.deepEqual(y, want, `${name} ${x.constructor.name}→${y.constructor.name}`);
    }
  }
});

test("maps: n = 0 writes nothing; swiglu's σ output is optional", () => {
  for (const { kernels } of variants()) {
    const y = new Float32Array(4).fill(7);
    kernels.map("exp", [op(new Float32Array(4))], [op(y)], 0);
    assert.deepEqual([...y], [7, 7, 7, 7]);
    const a = Float32Array.from([1, -2, 3, 0.5, 9]);
    const u = Float32Array.from([2, 2, -1, 4, 1]);
    const out = new Float32Array(5);
    kernels.map("swiglu", [op(a), op(u)], [op(out), null], 5);
    for (let i = 0; i < 5; i++) assert.ok(Math.abs(out[i]! - a[i]! * sigma(a[i]!) * u[i]!) <= 5 * EPS * Math.abs(out[i]!) + TINY);
  }
});

test("maps: bad arguments are errors that say what is wrong", () => {
  for (const { kernels } of variants()) {
    const x = new Float32Array(8);
    assert.throws(() => kernels.map("exp", [op(x)], [op(x), op(x)], 8), /map\(exp\): expected 1 inputs and 1 outputs, got 1 and 2/);
    assert.throws(() => kernels.map("sigmoid", [op(x, 4)], [op(new Float32Array(8))], 8), /map\(sigmoid\): input 0 needs elements \[4, 12\) but has 8/);
    assert.throws(() => kernels.map("silu", [op(x)], [op(x)], -1), /n must be a non-negative integer/);
    assert.throws(() => kernels.map("softplusGrad", [op(x), op(x)], [null], 8), /output 0 must not be null/);
    assert.throws(() => kernels.map("tanh" as ElementwiseMap, [op(x)], [op(x)], 8), /unknown map "tanh"/);
  }
});

test("maps: add, sub, mul, div give the correctly rounded f32 result on every backend, lent operands or not", () => {
  const backends: Kernels[] = [jsKernels];
  const wasm = createWasmKernels({ threads: 1 });
  if (wasm) backends.push(wasm);
  const n = 2 * 4096 + 7; // two staging blocks and a partial vector
  const a = inputs(n + 5, 11);
  const b = inputs(n + 5, 12).reverse();
  const f: Record<"add" | "sub" | "mul" | "div", (x: number, y: number) => number> = {
    add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y,
  };
  for (const k of backends) {
    // ordinary arrays; then each operand in turn, and all of them, in memory the backend lent (used in place)
    const lend = (v: Float32Array): Float32Array => {
      const l = k.lend?.(v.length) ?? null;
      if (!l) return v;
      l.set(v);
      return l;
    };
    const layouts: Array<[string, Float32Array, Float32Array, () => Float32Array]> = [
      ["plain", a, b, () => new Float32Array(n + 9)],
      ["a lent", lend(a), b, () => new Float32Array(n + 9)],
      ["out lent", a, b, () => lend(new Float32Array(n + 9))],
      ["all lent", lend(a), lend(b), () => lend(new Float32Array(n + 9))],
    ];
    for (const [layout, x, y, makeOut] of layouts) {
      for (const name of ["add", "sub", "mul", "div"] as const) {
        const out = makeOut();
        out.fill(7);
        k.map(name, [op(x, 3), op(y, 5)], [op(out, 2)], n);
        for (let i = 0; i < n; i++) {
          const want = Math.fround(f[name](a[3 + i]!, b[5 + i]!));
          assert.ok(Object.is(out[2 + i], want) || (Number.isNaN(want) && Number.isNaN(out[2 + i]!)), `${k.name} ${layout} ${name}(${a[3 + i]}, ${b[5 + i]}): got ${out[2 + i]}, want ${want}`);
        }
        assert.deepEqual([out[0], out[1], out[n + 2], out[n + 8]], [7, 7, 7, 7], `${k.name} ${layout} ${name}: wrote outside the output`);
      }
    }
  }
});
