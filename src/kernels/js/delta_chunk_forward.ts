/**
 * The delta-rule chunk engine's per-chunk elementwise work before the forward products, in plain TypeScript (the
 * reference, and the path for f64): the loops that ops/delta_common/engine.ts ran itself, moved here with the same
 * operations in the same order, so each entry is computed in JS numbers and rounded once to the arrays' type.
 */
import type { DeltaChunkForwardPrepArgs } from "../types.js";

/** −Kb = −Diag(βΓ)K, Vb = Diag(β)V, Diag(e)K, [Diag(τΓ)Q | P], and the state scaled by Γ_{L−1} (see the args). */
export function deltaChunkForwardPrepJs(a: DeltaChunkForwardPrepArgs): void {
  const { L, K, V, scale, k, q, v, qk, beta, betaOffset, gam, e, d, kb, vb, ke, qp, s, sOut, sScale } = a;
  const kd = k.data, qd = q.data, vd = v.data, qkd = qk.data;
  // [−Kb | Vb] with Kb = Diag(βΓ) K, Vb = Diag(β) V; Diag(e) K
  for (let r = 0; r < L; r++) {
    const bt = beta[betaOffset + r]!;
    const f = -bt * gam[r]!;
    const src = k.offset + r * k.stride;
    const kbo = kb.offset + r * kb.stride;
    for (let j = 0; j < K; j++) kb.data[kbo + j] = f * kd[src + j]!;
    if (ke) {
      const fe = e[r]!;
      const keo = ke.offset + r * ke.stride;
      for (let j = 0; j < K; j++) ke.data[keo + j] = fe * kd[src + j]!;
    }
    const vs = v.offset + r * v.stride;
    const vbo = vb.offset + r * vb.stride;
    for (let j = 0; j < V; j++) vb.data[vbo + j] = bt * vd[vs + j]!;
  }
  // [Diag(τΓ) Q | P], P = τ (QKᵀ ⊙ D) with the diagonal, zeros above
  const out = qp.data;
  for (let r = 0; r < L; r++) {
    const f = scale * gam[r]!;
    const row = qp.offset + r * qp.stride;
    const src = q.offset + r * q.stride;
    for (let j = 0; j < K; j++) out[row + j] = f * qd[src + j]!;
    const qkr = qk.offset + r * qk.stride;
    const pr = row + K;
    if (d) for (let c = 0; c <= r; c++) out[pr + c] = scale * qkd[qkr + c]! * d[r * L + c]!;
    else for (let c = 0; c <= r; c++) out[pr + c] = scale * qkd[qkr + c]!;
    for (let c = r + 1; c < L; c++) out[pr + c] = 0;
  }
  // the state the chunk's update adds to: Γ_{L−1} S₀
  for (let i = 0; i < K; i++) {
    const so = s.offset + i * s.stride;
    const to = sOut.offset + i * sOut.stride;
    for (let j = 0; j < V; j++) sOut.data[to + j] = sScale * s.data[so + j]!;
  }
}
