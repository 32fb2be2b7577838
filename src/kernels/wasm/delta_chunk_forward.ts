/**
 * `Kernels.deltaChunkForwardPrep` on the wasm backend: f32 calls run the SIMD kernel of delta_chunk_forward_code.ts,
 * f64 calls (and any call that does not fit in the module's memory) the JS loops.
 *
 * Row blocks that live in the module's memory (lent by the runtime: the arena's buffers, a task's copies) are read
 * and written in place with their own row stride (the kernel handles any width and stride); any other is staged
 * per call from `heapBase` on as dense rows, and staged outputs are copied out before returning. D is staged as
 * f64 unless it is in the memory too. The per-row factors (−βΓ, β, e, τΓ) are rounded to f32 here, once per row.
 */
import { deltaChunkForwardPrepJs } from "../js/delta_chunk_forward.js";
import type { DeltaChunkForwardPrepArgs, FloatArray, StridedRows } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";
import { stageRows, unstageRows } from "./layout.js";

const f32 = (x: FloatArray | undefined): boolean => x === undefined || x instanceof Float32Array;

/** Operand slots, in the kernel's order. */
const K_ = 0, Q_ = 1, V_ = 2, QK_ = 3, KB_ = 4, VB_ = 5, KE_ = 6, QP_ = 7, S_ = 8, SO_ = 9;
const SLOTS = 10;

export class WasmDeltaChunkForward {
  /** per slot: byte address of row 0, row distance in bytes, and whether it is staged */
  private readonly addr = new Int32Array(SLOTS);
  private readonly stride = new Int32Array(SLOTS);
  private readonly staged = new Uint8Array(SLOTS);
  private end = 0;
  private f64View: Float64Array | null = null;

  constructor(private readonly rt: WasmRuntime) {}

  prep(a: DeltaChunkForwardPrepArgs): void {
    const { L, K, V, k, q, v, qk, kb, vb, ke, qp, s, sOut } = a;
    if (!(f32(k.data) && f32(q.data) && f32(v.data) && f32(qk.data) && f32(kb.data) && f32(vb.data) && f32(ke?.data) && f32(qp.data) && f32(s.data) && f32(sOut.data))) {
      return deltaChunkForwardPrepJs(a);
    }
    const rt = this.rt;
    this.end = alignUp(rt.heapBase, 16);
    this.place(K_, k, L, K);
    this.place(Q_, q, L, K);
    this.place(V_, v, L, V);
    this.place(QK_, qk, L, L);
    this.place(KB_, kb, L, K);
    this.place(VB_, vb, L, V);
    if (ke) this.place(KE_, ke, L, K);
    else this.addr[KE_] = this.stride[KE_] = this.staged[KE_] = 0;
    this.place(QP_, qp, L, K + L);
    this.place(S_, s, K, V);
    this.place(SO_, sOut, K, V);
    const fac = this.take(4 * L);
    const dIn = a.d ? rt.addressOf(a.d) : 0;
    const dAt = a.d && dIn < 0 ? this.take(2 * L * L) : dIn;
    if (!rt.reserve(this.end)) return deltaChunkForwardPrepJs(a);
    const heap = rt.f32;
    const blocks = [k, q, v, qk, kb, vb, ke, qp, s, sOut] as const;
    const widths = [K, K, V, L, K, V, K, K + L, V, V];
    for (const i of [K_, Q_, V_, QK_, S_]) {
      const x = blocks[i]!;
      if (this.staged[i]) stageRows(x.data as Float32Array, x.offset, x.stride, widths[i]!, i === S_ ? K : L, heap, this.addr[i]! >> 2, widths[i]!);
    }
    const { beta, betaOffset, gam, e, scale } = a;
    for (let r = 0, f = fac >> 2; r < L; r++, f += 4) {
      const bt = beta[betaOffset + r]!;
      heap[f] = -bt * gam[r]!;
      heap[f + 1] = bt;
      heap[f + 2] = e[r]!;
      heap[f + 3] = scale * gam[r]!;
    }
    if (a.d && dIn < 0) {
      if (this.f64View?.buffer !== heap.buffer) this.f64View = new Float64Array(heap.buffer);
      this.f64View.set(a.d.subarray(0, L * L), dAt >> 3);
    }
    const { addr: A, stride: S } = this;
    rt.deltaChunkForward.deltaChunkForwardPrep(
      A[K_]!, S[K_]!, A[Q_]!, S[Q_]!, A[V_]!, S[V_]!, A[QK_]!, S[QK_]!, fac, dAt,
      A[KB_]!, S[KB_]!, A[VB_]!, S[VB_]!, A[KE_]!, S[KE_]!, A[QP_]!, S[QP_]!, A[S_]!, S[S_]!, A[SO_]!, S[SO_]!,
      L, K, V, (ke ? 1 : 0) | (a.d ? 2 : 0), scale, a.sScale,
    );
    for (const i of [KB_, VB_, KE_, QP_, SO_]) {
      const x = blocks[i];
      if (x && this.staged[i]) unstageRows(heap, this.addr[i]! >> 2, widths[i]!, x.data, x.offset, x.stride, widths[i]!, i === SO_ ? K : L);
    }
  }

  /** A staging area of `floats` f32 (byte address). */
  private take(floats: number): number {
    const at = this.end;
    this.end += alignUp(4 * floats, 16);
    return at;
  }

  /** Slot i: the rows in place when they are in the module's memory, else a dense staging area. */
  private place(i: number, x: StridedRows, rows: number, width: number): void {
    const own = this.rt.addressOf(x.data);
    if (own >= 0) {
      this.addr[i] = own + 4 * x.offset;
      this.stride[i] = 4 * x.stride;
      this.staged[i] = 0;
    } else {
      this.addr[i] = this.take(rows * width);
      this.stride[i] = 4 * width;
      this.staged[i] = 1;
    }
  }
}
