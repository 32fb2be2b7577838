/**
 * The delta-rule chunk engine's backward elementwise work in plain TypeScript (the reference, and the path for
 * f64): the loops of ops/delta_common/engine.ts `backwardUnits` between its products (the math is in that file's
 * header), one chunk per call, in JS numbers, each stored entry rounded once to the arrays' type.
 */
import type { DeltaChunkBackwardMiddleArgs, DeltaChunkBackwardPrepArgs, DeltaChunkStateGradArgs } from "../types.js";

/** out = [Diag(e) K | Pᵀ], Pᵀ[r,c] = τ QKᵀ[c,r] D[c,r] for c ≥ r, 0 below. */
export function deltaChunkBackwardPrepJs(p: DeltaChunkBackwardPrepArgs): void {
  const { L, K, scale, e, d: D } = p;
  const gated = D !== null;
  const { data: kq, offset: kOff, stride: kS } = p.k;
  const { data: QK, offset: qkOff, stride: qkS } = p.qk;
  const { data: QP, offset: oOff, stride: oS } = p.out;
  for (let r = 0; r < L; r++) {
    const row = oOff + r * oS;
    const src = kOff + r * kS;
    if (gated) {
      const er = e[r]!;
      for (let j = 0; j < K; j++) QP[row + j] = er * kq[src + j]!;
    } else {
      for (let j = 0; j < K; j++) QP[row + j] = kq[src + j]!;
    }
    for (let c = 0; c < r; c++) QP[row + K + c] = 0;
    if (gated) for (let c = r; c < L; c++) QP[row + K + c] = scale * QK[qkOff + c * qkS + r]! * D[c * L + r]!;
    else for (let c = r; c < L; c++) QP[row + K + c] = scale * QK[qkOff + c * qkS + r]!;
  }
}

/** d(QKᵀ), d(KKᵀ), the row parts of dQ, dK, dV, dΓ, de, dβ, M's row and column sums, Diag(τΓ)Q (see the args). */
export function deltaChunkBackwardMiddleJs(p: DeltaChunkBackwardMiddleArgs): void {
  const { L, K, V, scale, beta, betaOffset: t0, gam, e, d: D, dGam, de, rowM, colM } = p;
  const gated = D !== null;
  const { data: R, offset: rOff, stride: rS } = p.r;
  const { data: KQK, offset: kkOff, stride: kkS } = p.kk;
  const { data: kq, offset: kOff, stride: kS } = p.k;
  const { data: qd, offset: qOff, stride: qS } = p.q;
  const { data: vh, offset: vOff, stride: vS } = p.v;
  const { data: Y, offset: yOff, stride: yS } = p.y;
  const { data: dVb, offset: vbOff, stride: vbS } = p.dvb;
  const { data: dKQ, offset: dkqOff, stride: L2 } = p.dkq;
  const { data: dQc, offset: dqOff, stride: dqS } = p.dq;
  const { data: dKc, offset: dkOff, stride: dkS } = p.dk;
  const { data: dV, offset: dvOff, stride: dvS } = p.dv;
  const { data: QbW, offset: qgOff, stride: qgS } = p.qg;
  const { data: dbeta, offset: dbOff, stride: dbS } = p.dbeta;
  // d(QKᵀ) = τ dP ⊙ D (lower with the diagonal), written transposed into the right half of
  // dKQ = [d(KKᵀ)+d(KKᵀ)ᵀ | d(QKᵀ)ᵀ] (L×2L, zero elsewhere); M = dD ⊙ D gets dQK ⊙ QKᵀ below the diagonal
  for (let r = 0; r < L; r++) dKQ.fill(0, dkqOff + r * L2, dkqOff + r * L2 + 2 * L);
  if (gated) {
    rowM.fill(0, 0, L);
    colM.fill(0, 0, L);
  }
  for (let r = 0; r < L; r++) {
    const row = r * L;
    const rr = rOff + r * rS + K;
    const qk = kkOff + (L + r) * kkS;
    if (gated) {
      let rs = 0;
      for (let c = 0; c < r; c++) {
        const x = scale * R[rr + c]! * D[row + c]!;
        dKQ[dkqOff + c * L2 + L + r] = x;
        const m = x * KQK[qk + c]!;
        rs += m;
        colM[c] += m;
      }
      rowM[r] = rs;
      dKQ[dkqOff + r * L2 + L + r] = scale * R[rr + r]! * D[row + r]!;
    } else {
      for (let c = 0; c <= r; c++) dKQ[dkqOff + c * L2 + L + r] = scale * R[rr + c]!;
    }
  }
  // dQ = Diag(τΓ) G (+ d(QKᵀ) K, the caller's product);  dΓ_r = τ q_r·G_r
  for (let r = 0; r < L; r++) {
    const f = scale * gam[r]!;
    const gr = rOff + r * rS;
    const qs = qOff + r * qS;
    const dq = dqOff + r * dqS;
    let s = 0;
    for (let j = 0; j < K; j++) {
      const x = R[gr + j]!;
      s += qd[qs + j]! * x;
      dQc[dq + j] = f * x;
    }
    dGam[r] = scale * s;
  }
  // per row: Z = dVb S₀ᵀ (= −dKb), Y = U dSᵀ, dVb; then dA = −(dVb Uᵀ) below the diagonal
  for (let r = 0; r < L; r++) {
    const bt = beta[t0 + r]!;
    const gr = gam[r]!;
    const er = e[r]!;
    const zr = rOff + (L + r) * rS;
    const ks = kOff + r * kS;
    const ys = yOff + r * yS;
    const dk = dkOff + r * dkS;
    let kz = 0;
    let ky = 0;
    for (let j = 0; j < K; j++) {
      const z = R[zr + j]!;
      const y = Y[ys + j]!;
      const kx = kq[ks + j]!;
      kz += kx * z;
      ky += kx * y;
      dKc[dk + j] = er * y - bt * gr * z;
    }
    de[r] = ky;
    let vd = 0;
    const vb = vbOff + r * vbS;
    const vs = vOff + r * vS;
    const dv = dvOff + r * dvS;
    for (let j = 0; j < V; j++) {
      const x = dVb[vb + j]!;
      vd += vh[vs + j]! * x;
      dV[dv + j] = bt * x;
    }
    // A[r,c] = β_r KK[r,c] D[r,c]: dβ_r += Σ_c dA KK D, d(KKᵀ) = dA β_r D, M += dA ⊙ A
    const row = r * L;
    const kkr = kkOff + r * kkS;
    let sb = 0;
    let rs = 0;
    for (let c = 0; c < r; c++) {
      const da = -R[zr + K + c]!;
      const d = gated ? D[row + c]! : 1;
      const kkd = KQK[kkr + c]! * d;
      sb += da * kkd;
      const dkk = da * bt * d;
      dKQ[dkqOff + r * L2 + c] = dkk;
      dKQ[dkqOff + c * L2 + r] = dkk;
      if (gated) {
        const m = da * bt * kkd;
        rs += m;
        colM[c] += m;
      }
    }
    if (gated) rowM[r] += rs;
    dbeta[dbOff + r * dbS] = vd - gr * kz + sb;
    dGam[r] = dGam[r]! - bt * kz;
  }
  // Diag(τΓ) Q, the top of the dS₀ product's left operand
  for (let r = 0; r < L; r++) {
    const f = scale * gam[r]!;
    const qs = qOff + r * qS;
    const qg = qgOff + r * qgS;
    for (let j = 0; j < K; j++) QbW[qg + j] = f * qd[qs + j]!;
  }
}

/** ds ← upd + Γ_{L−1} ds (gated; returns ⟨S₀, dS⟩) or upd + ds (returns 0). */
export function deltaChunkStateGradJs(p: DeltaChunkStateGradArgs): number {
  const { K, V, gated, gl } = p;
  const { data: dS, offset: dsOff, stride: dsS } = p.ds;
  const { data: tmp, offset: uOff, stride: uS } = p.upd;
  const { data: su, offset: sOff, stride: sS } = p.s0;
  let dGlast = 0;
  for (let i = 0; i < K; i++) {
    const ds0 = dsOff + i * dsS;
    const u0 = uOff + i * uS;
    const s0 = sOff + i * sS;
    if (gated) {
      for (let j = 0; j < V; j++) {
        const ds = dS[ds0 + j]!;
        dGlast += su[s0 + j]! * ds;
        dS[ds0 + j] = tmp[u0 + j]! + gl * ds;
      }
    } else {
      for (let j = 0; j < V; j++) dS[ds0 + j] = tmp[u0 + j]! + dS[ds0 + j]!;
    }
  }
  return dGlast;
}
