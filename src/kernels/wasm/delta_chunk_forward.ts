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
import type { DeltaChunkForwardPrepArgs, FloatArray } from "../types.js";
import type { WasmRuntime } from "./runtime.js";
import { RowStaging } from "./layout.js";

const f32 = (x: FloatArray | undefined): boolean => x === undefined || x instanceof Float32Array;

const ABSENT = { at: 0, stride: 0 };

export class WasmDeltaChunkForward {
  private readonly rows: RowStaging;
  private f64View: Float64Array | null = null;

  constructor(private readonly rt: WasmRuntime) {
    this.rows = new RowStaging(rt);
  }

  prep(a: DeltaChunkForwardPrepArgs): void {
    const { L, K, V, ke } = a;
    if (!(f32(a.k.data) && f32(a.q.data) && f32(a.v.data) && f32(a.qk.data) && f32(a.kb.data) && f32(a.vb.data) && f32(ke?.data) && f32(a.qp.data) && f32(a.s.data) && f32(a.sOut.data))) {
      return deltaChunkForwardPrepJs(a);
    }
    const rt = this.rt;
    const st = this.rows;
    st.reset();
    const k = st.place(a.k, L, K, "in"), q = st.place(a.q, L, K, "in"), v = st.place(a.v, L, V, "in"), qk = st.place(a.qk, L, L, "in");
    const kb = st.place(a.kb, L, K, "out"), vb = st.place(a.vb, L, V, "out"), kd = ke ? st.place(ke, L, K, "out") : ABSENT;
    const qp = st.place(a.qp, L, K + L, "out"), s = st.place(a.s, K, V, "in"), sOut = st.place(a.sOut, K, V, "out");
    const fac = st.take(4 * L);
    const dIn = a.d ? rt.addressOf(a.d) : 0;
    const dAt = a.d && dIn < 0 ? st.take(2 * L * L) : dIn;
    if (!rt.reserve(st.end)) return deltaChunkForwardPrepJs(a);
    const heap = rt.f32;
    st.stageIn();
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
    rt.deltaChunkForward.deltaChunkForwardPrep(
      k.at, k.stride, q.at, q.stride, v.at, v.stride, qk.at, qk.stride, fac, dAt,
      kb.at, kb.stride, vb.at, vb.stride, kd.at, kd.stride, qp.at, qp.stride, s.at, s.stride, sOut.at, sOut.stride,
      L, K, V, (ke ? 1 : 0) | (a.d ? 2 : 0), scale, a.sScale,
    );
    st.stageOut();
  }
}
