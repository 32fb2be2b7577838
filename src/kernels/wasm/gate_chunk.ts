/**
 * `Kernels.gateChunkPrepare` / `gateChunkBackward` on the wasm backend: f32 calls run the SIMD kernels of
 * gate_chunk_code.ts, f64 calls (and any call that does not fit in the module's memory) the JS loops.
 *
 * Each call stages its chunk from `heapBase` on and copies the results out before returning (the caller's
 * matmuls stage their operands in the same place between calls): the rows of q, k (and g) from the op layout,
 * padded with zeros to whole channel quads, and the scratch arrays the kernel reads; a chunk is a few tens of
 * KiB at the usual sizes, so it stays in cache. The backward's dg rows are the f32 sums over the chunk's rows
 * plus the f64 sum over the later chunks (`running`), added here in f64 and rounded once.
 */
import { gateChunkBackwardJs, gateChunkPrepareJs } from "../js/gate_chunk.js";
import type { FloatArray, GateChunkBackwardArgs, GateChunkPrepareArgs } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";

/** Bump allocator of 16-byte-aligned f32 areas from `base` on (byte addresses). */
class Areas {
  end: number;
  constructor(base: number) {
    this.end = alignUp(base, 16);
  }
  take(floats: number): number {
    const at = this.end;
    this.end += alignUp(4 * floats, 16);
    return at;
  }
}

/** Below this row width a plain loop beats `set(subarray(…))` per row. */
const SET_WIDTH = 16;

/** `rows` rows of K elements (row r at src[offset + r·stride]) into [rows][Kp] at heap[to…], padding zeroed. */
function stageRows(src: Float32Array, offset: number, stride: number, K: number, rows: number, heap: Float32Array, to: number, Kp: number): void {
  if (K === Kp && stride === K) {
    heap.set(src.subarray(offset, offset + rows * K), to);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const s = offset + r * stride, t = to + r * Kp;
    if (K >= SET_WIDTH) heap.set(src.subarray(s, s + K), t);
    else for (let d = 0; d < K; d++) heap[t + d] = src[s + d]!;
    for (let d = K; d < Kp; d++) heap[t + d] = 0;
  }
}

/** The inverse of `stageRows` (the padding is dropped). */
function unstageRows(heap: Float32Array, from: number, Kp: number, dst: FloatArray, offset: number, stride: number, K: number, rows: number): void {
  if (K === Kp && stride === K) {
    dst.set(heap.subarray(from, from + rows * K), offset);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const f = from + r * Kp, t = offset + r * stride;
    if (K >= SET_WIDTH) dst.set(heap.subarray(f, f + K), t);
    else for (let d = 0; d < K; d++) dst[t + d] = heap[f + d]!;
  }
}

const f32 = (x: FloatArray): x is Float32Array => x instanceof Float32Array;

export class WasmGateChunk {
  constructor(private readonly rt: WasmRuntime) {}

  /** Byte address of every array (−1 unless all live in the module's memory). */
  private own(arrays: readonly FloatArray[]): number[] | null {
    const at = arrays.map((x) => this.rt.addressOf(x));
    return at.every((a) => a >= 0) ? at : null;
  }

  prepare(p: GateChunkPrepareArgs): void {
    const { K, L, scale, q, k, g, offset, stride, s } = p;
    if (!(f32(q) && f32(k) && f32(g) && f32(s.a))) return gateChunkPrepareJs(p);
    const { sub, nbMax } = s;
    const Kq = Math.ceil(K / 4), Kp = 4 * Kq, nb = Math.ceil(L / sub);
    const pivoted = (sub * nb * (nb - 1)) / 2;
    // in place when the arrays live in the module's memory and their rows need no padding
    const io = Kp === K ? this.own([q, k, g]) : null;
    const outs = [s.a, s.u, s.w, s.Qu, s.Kw, s.Qg, s.Ke, s.G, s.Ehat, s.M, s.Kt, s.A];
    const sOwn = Kp === K ? this.own(outs) : null;
    const m = new Areas(this.rt.heapBase);
    const [qa, ka, ga] = io ? io.map((at) => at + 4 * offset) : [m.take(L * Kp), m.take(L * Kp), m.take(L * Kp)];
    const [a, u, w, Qu, Kw, Qg, Ke, G, Eh, M, Kt, A] = sOwn ?? [
      ...new Array(7).fill(0).map(() => m.take(L * Kp)), m.take(nb * Kp), m.take(nb * Kp), m.take(nb * nbMax * Kp), m.take(pivoted * Kp), m.take(L * L),
    ] as number[];
    const aSt = m.take(nb * Kp), D = m.take(nb * Kp), gl = m.take(Kp), xs = m.take(Kp);
    if (!this.rt.reserve(m.end)) return gateChunkPrepareJs(p);
    const heap = this.rt.f32;
    if (!io) {
      stageRows(q, offset, stride, K, L, heap, qa! >> 2, Kp);
      stageRows(k, offset, stride, K, L, heap, ka! >> 2, Kp);
      stageRows(g, offset, stride, K, L, heap, ga! >> 2, Kp);
    }
    this.rt.gateChunk.gateChunkPrepare(qa, ka, ga, io ? 4 * stride : 4 * Kp, a, u, w, Qu, Kw, Qg, Ke, G, Eh, aSt, D, gl, M, Kt, A, xs, L, Kq, sub, nb, nbMax, scale);
    if (!sOwn) {
      for (const [from, to] of [[a, s.a], [u, s.u], [w, s.w], [Qu, s.Qu], [Qg, s.Qg], [Ke, s.Ke]] as const) unstageRows(heap, from! >> 2, Kp, to, 0, K, K, L);
      unstageRows(heap, G! >> 2, Kp, s.G, 0, K, K, nb);
      unstageRows(heap, Eh! >> 2, Kp, s.Ehat, 0, K, K, nb);
      unstageRows(heap, M! >> 2, Kp, s.M, 0, K, K, nb * nbMax);
      unstageRows(heap, Kt! >> 2, Kp, s.Kt, 0, K, K, pivoted);
      s.A.set(heap.subarray(A! >> 2, (A! >> 2) + L * L));
    }
    for (let d = 0; d < K; d++) s.gamLast[d] = heap[(gl >> 2) + d]!;
  }

  backward(p: GateChunkBackwardArgs): void {
    const { K, L, scale, q, k, offset, stride, dq, dk, dg, running, s } = p;
    if (!(f32(q) && f32(k) && f32(dq) && f32(dk) && f32(dg) && f32(s.a))) return gateChunkBackwardJs(p);
    const { sub, nbMax } = s;
    const Kq = Math.ceil(K / 4), Kp = 4 * Kq, nb = Math.ceil(L / sub);
    const pivoted = (sub * nb * (nb - 1)) / 2;
    const io = Kp === K ? this.own([q, k, dq, dk]) : null;
    const ins = [s.a, s.u, s.w, s.G, s.Ehat, s.M, s.dA, s.tq, s.tk, s.xq, s.xk];
    const sOwn = Kp === K ? this.own(ins) : null;
    const m = new Areas(this.rt.heapBase);
    const [qa, ka, dqa, dka] = io ? io.map((at) => at + 4 * offset) : new Array(4).fill(0).map(() => m.take(L * Kp)) as number[];
    const [a, u, w, G, Eh, M, dA, tq, tk, xq, xk] = sOwn ?? [
      ...new Array(3).fill(0).map(() => m.take(L * Kp)), m.take(nb * Kp), m.take(nb * Kp), m.take(nb * nbMax * Kp), m.take(L * L),
      ...new Array(3).fill(0).map(() => m.take(L * Kp)), m.take(pivoted * Kp),
    ] as number[];
    const dgs = m.take(L * Kp);
    if (!this.rt.reserve(m.end)) return gateChunkBackwardJs(p);
    const heap = this.rt.f32;
    if (!io) {
      stageRows(q, offset, stride, K, L, heap, qa! >> 2, Kp);
      stageRows(k, offset, stride, K, L, heap, ka! >> 2, Kp);
    }
    if (!sOwn) {
      for (const [from, to] of [[s.a, a], [s.u, u], [s.w, w], [s.tq, tq], [s.tk, tk]] as const) stageRows(from as Float32Array, 0, K, K, L, heap, to! >> 2, Kp);
      if (L > sub) stageRows(s.xq as Float32Array, sub * K, K, K, L - sub, heap, (xq! >> 2) + sub * Kp, Kp);
      stageRows(s.G as Float32Array, 0, K, K, nb, heap, G! >> 2, Kp);
      stageRows(s.Ehat as Float32Array, 0, K, K, nb, heap, Eh! >> 2, Kp);
      stageRows(s.M as Float32Array, 0, K, K, nb * nbMax, heap, M! >> 2, Kp);
      stageRows(s.xk as Float32Array, 0, K, K, pivoted, heap, xk! >> 2, Kp);
      heap.set((s.dA as Float32Array).subarray(0, L * L), dA! >> 2);
    }
    this.rt.gateChunk.gateChunkBackward(qa, ka, dqa, dka, io ? 4 * stride : 4 * Kp, a, u, w, G, Eh, M, dA, tq, tk, xq, xk, dgs, L, Kq, sub, nb, nbMax, scale);
    if (!io) {
      unstageRows(heap, dqa! >> 2, Kp, dq, offset, stride, K, L);
      unstageRows(heap, dka! >> 2, Kp, dk, offset, stride, K, L);
    }
    // dg = the later chunks' f64 sum + this chunk's f32 suffix sums
    for (let r = 0, f = dgs >> 2, t = offset; r < L; r++, f += Kp, t += stride) {
      for (let d = 0; d < K; d++) dg[t + d] = running[d]! + heap[f + d]!;
    }
    for (let d = 0, f = dgs >> 2; d < K; d++) running[d] = running[d]! + heap[f + d]!;
  }
}
