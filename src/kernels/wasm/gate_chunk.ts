/**
 * `Kernels.gateChunkPrepare` / `gateChunkBackward` on the wasm backend: f32 calls run the SIMD kernels of
 * gate_chunk_code.ts, f64 calls (and any call that does not fit in the module's memory) the JS loops.
 *
 * An array that lives in the module's memory (lent by the runtime: the arena's buffers, a task's copies) is
 * read and written in place when K is a multiple of 4; any other is staged per call from `heapBase` on and its
 * results copied out before returning (the caller's matmuls stage their operands in the same place between
 * calls): rows of q, k, g, dq, dk, dg from the op layout padded with zeros to whole channel quads, the scratch
 * arrays the kernel reads or writes. A chunk is a few tens of KiB at the usual sizes, so it stays in cache.
 * The backward's dg rows are f32: the chunk's suffix sums plus the later chunks' sum (`running`, kept in f64
 * here and rounded to f32 for the kernel).
 */
import { gateChunkBackwardJs, gateChunkPrepareJs } from "../js/gate_chunk.js";
import type { FloatArray, GateChunkBackwardArgs, GateChunkPrepareArgs } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";
import { Layout, stageRows, unstageRows } from "./layout.js";



const f32 = (x: FloatArray): x is Float32Array => x instanceof Float32Array;

/**
 * Where each operand of one call is: arrays that live in the module's memory are used in place (when their
 * rows need no padding), the others get a staging area. Reused across calls (no allocation per call).
 */
class Placement extends Layout {
  private dense = false;
  private count = 0;
  /** byte addresses of the staging areas handed out by `place` */
  private readonly areas = new Int32Array(32);

  constructor(private readonly rt: WasmRuntime) {
    super(rt.heapBase);
  }

  reset(dense: boolean): void {
    this.end = alignUp(this.rt.heapBase, 16);
    this.dense = dense;
    this.count = 0;
  }
  /** The byte address of element `offset` of x in place, or of a staging area of `floats` for it. */
  place(x: FloatArray, offset: number, floats: number): number {
    const own = this.dense ? this.rt.addressOf(x) : -1;
    if (own >= 0) return own + 4 * offset;
    const at = this.take(floats);
    this.areas[this.count++] = at;
    return at;
  }
  staged(at: number): boolean {
    for (let i = 0; i < this.count; i++) if (this.areas[i] === at) return true;
    return false;
  }
}

export class WasmGateChunk {
  private readonly at: Placement;

  constructor(private readonly rt: WasmRuntime) {
    this.at = new Placement(rt);
  }

  prepare(p: GateChunkPrepareArgs): void {
    const { K, L, scale, q, k, g, offset, stride, s } = p;
    if (!(f32(q) && f32(k) && f32(g) && f32(s.a))) return gateChunkPrepareJs(p);
    const { sub, nbMax } = s;
    const Kq = Math.ceil(K / 4), Kp = 4 * Kq, nb = Math.ceil(L / sub);
    const pivoted = (sub * nb * (nb - 1)) / 2;
    const at = this.at;
    at.reset(Kp === K);
    const qa = at.place(q, offset, L * Kp), ka = at.place(k, offset, L * Kp), ga = at.place(g, offset, L * Kp);
    const a = at.place(s.a, 0, L * Kp), u = at.place(s.u, 0, L * Kp), w = at.place(s.w, 0, L * Kp);
    const Qu = at.place(s.Qu, 0, L * Kp), Kw = at.place(s.Kw, 0, L * Kp), Qg = at.place(s.Qg, 0, L * Kp), Ke = at.place(s.Ke, 0, L * Kp);
    const G = at.place(s.G, 0, nb * Kp), Eh = at.place(s.Ehat, 0, nb * Kp), M = at.place(s.M, 0, nb * nbMax * Kp);
    const Kt = at.place(s.Kt, 0, pivoted * Kp), A = at.place(s.A, 0, L * L);
    const aSt = at.take(nb * Kp), D = at.take(nb * Kp), gl = at.take(Kp), xs = at.take(Kp);
    if (!this.rt.reserve(at.end)) return gateChunkPrepareJs(p);
    const heap = this.rt.f32;
    const qS = this.rowsIn(q, qa, offset, stride, K, Kp, L, heap);
    const kS = this.rowsIn(k, ka, offset, stride, K, Kp, L, heap);
    const gS = this.rowsIn(g, ga, offset, stride, K, Kp, L, heap);
    this.rt.gateChunk.gateChunkPrepare(qa, qS, ka, kS, ga, gS, a, u, w, Qu, Kw, Qg, Ke, G, Eh, aSt, D, gl, M, Kt, A, xs, L, Kq, sub, nb, nbMax, scale);
    this.rowsOut(s.a, a, K, Kp, L, heap);
    this.rowsOut(s.u, u, K, Kp, L, heap);
    this.rowsOut(s.w, w, K, Kp, L, heap);
    this.rowsOut(s.Qu, Qu, K, Kp, L, heap);
    this.rowsOut(s.Qg, Qg, K, Kp, L, heap);
    this.rowsOut(s.Ke, Ke, K, Kp, L, heap);
    this.rowsOut(s.G, G, K, Kp, nb, heap);
    this.rowsOut(s.Ehat, Eh, K, Kp, nb, heap);
    this.rowsOut(s.M, M, K, Kp, nb * nbMax, heap);
    this.rowsOut(s.Kt, Kt, K, Kp, pivoted, heap);
    if (at.staged(A)) s.A.set(heap.subarray(A >> 2, (A >> 2) + L * L));
    for (let d = 0; d < K; d++) s.gamLast[d] = heap[(gl >> 2) + d]!;
  }

  backward(p: GateChunkBackwardArgs): void {
    const { K, L, scale, q, k, offset, stride, dq, dk, dg, running, s } = p;
    if (!(f32(q) && f32(k) && f32(dq) && f32(dk) && f32(dg) && f32(s.a))) return gateChunkBackwardJs(p);
    const { sub, nbMax } = s;
    const Kq = Math.ceil(K / 4), Kp = 4 * Kq, nb = Math.ceil(L / sub);
    const pivoted = (sub * nb * (nb - 1)) / 2;
    const at = this.at;
    at.reset(Kp === K);
    const qa = at.place(q, offset, L * Kp), ka = at.place(k, offset, L * Kp);
    const dqa = at.place(dq, offset, L * Kp), dka = at.place(dk, offset, L * Kp), dga = at.place(dg, offset, L * Kp);
    const a = at.place(s.a, 0, L * Kp), u = at.place(s.u, 0, L * Kp), w = at.place(s.w, 0, L * Kp);
    const tq = at.place(s.tq, 0, L * Kp), tk = at.place(s.tk, 0, L * Kp), xq = at.place(s.xq, 0, L * Kp);
    const G = at.place(s.G, 0, nb * Kp), Eh = at.place(s.Ehat, 0, nb * Kp), M = at.place(s.M, 0, nb * nbMax * Kp);
    const xk = at.place(s.xk, 0, pivoted * Kp), dA = at.place(s.dA, 0, L * L);
    const run = at.take(Kp), tot = at.take(Kp);
    if (!this.rt.reserve(at.end)) return gateChunkBackwardJs(p);
    const heap = this.rt.f32;
    const qS = this.rowsIn(q, qa, offset, stride, K, Kp, L, heap);
    const kS = this.rowsIn(k, ka, offset, stride, K, Kp, L, heap);
    // dq, dk and dg are written before they are read: nothing to stage in
    const dqS = 4 * (at.staged(dqa) ? Kp : stride), dkS = 4 * (at.staged(dka) ? Kp : stride), dgS = 4 * (at.staged(dga) ? Kp : stride);
    this.rowsIn(s.a, a, 0, K, K, Kp, L, heap);
    this.rowsIn(s.u, u, 0, K, K, Kp, L, heap);
    this.rowsIn(s.w, w, 0, K, K, Kp, L, heap);
    this.rowsIn(s.tq, tq, 0, K, K, Kp, L, heap);
    this.rowsIn(s.tk, tk, 0, K, K, Kp, L, heap);
    if (L > sub) this.rowsIn(s.xq, xq + 4 * sub * Kp, sub * K, K, K, Kp, L - sub, heap, xq); // block 0 has none
    this.rowsIn(s.G, G, 0, K, K, Kp, nb, heap);
    this.rowsIn(s.Ehat, Eh, 0, K, K, Kp, nb, heap);
    this.rowsIn(s.M, M, 0, K, K, Kp, nb * nbMax, heap);
    this.rowsIn(s.xk, xk, 0, K, K, Kp, pivoted, heap);
    if (at.staged(dA)) heap.set((s.dA as Float32Array).subarray(0, L * L), dA >> 2);
    const r0 = run >> 2, t0 = tot >> 2;
    for (let d = 0; d < Kp; d++) heap[r0 + d] = d < K ? running[d]! : 0;
    this.rt.gateChunk.gateChunkBackward(qa, qS, ka, kS, dqa, dqS, dka, dkS, dga, dgS, run, tot, a, u, w, G, Eh, M, dA, tq, tk, xq, xk, L, Kq, sub, nb, nbMax, scale);
    if (at.staged(dqa)) unstageRows(heap, dqa >> 2, Kp, dq, offset, stride, K, L);
    if (at.staged(dka)) unstageRows(heap, dka >> 2, Kp, dk, offset, stride, K, L);
    if (at.staged(dga)) unstageRows(heap, dga >> 2, Kp, dg, offset, stride, K, L);
    // the sum over this and the later chunks stays f64
    for (let d = 0; d < K; d++) running[d] = running[d]! + heap[t0 + d]!;
  }

  /**
   * Stages `rows` rows of x (from element `offset`, `stride` apart) into its area at byte `to` when it has one
   * (`area`: the area's start, when `to` is inside it); returns the rows' distance in bytes for the kernel.
   */
  private rowsIn(x: FloatArray, to: number, offset: number, stride: number, K: number, Kp: number, rows: number, heap: Float32Array, area = to): number {
    if (!this.at.staged(area)) return 4 * stride;
    stageRows(x as Float32Array, offset, stride, K, rows, heap, to >> 2, Kp);
    return 4 * Kp;
  }

  /** Copies a staged area of `rows` rows back into x (dense rows of K). */
  private rowsOut(x: FloatArray, from: number, K: number, Kp: number, rows: number, heap: Float32Array): void {
    if (this.at.staged(from)) unstageRows(heap, from >> 2, Kp, x, 0, K, K, rows);
  }
}
