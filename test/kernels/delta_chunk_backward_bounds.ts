/**
 * Per-entry error bounds of the wasm f32 delta-chunk backward kernels (wasm/delta_chunk_backward_code.ts) against
 * the JS routine in f64 on the same f32 inputs, derived from the kernels' operations (never fitted):
 *
 * u = 2⁻²⁴ (one f32 rounding: fl(x) = x(1 + δ), |δ| ≤ u, plus an absolute ≤ 2⁻¹⁵⁰ where the result is subnormal).
 * The f64 inputs τ, β, Γ, e, D are rounded once to f32 (one u each); every product and sum one more. A value formed
 * with n roundings along its longest path is within γ(n)·(Σ |terms|) of the exact value, γ(n) = n·u/(1 − n·u); the
 * JS reference's own f64 error (≤ n·2⁻⁵³ relative to the same magnitudes) is added by using u + 2⁻⁵³ for u. Absolute
 * part: each rounding that may land in the subnormal range adds 2⁻¹⁵⁰ times the product of the remaining factors'
 * magnitudes, bounded by `cof` = Π max(1, |factor|); n of them give n·2⁻¹⁵⁰·cof.
 *
 * Counts (ε = rounding of a parameter or result):
 *   prep:  e_r k (gated): e, × → 2;  (τ QK) D: τ, ×, D, × → 4 (ungated τ, × → 2); the ungated K part is a copy (0).
 *   middle: d(QKᵀ) = (τ dP) D: 4 (2);  d(KKᵀ) = (X(−β)) D: β, ×, D, × → 4 (2);  dq = (τΓ) G, qg = (τΓ) q: τ, Γ, ×, × → 4;
 *          dk = e y − (βΓ) z: 5 for both terms (e, ×, − on the first; β, Γ, ×, ×, − on the second);  dv = β dVb: 2.
 *   Sums over n columns (the kernels' row dots and Σ_c): four lanes, two levels of lanes, then ≤ 3 leftover columns
 *   in sequence and their total: a term passes ≤ ⌈n/4⌉ + 3 additions, S(n) = ⌈n/4⌉ + 3.
 *          de = Σ k y: 1 + S(K);  dGam = τ Σ q G − β Σ k z: 1 + S(K) + 3 for each sum;
 *          dbeta = (Σ v dVb − Γ Σ k z) − Σ_c X KK D: 1 + S(V) + 2, 1 + S(K) + 4, 3 + S(r) + 1 (ungated the same counts);
 *          rowM = Σ_c (τ dP D) QK + Σ_c (X(−β)) (KK D): 5 + S(r) + 2;  colM: ≤ 2L terms of 5 summed in sequence: 5 + 2L.
 *   state grad: ds' = upd + gl ds: gl, ×, + → 3 (ungated upd + ds: 1);  ⟨S₀, dS⟩: exact f64 products summed in f64, four
 *          lanes (KV/4 terms each) and a sequential leftover sum (≤ 3K terms), the reference sequentially over KV:
 *          (KV/4 + 3K + 4 + KV)·2⁻⁵³ Σ|S₀ dS|.
 */

const U = 2 ** -24 + 2 ** -53;
const TINY = 2 ** -150;
const gam = (n: number): number => (n * U) / (1 - n * U);
const S = (n: number): number => Math.ceil(n / 4) + 3;
const cof = (...f: number[]): number => f.reduce((p, x) => p * Math.max(1, Math.abs(x)), 1);
/** The bound of one product term of n roundings with factors f. */
const term = (n: number, ...f: number[]): number => gam(n) * Math.abs(f.reduce((p, x) => p * x, 1)) + n * TINY * cof(...f);

/** Dense f64 copies of the inputs (rows of the given widths) and the f64 factors. */
export interface BoundInputs {
  L: number;
  K: number;
  V: number;
  scale: number;
  gated: boolean;
  /** [G | dP; Z | X], 2L × (K + L) */
  R: Float64Array;
  /** [KKᵀ; QKᵀ], 2L × L */
  KK: Float64Array;
  k: Float64Array;
  q: Float64Array;
  v: Float64Array;
  y: Float64Array;
  dvb: Float64Array;
  beta: Float64Array;
  gam: Float64Array;
  e: Float64Array;
  /** L×L, ones when not gated */
  D: Float64Array;
}

/** Bounds of prep's out (L × (K + L)). */
export function prepBounds(p: BoundInputs): Float64Array {
  const { L, K, scale, gated, KK, k, e, D } = p;
  const W = K + L;
  const b = new Float64Array(L * W);
  for (let r = 0; r < L; r++) {
    for (let j = 0; j < K; j++) b[r * W + j] = gated ? term(2, e[r]!, k[r * K + j]!) : 0;
    for (let c = r; c < L; c++) b[r * W + K + c] = gated ? term(4, scale, KK[(L + c) * L + r]!, D[c * L + r]!) : term(2, scale, KK[(L + c) * L + r]!);
  }
  return b;
}

export interface MiddleBounds {
  dkq: Float64Array;
  dq: Float64Array;
  qg: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  dGam: Float64Array;
  de: Float64Array;
  dbeta: Float64Array;
  rowM: Float64Array;
  colM: Float64Array;
}

export function middleBounds(p: BoundInputs): MiddleBounds {
  const { L, K, V, scale, gated, R, KK, k, q, v, y, dvb, beta, gam: G, e, D } = p;
  const W = K + L, L2 = 2 * L;
  const n = gated ? 4 : 2;
  const o: MiddleBounds = {
    dkq: new Float64Array(L * L2), dq: new Float64Array(L * K), qg: new Float64Array(L * K), dk: new Float64Array(L * K),
    dv: new Float64Array(L * V), dGam: new Float64Array(L), de: new Float64Array(L), dbeta: new Float64Array(L),
    rowM: new Float64Array(L), colM: new Float64Array(L),
  };
  for (let r = 0; r < L; r++) {
    const bt = beta[r]!, gr = G[r]!, er = e[r]!;
    let qG = 0, kz = 0, ky = 0, vd = 0, sb = 0, rm = 0;
    for (let j = 0; j < K; j++) {
      const gj = R[r * W + j]!, z = R[(L + r) * W + j]!, yj = y[r * K + j]!, kj = k[r * K + j]!, qj = q[r * K + j]!;
      o.dq[r * K + j] = term(4, scale, gr, gj);
      o.qg[r * K + j] = term(4, scale, gr, qj);
      o.dk[r * K + j] = term(5, er, yj) + term(5, bt, gr, z);
      qG += term(1 + S(K) + 3, qj, gj, scale);
      kz += Math.abs(kj * z);
      ky += term(1 + S(K), kj, yj);
    }
    for (let j = 0; j < V; j++) {
      o.dv[r * V + j] = term(2, bt, dvb[r * V + j]!);
      vd += term(1 + S(V) + 2, v[r * V + j]!, dvb[r * V + j]!);
    }
    for (let c = 0; c <= r; c++) {
      const dP = R[r * W + K + c]!, d = D[r * L + c]!;
      o.dkq[c * L2 + L + r] = gated ? term(4, scale, dP, d) : term(2, scale, dP);
      if (c < r) rm += term(5 + S(r) + 2, scale, dP, d, KK[(L + r) * L + c]!);
      if (gated && c < r) o.colM[c]! += term(5 + 2 * L, scale, dP, d, KK[(L + r) * L + c]!);
    }
    for (let c = 0; c < r; c++) {
      const X = R[(L + r) * W + K + c]!, d = D[r * L + c]!, kk = KK[r * L + c]!;
      const t = term(n, X, bt, d);
      o.dkq[r * L2 + c] = t;
      o.dkq[c * L2 + r] = t;
      sb += term(3 + S(r) + 1, X, kk, d);
      rm += term(5 + S(r) + 2, X, bt, kk, d);
      if (gated) o.colM[c]! += term(5 + 2 * L, X, bt, kk, d);
    }
    const kzN = 1 + S(K) + 4;
    o.de[r] = ky;
    o.dGam[r] = qG + gam(kzN) * Math.abs(bt) * kz + kzN * TINY * cof(bt) * (1 + kz);
    o.dbeta[r] = vd + gam(kzN + 1) * Math.abs(gr) * kz + (kzN + 1) * TINY * cof(gr) * (1 + kz) + sb;
    o.rowM[r] = gated ? rm : 0;
  }
  return o;
}

/** Bounds of the state grad's ds' (K×V) and of ⟨S₀, dS⟩. */
export function stateGradBounds(K: number, V: number, gated: boolean, gl: number, ds: Float64Array, upd: Float64Array, s0: Float64Array): { ds: Float64Array; dot: number } {
  const b = new Float64Array(K * V);
  let mag = 0;
  for (let i = 0; i < K * V; i++) {
    b[i] = gated ? term(3, gl, ds[i]!) + term(3, upd[i]!) : term(1, upd[i]!) + term(1, ds[i]!);
    mag += Math.abs(s0[i]! * ds[i]!);
  }
  const dot = gated ? (K * V / 4 + 3 * K + 4 + K * V) * 2 ** -53 * 1.01 * mag + 2 ** -1074 * K * V : 0;
  return { ds: b, dot };
}
