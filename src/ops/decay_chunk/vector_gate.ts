/**
 * The vector-gate (gla) path of the decay engine, forward and backward (engine.ts has the notation: b_r the
 * chunk-local cumulative log gate, a K-vector per row and head; E_rs = exp(b_r − b_s)).
 *
 * Layout. The units of work are the (batch, head) pairs, split over the kernel threads as tasks
 * (kernels/parallel.ts); every step below is per head and, in the elementwise parts (cumulative products,
 * factors, gate gradient), per channel. Inputs and outputs are read and written in place in the op layout
 * [B,T,H,K] (row stride W = H·K, or H·V for v, dO, o); the scratch holds one head's chunk, rows of K. Each
 * thread has its own scratch and a unit writes only its own rows, so results do not depend on the thread count.
 *
 * Factors. The chunk is cut into sub-blocks of `sub` rows; for row r of block i (rows st_i … en_i)
 *   u_r = exp(b_r − b_{st_i}) = Π_{st_i<j≤r} a_j      decay from the block's first row to r
 *   w_r = exp(b_{en_i} − b_r) = Π_{r<j≤en_i} a_j      decay from r to the block's last row
 * are running products of a_j = exp(g_j) ≤ 1, the only exps formed (one per element). So are, per block or
 * pair of blocks j < i, with D_l = exp(b_{en_l} − b_{en_{l−1}}) = a_{st_l} ⊙ u_{en_l} the decay across block l:
 *   G_i = exp(b_{st_i})           = (Π_{l<i} D_l) ⊙ a_{st_i}
 *   Ê_j = exp(b_{L−1} − b_{en_j}) = Π_{l>j} D_l
 *   M_ij = exp(b_{st_i} − b_{en_j}) = a_{st_i} ⊙ Π_{j<l<i} D_l
 * and they give every decay of the chunk as a product of factors ≤ 1: Γ_r = u_r ⊙ G_i, e_s = w_s ⊙ Ê_j, and
 * for r in block i, s in block j < i,  E_rs = u_r ⊙ M_ij ⊙ w_s  — the pivot split of spec §0.4 rule 4 with
 * pivot st_i:
 *   A[block i, s < st_i] = (τ q ⊙ u)_i · K̃ᵀ,   K̃_s = k_s ⊙ w_s ⊙ M_{i,j(s)}    (one matmul per query block)
 * Inside a diagonal block, A[r,s] = τ Σ_d q_r[d] k_s[d] Π_{s<j≤r} a_j[d] directly, as a running product.
 * Rule 1's purpose holds: only g ≤ 0 is exponentiated, and a product of factors ≤ 1 cannot overflow; it
 * underflows gracefully where the exp of the summed exponent would too.
 *
 * Precision. Every decay is a product of at most sub + C/sub + 1 factors, each one rounding (f64: ~1e-14
 * relative). The running products are f64; the stored factors a, u, w, G, Ê, M only ever multiply values that
 * are stored in the working precision, so they are kept in it: for f32 inputs a decay then carries a relative
 * error of at most ~(sub + C/sub + 3)·2⁻²⁴ (≤ 2e-6 at C = 64), below what the f32 matmuls already allow
 * (k·2⁻²³, kernels/types.ts). No cumulative sum is formed (in f32, b ≈ −10⁴ would cost ~10⁻³ in every exponent).
 */
import { allocate } from "../../core/dtype.js";
import { getKernels } from "../../kernels/index.js";
import { defineTask } from "../../kernels/parallel.js";
import type { FloatArray, Kernels } from "../../kernels/types.js";
import { copyRows, f64Array, workType } from "./buffers.js";
import { backwardTaskBody, forwardTaskBody, forwardWork, runBackward, runForward, type DecayForward, type DecayGrads, type DecayProblem, type ForwardUnits } from "./problem.js";
import { mm } from "../products.js";

/**
 * Rows per sub-block when the problem does not say. Smaller blocks shrink the direct diagonal blocks (their
 * cost per row grows with sub·K) but add one product per block (a fixed cost each): measured at C = 64,
 * 8 rows pay from K = 32 on (K = 64: ~12% faster forward+backward than 16), 16 rows below (K = 16: ~10%).
 */
export const defaultSub = (K: number): number => (K >= 32 ? 8 : 16);

/** Scratch for one chunk of one head (rows of K channels), reused across chunks and units; one per thread. */
class VectorScratch {
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
  /** τ q ⊙ Γ */
  readonly Qg: FloatArray;
  /** k ⊙ e */
  readonly Ke: FloatArray;
  // per block (nbMax×K) and per pair of blocks (nbMax×nbMax×K), working precision
  readonly G: FloatArray;
  readonly Ehat: FloatArray;
  readonly M: FloatArray;
  /** K̃ of every query block i ≥ 1, one after the other (st_i rows of K each) */
  readonly Kt: FloatArray;
  readonly A: FloatArray; // L×L
  readonly dA: FloatArray; // L×L
  readonly blk: FloatArray; // sub×L
  readonly tmp: FloatArray; // L×max(K,V)
  // f64: per block (nbMax×K) a_{st_i} and D_i; K-vectors: running products, Γ_{L−1}, the gate gradient's sum
  readonly aSt: Float64Array;
  readonly D: Float64Array;
  readonly run: Float64Array;
  readonly pu: Float64Array;
  readonly pw: Float64Array;
  readonly gamLast: Float64Array;
  readonly running: Float64Array;
  /** K-vector for the diagonal blocks' running products */
  readonly x: Float64Array;

  constructor(p: DecayProblem) {
    const { C, K, V } = p;
    const sub = p.sub ?? defaultSub(K);
    if (!(sub >= 1 && Number.isInteger(sub))) throw new Error(`decay engine: sub-block size must be a positive integer, got ${sub}`);
    const nb = Math.ceil(C / sub);
    const dt = workType(p);
    const rows = (n: number) => allocate(dt, n);
    this.sub = sub;
    this.nbMax = nb;
    this.a = rows(C * K); this.u = rows(C * K); this.w = rows(C * K);
    this.Qu = rows(C * K); this.Kw = rows(C * K); this.Qg = rows(C * K); this.Ke = rows(C * K);
    this.G = rows(nb * K); this.Ehat = rows(nb * K); this.M = rows(nb * nb * K);
    this.Kt = rows(((nb * (nb - 1)) / 2) * sub * K);
    this.A = rows(C * C); this.dA = rows(C * C); this.blk = rows(sub * C); this.tmp = rows(C * Math.max(K, V));
    this.aSt = f64Array(nb * K); this.D = f64Array(nb * K);
    this.run = f64Array(K); this.pu = f64Array(K); this.pw = f64Array(K); this.gamLast = f64Array(K);
    this.running = f64Array(K);
    this.x = f64Array(K);
  }
}

/**
 * The factors of head h's chunk at rows r0 … r0+L−1 of the flattened [B·T] rows (see the header), and
 * Qg = τ q ⊙ Γ, Ke = k ⊙ e, Γ_{L−1}, and every K̃.
 */
function prepare(p: DecayProblem, vs: VectorScratch, h: number, r0: number, L: number): void {
  const { H, K, scale } = p;
  const { sub, nbMax, a, u, w, Qu, Kw, Qg, Ke, G, Ehat, M, Kt, aSt, D, run, pu, pw, gamLast } = vs;
  const { q, k } = p;
  const g = p.g!;
  const W = H * K;
  const hk = h * K;
  const nb = Math.ceil(L / sub);
  run.fill(1); // Π_{l<i} D_l = exp(b_{en_{i−1}})
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const en = Math.min(st + sub, L) - 1;
    const io = i * K;
    // first row: a, u = 1, G_i
    {
      const gi = (r0 + st) * W + hk;
      const ri = st * K;
      for (let d = 0; d < K; d++) {
        const x = Math.exp(g[gi + d]!);
        a[ri + d] = x;
        aSt[io + d] = x;
        G[io + d] = run[d]! * x;
        u[ri + d] = 1;
        pu[d] = 1;
      }
    }
    // later rows: a_r = exp(g_r), u_r = u_{r−1} a_r
    for (let r = st + 1; r <= en; r++) {
      const gi = (r0 + r) * W + hk;
      const ri = r * K;
      for (let d = 0; d < K; d++) {
        const x = Math.exp(g[gi + d]!);
        a[ri + d] = x;
        const y = pu[d]! * x;
        pu[d] = y;
        u[ri + d] = y;
      }
    }
    // D_i = a_st u_en; carry Π D
    for (let d = 0; d < K; d++) {
      const x = aSt[io + d]! * pu[d]!;
      D[io + d] = x;
      run[d] = run[d]! * x;
      pw[d] = 1;
    }
    // back through the block: w_r = w_{r+1} a_{r+1}; Qu, Kw, Qg
    for (let r = en; r >= st; r--) {
      const src = (r0 + r) * W + hk;
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
  // Γ_{L−1} = Π D; Ê_j = Π_{l>j} D_l (suffix products), with Ke = Kw ⊙ Ê
  for (let d = 0; d < K; d++) {
    gamLast[d] = run[d]!;
    pw[d] = 1;
  }
  for (let j = nb - 1; j >= 0; j--) {
    const jo = j * K;
    for (let d = 0; d < K; d++) {
      Ehat[jo + d] = pw[d]!;
      pw[d] = pw[d]! * D[jo + d]!;
    }
    const end = Math.min(j * sub + sub, L);
    for (let r = j * sub; r < end; r++) {
      const ri = r * K;
      for (let d = 0; d < K; d++) Ke[ri + d] = Kw[ri + d]! * Ehat[jo + d]!;
    }
  }
  // M_ij = a_{st_i} ⊙ Π_{j<l<i} D_l, and K̃ of query block i: Kw_s ⊙ M_{i,j(s)} for s < st_i
  for (let i = 1, ko = 0; i < nb; i++) {
    const io = i * K;
    for (let d = 0; d < K; d++) pu[d] = aSt[io + d]!;
    for (let j = i - 1; j >= 0; j--) {
      const mo = (i * nbMax + j) * K;
      const jo = j * K;
      for (let d = 0; d < K; d++) {
        const x = pu[d]!;
        M[mo + d] = x;
        pu[d] = x * D[jo + d]!;
      }
      for (let s = j * sub; s < j * sub + sub; s++) {
        const so = s * K;
        const to = ko + so;
        for (let d = 0; d < K; d++) Kt[to + d] = Kw[so + d]! * M[mo + d]!;
      }
    }
    ko += i * sub * K;
  }
}

/** vs.A ← head h's intra-chunk block (L×L, zero above the diagonal, τ included). */
function buildIntra(p: DecayProblem, kern: Kernels, vs: VectorScratch, h: number, r0: number, L: number): void {
  const { H, K, scale } = p;
  const { sub, a, Qu, Kt, blk, A, x } = vs;
  const { q, k } = p;
  const W = H * K;
  const hk = h * K;
  const nb = Math.ceil(L / sub);
  A.fill(0, 0, L * L);
  for (let i = 1, ko = 0; i < nb; i++) {
    const st = i * sub;
    const m = Math.min(sub, L - st);
    // A[st.., 0..st] = Qu_i K̃ᵀ
    mm(kern, m, st, K, Qu, st * K, K, 1, Kt, ko, 1, K, blk, 0, false);
    for (let r = 0; r < m; r++) {
      const dst = (st + r) * L;
      const src = r * st;
      for (let s = 0; s < st; s++) A[dst + s] = blk[src + s]!;
    }
    ko += st * K;
  }
  // diagonal blocks: the running product x = τ k_s ⊙ Π_{s<j≤r} a_j, A[r,s] = q_r · x
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const end = Math.min(st + sub, L);
    for (let s = st; s < end; s++) {
      const ks = (r0 + s) * W + hk;
      let acc = 0;
      for (let d = 0; d < K; d++) {
        const y = scale * k[ks + d]!;
        x[d] = y;
        acc += q[ks + d]! * y;
      }
      A[s * L + s] = acc;
      for (let r = s + 1; r < end; r++) {
        const qr = (r0 + r) * W + hk;
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

/** S[d,:] ← f_d S[d,:] for a head's K×V block of S (at so), f = Γ_{L−1} of the head. */
function decayKeyRows(S: FloatArray, so: number, f: Float64Array, K: number, V: number): void {
  for (let d = 0; d < K; d++) {
    const x = f[d]!;
    if (x === 1) continue;
    const row = so + d * V;
    for (let j = 0; j < V; j++) S[row + j] = S[row + j]! * x;
  }
}

/** The chunkwise forward pass of the vector gate (engine.ts decayForward). */
export function vectorForward(p: DecayProblem, keep: boolean): DecayForward {
  return runForward(p, keep, forwardTask, vectorWork(p), workType(p));
}

/** forwardWork plus the diagonal sub-blocks' direct O(sub·K) per row and channel. */
const vectorWork = (p: DecayProblem): number => forwardWork(p) + 2 * p.B * p.H * p.T * (p.sub ?? defaultSub(p.K)) * p.K;

const forwardUnits: ForwardUnits = (p, o, state, saved, next) => {
  const { T, H, K, V, C } = p;
  const N = Math.ceil(T / C);
  const KV = K * V;
  const Wv = H * V;
  const kern = getKernels();
  const vs = new VectorScratch(p);
  const { tmp, A } = vs;
  for (let bh = next(); bh >= 0; bh = next()) {
    const b = Math.floor(bh / H);
    const h = bh - b * H;
    // the head's state, carried through the chunks in state[bh] itself
    const sh = bh * KV;
    if (p.s0) state.set(p.s0.subarray(sh, sh + KV), sh);
    else state.fill(0, sh, sh + KV);
    for (let n = 0; n < N; n++) {
      const t0 = n * C;
      const L = Math.min(C, T - t0);
      const r0 = b * T + t0;
      prepare(p, vs, h, r0, L);
      if (saved) saved.set(state.subarray(sh, sh + KV), (bh * N + n) * KV);
      const vo = r0 * Wv + h * V;
      // O = (τ q ⊙ Γ) S₀ + A V
      mm(kern, L, V, K, vs.Qg, 0, K, 1, state, sh, V, 1, tmp, 0, false);
      buildIntra(p, kern, vs, h, r0, L);
      mm(kern, L, V, L, A, 0, L, 1, p.v, vo, Wv, 1, tmp, 0, true);
      copyRows(tmp, 0, V, o, vo, Wv, L, V);
      // S ← Diag(Γ_{L−1}) S + (K ⊙ e)ᵀ V
      decayKeyRows(state, sh, vs.gamLast, K, V);
      mm(kern, K, V, L, vs.Ke, 0, 1, K, p.v, vo, Wv, 1, state, sh, true);
    }
  }
};

const forwardTask = defineTask("decay_chunk.vector_forward", forwardTaskBody(forwardUnits));

/** The backward pass of the vector gate (engine.ts decayBackward). */
export function vectorBackward(p: DecayProblem, saved: FloatArray, state: FloatArray, dO: FloatArray, dS: FloatArray): DecayGrads {
  const { B, T, H, K } = p;
  const dt = workType(p);
  // dg in the working precision: each entry is summed in f64 (`running`) and rounded once
  return runBackward(p, backwardTask, 2 * vectorWork(p), dt, allocate(dt, B * T * H * K), saved, state, dO, dS);
}

const backwardTask = defineTask("decay_chunk.vector_backward", backwardTaskBody(backwardUnits));

function backwardUnits(p: DecayProblem, saved: FloatArray, state: FloatArray, dO: FloatArray, dS: FloatArray, grads: DecayGrads, next: () => number): void {
  const { T, H, K, V, C } = p;
  const N = Math.ceil(T / C);
  const KV = K * V;
  const W = H * K;
  const kern = getKernels();
  const { dq, dk, dv, ds0 } = grads;
  const dg = grads.dg!;
  const vs = new VectorScratch(p);
  const { running } = vs;
  const { q, k } = p;
  for (let bh = next(); bh >= 0; bh = next()) {
    const b = Math.floor(bh / H);
    const h = bh - b * H;
    const hk = h * K;
    // the head's dS, carried backwards through the chunks in ds0[bh] itself
    const sh = bh * KV;
    ds0.set(dS.subarray(sh, sh + KV), sh);
    // dg_j = Σ_{t ≥ j} ∂L/∂B_t, starting from the final-state term rowsum(S_T ⊙ dS_T)
    for (let d = 0; d < K; d++) {
      let acc = 0;
      for (let j = 0; j < V; j++) acc += state[sh + d * V + j]! * dS[sh + d * V + j]!;
      running[d] = acc;
    }
    for (let n = N - 1; n >= 0; n--) {
      const t0 = n * C;
      const L = Math.min(C, T - t0);
      const r0 = b * T + t0;
      prepare(p, vs, h, r0, L);
      chunkHeadBackward(p, kern, vs, dq, dk, h, r0, L, saved, (bh * N + n) * KV, dO, dv, ds0, sh);
      // gate: ∂L/∂B_t = q ⊙ dq − k ⊙ dk (engine.ts header), summed backwards into dg
      for (let r = L - 1; r >= 0; r--) {
        const src = (r0 + r) * W + hk;
        for (let d = 0; d < K; d++) {
          const acc = running[d]! + q[src + d]! * dq[src + d]! - k[src + d]! * dk[src + d]!;
          running[d] = acc;
          dg[src + d] = acc;
        }
      }
    }
  }
}

/**
 * Head h of one chunk of the backward pass (engine.ts, "Backward"). On entry dSh[dso..] is the head's ∂L/∂S
 * at the chunk's end and saved[s0o..] its incoming state; writes the head's entries of the chunk's rows of dq,
 * dk and dv, and leaves ∂L/∂S₀ in dSh[dso..].
 */
function chunkHeadBackward(
  p: DecayProblem, kern: Kernels, vs: VectorScratch, dq: FloatArray, dk: FloatArray, h: number, r0: number, L: number,
  saved: FloatArray, s0o: number, dO: FloatArray, dv: FloatArray, dSh: FloatArray, dso: number,
): void {
  const { H, K, V, scale } = p;
  const { sub, u, w, G, Ehat, A, dA, tmp } = vs;
  const W = H * K;
  const Wv = H * V;
  const hk = h * K;
  const vo = r0 * Wv + h * V;
  buildIntra(p, kern, vs, h, r0, L);
  // dV = Aᵀ dO + (K ⊙ e) dS
  mm(kern, L, V, L, A, 0, 1, L, dO, vo, Wv, 1, tmp, 0, false);
  mm(kern, L, V, K, vs.Ke, 0, K, 1, dSh, dso, V, 1, tmp, 0, true);
  copyRows(tmp, 0, V, dv, vo, Wv, L, V);
  // dA = dO Vᵀ (only s ≤ r is read below)
  mm(kern, L, L, V, dO, vo, Wv, 1, p.v, vo, 1, Wv, dA, 0, false);
  // inter-chunk terms: dq_r = τ Γ_r ⊙ (dO S₀ᵀ)_r,  dk_s = e_s ⊙ (V dSᵀ)_s, with Γ_r = u_r G_i, e_s = w_s Ê_i
  mm(kern, L, K, V, dO, vo, Wv, 1, saved, s0o, 1, V, tmp, 0, false);
  for (let r = 0; r < L; r++) {
    const oi = (r0 + r) * W + hk;
    const ri = r * K;
    const io = Math.floor(r / sub) * K;
    for (let d = 0; d < K; d++) dq[oi + d] = tmp[ri + d]! * scale * u[ri + d]! * G[io + d]!;
  }
  mm(kern, L, K, V, p.v, vo, Wv, 1, dSh, dso, 1, V, tmp, 0, false);
  for (let r = 0; r < L; r++) {
    const oi = (r0 + r) * W + hk;
    const ri = r * K;
    const io = Math.floor(r / sub) * K;
    for (let d = 0; d < K; d++) dk[oi + d] = tmp[ri + d]! * w[ri + d]! * Ehat[io + d]!;
  }
  intraBackward(p, kern, vs, dq, dk, h, r0, L);
  // dS₀ = Diag(Γ_{L−1}) dS + (τ q ⊙ Γ)ᵀ dO
  decayKeyRows(dSh, dso, vs.gamLast, K, V);
  mm(kern, K, V, L, vs.Qg, 0, 1, K, dO, vo, Wv, 1, dSh, dso, true);
}

/** Head h's intra-chunk gradients, added into the chunk's rows of dq and dk (vs.dA holds dO Vᵀ, vs.Kt every K̃). */
function intraBackward(p: DecayProblem, kern: Kernels, vs: VectorScratch, dq: FloatArray, dk: FloatArray, h: number, r0: number, L: number): void {
  const { H, K, scale } = p;
  const { sub, nbMax, a, u, w, M, Qu, Kt, tmp, dA, x } = vs;
  const { q, k } = p;
  const W = H * K;
  const hk = h * K;
  const nb = Math.ceil(L / sub);
  for (let i = 1, ko = 0; i < nb; i++) {
    const st = i * sub;
    const m = Math.min(sub, L - st);
    // X = dA[st.., 0..st] read in place (row stride L)
    // dq_r += τ u_r ⊙ (X K̃)_r
    mm(kern, m, K, st, dA, st * L, L, 1, Kt, ko, K, 1, tmp, 0, false);
    for (let r = 0; r < m; r++) {
      const oi = (r0 + st + r) * W + hk;
      const ri = (st + r) * K;
      const ti = r * K;
      for (let d = 0; d < K; d++) dq[oi + d] = dq[oi + d]! + scale * u[ri + d]! * tmp[ti + d]!;
    }
    // dk_s += w_s ⊙ M_{i,j(s)} ⊙ (Xᵀ Qu_i)_s
    mm(kern, st, K, m, dA, st * L, 1, L, Qu, st * K, K, 1, tmp, 0, false);
    for (let j = 0; j < i; j++) {
      const mo = (i * nbMax + j) * K;
      for (let s = j * sub; s < j * sub + sub; s++) {
        const oi = (r0 + s) * W + hk;
        const si = s * K;
        for (let d = 0; d < K; d++) dk[oi + d] = dk[oi + d]! + w[si + d]! * M[mo + d]! * tmp[si + d]!;
      }
    }
    ko += st * K;
  }
  // diagonal blocks, with the running product x = Π_{s<j≤r} a_j
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const end = Math.min(st + sub, L);
    for (let s = st; s < end; s++) {
      const ks = (r0 + s) * W + hk;
      for (let r = s; r < end; r++) {
        const ar = r * K;
        if (r === s) x.fill(1);
        else for (let d = 0; d < K; d++) x[d] = x[d]! * a[ar + d]!;
        const c = scale * dA[r * L + s]!;
        if (c === 0) continue;
        const qr = (r0 + r) * W + hk;
        for (let d = 0; d < K; d++) {
          const cx = c * x[d]!;
          dq[qr + d] = dq[qr + d]! + cx * k[ks + d]!;
          dk[ks + d] = dk[ks + d]! + cx * q[qr + d]!;
        }
      }
    }
  }
}
