/**
 * Moving one (batch, head) of the delta-rule engine between the op's [B,T,H,·] layouts and the dense blocks the
 * chunk products read, with the kernels' strided row copy (in the wasm memory, one call per block, when both
 * sides live there). The head's rows are scratch borrowed from the kernels (a `ScratchSet`, which gives them
 * back).
 *
 * Keys and queries are stored chunk-stacked: for the chunk starting at t0 with L rows, the L key rows and then
 * the L query rows sit at 2·t0·K, so [K; Q] of one chunk is a dense 2L×K block (one product gives KKᵀ and QKᵀ,
 * and one gives dQKᵀ-and-dKK times [Q; K]).
 */
import { allocate, type DType } from "../../core/dtype.js";
import type { ScratchSet } from "../../kernels/scratch.js";
import type { FloatArray, Kernels } from "../../kernels/types.js";

/** One (batch, head)'s sequences, gathered to dense rows. */
export interface HeadInputs {
  /** chunk-stacked keys and queries, 2·T·K */
  kq: FloatArray;
  /** [T,V] */
  v: FloatArray;
  /** [T], f64 */
  beta: Float64Array;
  /** [T] log decay, f64 (null for the plain delta rule) */
  g: Float64Array | null;
}

export function newHead(scratch: ScratchSet, dtype: DType, T: number, K: number, V: number, gated: boolean): HeadInputs {
  return {
    kq: scratch.take(dtype, 2 * T * K),
    v: scratch.take(dtype, T * V),
    beta: allocate("f64", T) as Float64Array,
    g: gated ? (allocate("f64", T) as Float64Array) : null,
  };
}

/**
 * Fills `hd` with head h of batch b: q, k [B,T,H,K], v [B,T,H,V], beta and g [B,T,H]; keys and queries
 * chunk-stacked with chunk length C.
 */
export function loadHead(
  kern: Kernels, hd: HeadInputs, q: FloatArray, k: FloatArray, v: FloatArray, beta: FloatArray, g: FloatArray | null,
  b: number, h: number, T: number, H: number, K: number, V: number, C: number,
): void {
  const kq = hd.kq;
  for (let t0 = 0; t0 < T; t0 += C) {
    const L = Math.min(C, T - t0);
    gatherRows(kern, k, kq, 2 * t0 * K, b, h, t0, L, T, H, K);
    gatherRows(kern, q, kq, (2 * t0 + L) * K, b, h, t0, L, T, H, K);
  }
  gatherRows(kern, v, hd.v, 0, b, h, 0, T, T, H, V);
  const hb = hd.beta;
  for (let t = 0; t < T; t++) hb[t] = beta[(b * T + t) * H + h]!;
  const hg = hd.g;
  if (hg && g) for (let t = 0; t < T; t++) hg[t] = g[(b * T + t) * H + h]!;
}

/** Rows t0 … t0+L−1 of head (b, h) of x [B,T,H,D] into `out` from offset `at`, densely. */
export function gatherRows(kern: Kernels, x: FloatArray, out: FloatArray, at: number, b: number, h: number, t0: number, L: number, T: number, H: number, D: number): void {
  kern.copyRows({ src: x, srcOffset: ((b * T + t0) * H + h) * D, srcStride: H * D, dst: out, dstOffset: at, dstStride: D, rows: L, cols: D });
}

/** The reverse of gatherRows: L dense rows of `src` from offset `at` into rows t0 … of head (b, h) of x. */
export function scatterRows(kern: Kernels, src: FloatArray, at: number, x: FloatArray, b: number, h: number, t0: number, L: number, T: number, H: number, D: number): void {
  kern.copyRows({ src, srcOffset: at, srcStride: D, dst: x, dstOffset: ((b * T + t0) * H + h) * D, dstStride: H * D, rows: L, cols: D });
}
