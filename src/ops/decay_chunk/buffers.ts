/**
 * The decay engine's per-call buffers: one (batch, head)'s rows gathered densely, the per-chunk scratch, and
 * the strided row copies between the op layout [B,T,H,D] and dense [T,D] rows. Every buffer comes from
 * `allocate`, in the working precision unless it must be f64.
 */
import { allocate, type DType } from "../../core/dtype.js";
import { getKernels } from "../../kernels/index.js";
import { ScratchSet } from "../../kernels/scratch.js";
import type { FloatArray, Kernels } from "../../kernels/types.js";
import { gateWidth, type DecayProblem } from "./problem.js";

export const workType = (p: DecayProblem): DType => (p.f64 ? "f64" : "f32");
export const f64Array = (n: number): Float64Array => allocate("f64", n) as Float64Array;

/**
 * One (batch, head)'s rows gathered densely: [T,K], [T,V], gates [T,G]. Reused for every head. The
 * working-precision rows are borrowed from the kernels (in their memory, so the row copies and products use
 * them in place) and given back by `release`.
 */
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

  private readonly scratch: ScratchSet;

  constructor(kern: Kernels, p: DecayProblem, backward: boolean) {
    const { T, K, V } = p;
    const G = gateWidth(p);
    const dt = workType(p);
    this.scratch = new ScratchSet(kern);
    const take = (n: number): FloatArray => this.scratch.take(dt, n);
    this.q = take(T * K);
    this.k = take(T * K);
    this.v = take(T * V);
    this.o = take(T * V);
    this.g = f64Array(p.gate === "none" ? 0 : T * G);
    this.dq = take(backward ? T * K : 0);
    this.dk = take(backward ? T * K : 0);
    this.dv = take(backward ? T * V : 0);
    this.db = f64Array(backward && p.gate !== "none" ? T * G : 0);
  }

  /** Gives the borrowed rows back; they must not be used afterwards. */
  release(): void {
    this.scratch.release();
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
 * `rows` rows of `width` elements from src (row i at so + i·ss) to dst (row i at dO + i·ds). Arrays of one type
 * go through the kernels' `copyRows` (in the wasm memory when both live there); the f32 → f64 copies of gates
 * use a loop of their own (a generic loop fed every pair of types cost ~10 ns per element).
 */
export function copyRows(src: FloatArray, so: number, ss: number, dst: FloatArray, dO: number, ds: number, rows: number, width: number): void {
  if (src.constructor === dst.constructor) {
    getKernels().copyRows({ src, srcOffset: so, srcStride: ss, dst, dstOffset: dO, dstStride: ds, rows, cols: width });
  } else if (src instanceof Float32Array) copy32to64(src, so, ss, dst as Float64Array, dO, ds, rows, width);
  else copy64to32(src, so, ss, dst as Float32Array, dO, ds, rows, width);
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
