/**
 * `Kernels.deltaChunkBackwardPrep` / `deltaChunkBackwardMiddle` / `deltaChunkStateGrad` on the wasm backend: f32
 * calls run the SIMD kernels of delta_chunk_backward_code.ts, f64 calls (and any call that does not fit in the
 * module's memory) the JS loops.
 *
 * A row operand that lives in the module's memory (lent by the runtime: the arena's buffers, a task's copies) is
 * read and written in place with its own stride; any other is staged per call from `heapBase` on (dense rows, the
 * kernels take any width) and, when written, copied back before returning. The f64 per-row factors (β, Γ, e) and
 * D are rounded once to f32 on the way in (typed-array `set`); dGam, de, rowM, colM come back from f32.
 */
import { deltaChunkBackwardMiddleJs, deltaChunkBackwardPrepJs, deltaChunkStateGradJs } from "../js/delta_chunk_backward.js";
import type { DeltaChunkBackwardMiddleArgs, DeltaChunkBackwardPrepArgs, DeltaChunkStateGradArgs, FloatArray, StridedRows } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";
import { stageRows, unstageRows } from "./layout.js";

const f32 = (x: FloatArray): x is Float32Array => x instanceof Float32Array;

/** Where one row operand is for a call: byte address and row stride in bytes, and its staging (if any). */
interface Placed {
  at: number;
  stride: number;
  staged: boolean;
  rows: number;
  width: number;
  src: StridedRows;
  /** read by the kernel (staged in), else written (staged out) */
  input: boolean;
}

export class WasmDeltaChunkBackward {
  private end = 0;
  private readonly placed: Placed[] = [];

  constructor(private readonly rt: WasmRuntime) {}

  prep(p: DeltaChunkBackwardPrepArgs): void {
    const { L, K, scale, e, d } = p;
    if (!(f32(p.k.data) && f32(p.qk.data) && f32(p.out.data))) return deltaChunkBackwardPrepJs(p);
    this.reset();
    const k = this.place(p.k, L, K, true), qk = this.place(p.qk, L, L, true), out = this.place(p.out, L, K + L, false);
    const eAt = this.area(L), dAt = this.area(d ? L * L : 0);
    if (!this.rt.reserve(this.end)) return deltaChunkBackwardPrepJs(p);
    const heap = this.rt.f32;
    this.stageIn(heap);
    if (d) {
      heap.set(e.subarray(0, L), eAt >> 2);
      heap.set(d.subarray(0, L * L), dAt >> 2);
    }
    this.rt.deltaChunkBackward.deltaChunkBackwardPrep(k.at, k.stride, qk.at, qk.stride, eAt, dAt, out.at, out.stride, L, K, d ? 1 : 0, scale);
    this.stageOut(heap);
  }

  middle(p: DeltaChunkBackwardMiddleArgs): void {
    const { L, K, V, scale, beta, betaOffset, gam, e, d } = p;
    const rowArgs = [p.r, p.kk, p.k, p.q, p.v, p.y, p.dvb, p.dkq, p.dq, p.dk, p.dv, p.qg, p.dbeta];
    if (!rowArgs.every((x) => f32(x.data))) return deltaChunkBackwardMiddleJs(p);
    this.reset();
    const R = this.place(p.r, 2 * L, K + L, true), kk = this.place(p.kk, 2 * L, L, true);
    const k = this.place(p.k, L, K, true), q = this.place(p.q, L, K, true), v = this.place(p.v, L, V, true);
    const y = this.place(p.y, L, K, true), dvb = this.place(p.dvb, L, V, true);
    const dkq = this.place(p.dkq, L, 2 * L, false), dq = this.place(p.dq, L, K, false), dk = this.place(p.dk, L, K, false);
    const dv = this.place(p.dv, L, V, false), qg = this.place(p.qg, L, K, false), db = this.place(p.dbeta, L, 1, false);
    const btAt = this.area(L), gAt = this.area(L), eAt = this.area(L), dAt = this.area(d ? L * L : 0);
    const dGamAt = this.area(L), deAt = this.area(L), rowAt = this.area(L), colAt = this.area(L);
    if (!this.rt.reserve(this.end)) return deltaChunkBackwardMiddleJs(p);
    const heap = this.rt.f32;
    this.stageIn(heap);
    heap.set(beta.subarray(betaOffset, betaOffset + L), btAt >> 2);
    heap.set(gam.subarray(0, L), gAt >> 2);
    heap.set(e.subarray(0, L), eAt >> 2);
    if (d) heap.set(d.subarray(0, L * L), dAt >> 2);
    this.rt.deltaChunkBackward.deltaChunkBackwardMiddle(
      R.at, R.stride, kk.at, kk.stride, k.at, k.stride, q.at, q.stride, v.at, v.stride, y.at, y.stride, dvb.at, dvb.stride,
      btAt, gAt, eAt, dAt, dkq.at, dkq.stride, dq.at, dq.stride, dk.at, dk.stride, dv.at, dv.stride, qg.at, qg.stride,
      db.at, db.stride, dGamAt, deAt, rowAt, colAt, L, K, V, d ? 1 : 0, scale,
    );
    this.stageOut(heap);
    p.dGam.set(heap.subarray(dGamAt >> 2, (dGamAt >> 2) + L));
    p.de.set(heap.subarray(deAt >> 2, (deAt >> 2) + L));
    if (d) {
      p.rowM.set(heap.subarray(rowAt >> 2, (rowAt >> 2) + L));
      p.colM.set(heap.subarray(colAt >> 2, (colAt >> 2) + L));
    }
  }

  stateGrad(p: DeltaChunkStateGradArgs): number {
    const { K, V, gated, gl } = p;
    if (!(f32(p.ds.data) && f32(p.upd.data) && f32(p.s0.data))) return deltaChunkStateGradJs(p);
    this.reset();
    const ds = this.place(p.ds, K, V, true), upd = this.place(p.upd, K, V, true);
    const s0 = gated ? this.place(p.s0, K, V, true) : ds;
    if (!this.rt.reserve(this.end)) return deltaChunkStateGradJs(p);
    const heap = this.rt.f32;
    this.stageIn(heap);
    const dot = this.rt.deltaChunkBackward.deltaChunkStateGrad(ds.at, ds.stride, upd.at, upd.stride, s0.at, s0.stride, K, V, gated ? 1 : 0, gl);
    if (ds.staged) unstageRows(heap, ds.at >> 2, V, p.ds.data, p.ds.offset, p.ds.stride, V, K);
    return dot;
  }

  private reset(): void {
    this.end = alignUp(this.rt.heapBase, 16);
    this.placed.length = 0;
  }

  /** A staging area of its own (byte address). */
  private area(floats: number): number {
    const at = this.end;
    this.end += alignUp(4 * floats, 16);
    return at;
  }

  /** `rows` rows of `width` of x: in place, or a dense staging area (copied in when `input`, else out after the call). */
  private place(x: StridedRows, rows: number, width: number, input: boolean): Placed {
    const own = this.rt.addressOf(x.data);
    const placed: Placed = own >= 0
      ? { at: own + 4 * x.offset, stride: 4 * x.stride, staged: false, rows, width, src: x, input }
      : { at: this.area(rows * width), stride: 4 * width, staged: true, rows, width, src: x, input };
    if (placed.staged) this.placed.push(placed);
    return placed;
  }

  private stageIn(heap: Float32Array): void {
    for (const p of this.placed) {
      if (p.input) stageRows(p.src.data as Float32Array, p.src.offset, p.src.stride, p.width, p.rows, heap, p.at >> 2, p.width);
    }
  }

  private stageOut(heap: Float32Array): void {
    for (const p of this.placed) {
      if (!p.input) unstageRows(heap, p.at >> 2, p.width, p.src.data, p.src.offset, p.src.stride, p.width, p.rows);
    }
  }
}
