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
import type { DeltaChunkBackwardMiddleArgs, DeltaChunkBackwardPrepArgs, DeltaChunkStateGradArgs, FloatArray } from "../types.js";
import type { WasmRuntime } from "./runtime.js";
import { RowStaging } from "./layout.js";

const f32 = (x: FloatArray): x is Float32Array => x instanceof Float32Array;

export class WasmDeltaChunkBackward {
  private readonly rows: RowStaging;

  constructor(private readonly rt: WasmRuntime) {
    this.rows = new RowStaging(rt);
  }

  prep(p: DeltaChunkBackwardPrepArgs): void {
    const { L, K, scale, e, d } = p;
    if (!(f32(p.k.data) && f32(p.qk.data) && f32(p.out.data))) return deltaChunkBackwardPrepJs(p);
    const st = this.rows;
    st.reset();
    const k = st.place(p.k, L, K, "in"), qk = st.place(p.qk, L, L, "in"), out = st.place(p.out, L, K + L, "out");
    const eAt = st.take(L), dAt = st.take(d ? L * L : 0);
    if (!this.rt.reserve(st.end)) return deltaChunkBackwardPrepJs(p);
    const heap = this.rt.f32;
    st.stageIn();
    if (d) {
      heap.set(e.subarray(0, L), eAt >> 2);
      heap.set(d.subarray(0, L * L), dAt >> 2);
    }
    this.rt.deltaChunkBackward.deltaChunkBackwardPrep(k.at, k.stride, qk.at, qk.stride, eAt, dAt, out.at, out.stride, L, K, d ? 1 : 0, scale);
    st.stageOut();
  }

  middle(p: DeltaChunkBackwardMiddleArgs): void {
    const { L, K, V, scale, beta, betaOffset, gam, e, d } = p;
    const rowArgs = [p.r, p.kk, p.k, p.q, p.v, p.y, p.dvb, p.dkq, p.dq, p.dk, p.dv, p.qg, p.dbeta];
    if (!rowArgs.every((x) => f32(x.data))) return deltaChunkBackwardMiddleJs(p);
    const st = this.rows;
    st.reset();
    const R = st.place(p.r, 2 * L, K + L, "in"), kk = st.place(p.kk, 2 * L, L, "in");
    const k = st.place(p.k, L, K, "in"), q = st.place(p.q, L, K, "in"), v = st.place(p.v, L, V, "in");
    const y = st.place(p.y, L, K, "in"), dvb = st.place(p.dvb, L, V, "in");
    const dkq = st.place(p.dkq, L, 2 * L, "out"), dq = st.place(p.dq, L, K, "out"), dk = st.place(p.dk, L, K, "out");
    const dv = st.place(p.dv, L, V, "out"), qg = st.place(p.qg, L, K, "out"), db = st.place(p.dbeta, L, 1, "out");
    const btAt = st.take(L), gAt = st.take(L), eAt = st.take(L), dAt = st.take(d ? L * L : 0);
    const dGamAt = st.take(L), deAt = st.take(L), rowAt = st.take(L), colAt = st.take(L);
    if (!this.rt.reserve(st.end)) return deltaChunkBackwardMiddleJs(p);
    const heap = this.rt.f32;
    st.stageIn();
    heap.set(beta.subarray(betaOffset, betaOffset + L), btAt >> 2);
    heap.set(gam.subarray(0, L), gAt >> 2);
    heap.set(e.subarray(0, L), eAt >> 2);
    if (d) heap.set(d.subarray(0, L * L), dAt >> 2);
    this.rt.deltaChunkBackward.deltaChunkBackwardMiddle(
      R.at, R.stride, kk.at, kk.stride, k.at, k.stride, q.at, q.stride, v.at, v.stride, y.at, y.stride, dvb.at, dvb.stride,
      btAt, gAt, eAt, dAt, dkq.at, dkq.stride, dq.at, dq.stride, dk.at, dk.stride, dv.at, dv.stride, qg.at, qg.stride,
      db.at, db.stride, dGamAt, deAt, rowAt, colAt, L, K, V, d ? 1 : 0, scale,
    );
    st.stageOut();
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
    const st = this.rows;
    st.reset();
    const ds = st.place(p.ds, K, V, "inout"), upd = st.place(p.upd, K, V, "in");
    const s0 = gated ? st.place(p.s0, K, V, "in") : ds;
    if (!this.rt.reserve(st.end)) return deltaChunkStateGradJs(p);
    st.stageIn();
    const dot = this.rt.deltaChunkBackward.deltaChunkStateGrad(ds.at, ds.stride, upd.at, upd.stride, s0.at, s0.stride, K, V, gated ? 1 : 0, gl);
    st.stageOut();
    return dot;
  }
}
