/**
 * The vector-gate (gla) chunk of the decay engine: forward and backward of one chunk of L rows (engine.ts has
 * the notation: b_r the chunk-local cumulative log gate, a K-vector per row; E_rs = exp(b_r − b_s)).
 *
 * Factors. The chunk is cut into sub-blocks of `sub` rows; for row r of block i (rows st_i … en_i)
 *   u_r = exp(b_r − b_{st_i}) = Π_{st_i<j≤r} a_j      decay from the block's first row to r
 *   w_r = exp(b_{en_i} − b_r) = Π_{r<j≤en_i} a_j      decay from r to the block's last row
 * are running products of a_j = exp(g_j) ≤ 1: one exp per element, and a product of factors ≤ 1 never
 * overflows (it underflows gracefully, as the exp of the sum would) and carries at most sub−1 roundings.
 * Per block, or pair of blocks j < i, the K-vectors (every exponent a later b minus an earlier one, ≤ 0)
 *   G_i = exp(b_{st_i}),   Ê_j = exp(b_{L−1} − b_{en_j}),   M_ij = exp(b_{st_i} − b_{en_j})
 * give the chunk decays as products of factors ≤ 1: Γ_r = u_r ⊙ G_i, e_s = w_s ⊙ Ê_j, and for r in block i,
 * s in block j < i,  E_rs = u_r ⊙ M_ij ⊙ w_s  — the pivot split of spec §0.4 rule 4 with pivot st_i:
 *   A[block i, s < st_i] = (τ q ⊙ u)_i · K̃ᵀ,   K̃_s = k_s ⊙ w_s ⊙ M_{i,j(s)}    (one matmul per query block)
 * Inside a diagonal block, A[r,s] = τ Σ_d q_r[d] k_s[d] Π_{s<j≤r} a_j[d] directly, as a running product.
 *
 * Precision. The cumulative sums b are f64 (in f32, b ≈ −10⁴ would leave ~10⁻³ absolute error in every
 * exponent). The factors a, u, w, G, Ê, M are all ≤ 1 and only ever multiply values that are stored in the
 * working precision, so they are kept in it: for f32 inputs each decay then carries a relative error of at
 * most (sub+2)·2⁻²⁴, below what the f32 matmuls already allow (k·2⁻²³, kernels/types.ts).
 */
import { allocate } from "../../core/dtype.js";
import type { FloatArray, Kernels } from "../../kernels/types.js";
import { f64Array, workType, type HeadRows, type Workspace } from "./buffers.js";
import type { DecayProblem } from "./problem.js";
import { mm, mmNN, mmNT, mmTN } from "./products.js";

/** Rows per sub-block when the problem does not say. */
export const DEFAULT_SUB = 16;

/** The vector gate's chunk scratch (row-major, rows of K), reused across chunks and heads. */
export class VectorScratch {
  readonly sub: number;
  /** blocks in a full chunk */
  readonly nbMax: number;
  // L×K, working precision
  readonly a: FloatArray;
  readonly u: FloatArray;
  readonly w: FloatArray;
  /** τ q ⊙ u */
  readonly Qu: FloatArray;
  /** k ⊙ w */
  readonly Kw: FloatArray;
  readonly tmp: FloatArray;
  // per block (nbMax×K) and per pair of blocks (nbMax×nbMax×K), working precision
  readonly G: FloatArray;
  readonly Ehat: FloatArray;
  readonly M: FloatArray;
  /** K̃ of every query block i ≥ 1, one after the other (st_i rows each) */
  readonly Kt: FloatArray;
  /** sub×C: one query block's row of A left of the diagonal block */
  readonly blk: FloatArray;
  // f64 K-vectors: b at each block's first and last row, running sum and products
  readonly bSt: Float64Array;
  readonly bEn: Float64Array;
  readonly run: Float64Array;
  readonly pu: Float64Array;
  readonly pw: Float64Array;

  constructor(p: DecayProblem) {
    const { C, K } = p;
    const sub = p.sub ?? DEFAULT_SUB;
    if (!(sub >= 1 && Number.isInteger(sub))) throw new Error(`decay engine: sub-block size must be a positive integer, got ${sub}`);
    const nb = Math.ceil(C / sub);
    const dt = workType(p);
    this.sub = sub;
    this.nbMax = nb;
    this.a = allocate(dt, C * K); this.u = allocate(dt, C * K); this.w = allocate(dt, C * K);
    this.Qu = allocate(dt, C * K); this.Kw = allocate(dt, C * K); this.tmp = allocate(dt, C * K);
    this.G = allocate(dt, nb * K); this.Ehat = allocate(dt, nb * K); this.M = allocate(dt, nb * nb * K);
    this.Kt = allocate(dt, ((nb * (nb - 1)) / 2) * sub * K);
    this.blk = allocate(dt, sub * C);
    this.bSt = f64Array(nb * K); this.bEn = f64Array(nb * K);
    this.run = f64Array(K); this.pu = f64Array(K); this.pw = f64Array(K);
  }
}

/** The factors of the chunk at rows t0 … t0+L−1 (see the header), and Qg = τ q ⊙ Γ, Ke = k ⊙ e, Γ_{L−1}. */
function prepareVector(p: DecayProblem, ws: Workspace, vs: VectorScratch, rows: HeadRows, t0: number, L: number): void {
  const { K, scale } = p;
  const { sub, nbMax, a, u, w, Qu, Kw, G, Ehat, M, bSt, bEn, run, pu, pw } = vs;
  const { q, k, g } = rows;
  const { Qg, Ke, gamLast } = ws;
  const nb = Math.ceil(L / sub);
  run.fill(0);
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const en = Math.min(st + sub, L) - 1;
    const io = i * K;
    // first row: b_st, G_i, a, u = 1
    {
      const gi = (t0 + st) * K;
      const ri = st * K;
      for (let d = 0; d < K; d++) {
        const gv = g[gi + d]!;
        const b = run[d]! + gv;
        run[d] = b;
        bSt[io + d] = b;
        G[io + d] = Math.exp(b);
        a[ri + d] = Math.exp(gv);
        u[ri + d] = 1;
        pu[d] = 1;
      }
    }
    // later rows: a_r = exp(g_r), u_r = u_{r−1} a_r
    for (let r = st + 1; r <= en; r++) {
      const gi = (t0 + r) * K;
      const ri = r * K;
      for (let d = 0; d < K; d++) {
        const gv = g[gi + d]!;
        run[d] = run[d]! + gv;
        const x = Math.exp(gv);
        a[ri + d] = x;
        const y = pu[d]! * x;
        pu[d] = y;
        u[ri + d] = y;
      }
    }
    for (let d = 0; d < K; d++) {
      bEn[io + d] = run[d]!;
      pw[d] = 1;
    }
    // back through the block: w_r = w_{r+1} a_{r+1}; Qu, Kw, Qg
    for (let r = en; r >= st; r--) {
      const src = (t0 + r) * K;
      const ri = r * K;
      for (let d = 0; d < K; d++) {
        const wr = pw[d]!;
        w[ri + d] = wr;
        Kw[ri + d] = k[src + d]! * wr;
        const qu = scale * q[src + d]! * u[ri + d]!;
        Qu[ri + d] = qu;
        Qg[ri + d] = qu * G[io + d]!;
        pw[d] = wr * a[ri + d]!;
      }
    }
  }
  // run = b_{L−1}: Γ_{L−1}, Ê_j, M_ij, and Ke = Kw ⊙ Ê
  for (let d = 0; d < K; d++) gamLast[d] = Math.exp(run[d]!);
  for (let j = 0; j < nb; j++) {
    const jo = j * K;
    for (let d = 0; d < K; d++) Ehat[jo + d] = Math.exp(run[d]! - bEn[jo + d]!);
    for (let i = j + 1; i < nb; i++) {
      const mo = (i * nbMax + j) * K;
      const io = i * K;
      for (let d = 0; d < K; d++) M[mo + d] = Math.exp(bSt[io + d]! - bEn[jo + d]!);
    }
    const end = Math.min(j * sub + sub, L);
    for (let r = j * sub; r < end; r++) {
      const ri = r * K;
      for (let d = 0; d < K; d++) Ke[ri + d] = Kw[ri + d]! * Ehat[jo + d]!;
    }
  }
}

/** ws.A ← the intra-chunk block (L×L, zero above the diagonal, τ included); leaves every K̃ in vs.Kt. */
function buildIntraVector(p: DecayProblem, kern: Kernels, ws: Workspace, vs: VectorScratch, rows: HeadRows, t0: number, L: number): void {
  const { K, scale } = p;
  const { sub, nbMax, a, Qu, Kw, M, Kt, blk } = vs;
  const { q, k } = rows;
  const A = ws.A;
  const nb = Math.ceil(L / sub);
  A.fill(0, 0, L * L);
  for (let i = 1, ko = 0; i < nb; i++) {
    const st = i * sub;
    const m = Math.min(sub, L - st);
    // K̃_s = Kw_s ⊙ M_{i,j(s)} for s < st
    for (let j = 0; j < i; j++) {
      const mo = (i * nbMax + j) * K;
      for (let s = j * sub; s < j * sub + sub; s++) {
        const so = s * K;
        const to = ko + so;
        for (let d = 0; d < K; d++) Kt[to + d] = Kw[so + d]! * M[mo + d]!;
      }
    }
    // A[st.., 0..st] = Qu_i K̃ᵀ
    mmNT(kern, m, st, K, Qu, st * K, Kt, ko, blk, 0);
    for (let r = 0; r < m; r++) {
      const dst = (st + r) * L;
      const src = r * st;
      for (let s = 0; s < st; s++) A[dst + s] = blk[src + s]!;
    }
    ko += st * K;
  }
  // diagonal blocks: the running product x = τ k_s ⊙ Π_{s<j≤r} a_j, A[r,s] = q_r · x
  const x = vs.pu;
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const end = Math.min(st + sub, L);
    for (let s = st; s < end; s++) {
      const ks = (t0 + s) * K;
      let acc = 0;
      for (let d = 0; d < K; d++) {
        const y = scale * k[ks + d]!;
        x[d] = y;
        acc += q[ks + d]! * y;
      }
      A[s * L + s] = acc;
      for (let r = s + 1; r < end; r++) {
        const qr = (t0 + r) * K;
        const ar = r * K;
        acc = 0;
        for (let d = 0; d < K; d++) {
          const y = x[d]! * a[ar + d]!;
          x[d] = y;
          acc += q[qr + d]! * y;
        }
        A[r * L + s] = acc;
      }
    }
  }
}

export function vectorChunkForward(p: DecayProblem, kern: Kernels, ws: Workspace, vs: VectorScratch, rows: HeadRows, t0: number, L: number): void {
  const { K, V } = p;
  prepareVector(p, ws, vs, rows, t0, L);
  // O = (τ q ⊙ Γ) S₀ + A V
  mmNN(kern, L, V, K, ws.Qg, 0, ws.S, 0, rows.o, t0 * V);
  buildIntraVector(p, kern, ws, vs, rows, t0, L);
  mmNN(kern, L, V, L, ws.A, 0, rows.v, t0 * V, rows.o, t0 * V, true);
  // S ← Diag(Γ_{L−1}) S + (K ⊙ e)ᵀ V
  decayKeyRows(ws.S, ws.gamLast, K, V);
  mmTN(kern, K, V, L, ws.Ke, 0, rows.v, t0 * V, ws.S, 0, true);
}

/** S[d,:] ← x_d S[d,:] for a K×V matrix S. */
function decayKeyRows(S: FloatArray, x: Float64Array, K: number, V: number): void {
  for (let d = 0; d < K; d++) {
    const f = x[d]!;
    if (f === 1) continue;
    for (let j = 0; j < V; j++) S[d * V + j] = S[d * V + j]! * f;
  }
}

/**
 * One chunk of the backward pass (engine.ts, "Backward"). On entry ws.dS is ∂L/∂S at the chunk's end and
 * `s0` (at s0o) its incoming state; writes dq, dk, dv, db for the chunk's rows and leaves ∂L/∂S₀ in ws.dS.
 */
export function vectorChunkBackward(
  p: DecayProblem, kern: Kernels, ws: Workspace, vs: VectorScratch, rows: HeadRows, t0: number, L: number, s0: FloatArray, s0o: number,
): void {
  const { K, V, scale } = p;
  const { sub, u, w, G, Ehat } = vs;
  prepareVector(p, ws, vs, rows, t0, L);
  buildIntraVector(p, kern, ws, vs, rows, t0, L);
  const dO = rows.o;
  const { A, dA, dQc, dKc, dS } = ws;
  // dV = Aᵀ dO + (K ⊙ e) dS
  mmTN(kern, L, V, L, A, 0, dO, t0 * V, rows.dv, t0 * V);
  mmNN(kern, L, V, K, ws.Ke, 0, dS, 0, rows.dv, t0 * V, true);
  // dA = dO Vᵀ (only s ≤ r is read below)
  mmNT(kern, L, L, V, dO, t0 * V, rows.v, t0 * V, dA, 0);
  // inter-chunk terms: dq_r = τ Γ_r ⊙ (dO S₀ᵀ)_r,  dk_s = e_s ⊙ (V dSᵀ)_s, with Γ_r = u_r G_i, e_s = w_s Ê_i
  mmNT(kern, L, K, V, dO, t0 * V, s0, s0o, dQc, 0);
  mmNT(kern, L, K, V, rows.v, t0 * V, dS, 0, dKc, 0);
  for (let r = 0; r < L; r++) {
    const io = Math.floor(r / sub) * K;
    const ri = r * K;
    for (let d = 0; d < K; d++) {
      dQc[ri + d] = dQc[ri + d]! * scale * u[ri + d]! * G[io + d]!;
      dKc[ri + d] = dKc[ri + d]! * w[ri + d]! * Ehat[io + d]!;
    }
  }
  intraBackwardVector(p, kern, ws, vs, rows, t0, L);
  // gate: ∂L/∂B_t = q ⊙ dq − k ⊙ dk (engine.ts header)
  const { q, k, db } = rows;
  for (let r = 0; r < L; r++) {
    const src = (t0 + r) * K;
    for (let d = 0; d < K; d++) db[src + d] = q[src + d]! * dQc[r * K + d]! - k[src + d]! * dKc[r * K + d]!;
  }
  rows.dq.set(dQc.subarray(0, L * K), t0 * K);
  rows.dk.set(dKc.subarray(0, L * K), t0 * K);
  // dS₀ = Diag(Γ_{L−1}) dS + (τ q ⊙ Γ)ᵀ dO
  decayKeyRows(dS, ws.gamLast, K, V);
  mmTN(kern, K, V, L, ws.Qg, 0, dO, t0 * V, dS, 0, true);
}

/** The intra-chunk gradients, added into ws.dQc and ws.dKc (ws.dA holds dO Vᵀ, vs.Kt every K̃). */
function intraBackwardVector(p: DecayProblem, kern: Kernels, ws: Workspace, vs: VectorScratch, rows: HeadRows, t0: number, L: number): void {
  const { K, scale } = p;
  const { sub, nbMax, a, u, w, M, Qu, Kt, tmp } = vs;
  const { q, k } = rows;
  const { dA, dQc, dKc } = ws;
  const nb = Math.ceil(L / sub);
  for (let i = 1, ko = 0; i < nb; i++) {
    const st = i * sub;
    const m = Math.min(sub, L - st);
    // X = dA[st.., 0..st] read in place (row stride L)
    // dq_r += τ u_r ⊙ (X K̃)_r
    mm(kern, m, K, st, dA, st * L, L, 1, Kt, ko, K, 1, tmp, 0, false);
    for (let r = 0; r < m; r++) {
      const ri = (st + r) * K;
      const ti = r * K;
      for (let d = 0; d < K; d++) dQc[ri + d] = dQc[ri + d]! + scale * u[ri + d]! * tmp[ti + d]!;
    }
    // dk_s += w_s ⊙ M_{i,j(s)} ⊙ (Xᵀ Qu_i)_s
    mm(kern, st, K, m, dA, st * L, 1, L, Qu, st * K, K, 1, tmp, 0, false);
    for (let j = 0; j < i; j++) {
      const mo = (i * nbMax + j) * K;
      for (let s = j * sub; s < j * sub + sub; s++) {
        const si = s * K;
        for (let d = 0; d < K; d++) dKc[si + d] = dKc[si + d]! + w[si + d]! * M[mo + d]! * tmp[si + d]!;
      }
    }
    ko += st * K;
  }
  // diagonal blocks, with the running product x = Π_{s<j≤r} a_j
  const x = vs.pu;
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const end = Math.min(st + sub, L);
    for (let s = st; s < end; s++) {
      const ks = (t0 + s) * K;
      const si = s * K;
      for (let r = s; r < end; r++) {
        const ar = r * K;
        if (r === s) x.fill(1);
        else for (let d = 0; d < K; d++) x[d] = x[d]! * a[ar + d]!;
        const c = scale * dA[r * L + s]!;
        if (c === 0) continue;
        const qr = (t0 + r) * K;
        for (let d = 0; d < K; d++) {
          const cx = c * x[d]!;
          dQc[ar + d] = dQc[ar + d]! + cx * k[ks + d]!;
          dKc[si + d] = dKc[si + d]! + cx * q[qr + d]!;
        }
      }
    }
  }
}
