/**
 * The decay engine's per-call buffers: one (batch, head)'s rows gathered densely, the per-chunk scratch, and
 * the strided row copies between the op layout [B,T,H,D] and dense [T,D] rows. Every buffer comes from
 * `allocate`, in the working precision unless it must be f64.
 */
import { allocate, type DType } from "../../core/dtype.js";
import type { FloatArray } from "../../kernels/types.js";
import { gateWidth, type DecayProblem } from "./problem.js";

export const workType = (p: DecayProblem): DType => (p.f64 ? "f64" : "f32");
export const f64Array = (n: number): Float64Array => allocate("f64", n) as Float64Array;

/** One (batch, head)'s rows gathered densely: [T,K], [T,V], gates [T,G]. Reused for every head. */
export class HeadRows {
  readonly q: FloatArray;
  readonly k: FloatArray;
  readonly v: FloatArray;
  /** forward: o; backward: dO */
  readonly o: FloatArray;
  readonly g: Float64Array;
  readonly dq: FloatArray;
  readonly dk: FloatArray;
  readonly dv: FloatArray;
  /** ∂L/∂B_t per row (backward) */
  readonly db: Float64Array;

  constructor(p: DecayProblem, backward: boolean) {
    const { T, K, V } = p;
    const G = gateWidth(p);
    const dt = workType(p);
    this.q = allocate(dt, T * K);
    this.k = allocate(dt, T * K);
    this.v = allocate(dt, T * V);
    this.o = allocate(dt, T * V);
    this.g = f64Array(p.gate === "none" ? 0 : T * G);
    this.dq = allocate(dt, backward ? T * K : 0);
    this.dk = allocate(dt, backward ? T * K : 0);
    this.dv = allocate(dt, backward ? T * V : 0);
    this.db = f64Array(backward && p.gate !== "none" ? T * G : 0);
  }
}

/** Scratch for one chunk (row-major, row length L or K), reused across chunks and heads. */
export class Workspace {
  // per row (and channel, for a vector gate), f64 (the scalar-gate path)
  readonly b: Float64Array;
  readonly gam: Float64Array;
  readonly e: Float64Array;
  /** Γ_{L−1}, the decay through the whole chunk (per channel for a vector gate) */
  readonly gamLast: Float64Array;
  // L×L, working precision
  readonly A: FloatArray;
  readonly dA: FloatArray;
  // L×K, working precision
  readonly Qg: FloatArray;
  readonly Ke: FloatArray;
  readonly dQc: FloatArray;
  readonly dKc: FloatArray;
  // K×V, working precision
  readonly S: FloatArray;
  readonly dS: FloatArray;

  constructor(p: DecayProblem) {
    const { C, K, V } = p;
    const G = gateWidth(p);
    const dt = workType(p);
    const scalarRows = p.gate === "vector" ? 0 : C;
    this.b = f64Array(scalarRows); this.gam = f64Array(scalarRows); this.e = f64Array(scalarRows);
    this.gamLast = f64Array(G);
    this.A = allocate(dt, C * C); this.dA = allocate(dt, C * C);
    this.Qg = allocate(dt, C * K); this.Ke = allocate(dt, C * K);
    this.dQc = allocate(dt, C * K); this.dKc = allocate(dt, C * K);
    this.S = allocate(dt, K * V); this.dS = allocate(dt, K * V);
  }
}

/**
 * `rows` rows of `width` elements from src (row i at so + i·ss) to dst (row i at dO + i·ds). One loop per
 * pair of array types, so that each loop's element accesses (and `subarray` calls) stay monomorphic: one
 * generic routine fed every pair cost ~10 ns per element.
 */
export function copyRows(src: FloatArray, so: number, ss: number, dst: FloatArray, dO: number, ds: number, rows: number, width: number): void {
  if (src instanceof Float32Array) {
    if (dst instanceof Float32Array) copy32(src, so, ss, dst, dO, ds, rows, width);
    else copy32to64(src, so, ss, dst, dO, ds, rows, width);
  } else if (dst instanceof Float64Array) copy64(src, so, ss, dst, dO, ds, rows, width);
  else copy64to32(src, so, ss, dst, dO, ds, rows, width);
}

/** Below this row width an element loop beats `set(subarray(…))` (measured: at 64, set is ~2× faster). */
const SET_WIDTH = 16;

function copy32(src: Float32Array, so: number, ss: number, dst: Float32Array, dO: number, ds: number, rows: number, width: number): void {
  if (width >= SET_WIDTH) for (let i = 0; i < rows; i++) dst.set(src.subarray(so + i * ss, so + i * ss + width), dO + i * ds);
  else for (let i = 0; i < rows; i++) for (let d = 0, s = so + i * ss, t = dO + i * ds; d < width; d++) dst[t + d] = src[s + d]!;
}
function copy64(src: Float64Array, so: number, ss: number, dst: Float64Array, dO: number, ds: number, rows: number, width: number): void {
  if (width >= SET_WIDTH) for (let i = 0; i < rows; i++) dst.set(src.subarray(so + i * ss, so + i * ss + width), dO + i * ds);
  else for (let i = 0; i < rows; i++) for (let d = 0, s = so + i * ss, t = dO + i * ds; d < width; d++) dst[t + d] = src[s + d]!;
}
function copy32to64(src: Float32Array, so: number, ss: number, dst: Float64Array, dO: number, ds: number, rows: number, width: number): void {
  for (let i = 0; i < rows; i++) for (let d = 0, s = so + i * ss, t = dO + i * ds; d < width; d++) dst[t + d] = src[s + d]!;
}
function copy64to32(src: Float64Array, so: number, ss: number, dst: Float32Array, dO: number, ds: number, rows: number, width: number): void {
  for (let i = 0; i < rows; i++) for (let d = 0, s = so + i * ss, t = dO + i * ds; d < width; d++) dst[t + d] = src[s + d]!;
}

/** x[b,:,h,:] of a [B,T,H,D] array into dense [T,D] rows. */
export function gatherRows(x: FloatArray, out: FloatArray, b: number, h: number, T: number, H: number, D: number): void {
  copyRows(x, (b * T * H + h) * D, H * D, out, 0, D, T, D);
}
/** dense [T,D] rows back into x[b,:,h,:]. */
export function scatterRows(rows: FloatArray, x: FloatArray, b: number, h: number, T: number, H: number, D: number): void {
  copyRows(rows, 0, D, x, (b * T * H + h) * D, H * D, T, D);
}
