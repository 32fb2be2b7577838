/**
 * attention, tiled parallel form (spec/mixers.md §1 "Blockwise (memory-efficient) parallel form"), forward and
 * backward by hand on typed arrays, in the style of FlashAttention-2:
 *
 * forward  for every (batch, query head) and query tile of C rows, walk the key tiles the tile can see,
 *          keeping per row a running max m, a running denominator ℓ and an output accumulator; only a C×C
 *          score tile exists at any time, so memory is O(T·(K+V) + C²), never O(T²). Key tiles that are fully
 *          masked (after the query, or before the window) are never visited. Saved for backward: o and the row
 *          log-sum-exp L = m + log ℓ.
 * backward recompute each visible score tile, P = exp(τ·QKᵀ − L), then with D = rowsum(dO ⊙ O):
 *          dV += Pᵀ dO,  dP = dO Vᵀ,  dS = P ⊙ (dP − D),  dQ += τ dS K,  dK += τ dSᵀ Q.
 *          Query heads sharing a kv head (GQA) add into the same dK, dV.
 *
 * The S positions of initial_state (a KV cache) are simply the first S keys; they get dK, dV like any other key.
 * All arrays are in the input dtype. The per-tile loops (mask, online softmax, P and dS) are the kernels'
 * `softmaxTileForward` / `softmaxTileBackward` (kernels/js/softmax_tile.ts is the reference; the key range a row
 * sees in a tile is passed as a band, see `band`). In f64, and on the JS backend, everything is computed in f64 as
 * the reference does. On the wasm backend f32 tiles run in f32 SIMD: scale·s, exp (≤ 2 ulp) and the tile's row sums
 * are f32, the running m and ℓ stay f64 between tiles (m is an f32 value; ℓ adds each tile's f32 sum in f64), and
 * the backward reads L and D rounded to f32; P then has relative error ≤ (2|x| + |x − m| + 2·max|x| + 4)·2⁻²⁴ for
 * x = scale·s, ℓ ≤ (⌈C/4⌉ + 2)·2⁻²⁴ beyond its terms' (bounds in kernels/wasm/softmax_tile_code.ts, tested in
 * test/kernels/softmax_tile.test.ts). The products accumulate in f32 there too (kernels/types.ts).
 * D = rowsum(dO ⊙ O), the final 1/ℓ and L = m + log ℓ stay here, in f64 (a pass over V per row, not per key).
 *
 * Score tiles are per task thread; with f32 on the wasm backend they are lent from its memory (`Kernels.lend`)
 * where it can, so the products and the softmax kernels use them in place. The other buffers come from the buffer
 * arena (`allocate`) when one is active. Without outputFinalState no final state is built (and none is
 * differentiated).
 *
 * Threads: the forward is a task with one unit per (batch, query head), the backward one with one unit per
 * (batch, kv head) (kernels/parallel.ts); a unit's arithmetic does not depend on how units are split.
 */
import { Tensor } from "../../core/tensor.js";
import { withGradMulti } from "../../core/multi.js";
import { record } from "../../core/autograd.js";
import { allocate, allocateForOverwrite, dtypeOfArray } from "../../core/dtype.js";
import { getKernels } from "../../kernels/index.js";
import { mm } from "../products.js";
import { defineTask, runTask } from "../../kernels/parallel.js";
import type { FloatArray, Kernels } from "../../kernels/types.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { attentionDims, cacheLength, type AttentionDims, type AttentionOptions } from "./shared.js";
import { borrowScratch, returnScratch } from "../../kernels/scratch.js";

type Alloc = (n: number) => FloatArray;

/** C[m×n] (+)= A·B on raw arrays (A and B given by offset and strides, C dense), in the arrays' own dtype. */
function gemm(
  m: number, n: number, k: number,
  a: FloatArray, aOffset: number, aRowStride: number, aColStride: number,
  b: FloatArray, bOffset: number, bRowStride: number, bColStride: number,
  c: FloatArray, cOffset: number, accumulate: boolean,
): void {
  mm(getKernels(), m, n, k, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, c, cOffset, accumulate);
}

/** Head-major working copies: q [B,H,T,K], keys [B,Hkv,N,K], values [B,Hkv,N,V] (cache first, then the new ones). */
interface Packed {
  qh: FloatArray;
  kh: FloatArray;
  vh: FloatArray;
}

function pack(inputs: OpInputs, d: AttentionDims, alloc: Alloc): Packed {
  const { B, T, H, Hkv, K, V, S } = d;
  const N = S + T;
  const q = inputs.q!.values();
  const k = inputs.k!.values();
  const v = inputs.v!.values();
  const cache = inputs.initial_state?.values();
  const qh = alloc(B * H * T * K);
  const kh = alloc(B * Hkv * N * K);
  const vh = alloc(B * Hkv * N * V);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const src = ((b * T + t) * H + h) * K;
        qh.set(q.subarray(src, src + K), ((b * H + h) * T + t) * K);
      }
      for (let g = 0; g < Hkv; g++) {
        const ks = ((b * T + t) * Hkv + g) * K;
        kh.set(k.subarray(ks, ks + K), ((b * Hkv + g) * N + S + t) * K);
        const vs = ((b * T + t) * Hkv + g) * V;
        vh.set(v.subarray(vs, vs + V), ((b * Hkv + g) * N + S + t) * V);
      }
    }
    for (let s = 0; s < S; s++) {
      for (let g = 0; g < Hkv; g++) {
        const src = ((b * S + s) * Hkv + g) * (K + V);
        kh.set(cache!.subarray(src, src + K), ((b * Hkv + g) * N + s) * K);
        vh.set(cache!.subarray(src + K, src + K + V), ((b * Hkv + g) * N + s) * V);
      }
    }
  }
  return { qh, kh, vh };
}

/** The key range [lo, hi) that rows [first, last] (absolute positions) can see, as a union. */
function tileKeyRange(first: number, last: number, N: number, d: AttentionDims): [number, number] {
  if (!d.causal) return [0, N];
  return [Math.max(0, first - d.window + 1), last + 1];
}

/**
 * The visible keys of a score tile as a band (kernels/types.ts `SoftmaxTile`): row r of the query tile whose first
 * row is at absolute position `first` sees tile column c (key j0 + c) iff lo + r ≤ c < hi + r.
 */
function band(first: number, j0: number, d: AttentionDims): { lo: number; hi: number } {
  if (!d.causal) return { lo: -Infinity, hi: Infinity };
  return { lo: first - d.window + 1 - j0, hi: first + 1 - j0 };
}

/** The dims and the tile size as a task's numeric arguments, and back. */
function taskArgs(d: AttentionDims, C: number): number[] {
  return [d.B, d.T, d.H, d.Hkv, d.G, d.K, d.V, d.S, d.scale, d.window, d.causal ? 1 : 0, C];
}

function fromTaskArgs(args: readonly number[]): { d: AttentionDims; C: number } {
  const [B, T, H, Hkv, G, K, V, S, scale, window, causal, C] = args as number[];
  return { d: { B: B!, T: T!, H: H!, Hkv: Hkv!, G: G!, K: K!, V: V!, S: S!, scale: scale!, window: window!, causal: causal === 1 }, C: C! };
}

/** About how many flops the score and value products of one pass over all heads take (causal: about half). */
function attentionWork(d: AttentionDims): number {
  const keys = Math.min(d.S + d.T, d.window);
  return 2 * d.B * d.H * d.T * keys * (d.K + d.V) * (d.causal ? 0.5 : 1);
}

/**
 * Tiled forward of one (batch, query head): writes that head's rows of oh [B,H,T,V] (head-major) and of
 * lse [B,H,T] (the row log-sum-exp of the scaled scores). `tile`, `m`, `l` are scratch.
 */
function forwardHead(
  qh: FloatArray, kh: FloatArray, vh: FloatArray, oh: FloatArray, lse: FloatArray, d: AttentionDims, C: number,
  b: number, h: number, tile: FloatArray, m: Float64Array, l: Float64Array, kern: Kernels,
): void {
  const { T, H, Hkv, G, K, V, S, scale } = d;
  const N = S + T;
  const g = Math.floor(h / G);
  const qBase = (b * H + h) * T * K;
  const kBase = (b * Hkv + g) * N * K;
  const vBase = (b * Hkv + g) * N * V;
  const oBase = (b * H + h) * T * V;
  for (let i0 = 0; i0 < T; i0 += C) {
    const rows = Math.min(C, T - i0);
    const first = S + i0;
    const oTile = oBase + i0 * V; // the accumulator is the output tile itself
    oh.fill(0, oTile, oTile + rows * V);
    m.fill(-Infinity);
    l.fill(0);
    const [uLo, uHi] = tileKeyRange(first, first + rows - 1, N, d);
    for (let j0 = uLo; j0 < uHi; j0 += C) {
      const cols = Math.min(C, uHi - j0);
      // raw scores Q_i K_jᵀ [rows×cols]
      gemm(rows, cols, K, qh, qBase + i0 * K, K, 1, kh, kBase + j0 * K, 1, K, tile, 0, false);
      // online softmax: P = exp(τs − m') into the tile, m, ℓ updated, the accumulator rescaled
      kern.softmaxTileForward({ rows, cols, scale, ...band(first, j0, d), tile, m, l, o: oh, oOffset: oTile, V });
      // acc += P V_j
      gemm(rows, V, cols, tile, 0, cols, 1, vh, vBase + j0 * V, V, 1, oh, oTile, true);
    }
    for (let r = 0; r < rows; r++) {
      // causal rows always see their own key, non-causal rows see every key: ℓ > 0
      const inv = 1 / l[r]!;
      const o0 = oTile + r * V;
      for (let c = 0; c < V; c++) oh[o0 + c] *= inv;
      lse[(b * H + h) * T + i0 + r] = m[r]! + Math.log(l[r]!);
    }
  }
}

/** Forward, one unit per (batch, query head): buffers qh, kh, vh → oh, lse. */
const forwardTask = defineTask("attention.chunk.forward", (buffers, args, next) => {
  const [qh, kh, vh, oh, lse] = buffers as [FloatArray, FloatArray, FloatArray, FloatArray, FloatArray];
  const { d, C } = fromTaskArgs(args);
  const kern = getKernels();
  const tile = borrowScratch(kern, dtypeOfArray(qh), C * C);
  const m = new Float64Array(C);
  const l = new Float64Array(C);
  try {
    for (let u = next(); u >= 0; u = next()) forwardHead(qh, kh, vh, oh, lse, d, C, Math.floor(u / d.H), u % d.H, tile, m, l, kern);
  } finally {
    returnScratch(kern, tile);
  }
});

/** Tiled forward. Writes oh [B,H,T,V] (head-major) and lse [B,H,T] (the row log-sum-exp of the scaled scores). */
function forward(p: Packed, d: AttentionDims, C: number, alloc: Alloc): { oh: FloatArray; lse: Float64Array } {
  const oh = alloc(d.B * d.H * d.T * d.V);
  const lse = allocateForOverwrite("f64", d.B * d.H * d.T) as Float64Array;
  runTask(forwardTask, { units: d.B * d.H, work: attentionWork(d), args: taskArgs(d, C), inputs: [p.qh, p.kh, p.vh], outputs: [oh, lse] });
  return { oh, lse };
}

/**
 * Tiled backward of one (batch, query head): accumulates into its rows of dqh [B,H,T,K] and into its kv head's
 * rows of dkh [B,Hkv,N,K], dvh [B,Hkv,N,V]. `P`, `dS`, `D` are scratch.
 */
function backwardHead(
  qh: FloatArray, kh: FloatArray, vh: FloatArray, oh: FloatArray, lse: FloatArray, dOh: FloatArray, d: AttentionDims, C: number,
  b: number, h: number, dqh: FloatArray, dkh: FloatArray, dvh: FloatArray, P: FloatArray, dS: FloatArray, D: Float64Array,
  kern: Kernels,
): void {
  const { T, H, Hkv, G, K, V, S, scale } = d;
  const N = S + T;
  const g = Math.floor(h / G);
  const bh = b * H + h;
  const qBase = bh * T * K;
  const kBase = (b * Hkv + g) * N * K;
  const vBase = (b * Hkv + g) * N * V;
  const oBase = bh * T * V;
  for (let i0 = 0; i0 < T; i0 += C) {
    const rows = Math.min(C, T - i0);
    const first = S + i0;
    const oTile = oBase + i0 * V;
    for (let r = 0; r < rows; r++) {
      let acc = 0;
      const o0 = oTile + r * V;
      for (let c = 0; c < V; c++) acc += dOh[o0 + c]! * oh[o0 + c]!;
      D[r] = acc;
    }
    const [uLo, uHi] = tileKeyRange(first, first + rows - 1, N, d);
    for (let j0 = uLo; j0 < uHi; j0 += C) {
      const cols = Math.min(C, uHi - j0);
      gemm(rows, cols, K, qh, qBase + i0 * K, K, 1, kh, kBase + j0 * K, 1, K, P, 0, false);
      // dP = dO_i V_jᵀ, then P = exp(τ·QKᵀ − L) and dS = τ · P ⊙ (dP − D)
      gemm(rows, cols, V, dOh, oTile, V, 1, vh, vBase + j0 * V, 1, V, dS, 0, false);
      kern.softmaxTileBackward({ rows, cols, scale, ...band(first, j0, d), p: P, ds: dS, lse, lseOffset: bh * T + i0, D });
      // dV_j += Pᵀ dO_i
      gemm(cols, V, rows, P, 0, 1, cols, dOh, oTile, V, 1, dvh, vBase + j0 * V, true);
      // dQ_i += dS K_j ; dK_j += dSᵀ Q_i
      gemm(rows, K, cols, dS, 0, cols, 1, kh, kBase + j0 * K, K, 1, dqh, qBase + i0 * K, true);
      gemm(cols, K, rows, dS, 0, 1, cols, qh, qBase + i0 * K, K, 1, dkh, kBase + j0 * K, true);
    }
  }
}

/**
 * Backward, one unit per (batch, kv head): its G query heads in order (they add into the same dK, dV rows,
 * so they stay in one unit). Buffers qh, kh, vh, oh, lse, dOh → dqh, dkh, dvh (accumulated into).
 */
const backwardTask = defineTask("attention.chunk.backward", (buffers, args, next) => {
  const [qh, kh, vh, oh, lse, dOh, dqh, dkh, dvh] = buffers as [FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray];
  const { d, C } = fromTaskArgs(args);
  const kern = getKernels();
  const P = borrowScratch(kern, dtypeOfArray(qh), C * C);
  const dS = borrowScratch(kern, dtypeOfArray(qh), C * C);
  const D = new Float64Array(C);
  try {
    for (let u = next(); u >= 0; u = next()) {
      const b = Math.floor(u / d.Hkv);
      const g = u % d.Hkv;
      for (let h = g * d.G; h < (g + 1) * d.G; h++) backwardHead(qh, kh, vh, oh, lse, dOh, d, C, b, h, dqh, dkh, dvh, P, dS, D, kern);
    }
  } finally {
    returnScratch(kern, dS);
    returnScratch(kern, P);
  }
});

/**
 * Tiled backward. dOh [B,H,T,V] head-major; accumulates into dqh [B,H,T,K], dkh [B,Hkv,N,K], dvh [B,Hkv,N,V].
 */
function backward(
  p: Packed, oh: FloatArray, lse: Float64Array, dOh: FloatArray, d: AttentionDims, C: number,
  dqh: FloatArray, dkh: FloatArray, dvh: FloatArray,
): void {
  runTask(backwardTask, {
    units: d.B * d.Hkv, work: 2.5 * attentionWork(d), args: taskArgs(d, C),
    inputs: [p.qh, p.kh, p.vh, oh, lse, dOh], outputs: [dqh, dkh, dvh],
  });
}

/** [B,X,T,D] head-major → [B,T,X,D] (the contract layout). */
function toTimeMajor(src: FloatArray, B: number, X: number, T: number, D: number, alloc: Alloc, from = 0, total = T): FloatArray {
  const out = alloc(B * T * X * D);
  for (let b = 0; b < B; b++) {
    for (let x = 0; x < X; x++) {
      for (let t = 0; t < T; t++) {
        const s = ((b * X + x) * total + from + t) * D;
        out.set(src.subarray(s, s + D), ((b * T + t) * X + x) * D);
      }
    }
  }
  return out;
}

/** [B,T,X,D] → [B,X,T,D]. */
function toHeadMajor(src: FloatArray, B: number, T: number, X: number, D: number, alloc: Alloc): FloatArray {
  const out = alloc(B * T * X * D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let x = 0; x < X; x++) {
        const s = ((b * T + t) * X + x) * D;
        out.set(src.subarray(s, s + D), ((b * X + x) * T + t) * D);
      }
    }
  }
  return out;
}

/** The KV cache [B,count,Hkv,K+V] made of key positions [from, from+count) of the head-major keys and values. */
function cacheOf(kh: FloatArray, vh: FloatArray, d: AttentionDims, N: number, from: number, count: number, alloc: Alloc): FloatArray {
  const { B, Hkv, K, V } = d;
  const out = alloc(B * count * Hkv * (K + V));
  for (let b = 0; b < B; b++) {
    for (let s = 0; s < count; s++) {
      for (let g = 0; g < Hkv; g++) {
        const dst = ((b * count + s) * Hkv + g) * (K + V);
        const ks = ((b * Hkv + g) * N + from + s) * K;
        const vs = ((b * Hkv + g) * N + from + s) * V;
        out.set(kh.subarray(ks, ks + K), dst);
        out.set(vh.subarray(vs, vs + V), dst + K);
      }
    }
  }
  return out;
}

/**
 * q [B,T,H,K], k [B,T,Hkv,K], v [B,T,Hkv,V], initial_state [B,S,Hkv,K+V] (optional)
 * → o [B,T,H,V], finalState [B,min(S+T,W),Hkv,K+V]
 */
export function attentionChunk(inputs: OpInputs, options: AttentionOptions): OpOutputs {
  const d = attentionDims(inputs, options);
  const { B, T, H, Hkv, K, V, S } = d;
  const N = S + T;
  const C = options.chunkSize;
  const dtype = inputs.q!.dtype;
  // from the buffer arena when one is active (f32: in the wasm memory, so products and tasks use them in place)
  const alloc: Alloc = (n) => allocate(dtype, n);
  const allocOver: Alloc = (n) => allocateForOverwrite(dtype, n);

  const packed = pack(inputs, d, allocOver);
  const { oh, lse } = forward(packed, d, C, allocOver);
  const keep = cacheLength(N, d.window);
  const o = new Tensor(toTimeMajor(oh, B, H, T, V, allocOver), [B, T, H, V]);
  const withState = options.outputFinalState;
  const finalState = withState ? new Tensor(cacheOf(packed.kh, packed.vh, d, N, N - keep, keep, allocOver), [B, keep, Hkv, K + V]) : null;

  const init = inputs.initial_state;
  const sources = [inputs.q!, inputs.k!, inputs.v!, ...(init ? [init] : [])];
  const rule = (gO: Tensor, gState: Tensor | null): Tensor[] => {
    const dqh = alloc(B * H * T * K);
    const dkh = alloc(B * Hkv * N * K);
    const dvh = alloc(B * Hkv * N * V);
    // the final state is a copy of the last `keep` keys and values: its gradient lands on them directly
    if (gState) {
      const gs = gState.values();
      for (let b = 0; b < B; b++) {
        for (let s = 0; s < keep; s++) {
          for (let g = 0; g < Hkv; g++) {
            const src = ((b * keep + s) * Hkv + g) * (K + V);
            const ks = ((b * Hkv + g) * N + N - keep + s) * K;
            const vs = ((b * Hkv + g) * N + N - keep + s) * V;
            for (let c = 0; c < K; c++) dkh[ks + c] += gs[src + c]!;
            for (let c = 0; c < V; c++) dvh[vs + c] += gs[src + K + c]!;
          }
        }
      }
    }
    const dOh = toHeadMajor(gO.values(), B, T, H, V, allocOver);
    backward(packed, oh, lse, dOh, d, C, dqh, dkh, dvh);
    const dq = new Tensor(toTimeMajor(dqh, B, H, T, K, allocOver), [B, T, H, K]);
    const dk = new Tensor(toTimeMajor(dkh, B, Hkv, T, K, allocOver, S, N), [B, T, Hkv, K]);
    const dv = new Tensor(toTimeMajor(dvh, B, Hkv, T, V, allocOver, S, N), [B, T, Hkv, V]);
    const grads: Tensor[] = [dq, dk, dv];
    if (init) grads.push(new Tensor(cacheOf(dkh, dvh, d, N, 0, S, allocOver), [B, S, Hkv, K + V]));
    return grads;
  };
  if (!finalState) return { o: record(o, "attention.chunk", sources, (gO) => rule(gO, null)) };
  const [oOut, stateOut] = withGradMulti("attention.chunk", [o, finalState], sources, ([gO, gState]) => rule(gO!, gState!));
  return { o: oOut!, finalState: stateOut! };
}
