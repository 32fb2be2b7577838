/**
 * Error bounds for the wasm f32 vector-gate chunk kernels (gate_chunk.test.ts), per output entry, from the
 * operation counts of wasm/gate_chunk_code.ts and the magnitudes the f64 reference gives. u = 2⁻²⁴ is the unit
 * roundoff of one f32 rounding; U = 2⁻¹⁵⁰ the absolute error of one rounding in the subnormal range.
 *
 * Prepare. A stored value that carries a decay across n rows is a product of n exps a_j (each within 2 ulp
 * ≤ 4u, or 2U absolute below the normal range) formed by running products, one rounding per factor, plus one
 * rounding per sub-block boundary it crosses (the products of the per-block D_l: ≤ nb) and at most 4 more
 * (τ rounded to f32, τ·q, ·u or ·k, the final product of two stored factors). So its error is at most
 *     (5n + nb + 4)·(u·|V| + U·(1 + |m|)),
 * V its f64 value and m the non-decay multiplier (τq for Qu, Qg; k for Ke, K̃; none for the factors). n per
 * entry: a 1, u_r r − st, w_r en − r, Qu r − st, Qg r + 1, Ke L − 1 − r, G_i st_i + 1, Ê_j L − 1 − en_j,
 * M_ij st_i − en_j, K̃_{i,s} st_i − s, Γ_{L−1} L. A diagonal entry A[r,s] = Σ_d q_r τ k_s E_rs sums K terms
 * whose decays span n = r − s rows inside one block (no block boundary) with 3 more roundings (τ, τ·k, q·x),
 * per lane over Kq quads then 2 levels of lanes (Kq + 1 roundings per term), so
 *     |error| ≤ (5(r − s) + 3 + Kq + 1)·(u·Σ_d |q_r τ k_s| E_rs + U·K·(1 + max|q|)(1 + max|τk|)).
 *
 * Backward (from the same f32 factors and products as the reference, so only its own roundings count):
 *   dq_r = (τu_r)(G_i tq_r + xq_r) + Σ_s (τ dA[r,s]) x ⊙ k_s: the first part 5 roundings per term (τ, τ·u, G·tq,
 *     + xq, the product), each diagonal term r − s (x) + 4 (τ, ·dA, ·x, ·k) and the running sum over ≤ sub
 *     terms: ≤ (2·sub + 6)·u·Σ|terms|.
 *   dk_s = w_s(Ê tk_s + Σ_i M_ij xk_is) + Σ_r (τ dA[r,s] x) ⊙ q_r: ≤ nb + 2 roundings per pivoted term, the
 *     diagonal terms as dq's, one more sum: ≤ (2·sub + nb + 6)·u·Σ|terms|.
 *   dg_r = running + Σ_{t≥r} (q_t dq_t − k_t dk_t): the errors of dq_t, dk_t times |q_t|, |k_t|, plus per term
 *     2 products, the difference and ≤ L − r sequential sums in f32, plus running rounded to f32 and the sum:
 *     Σ_{t≥r} (|q_t| e_dq + |k_t| e_dk) + (L − r + 3)·u·Σ_{t≥r}(|q_t dq_t| + |k_t dk_t|) + u·(|running| + |dg_r|).
 *   The carried running (f64) gains the chunk's f32 sum: within dg_0's bound.
 * Σ|terms| comes from the reference run on the absolute values of every input (all decays are positive).
 * Every count is first order; the factor (1 + 2⁻¹⁰) covers the second-order terms ((5n·u)² ≪ 2⁻¹⁰·5n·u) and the
 * f64 reference's own error.
 */
import type { GateChunkScratch } from "../../src/kernels/index.js";

export const UNIT = 2 ** -24;
export const TINY = 2 ** -150;
const SAFE = 1 + 2 ** -10;

type F64 = Float64Array;
type S = GateChunkScratch<Float64Array>;

export interface PrepareShape {
  K: number;
  L: number;
  scale: number;
  /** the chunk's q, k rows, dense [L][K] (f64 copies of the f32 inputs) */
  q: F64;
  k: F64;
}

/** Per-entry bounds of every prepare output (dense like the scratch's arrays; A as L×L). */
export function prepareBounds(x: PrepareShape, ref: S, abs: S): Record<"a" | "u" | "w" | "Qu" | "Qg" | "Ke" | "G" | "Ehat" | "M" | "Kt" | "gamLast" | "A", F64> {
  const { K, L, scale, q, k } = x;
  const { sub, nbMax } = ref;
  const nb = Math.ceil(L / sub);
  const Kq = Math.ceil(K / 4);
  const f = (n: number, v: number, m: number): number => SAFE * (5 * n + nb + 4) * (UNIT * Math.abs(v) + TINY * (1 + Math.abs(m)));
  const out = {
    a: new Float64Array(L * K), u: new Float64Array(L * K), w: new Float64Array(L * K), Qu: new Float64Array(L * K), Qg: new Float64Array(L * K),
    Ke: new Float64Array(L * K), G: new Float64Array(nb * K), Ehat: new Float64Array(nb * K), M: new Float64Array(nbMax * nbMax * K),
    Kt: new Float64Array(ref.Kt.length), gamLast: new Float64Array(K), A: new Float64Array(L * L),
  };
  for (let r = 0; r < L; r++) {
    const i = Math.floor(r / sub), st = i * sub, en = Math.min(st + sub, L) - 1;
    for (let d = 0; d < K; d++) {
      const e = r * K + d, tq = scale * q[e]!;
      out.a[e] = f(1, ref.a[e]!, 0);
      out.u[e] = f(r - st, ref.u[e]!, 0);
      out.w[e] = f(en - r, ref.w[e]!, 0);
      out.Qu[e] = f(r - st, ref.Qu[e]!, tq);
      out.Qg[e] = f(r + 1, ref.Qg[e]!, tq);
      out.Ke[e] = f(L - 1 - r, ref.Ke[e]!, k[e]!);
    }
  }
  for (let i = 0; i < nb; i++) {
    const st = i * sub, en = Math.min(st + sub, L) - 1;
    for (let d = 0; d < K; d++) {
      out.G[i * K + d] = f(st + 1, ref.G[i * K + d]!, 0);
      out.Ehat[i * K + d] = f(L - 1 - en, ref.Ehat[i * K + d]!, 0);
    }
  }
  for (let i = 1, ko = 0; i < nb; i++) {
    for (let j = 0; j < i; j++) {
      const en = j * sub + sub - 1;
      for (let d = 0; d < K; d++) out.M[(i * nbMax + j) * K + d] = f(i * sub - en, ref.M[(i * nbMax + j) * K + d]!, 0);
      for (let s = j * sub; s <= en; s++) {
        for (let d = 0; d < K; d++) out.Kt[ko + s * K + d] = f(i * sub - s, ref.Kt[ko + s * K + d]!, k[s * K + d]!);
      }
    }
    ko += i * sub * K;
  }
  for (let d = 0; d < K; d++) out.gamLast[d] = f(L, ref.gamLast[d]!, 0);
  let qMax = 0, kMax = 0;
  for (let e = 0; e < L * K; e++) {
    qMax = Math.max(qMax, Math.abs(q[e]!));
    kMax = Math.max(kMax, Math.abs(scale * k[e]!));
  }
  for (let r = 0; r < L; r++) {
    const st = Math.floor(r / sub) * sub;
    for (let s = st; s <= r; s++) {
      out.A[r * L + s] = SAFE * (5 * (r - s) + 4 + Kq) * (UNIT * abs.A[r * L + s]! + TINY * K * (1 + qMax) * (1 + kMax));
    }
  }
  return out;
}

export interface BackwardShape {
  K: number;
  L: number;
  sub: number;
  /** the chunk's rows, dense [L][K]: |q|, |k|, and the reference dq, dk on absolute inputs (Σ|terms|) */
  qAbs: F64;
  kAbs: F64;
  dqAbs: F64;
  dkAbs: F64;
  /** the reference dg rows, dense [L][K] */
  dg: F64;
  /** the incoming running sum (K) */
  running: F64;
}

/** Per-entry bounds of the backward's dq, dk, dg rows (dense [L][K]). */
export function backwardBounds(x: BackwardShape): { dq: F64; dk: F64; dg: F64 } {
  const { K, L, sub, qAbs, kAbs, dqAbs, dkAbs, dg, running } = x;
  const nb = Math.ceil(L / sub);
  const out = { dq: new Float64Array(L * K), dk: new Float64Array(L * K), dg: new Float64Array(L * K) };
  for (let e = 0; e < L * K; e++) {
    out.dq[e] = SAFE * (2 * sub + 6) * UNIT * dqAbs[e]!;
    out.dk[e] = SAFE * (2 * sub + nb + 6) * UNIT * dkAbs[e]!;
  }
  for (let d = 0; d < K; d++) {
    let carried = 0, mag = 0;
    for (let r = L - 1; r >= 0; r--) {
      const e = r * K + d;
      carried += qAbs[e]! * out.dq[e]! + kAbs[e]! * out.dk[e]!;
      mag += qAbs[e]! * dqAbs[e]! + kAbs[e]! * dkAbs[e]!;
      out.dg[e] = SAFE * (carried + (L - r + 3) * UNIT * mag + UNIT * (Math.abs(running[d]!) + Math.abs(dg[e]!)));
    }
  }
  return out;
}
