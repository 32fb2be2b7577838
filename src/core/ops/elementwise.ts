/**
 * Elementwise ops with NumPy broadcasting. Each op is its forward map plus its derivative, side by side;
 * the backward of a broadcast operand sums the gradient back to the operand's shape (sumTo).
 */
import { allocate, allocateForOverwrite, promoteTypes, type DType, type FloatArray } from "../dtype.js";
import { broadcastShapes, broadcastStrides, contiguousStrides, sizeOf } from "../shape.js";
import { forEachRow } from "../strided.js";
import { record } from "../autograd.js";
import { Tensor, type TensorLike } from "../tensor.js";
import { erf, normalPdf, sigmoid as sigmoidScalar, softplus as softplusScalar } from "../special.js";
import { sumTo } from "./reduce.js";
import { getKernels, type ElementwiseMap } from "../../kernels/index.js";
import { defineTask, runTask } from "../../kernels/parallel.js";
import { runMap } from "./map_task.js";

type Unary = (x: number) => number;
type Binary = (a: number, b: number) => number;
type Ternary = (a: number, b: number, c: number) => number;

/** A number becomes a 0-d tensor of the given dtype (it takes no gradient). */
export function asTensor(x: TensorLike, dtype: DType): Tensor {
  if (x instanceof Tensor) return x;
  if (typeof x !== "number") throw new TypeError(`expected a Tensor or a number, got ${typeof x}`);
  const data = allocate(dtype, 1);
  data[0] = x;
  return new Tensor(data, []);
}

function operands(a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  const dtype = a instanceof Tensor ? a.dtype : b instanceof Tensor ? b.dtype : "f32";
  return [asTensor(a, dtype), asTensor(b, dtype)];
}

// ---- raw maps (no autodiff): every forward and backward below is built on these ----

export function mapUnary(x: Tensor, f: Unary, dtype: DType = x.dtype): Tensor {
  const out = allocate(dtype, x.size);
  const src = x.data;
  let w = 0;
  forEachRow(x.shape, [x], (pos, len, step) => {
    let p = pos[0]!;
    const s = step[0]!;
    for (let j = 0; j < len; j++, p += s) out[w++] = f(src[p]!);
  });
  return new Tensor(out, x.shape);
}

export function mapBinary(op: string, a: Tensor, b: Tensor, f: Binary, dtype?: DType): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const out = allocate(dtype ?? promoteTypes(a.dtype, b.dtype), sizeOf(shape));
  const da = a.data;
  const db = b.data;
  const ops = [
    { strides: broadcastStrides(a.shape, a.strides, shape), offset: a.offset },
    { strides: broadcastStrides(b.shape, b.strides, shape), offset: b.offset },
    { strides: contiguousStrides(shape), offset: 0 },
  ];
  forEachRow(shape, ops, (pos, len, step) => {
    let pa = pos[0]!;
    let pb = pos[1]!;
    let po = pos[2]!;
    const sa = step[0]!;
    const sb = step[1]!;
    for (let j = 0; j < len; j++, pa += sa, pb += sb) out[po++] = f(da[pa]!, db[pb]!);
  });
  return new Tensor(out, shape);
}

export function mapTernary(op: string, a: Tensor, b: Tensor, c: Tensor, f: Ternary, dtype?: DType): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape, c.shape);
  const out = allocate(dtype ?? promoteTypes(promoteTypes(a.dtype, b.dtype), c.dtype), sizeOf(shape));
  const [da, db, dc] = [a.data, b.data, c.data];
  const ops = [a, b, c]
    .map((t) => ({ strides: broadcastStrides(t.shape, t.strides, shape), offset: t.offset }))
    .concat([{ strides: contiguousStrides(shape), offset: 0 }]);
  forEachRow(shape, ops, (pos, len, step) => {
    let pa = pos[0]!;
    let pb = pos[1]!;
    let pc = pos[2]!;
    let po = pos[3]!;
    const sa = step[0]!;
    const sb = step[1]!;
    const sc = step[2]!;
    for (let j = 0; j < len; j++, pa += sa, pb += sb, pc += sc) out[po++] = f(da[pa]!, db[pb]!, dc[pc]!);
  });
  return new Tensor(out, shape);
}

// ---- flat loops for the commonest ops ----
// The maps above call `f` per element from one shared loop whose call site sees every op's function, so V8
// inlines none of them (a few ns per element: a third of a training step was spent there). When the operands
// have one shape and are contiguous (no broadcasting or striding, most of a training step's elementwise work),
// the commonest ops run their own loop instead, with the same arithmetic, so the values are identical. A binary
// op whose smaller operand repeats over leading axes (a bias [D] added to [N, D]) runs the same loop per block.

type FlatUnary = (x: FloatArray, xo: number, out: FloatArray, n: number) => void;
type FlatBinary = (a: FloatArray, ao: number, b: FloatArray, bo: number, out: FloatArray, oo: number, n: number) => void;
type FlatTernary = (a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, out: FloatArray, n: number) => void;

function flat(...ts: Tensor[]): boolean {
  const shape = ts[0]!.shape;
  return ts.every((t) => t.isContiguous() && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]));
}

/**
 * If `small` is contiguous and its shape, without leading 1s, is a suffix of `big`'s shape (big contiguous), the
 * size of one repeated block (small.size); otherwise 0. Broadcasting then repeats `small` once per block of big.
 */
function repeatBlock(big: Tensor, small: Tensor): number {
  if (!big.isContiguous() || !small.isContiguous()) return 0;
  let lead = 0;
  while (lead < small.ndim && small.shape[lead] === 1) lead++;
  const tail = small.ndim - lead;
  if (tail === 0 || tail > big.ndim) return 0;
  for (let i = 0; i < tail; i++) if (small.shape[lead + i] !== big.shape[big.ndim - tail + i]) return 0;
  return small.size;
}

function mapUnaryFlat(x: Tensor, f: Unary, loop: FlatUnary | undefined): Tensor {
  if (!loop || !flat(x)) return mapUnary(x, f);
  const out = allocateForOverwrite(x.dtype, x.size);
  loop(x.data, x.offset, out, x.size);
  return new Tensor(out, x.shape);
}

function mapBinaryFlat(op: string, a: Tensor, b: Tensor, f: Binary, loop: FlatBinary | undefined): Tensor {
  if (!loop) return mapBinary(op, a, b, f);
  if (flat(a, b)) {
    const out = allocateForOverwrite(promoteTypes(a.dtype, b.dtype), a.size);
    const code = FLAT_BINARY.indexOf(loop);
    if (code >= 0 && a.size >= SPLIT_MIN) {
      // large: blocks of the same loop as a memory-bound task (both cores when the buffers are the arena's)
      runTask(flatBinaryTask, {
        units: Math.ceil(a.size / SPLIT_BLOCK),
        work: a.size,
        args: [code, a.offset, b.offset, a.size],
        inputs: [a.data, b.data],
        outputs: [out],
        memoryBound: true,
      });
    } else {
      loop(a.data, a.offset, b.data, b.offset, out, 0, a.size);
    }
    return new Tensor(out, a.shape);
  }
  const scalarCode = FLAT_BINARY.indexOf(loop);
  if (scalarCode >= 0 && (a.size === 1) !== (b.size === 1)) {
    // one operand is a single value (x·0.5, a 0-d tensor): one loop with it as a constant
    const big = b.size === 1 ? a : b;
    if (big.isContiguous()) {
      const out = allocateForOverwrite(promoteTypes(a.dtype, b.dtype), big.size);
      const small = b.size === 1 ? b : a;
      scalarLoop(scalarCode, big.data, big.offset, small.data[small.offset]!, big === a, out, big.size);
      return new Tensor(out, broadcastShapes(op, a.shape, b.shape));
    }
  }
  const blockB = a.ndim >= b.ndim ? repeatBlock(a, b) : 0;
  const blockA = blockB === 0 && b.ndim >= a.ndim ? repeatBlock(b, a) : 0;
  if (blockB === 0 && blockA === 0) return mapBinary(op, a, b, f);
  const big = blockB !== 0 ? a : b;
  const block = blockB !== 0 ? blockB : blockA;
  const out = allocateForOverwrite(promoteTypes(a.dtype, b.dtype), big.size); // every block is written
  for (let o = 0; o < big.size; o += block) {
    if (blockB !== 0) loop(a.data, a.offset + o, b.data, b.offset, out, o, block);
    else loop(a.data, a.offset, b.data, b.offset + o, out, o, block);
  }
  return new Tensor(out, big.shape);
}

function mapTernaryFlat(op: string, a: Tensor, b: Tensor, c: Tensor, f: Ternary, loop: FlatTernary | undefined): Tensor {
  if (!loop || !flat(a, b, c)) return mapTernary(op, a, b, c, f);
  const out = allocateForOverwrite(promoteTypes(promoteTypes(a.dtype, b.dtype), c.dtype), a.size);
  loop(a.data, a.offset, b.data, b.offset, c.data, c.offset, out, a.size);
  return new Tensor(out, a.shape);
}

/**
 * Runs of at least this many f32 elements go to the kernel backend's arithmetic maps (SIMD on the wasm backend,
 * the same bits: kernels/types.ts "add"); shorter ones, f64 and mixed dtypes stay in the JS loop (a kernel call
 * costs about a microsecond).
 */
const KERNEL_MIN = 1024;

/** The flat loop of one arithmetic map: `js` (f64 arithmetic, rounded once), or the kernel map for long f32 runs. */
function arithmeticLoop(name: "add" | "sub" | "mul" | "div", js: FlatBinary): FlatBinary {
  return (a, ao, b, bo, o, oo, n) => {
    if (n >= KERNEL_MIN && a instanceof Float32Array && b instanceof Float32Array && o instanceof Float32Array) {
      getKernels().map(name, [{ data: a, offset: ao }, { data: b, offset: bo }], [{ data: o, offset: oo }], n);
    } else {
      js(a, ao, b, bo, o, oo, n);
    }
  };
}

const addLoop = arithmeticLoop("add", (a, ao, b, bo, o, oo, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! + b[bo + i]!; });
const subLoop = arithmeticLoop("sub", (a, ao, b, bo, o, oo, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! - b[bo + i]!; });
const mulLoop = arithmeticLoop("mul", (a, ao, b, bo, o, oo, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! * b[bo + i]!; });
const divLoop = arithmeticLoop("div", (a, ao, b, bo, o, oo, n) => { for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! / b[bo + i]!; });

/**
 * out = x ∘ s (or s ∘ x when `bigIsLeft` is false) for the loop at `code` in FLAT_BINARY, with the same
 * arithmetic as the loops (so the same bits as broadcasting the single value).
 */
function scalarLoop(code: number, x: FloatArray, xo: number, s: number, bigIsLeft: boolean, o: FloatArray, n: number): void {
  switch (code) {
    case 0:
      for (let i = 0; i < n; i++) o[i] = x[xo + i]! + s;
      break;
    case 1:
      if (bigIsLeft) for (let i = 0; i < n; i++) o[i] = x[xo + i]! - s;
      else for (let i = 0; i < n; i++) o[i] = s - x[xo + i]!;
      break;
    case 2:
      for (let i = 0; i < n; i++) o[i] = x[xo + i]! * s;
      break;
    default:
      if (bigIsLeft) for (let i = 0; i < n; i++) o[i] = x[xo + i]! / s;
      else for (let i = 0; i < n; i++) o[i] = s / x[xo + i]!;
  }
}

/** The flat loops a large op splits into blocks (a task's argument picks one by its index here). */
const FLAT_BINARY: readonly FlatBinary[] = [addLoop, subLoop, mulLoop, divLoop];
/** Elements from which a flat binary op runs as a task, and per unit of it. */
const SPLIT_MIN = 1 << 20;
const SPLIT_BLOCK = 1 << 16;

/** Buffers: a, b → out. Args: loop index, a's offset, b's offset, n. Unit u: elements [u·SPLIT_BLOCK, …). */
const flatBinaryTask = defineTask("core.elementwise.flatBinary", (buffers, args, next) => {
  const [a, b, out] = buffers as [FloatArray, FloatArray, FloatArray];
  const [code, ao, bo, n] = args as [number, number, number, number];
  const loop = FLAT_BINARY[code]!;
  for (let u = next(); u >= 0; u = next()) {
    const start = u * SPLIT_BLOCK;
    loop(a, ao + start, b, bo + start, out, start, Math.min(SPLIT_BLOCK, n - start));
  }
});
/** g·y: the backward of exp. */
const gyLoop: FlatTernary = (g, go, _x, _xo, y, yo, o, n) => { for (let i = 0; i < n; i++) o[i] = g[go + i]! * y[yo + i]!; };

// exp, σ, SiLU, softplus and log σ (and the backwards that need σ again) run as the kernel backend's
// elementwise maps (kernels/types.ts `ElementwiseMap`): f32 SIMD on the wasm backend, the JS loops otherwise.

function kernelUnary(name: ElementwiseMap): FlatUnary {
  return (x, xo, o, n) => runMap(name, [{ data: x, offset: xo }], [{ data: o, offset: 0 }], n);
}
/** g·f′(x) by the map `name` over (g, x) (the y operand is not used). */
function kernelGrad(name: ElementwiseMap): FlatTernary {
  return (g, go, x, xo, _y, _yo, o, n) => runMap(name, [{ data: g, offset: go }, { data: x, offset: xo }], [{ data: o, offset: 0 }], n);
}

// ---- unary ops: y = f(x), dx = g · f'(x, y) ----

/** `loops`: optional flat forms of f and of the backward (g, x, y) ↦ g·f'(x, y) (see "flat loops" above). */
function unaryOp(op: string, f: Unary, derivative: (x: number, y: number) => number, loops?: { forward: FlatUnary; backward: FlatTernary }): (x: Tensor) => Tensor {
  return (x: Tensor) => {
    const y = mapUnaryFlat(x, f, loops?.forward);
    return record(y, op, [x], (g) => [mapTernaryFlat(op, g, x, y, (gi, xi, yi) => gi * derivative(xi, yi), loops?.backward)]);
  };
}

export const neg = unaryOp("neg", (x) => -x, () => -1);
export const exp = unaryOp("exp", Math.exp, (_x, y) => y, { forward: kernelUnary("exp"), backward: gyLoop });
export const log = unaryOp("log", Math.log, (x) => 1 / x);
export const sqrt = unaryOp("sqrt", Math.sqrt, (_x, y) => 0.5 / y);
export const rsqrt = unaryOp("rsqrt", (x) => 1 / Math.sqrt(x), (_x, y) => -0.5 * y * y * y);
export const abs = unaryOp("abs", Math.abs, (x) => Math.sign(x));
export const square = unaryOp("square", (x) => x * x, (x) => 2 * x);
export const tanh = unaryOp("tanh", Math.tanh, (_x, y) => 1 - y * y);
export const sigmoid = unaryOp("sigmoid", sigmoidScalar, (_x, y) => y * (1 - y), {
  forward: kernelUnary("sigmoid"),
  backward: (g, go, _x, _xo, y, yo, o, n) => {
    for (let i = 0; i < n; i++) {
      const yi = y[yo + i]!;
      o[i] = g[go + i]! * (yi * (1 - yi));
    }
  },
});
/** SiLU(x) = x·σ(x); d/dx = σ(x)(1 + x(1 − σ(x))). */
function siluDerivative(x: number): number {
  const s = sigmoidScalar(x);
  return s * (1 + x * (1 - s));
}
export const silu = unaryOp("silu", (x) => x * sigmoidScalar(x), siluDerivative, { forward: kernelUnary("silu"), backward: kernelGrad("siluGrad") });
/** Exact GELU x·Φ(x) (PyTorch's default, not the tanh approximation); d/dx = Φ(x) + x·φ(x). */
export const gelu = unaryOp("gelu", (x) => 0.5 * x * (1 + erf(x * Math.SQRT1_2)), (x) => 0.5 * (1 + erf(x * Math.SQRT1_2)) + x * normalPdf(x));
export const relu = unaryOp("relu", (x) => (x > 0 ? x : 0), (x) => (x > 0 ? 1 : 0));
/** softplus(x) = log(1 + e^x), computed stably (no threshold, so it is smooth everywhere); d/dx = σ(x). */
export const softplus = unaryOp("softplus", softplusScalar, (x) => sigmoidScalar(x), { forward: kernelUnary("softplus"), backward: kernelGrad("softplusGrad") });
/** log σ(x) = −softplus(−x); d/dx = σ(−x). */
export const logsigmoid = unaryOp("logsigmoid", (x) => -softplusScalar(-x), (x) => sigmoidScalar(-x), {
  forward: kernelUnary("logsigmoid"),
  backward: kernelGrad("logsigmoidGrad"),
});

export function elu(x: Tensor, alpha = 1): Tensor {
  return unaryOp("elu", (v) => (v > 0 ? v : alpha * Math.expm1(v)), (v, y) => (v > 0 ? 1 : y + alpha))(x);
}

/** Clamp to [min, max] (either may be null). The gradient passes where min ≤ x ≤ max, as in PyTorch. */
export function clamp(x: Tensor, min: number | null, max: number | null): Tensor {
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (lo > hi) throw new RangeError(`clamp: min (${lo}) must not exceed max (${hi})`);
  return unaryOp("clamp", (v) => (v < lo ? lo : v > hi ? hi : v), (v) => (v >= lo && v <= hi ? 1 : 0))(x);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const y = mapUnary(x, (v) => v, dtype);
  return record(y, "cast", [x], (g) => [mapUnary(g, (v) => v, x.dtype)]);
}

// ---- binary ops: z = f(a, b) with broadcasting ----

type GradPair = (g: Tensor, a: Tensor, b: Tensor, z: Tensor) => [() => Tensor, () => Tensor];

function binaryOp(op: string, f: Binary, grads: GradPair, loop?: FlatBinary): (a: TensorLike, b: TensorLike) => Tensor {
  return (a: TensorLike, b: TensorLike) => {
    const [ta, tb] = operands(a, b);
    const z = mapBinaryFlat(op, ta, tb, f, loop);
    return record(z, op, [ta, tb], (g) => {
      const [ga, gb] = grads(g, ta, tb, z);
      return [ta.requiresGrad ? sumTo(ga(), ta.shape) : null, tb.requiresGrad ? sumTo(gb(), tb.shape) : null];
    });
  };
}

export const add = binaryOp("add", (a, b) => a + b, (g) => [() => g, () => g], addLoop);
export const sub = binaryOp("sub", (a, b) => a - b, (g) => [() => g, () => mapUnary(g, (v) => -v)], subLoop);
export const mul = binaryOp("mul", (a, b) => a * b, (g, a, b) => [
  () => mapBinaryFlat("mul", g, b, (x, y) => x * y, mulLoop),
  () => mapBinaryFlat("mul", g, a, (x, y) => x * y, mulLoop),
], mulLoop);
/** d(a/b)/da = 1/b, d(a/b)/db = −z/b. */
export const div = binaryOp("div", (a, b) => a / b, (g, _a, b, z) => [
  () => mapBinaryFlat("div", g, b, (x, y) => x / y, divLoop),
  () => mapTernaryFlat("div", g, z, b, (gi, zi, bi) => (-gi * zi) / bi, (gg, go, zz, zo, bb, bo, o, n) => {
    for (let i = 0; i < n; i++) o[i] = (-gg[go + i]! * zz[zo + i]!) / bb[bo + i]!;
  }),
], divLoop);
/** d(a^b)/da = b·a^(b−1); d(a^b)/db = z·log a, taken as 0 where a ≤ 0 (log undefined there; z is 0 or not real). */
export const pow = binaryOp("pow", Math.pow, (g, a, b, z) => [
  () => mapTernary("pow", g, a, b, (gi, ai, bi) => (bi === 0 ? 0 : gi * bi * Math.pow(ai, bi - 1))),
  () => mapTernary("pow", g, a, z, (gi, ai, zi) => (ai > 0 ? gi * zi * Math.log(ai) : 0)),
]);
/** Where a = b the gradient is split evenly between the two, as in PyTorch. */
export const maximum = binaryOp("maximum", Math.max, (g, a, b) => [
  () => mapTernary("maximum", g, a, b, (gi, ai, bi) => (ai > bi ? gi : ai === bi ? gi / 2 : 0)),
  () => mapTernary("maximum", g, a, b, (gi, ai, bi) => (bi > ai ? gi : ai === bi ? gi / 2 : 0)),
]);
export const minimum = binaryOp("minimum", Math.min, (g, a, b) => [
  () => mapTernary("minimum", g, a, b, (gi, ai, bi) => (ai < bi ? gi : ai === bi ? gi / 2 : 0)),
  () => mapTernary("minimum", g, a, b, (gi, ai, bi) => (bi < ai ? gi : ai === bi ? gi / 2 : 0)),
]);

/** where(cond, a, b): a where cond ≠ 0, else b (broadcasting all three). cond takes no gradient. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const [ta, tb] = operands(a, b);
  const z = mapTernary("where", cond, ta, tb, (c, x, y) => (c !== 0 ? x : y), promoteTypes(ta.dtype, tb.dtype));
  return record(z, "where", [ta, tb], (g) => [
    ta.requiresGrad ? sumTo(mapBinary("where", cond, g, (c, gi) => (c !== 0 ? gi : 0), g.dtype), ta.shape) : null,
    tb.requiresGrad ? sumTo(mapBinary("where", cond, g, (c, gi) => (c !== 0 ? 0 : gi), g.dtype), tb.shape) : null,
  ]);
}
