/**
 * The elementwise maps of `Kernels.map` in plain TypeScript (the reference, and the path for f64 and mixed
 * dtypes). Arithmetic in f64, one rounding per stored result. σ is taken as in core/special.ts: with
 * e = exp(−|x|), σ(x) = 1/(1 + e) for x ≥ 0 and e/(1 + e) below, so no exp overflows; softplus(x) =
 * max(x, 0) + log1p(e). Each map is its own loop (a call per element would keep V8 from inlining the math).
 */
import type { ElementwiseMap, FloatArray, Operand } from "../types.js";

type Loop = (ins: readonly Operand[], outs: ReadonlyArray<Operand | null>, n: number) => void;

/** The map's arity: inputs, outputs. */
export const MAP_ARITY: Record<ElementwiseMap, readonly [number, number]> = {
  exp: [1, 1],
  sigmoid: [1, 1],
  silu: [1, 1],
  softplus: [1, 1],
  logsigmoid: [1, 1],
  siluGrad: [2, 1],
  softplusGrad: [2, 1],
  logsigmoidGrad: [2, 1],
  swiglu: [2, 2],
  swigluGrad: [4, 2],
  add: [2, 1],
  sub: [2, 1],
  mul: [2, 1],
  div: [2, 1],
};

/** Outputs that may be null (not computed). */
const OPTIONAL_OUTPUTS: Partial<Record<ElementwiseMap, readonly number[]>> = { swiglu: [1], swigluGrad: [0, 1] };

function unary(f: (x: FloatArray, xo: number, y: FloatArray, yo: number, n: number) => void): Loop {
  return ([x], [y], n) => f(x!.data, x!.offset, y!.data, y!.offset, n);
}

/** out = g·σ(sign·x). */
function sigmoidTimes(sign: 1 | -1): Loop {
  return ([g, x], [y], n) => {
    const gd = g!.data, xd = x!.data, yd = y!.data;
    for (let i = 0, go = g!.offset, xo = x!.offset, yo = y!.offset; i < n; i++) {
      const v = sign * xd[xo + i]!;
      const e = Math.exp(-Math.abs(v));
      yd[yo + i] = gd[go + i]! * (v >= 0 ? 1 / (1 + e) : e / (1 + e));
    }
  };
}

/** out = a ∘ b for one arithmetic operation (`f` is inlined into each map's own loop by V8). */
function arithmetic(f: (a: number, b: number) => number): Loop {
  return ([a, b], [y], n) => {
    const ad = a!.data, bd = b!.data, yd = y!.data;
    for (let i = 0, ao = a!.offset, bo = b!.offset, yo = y!.offset; i < n; i++) yd[yo + i] = f(ad[ao + i]!, bd[bo + i]!);
  };
}

const LOOPS: Record<ElementwiseMap, Loop> = {
  exp: unary((x, xo, y, yo, n) => {
    for (let i = 0; i < n; i++) y[yo + i] = Math.exp(x[xo + i]!);
  }),
  sigmoid: unary((x, xo, y, yo, n) => {
    for (let i = 0; i < n; i++) {
      const v = x[xo + i]!;
      const e = Math.exp(-Math.abs(v));
      y[yo + i] = v >= 0 ? 1 / (1 + e) : e / (1 + e);
    }
  }),
  silu: unary((x, xo, y, yo, n) => {
    for (let i = 0; i < n; i++) {
      const v = x[xo + i]!;
      const e = Math.exp(-Math.abs(v));
      y[yo + i] = v * (v >= 0 ? 1 / (1 + e) : e / (1 + e));
    }
  }),
  softplus: unary((x, xo, y, yo, n) => {
    for (let i = 0; i < n; i++) {
      const v = x[xo + i]!;
      y[yo + i] = Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
    }
  }),
  // log σ(x) = −softplus(−x)
  logsigmoid: unary((x, xo, y, yo, n) => {
    for (let i = 0; i < n; i++) {
      const v = -x[xo + i]!;
      y[yo + i] = -(Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))));
    }
  }),
  // g·σ(x)(1 + x(1 − σ(x)))
  siluGrad: ([g, x], [y], n) => {
    const gd = g!.data, xd = x!.data, yd = y!.data;
    for (let i = 0, go = g!.offset, xo = x!.offset, yo = y!.offset; i < n; i++) {
      const v = xd[xo + i]!;
      const e = Math.exp(-Math.abs(v));
      const s = v >= 0 ? 1 / (1 + e) : e / (1 + e);
      yd[yo + i] = gd[go + i]! * (s * (1 + v * (1 - s)));
    }
  },
  softplusGrad: sigmoidTimes(1),
  logsigmoidGrad: sigmoidTimes(-1),
  swiglu: ([a, u], [y, sig], n) => {
    const ad = a!.data, ud = u!.data, yd = y!.data;
    const ao = a!.offset, uo = u!.offset, yo = y!.offset;
    const sd = sig?.data ?? null;
    const so = sig?.offset ?? 0;
    for (let i = 0; i < n; i++) {
      const v = ad[ao + i]!;
      const e = Math.exp(-Math.abs(v));
      const s = v >= 0 ? 1 / (1 + e) : e / (1 + e);
      yd[yo + i] = v * s * ud[uo + i]!;
      if (sd !== null) sd[so + i] = s;
    }
  },
  swigluGrad: ([g, a, u, sig], [dA, dU], n) => {
    const gd = g!.data, ad = a!.data, ud = u!.data, sd = sig!.data;
    const go = g!.offset, ao = a!.offset, uo = u!.offset, so = sig!.offset;
    if (dA) {
      const out = dA.data, oo = dA.offset;
      for (let i = 0; i < n; i++) {
        const v = ad[ao + i]!;
        const s = sd[so + i]!;
        out[oo + i] = gd[go + i]! * ud[uo + i]! * (s * (1 + v * (1 - s)));
      }
    }
    if (dU) {
      const out = dU.data, oo = dU.offset;
      for (let i = 0; i < n; i++) out[oo + i] = gd[go + i]! * (ad[ao + i]! * sd[so + i]!);
    }
  },
  add: arithmetic((a, b) => a + b),
  sub: arithmetic((a, b) => a - b),
  mul: arithmetic((a, b) => a * b),
  div: arithmetic((a, b) => a / b),
};

/** Checks a `map` call: a known name, its arity, n, and that every operand holds n elements. */
export function checkMapArgs(name: ElementwiseMap, inputs: readonly Operand[], outputs: ReadonlyArray<Operand | null>, n: number): void {
  const arity = MAP_ARITY[name];
  if (arity === undefined) throw new RangeError(`map: unknown map "${String(name)}"; expected one of ${Object.keys(MAP_ARITY).join(", ")}`);
  if (inputs.length !== arity[0] || outputs.length !== arity[1]) {
    throw new RangeError(`map(${name}): expected ${arity[0]} inputs and ${arity[1]} outputs, got ${inputs.length} and ${outputs.length}`);
  }
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`map(${name}): n must be a non-negative integer, got ${n}`);
  const check = (o: Operand | null, what: string, nullable: boolean): void => {
    if (o === null) {
      if (!nullable) throw new RangeError(`map(${name}): ${what} must not be null`);
      return;
    }
    if (!Number.isInteger(o.offset) || o.offset < 0 || o.offset + n > o.data.length) {
      throw new RangeError(`map(${name}): ${what} needs elements [${o.offset}, ${o.offset + n}) but has ${o.data.length}`);
    }
  };
  inputs.forEach((o, i) => check(o, `input ${i}`, false));
  outputs.forEach((o, i) => check(o, `output ${i}`, OPTIONAL_OUTPUTS[name]?.includes(i) ?? false));
}

export function mapJs(name: ElementwiseMap, inputs: readonly Operand[], outputs: ReadonlyArray<Operand | null>, n: number): void {
  checkMapArgs(name, inputs, outputs, n);
  LOOPS[name](inputs, outputs, n);
}
