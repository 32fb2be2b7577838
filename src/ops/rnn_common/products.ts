/**
 * The small dense products of a nonlinear RNN's fused kernels (lstm, gru), on raw typed arrays:
 *   forward   P[b, j] += Σ_p h[b, p] · W[j, p]        (h W_hhᵀ: B state rows times the packed gate weights)
 *   backward  D[b, p] += Σ_j G[b, j] · W[j, p]        (pre-activation gradients back to the state: G W_hh)
 * with W_hh row-major [N, H] (N = 4H for lstm, 3H for gru). Both are needed once per time step and cannot be
 * batched over time (each step needs the previous one), so at B = 8, H = 64 each is only ~130k multiply-adds.
 *
 * Both are "out[b, q] += Σ_k a[b, k] · M[q, k]" (M = W_hh forward, M = W_hhᵀ backward). W_hh is the same at
 * every step, so M is packed ONCE per op call (packRows), into f64 strips of 3 rows of M stored k-major, and the
 * per-step product (addProduct) runs a 4×3 register tile over it: 4 rows of `a` × 3 rows of M in 12 local sums,
 * 7 loads per 12 multiply-adds. Everything the inner loop touches is a Float64Array (monomorphic in V8 for f32
 * and f64 inputs alike). bench/ops-rnn.ts ("products") compares this with getKernels().matmul, which re-packs
 * W_hh on every call: at B = 8, H = 64 it measured 40 µs against 60 µs per step for N = 4H, 30 against 48 for
 * N = 3H (Node 20, f32 and f64 alike), so the fused kernels use this loop.
 *
 * The weight gradient dW_hh = Σ_t G_tᵀ h_{t−1} needs no step order, so it is one large product over all steps
 * at the end (gradWeights, through getKernels().matmul, where packing pays).
 */
import { allocate } from "../../core/dtype.js";
import { getKernels } from "../../kernels/index.js";
import type { FloatArray } from "../../kernels/types.js";

/** Rows of M per strip (the tile's width). */
const NR = 3;

/** A matrix M [Q, K] packed for addProduct: strip s holds, for each k, M[3s..3s+2, k] (zero-padded past Q). */
export interface PackedRows {
  readonly Q: number;
  readonly K: number;
  readonly data: Float64Array;
}

/** Packs M[q, k] = src[q·rowStride + k·colStride] for q < Q, k < K. */
export function packRows(src: FloatArray, Q: number, K: number, rowStride: number, colStride: number): PackedRows {
  const strips = Math.ceil(Q / NR);
  const data = new Float64Array(strips * K * NR);
  for (let s = 0; s < strips; s++) {
    for (let r = 0; r < NR; r++) {
      const q = s * NR + r;
      if (q >= Q) break;
      let w = s * K * NR + r;
      for (let k = 0; k < K; k++, w += NR) data[w] = src[q * rowStride + k * colStride]!;
    }
  }
  return { Q, K, data };
}

/** W_hh [N, H] packed for the forward product (M = W_hh). */
export function packForward(w: FloatArray, N: number, H: number): PackedRows {
  return packRows(w, N, H, H, 1);
}

/** W_hh [N, H] packed for the backward product (M = W_hhᵀ, [H, N]). */
export function packBackward(w: FloatArray, N: number, H: number): PackedRows {
  return packRows(w, H, N, 1, H);
}

/**
 * out[outOff + b·Q + q] += Σ_k a[aOff + b·K + k] · M[q, k]   for b < B, q < Q.
 * a holds B dense rows of K; out B dense rows of Q.
 */
export function addProduct(a: Float64Array, aOff: number, B: number, m: PackedRows, out: Float64Array, outOff: number): void {
  const { Q, K, data } = m;
  const strips = Math.ceil(Q / NR);
  let b = 0;
  for (; b + 4 <= B; b += 4) {
    const a0 = aOff + b * K;
    const a1 = a0 + K;
    const a2 = a1 + K;
    const a3 = a2 + K;
    const o0 = outOff + b * Q;
    for (let s = 0; s < strips; s++) {
      let s00 = 0, s01 = 0, s02 = 0;
      let s10 = 0, s11 = 0, s12 = 0;
      let s20 = 0, s21 = 0, s22 = 0;
      let s30 = 0, s31 = 0, s32 = 0;
      let w = s * K * NR;
      for (let k = 0; k < K; k++, w += NR) {
        const w0 = data[w]!;
        const w1 = data[w + 1]!;
        const w2 = data[w + 2]!;
        const x0 = a[a0 + k]!;
        const x1 = a[a1 + k]!;
        const x2 = a[a2 + k]!;
        const x3 = a[a3 + k]!;
        s00 += x0 * w0; s01 += x0 * w1; s02 += x0 * w2;
        s10 += x1 * w0; s11 += x1 * w1; s12 += x1 * w2;
        s20 += x2 * w0; s21 += x2 * w1; s22 += x2 * w2;
        s30 += x3 * w0; s31 += x3 * w1; s32 += x3 * w2;
      }
      const q = s * NR;
      const o = o0 + q;
      if (q + NR <= Q) {
        out[o] += s00; out[o + 1] += s01; out[o + 2] += s02;
        out[o + Q] += s10; out[o + Q + 1] += s11; out[o + Q + 2] += s12;
        out[o + 2 * Q] += s20; out[o + 2 * Q + 1] += s21; out[o + 2 * Q + 2] += s22;
        out[o + 3 * Q] += s30; out[o + 3 * Q + 1] += s31; out[o + 3 * Q + 2] += s32;
      } else {
        const sums = [s00, s01, s02, s10, s11, s12, s20, s21, s22, s30, s31, s32];
        for (let r = 0; r < 4; r++) for (let c = 0; q + c < Q; c++) out[o + r * Q + c] += sums[r * NR + c]!;
      }
    }
  }
  for (; b < B; b++) {
    const a0 = aOff + b * K;
    const o0 = outOff + b * Q;
    for (let s = 0; s < strips; s++) {
      let s0 = 0, s1 = 0, s2 = 0;
      let w = s * K * NR;
      for (let k = 0; k < K; k++, w += NR) {
        const x = a[a0 + k]!;
        s0 += x * data[w]!;
        s1 += x * data[w + 1]!;
        s2 += x * data[w + 2]!;
      }
      const q = s * NR;
      out[o0 + q] += s0;
      if (q + 1 < Q) out[o0 + q + 1] += s1;
      if (q + 2 < Q) out[o0 + q + 2] += s2;
    }
  }
}

/** The forward product through getKernels().matmul (re-packs W every call; for the bench's comparison). */
export function addStateTimesWtKernel(x: FloatArray, xOff: number, B: number, H: number, W: FloatArray, N: number, out: FloatArray, outOff: number): void {
  const args = { m: B, n: N, k: H, aOffset: xOff, aRowStride: H, aColStride: 1, bOffset: 0, bRowStride: 1, bColStride: H, cOffset: outOff, accumulate: true };
  if (x instanceof Float64Array) getKernels().matmulF64({ ...args, a: x, b: W as Float64Array, c: out as Float64Array });
  else getKernels().matmul({ ...args, a: x, b: W as Float32Array, c: out as Float32Array });
}

/**
 * dW[j, p] = Σ_r G[r, j] · X[r, p] over R rows (all time steps and batch rows at once, after the reverse loop):
 * one large product Gᵀ X through getKernels().matmul. G dense [R, N], X dense [R, H] (from xOff), same array
 * type; returns [N, H] in that type.
 */
export function gradWeights(G: FloatArray, X: FloatArray, xOff: number, R: number, N: number, H: number): FloatArray {
  const out = allocate(G instanceof Float64Array ? "f64" : "f32", N * H);
  const args = { m: N, n: H, k: R, aOffset: 0, aRowStride: 1, aColStride: N, bOffset: xOff, bRowStride: H, bColStride: 1, cOffset: 0, accumulate: false };
  if (G instanceof Float64Array) getKernels().matmulF64({ ...args, a: G, b: X as Float64Array, c: out as Float64Array });
  else getKernels().matmul({ ...args, a: G as Float32Array, b: X as Float32Array, c: out as Float32Array });
  return out;
}
