/**
 * The WebAssembly code of the elementwise maps (exp, σ, SiLU, softplus, log σ, their gradients, the SwiGLU
 * gate, and + − × ÷ — each one correctly rounded f32 operation), four f32 lanes at a time, emitted with `encoder.ts`. The driver that stages
 * arrays into the module's memory and calls these is `vmath.ts`.
 *
 * Every exported function has the form f(in₀, …, out₀, …, n): byte addresses of its input and output arrays
 * (16-byte aligned), then the element count n, a multiple of 4 (the driver pads). Lanes never interact, so a
 * lane's result does not depend on where the block boundaries fall.
 *
 * exp(x), the Cephes single-precision scheme (Moshier, "Methods and Programs for Mathematical Functions",
 * 1989): n = round(x·log₂e), r = x − n·ln2 with ln2 split in two parts (r exact to a few ulp, |r| ≤ ln2/2),
 * e^r by a degree-7 polynomial, then the result scaled by 2ⁿ. The scale is applied as 2^⌊n/2⌋·2^(n−⌊n/2⌋),
 * two normal powers, so results in the subnormal range round once, as they should (gradual underflow);
 * x < −104 gives 0, x > 88.7228 gives +∞, NaN stays NaN. Measured error against f64 Math.exp: ≤ 2 ulp of f32.
 *
 * log1p(e) for e ∈ [0, 1] (only ever called on e = exp(−|x|)): log1p(e) = 2·atanh(s) with s = e/(2 + e), or,
 * for e > √2 − 1, ln2 + 2·atanh(s) with s = (e − 1)/(e + 3) (that is log((1 + e)/2)), so |s| ≤ 0.1716 and the
 * odd series 2s(1 + s²/3 + s⁴/5 + … + s¹⁰/11) is exact to ~5e−11 relative. No 1 + e is rounded first, so
 * log1p(e) keeps its relative accuracy for tiny e (softplus of very negative x).
 */
import { MAP_ARITY } from "../js/maps.js";
import type { ElementwiseMap } from "../types.js";
import { Code, type Local } from "./encoder.js";

/** The exported functions, in module order after the gemm functions. */
export const VMATH_FUNCTIONS = [
  "vExp",
  "vSigmoid",
  "vSilu",
  "vSoftplus",
  "vLogsigmoid",
  "vSiluGrad",
  "vSoftplusGrad",
  "vLogsigmoidGrad",
  "vSwiglu",
  "vSwigluGrad",
  "vAdd",
  "vSub",
  "vMul",
  "vDiv",
] as const;
export type VmathFunction = (typeof VMATH_FUNCTIONS)[number];

/** The function that computes each `Kernels.map` map. */
export const VMATH_EXPORT: Record<ElementwiseMap, VmathFunction> = {
  exp: "vExp",
  sigmoid: "vSigmoid",
  silu: "vSilu",
  softplus: "vSoftplus",
  logsigmoid: "vLogsigmoid",
  siluGrad: "vSiluGrad",
  softplusGrad: "vSoftplusGrad",
  logsigmoidGrad: "vLogsigmoidGrad",
  swiglu: "vSwiglu",
  swigluGrad: "vSwigluGrad",
  add: "vAdd",
  sub: "vSub",
  mul: "vMul",
  div: "vDiv",
};

const LOG2E = 1.4426950408889634;
const LN2 = 0.6931471805599453;
/** ln2 = LN2_HI + LN2_LO, LN2_HI with few mantissa bits so that n·LN2_HI is exact. */
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
const EXP_LO = -104;
const EXP_HI = 88.72283935546875;
/** Cephes expf: e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2. */
const EXP_P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
const SQRT2_MINUS_1 = 0.41421356237309503;

/** The v128 temporaries of one function, named by what they hold (shared by the emitters below). */
export class Vec {
  constructor(readonly c: Code) {}
  private readonly pool = new Map<string, Local>();
  /** The local called `name` (declared on first use). */
  v(name: string): Local {
    let l = this.pool.get(name);
    if (!l) this.pool.set(name, (l = this.c.local("v128")));
    return l;
  }
}

/** Byte indices of i8x16.shuffle: the upper two f32 lanes of the first operand, twice (to widen them with a promote). */
export const HIGH_F32_PAIR = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
/** Byte indices: f32 lanes 0, 1 of the first operand, then lanes 0, 1 of the second (two demoted halves joined). */
export const JOIN_F32_PAIRS = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];

/** Horizontal reduction of a vector's four f32 lanes: (l0 ∘ l1) ∘ (l2 ∘ l3), pushed as an f32. */
export function reduceLanes(c: Code, v: Local, op: "max" | "add"): void {
  const f = (): Code => (op === "max" ? c.f32Max() : c.f32Add());
  c.get(v).f32x4ExtractLane(0).get(v).f32x4ExtractLane(1);
  f();
  c.get(v).f32x4ExtractLane(2).get(v).f32x4ExtractLane(3);
  f();
  f();
}

/** out = exp(x) (lane-wise). `x` is not modified; `out` may be `x`. */
export function emitExp(c: Code, t: Vec, x: Local, out: Local): void {
  const xc = t.v("exp.xc"), nf = t.v("exp.nf"), r = t.v("exp.r"), p = t.v("exp.p"), ni = t.v("exp.ni"), n1 = t.v("exp.n1");
  const over = t.v("exp.over");
  c.get(x).f32x4Const(EXP_HI).f32x4Gt().set(over);
  c.get(x).f32x4Const(EXP_LO).f32x4Pmax().f32x4Const(EXP_HI).f32x4Pmin().set(xc);
  c.get(xc).f32x4Const(LOG2E).f32x4Mul().f32x4Nearest().set(nf);
  c.get(xc).get(nf).f32x4Const(LN2_HI).f32x4Mul().f32x4Sub().get(nf).f32x4Const(LN2_LO).f32x4Mul().f32x4Sub().set(r);
  c.f32x4Const(EXP_P[0]!).set(p);
  for (let i = 1; i < EXP_P.length; i++) c.get(p).get(r).f32x4Mul().f32x4Const(EXP_P[i]!).f32x4Add().set(p);
  // p·r² + r + 1
  c.get(p).get(r).f32x4Mul().get(r).f32x4Mul().get(r).f32x4Add().f32x4Const(1).f32x4Add().set(p);
  c.get(nf).i32x4TruncSatF32x4S().set(ni);
  c.get(ni).i32(1).i32x4ShrS().set(n1);
  // p · 2^n1 · 2^(n − n1): each power built from its exponent bits
  c.get(p).get(n1).i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul();
  c.get(ni).get(n1).i32x4Sub().i32x4Const(127).i32x4Add().i32(23).i32x4Shl().f32x4Mul().set(p);
  c.f32x4Const(Infinity).get(p).get(over).v128Bitselect().set(out);
}

/** out = log1p(e) for lanes e ∈ [0, 1] (see the module comment). */
export function emitLog1pUnit(c: Code, t: Vec, e: Local, out: Local): void {
  const big = t.v("l1p.big"), s = t.v("l1p.s"), z = t.v("l1p.z"), q = t.v("l1p.q");
  c.get(e).f32x4Const(SQRT2_MINUS_1).f32x4Gt().set(big);
  // s = big ? (e − 1)/(e + 3) : e/(e + 2)
  c.get(e).f32x4Const(1).f32x4Sub().get(e).get(big).v128Bitselect();
  c.get(e).f32x4Const(3).f32x4Add().get(e).f32x4Const(2).f32x4Add().get(big).v128Bitselect();
  c.f32x4Div().set(s);
  c.get(s).get(s).f32x4Mul().set(z);
  c.f32x4Const(1 / 11).set(q);
  for (const k of [1 / 9, 1 / 7, 1 / 5, 1 / 3]) c.get(q).get(z).f32x4Mul().f32x4Const(k).f32x4Add().set(q);
  // 2s + 2s·z·q, plus ln2 where big
  c.get(s).get(s).f32x4Add().tee(s).get(z).f32x4Mul().get(q).f32x4Mul().get(s).f32x4Add();
  c.f32x4Const(LN2).get(big).v128And().f32x4Add().set(out);
}

/** out = σ(x) = 1/(1 + e^(−x)) (e^(−x) = +∞ gives 0). */
export function emitSigmoid(c: Code, t: Vec, x: Local, out: Local): void {
  const negx = t.v("sig.negx");
  c.get(x).f32x4Neg().set(negx);
  emitExp(c, t, negx, negx);
  c.f32x4Const(1).f32x4Const(1).get(negx).f32x4Add().f32x4Div().set(out);
}

/** out = log1p(e^(−|x|)), the smooth part of softplus and log σ. */
export function emitSoftTail(c: Code, t: Vec, x: Local, out: Local): void {
  const e = t.v("soft.e");
  c.get(x).f32x4Abs().f32x4Neg().set(e);
  emitExp(c, t, e, e);
  emitLog1pUnit(c, t, e, out);
}

type Body = (c: Code, t: Vec, ins: Local[], outs: Local[]) => void;

/**
 * f(in…, out…, n): loads one vector of each input, runs `body`, stores one vector of each output, for every
 * 4 of the n elements.
 */
function mapKernel(inputs: number, outputs: number, body: Body): Code {
  const c = new Code(new Array(inputs + outputs + 1).fill("i32"));
  const addrs = c.params.slice(0, inputs + outputs);
  const n = c.params[inputs + outputs]!;
  const t = new Vec(c);
  const ins = Array.from({ length: inputs }, (_, i) => t.v(`in${i}`));
  const outs = Array.from({ length: outputs }, (_, i) => t.v(`out${i}`));
  const off = c.local("i32"), end = c.local("i32");
  c.get(n).i32(2).i32Shl().set(end);
  c.block(() => {
    c.get(end).i32Eqz().brIf(0);
    c.loop(() => {
      ins.forEach((v, i) => c.get(addrs[i]!).get(off).i32Add().v128Load().set(v));
      body(c, t, ins, outs);
      outs.forEach((v, i) => c.get(addrs[inputs + i]!).get(off).i32Add().get(v).v128Store());
      c.get(off).i32(16).i32Add().tee(off).get(end).i32LtS().brIf(0);
    });
  });
  return c;
}

const BODIES: Record<VmathFunction, Body> = {
  vExp: (c, t, [x], [y]) => emitExp(c, t, x!, y!),
  vSigmoid: (c, t, [x], [y]) => emitSigmoid(c, t, x!, y!),
  vSilu: (c, t, [x], [y]) => {
    emitSigmoid(c, t, x!, y!);
    c.get(x!).get(y!).f32x4Mul().set(y!);
  },
  // max(x, 0) + log1p(e^(−|x|)); pmax keeps a NaN x
  vSoftplus: (c, t, [x], [y]) => {
    emitSoftTail(c, t, x!, y!);
    c.get(x!).f32x4Const(0).f32x4Pmax().get(y!).f32x4Add().set(y!);
  },
  // min(x, 0) − log1p(e^(−|x|))
  vLogsigmoid: (c, t, [x], [y]) => {
    emitSoftTail(c, t, x!, y!);
    c.get(x!).f32x4Const(0).f32x4Pmin().get(y!).f32x4Sub().set(y!);
  },
  // g·s·(1 + x(1 − s)), s = σ(x)
  vSiluGrad: (c, t, [g, x], [y]) => {
    const s = t.v("s");
    emitSigmoid(c, t, x!, s);
    c.f32x4Const(1).get(s).f32x4Sub().get(x!).f32x4Mul().f32x4Const(1).f32x4Add().get(s).f32x4Mul().get(g!).f32x4Mul().set(y!);
  },
  // g·σ(x)
  vSoftplusGrad: (c, t, [g, x], [y]) => {
    emitSigmoid(c, t, x!, y!);
    c.get(g!).get(y!).f32x4Mul().set(y!);
  },
  // g·σ(−x)
  vLogsigmoidGrad: (c, t, [g, x], [y]) => {
    const nx = t.v("nx");
    c.get(x!).f32x4Neg().set(nx);
    emitSigmoid(c, t, nx, y!);
    c.get(g!).get(y!).f32x4Mul().set(y!);
  },
  // out = a·s·u, sig = s = σ(a)
  vSwiglu: (c, t, [a, u], [y, s]) => {
    emitSigmoid(c, t, a!, s!);
    c.get(a!).get(s!).f32x4Mul().get(u!).f32x4Mul().set(y!);
  },
  // dA = g·u·(s·(1 + a(1 − s))), dU = g·(a·s)
  vSwigluGrad: (c, _t, [g, a, u, s], [dA, dU]) => {
    c.get(g!).get(u!).f32x4Mul();
    c.f32x4Const(1).get(s!).f32x4Sub().get(a!).f32x4Mul().f32x4Const(1).f32x4Add().get(s!).f32x4Mul();
    c.f32x4Mul().set(dA!);
    c.get(g!).get(a!).get(s!).f32x4Mul().f32x4Mul().set(dU!);
  },
  vAdd: (c, _t, [a, b], [y]) => c.get(a!).get(b!).f32x4Add().set(y!),
  vSub: (c, _t, [a, b], [y]) => c.get(a!).get(b!).f32x4Sub().set(y!),
  vMul: (c, _t, [a, b], [y]) => c.get(a!).get(b!).f32x4Mul().set(y!),
  vDiv: (c, _t, [a, b], [y]) => c.get(a!).get(b!).f32x4Div().set(y!),
};

/** The function bodies, in VMATH_FUNCTIONS order. */
export function vmathCodes(): Array<{ name: VmathFunction; code: Code }> {
  const arity = (name: VmathFunction): readonly [number, number] =>
    MAP_ARITY[(Object.keys(VMATH_EXPORT) as ElementwiseMap[]).find((m) => VMATH_EXPORT[m] === name)!];
  return VMATH_FUNCTIONS.map((name) => ({ name, code: mapKernel(...arity(name), BODIES[name]) }));
}

/** The exported functions as the driver calls them (addresses in bytes, n a multiple of 4). */
export type VmathExports = Record<VmathFunction, (...addressesThenCount: number[]) => void>;
