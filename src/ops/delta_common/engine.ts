/**
 * The chunkwise (WY / UT transform) form of the delta rule, with an optional per-head log decay, forward and
 * backward by hand on raw typed arrays (spec/mixers.md §7.3). `delta_rule` runs it with no decay;
 * `gated_delta_rule` with g.
 *
 * Notation for one (batch, head) and one chunk of L ≤ C rows (row vectors; S₀ [K,V] the incoming state):
 *   b_r   = Σ_{j≤r} g_j          chunk-local cumulative log decay (restarted at each chunk, so |b| ≤ C·max|g|)
 *   Γ_r   = exp(b_r)             decay from the chunk start to row r (≤ 1)
 *   e_r   = exp(b_{L−1} − b_r)   decay from row r to the chunk end (≤ 1)
 *   D     = exp(b_r − b_s) for s ≤ r, 0 above the diagonal (the exponent is only formed for s ≤ r: §0.4 rule 2)
 *   A     = StrictTril(Diag(β) K Kᵀ ⊙ D)
 *   Tm    = (I + A)⁻¹            unit lower triangular; by forward substitution, in f64
 *   Kb    = Diag(β ⊙ Γ) K,  Vb = Diag(β) V
 *   W     = Tm Kb,  Ũ = Tm Vb     (the WY "w" and "u" rows)
 *   U     = Ũ − W S₀             the true per-row updates u_r of §7.2, given S₀
 *   P     = τ (Q Kᵀ ⊙ D)         (lower triangle including the diagonal)
 *   O     = Diag(τΓ) Q S₀ + P U
 *   S_L   = Γ_{L−1} S₀ + (Diag(e) K)ᵀ U
 * Only differences b_later − b_earlier ≤ 0 are exponentiated (§0.4 rule 1), so nothing overflows, and strong
 * decay underflows gracefully to 0.
 *
 * Backward, for upstream dO (the chunk's rows) and dS (gradient of S_L), in reverse over chunks; each chunk's
 * incoming state S₀ is saved by the forward pass and the rest is recomputed:
 *   dU   = Pᵀ dO + Diag(e) K dS                                  (U feeds O and S_L)
 *   dP   = dO Uᵀ  →  d(QKᵀ) = τ dP ⊙ D,  and dD += τ dP ⊙ QKᵀ
 *   dQ   = Diag(τΓ) dO S₀ᵀ + d(QKᵀ) K,      dK += d(QKᵀ)ᵀ Q
 *   dΓ_r += τ (q_r S₀)·dO_r = τ q_r·(dO S₀ᵀ)_r
 *   dS₀  = (Diag(τΓ) Q)ᵀ dO − Wᵀ dU + Γ_{L−1} dS,   dΓ_{L−1} += ⟨S₀, dS⟩
 *   d(Diag(e)K) = U dSᵀ  →  dK_r += e_r (U dSᵀ)_r,  de_r = k_r·(U dSᵀ)_r
 *   dW   = −dU S₀ᵀ,  dŨ = dU
 *   The triangular solve: X = (I+A)⁻¹ R gives dR = Tmᵀ dX and dA = −dR Xᵀ (kept strictly lower), so
 *   dKb  = Tmᵀ dW = −Tmᵀ (dU S₀ᵀ) =: −Z,  dVb = Tmᵀ dU,  dA = Z Wᵀ − dVb Ũᵀ
 *   Kb, Vb: dK_r += β_r Γ_r dKb_r, dβ_r += Γ_r k_r·dKb_r + v_r·dVb_r, dΓ_r += β_r k_r·dKb_r, dV_r = β_r dVb_r
 *   A[r,s] = β_r (k_r·k_s) D[r,s]:  dβ_r += Σ_s dA[r,s] (KKᵀ)[r,s] D[r,s],  d(KKᵀ) = dA ⊙ β_r D,
 *          dK += (d(KKᵀ) + d(KKᵀ)ᵀ) K,  dD += dA ⊙ β_r KKᵀ
 *   Decays, with M = dD ⊙ D (strictly lower):
 *   db_r = Γ_r dΓ_r − e_r de_r + Σ_s M[r,s] − Σ_s M[s,r],  and db_{L−1} += Γ_{L−1} dΓ_{L−1}(from S_L) + Σ_s e_s de_s
 *   dg_j = Σ_{r ≥ j} db_r within the chunk (the reverse cumulative sum).
 *
 * Dense products go through getKernels().matmul / matmulF64 in the inputs' precision (f32 products accumulate
 * in f64 and round once); the small triangular and elementwise work runs in JS numbers with f64 scratch.
 */
import { getKernels } from "../../kernels/index.js";
import type { FloatArray, Kernels, MatmulArgs } from "../../kernels/types.js";

/** One call's sizes and inputs, all contiguous in the op's layouts. */
export interface DeltaProblem {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
  /** chunk length (the last chunk may be shorter) */
  C: number;
  scale: number;
  q: FloatArray; // [B,T,H,K]
  k: FloatArray; // [B,T,H,K]
  v: FloatArray; // [B,T,H,V]
  beta: FloatArray; // [B,T,H]
  /** [B,T,H] log decay, or null for the plain delta rule */
  g: FloatArray | null;
  /** [B,H,K,V] or null for zeros */
  s0: FloatArray | null;
  /** f64 or f32: the type of every array above and of the results */
  f64: boolean;
}

export interface DeltaForward {
  o: FloatArray; // [B,T,H,V]
  state: FloatArray; // [B,H,K,V]
  /** the incoming state of every chunk, [B,H,N,K,V] (null unless asked for, to run backward) */
  saved: FloatArray | null;
}

export interface DeltaGrads {
  dq: FloatArray;
  dk: FloatArray;
  dv: FloatArray;
  dbeta: FloatArray;
  dg: FloatArray | null;
  ds0: FloatArray;
}

// ---------------------------------------------------------------------------------------------------------
// dense products on row-major blocks (C is always dense with row length n)

function mm(
  kern: Kernels, m: number, n: number, k: number,
  a: FloatArray, ao: number, ars: number, acs: number,
  b: FloatArray, bo: number, brs: number, bcs: number,
  c: FloatArray, co: number, accumulate: boolean,
): void {
  const args = { m, n, k, a, aOffset: ao, aRowStride: ars, aColStride: acs, b, bOffset: bo, bRowStride: brs, bColStride: bcs, c, cOffset: co, accumulate };
  if (c instanceof Float64Array) kern.matmulF64(args as MatmulArgs<Float64Array>);
  else kern.matmul(args as MatmulArgs<Float32Array>);
}
/** C[m×n] (+)= A[m×k] · B[k×n] */
const nn = (kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void =>
  mm(kern, m, n, k, a, ao, k, 1, b, bo, n, 1, c, co, acc);
/** C[m×n] (+)= A[m×k] · B[n×k]ᵀ */
const nt = (kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void =>
  mm(kern, m, n, k, a, ao, k, 1, b, bo, 1, k, c, co, acc);
/** C[m×n] (+)= A[k×m]ᵀ · B[k×n] */
const tn = (kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void =>
  mm(kern, m, n, k, a, ao, 1, m, b, bo, n, 1, c, co, acc);

// ---------------------------------------------------------------------------------------------------------

type Alloc = (n: number) => FloatArray;

/** Scratch for one chunk, reused across chunks and heads. Matrices are row-major with row length L. */
class Workspace {
  // per-row decay quantities and their gradients (f64)
  readonly bc: Float64Array;
  readonly gam: Float64Array;
  readonly e: Float64Array;
  readonly dGam: Float64Array;
  readonly de: Float64Array;
  readonly dbeta: Float64Array;
  // L×L, f64
  readonly D: Float64Array;
  readonly A: Float64Array;
  readonly Tm: Float64Array;
  readonly M: Float64Array;
  // L×L in the working precision (matmul operands / results)
  readonly KK: FloatArray;
  readonly QK: FloatArray;
  readonly P: FloatArray;
  readonly TmD: FloatArray;
  readonly dP: FloatArray;
  readonly dQK: FloatArray;
  readonly dKK: FloatArray;
  readonly dA1: FloatArray;
  readonly dA2: FloatArray;
  // L×K
  readonly Kb: FloatArray;
  readonly W: FloatArray;
  readonly Kd: FloatArray;
  readonly Qb: FloatArray;
  readonly G: FloatArray;
  readonly Y: FloatArray;
  readonly Z: FloatArray;
  // L×V
  readonly Vb: FloatArray;
  readonly Ut: FloatArray;
  readonly U: FloatArray;
  readonly dU: FloatArray;
  readonly dVb: FloatArray;
  // K×V
  readonly tmpKV: FloatArray;
  readonly dS: FloatArray;
  readonly dSprev: FloatArray;

  constructor(alloc: Alloc, C: number, K: number, V: number) {
    const f = (n: number) => new Float64Array(n);
    this.bc = f(C); this.gam = f(C); this.e = f(C); this.dGam = f(C); this.de = f(C); this.dbeta = f(C);
    this.D = f(C * C); this.A = f(C * C); this.Tm = f(C * C); this.M = f(C * C);
    this.KK = alloc(C * C); this.QK = alloc(C * C); this.P = alloc(C * C); this.TmD = alloc(C * C);
    this.dP = alloc(C * C); this.dQK = alloc(C * C); this.dKK = alloc(C * C); this.dA1 = alloc(C * C); this.dA2 = alloc(C * C);
    this.Kb = alloc(C * K); this.W = alloc(C * K); this.Kd = alloc(C * K); this.Qb = alloc(C * K);
    this.G = alloc(C * K); this.Y = alloc(C * K); this.Z = alloc(C * K);
    this.Vb = alloc(C * V); this.Ut = alloc(C * V); this.U = alloc(C * V); this.dU = alloc(C * V); this.dVb = alloc(C * V);
    this.tmpKV = alloc(K * V); this.dS = alloc(K * V); this.dSprev = alloc(K * V);
  }
}

/** One (batch, head)'s sequences, gathered to dense [T, D] rows. */
interface Head {
  q: FloatArray; // [T,K]
  k: FloatArray; // [T,K]
  v: FloatArray; // [T,V]
  beta: Float64Array; // [T]
  g: Float64Array | null; // [T]
}

function allocator(f64: boolean): Alloc {
  return f64 ? (n) => new Float64Array(n) : (n) => new Float32Array(n);
}

/** x[b,:,h,:] of a [B,T,H,D] array into dense [T,D] rows (or the reverse with `scatter`). */
function gather(x: FloatArray, out: FloatArray, b: number, h: number, T: number, H: number, D: number): void {
  for (let t = 0; t < T; t++) {
    const src = ((b * T + t) * H + h) * D;
    out.set(x.subarray(src, src + D), t * D);
  }
}
function scatter(x: FloatArray, out: FloatArray, b: number, h: number, T: number, H: number, D: number): void {
  for (let t = 0; t < T; t++) out.set(x.subarray(t * D, t * D + D), ((b * T + t) * H + h) * D);
}
function gather1(x: FloatArray, out: Float64Array, b: number, h: number, T: number, H: number): void {
  for (let t = 0; t < T; t++) out[t] = x[(b * T + t) * H + h]!;
}

function loadHead(p: DeltaProblem, hd: Head, b: number, h: number): void {
  gather(p.q, hd.q, b, h, p.T, p.H, p.K);
  gather(p.k, hd.k, b, h, p.T, p.H, p.K);
  gather(p.v, hd.v, b, h, p.T, p.H, p.V);
  gather1(p.beta, hd.beta, b, h, p.T, p.H);
  if (hd.g && p.g) gather1(p.g, hd.g, b, h, p.T, p.H);
}

function newHead(p: DeltaProblem, alloc: Alloc): Head {
  return {
    q: alloc(p.T * p.K),
    k: alloc(p.T * p.K),
    v: alloc(p.T * p.V),
    beta: new Float64Array(p.T),
    g: p.g ? new Float64Array(p.T) : null,
  };
}

/**
 * Everything about chunk [t0, t0+L) that both passes need, given its incoming state S₀ = s[so .. so+K·V):
 * the decays (bc, gam, e, D), KKᵀ, A, Tm (f64 and working precision), Kb, Vb, W, Ũ, U, QKᵀ, P and Diag(e)K.
 */
function prepareChunk(kern: Kernels, p: DeltaProblem, ws: Workspace, hd: Head, t0: number, L: number, s: FloatArray, so: number): void {
  const { K, V, scale } = p;
  const { bc, gam, e, D, A, Tm, KK, QK, P, TmD, Kb, Vb, W, Ut, U, Kd } = ws;
  const gated = hd.g !== null;
  // decays: cumulative sums restart at the chunk start; exponents formed only for s ≤ r
  if (gated) {
    let acc = 0;
    for (let r = 0; r < L; r++) {
      acc += hd.g![t0 + r]!;
      bc[r] = acc;
      gam[r] = Math.exp(acc);
    }
    const last = bc[L - 1]!;
    for (let r = 0; r < L; r++) e[r] = Math.exp(last - bc[r]!);
  } else {
    bc.fill(0, 0, L);
    gam.fill(1, 0, L);
    e.fill(1, 0, L);
  }
  for (let r = 0; r < L; r++) {
    const row = r * L;
    const br = bc[r]!;
    for (let c = 0; c <= r; c++) D[row + c] = gated ? Math.exp(br - bc[c]!) : 1;
    for (let c = r + 1; c < L; c++) D[row + c] = 0;
  }
  const qo = t0 * K;
  const vo = t0 * V;
  // KKᵀ and A = StrictTril(Diag(β) KKᵀ ⊙ D)
  nt(kern, L, L, K, hd.k, qo, hd.k, qo, KK, 0);
  for (let r = 0; r < L; r++) {
    const row = r * L;
    const br = hd.beta[t0 + r]!;
    for (let c = 0; c < r; c++) A[row + c] = br * KK[row + c]! * D[row + c]!;
    for (let c = r; c < L; c++) A[row + c] = 0;
  }
  // Tm = (I + A)⁻¹ by forward substitution: row r of (I + A) Tm = I gives Tm_r = e_r − Σ_{c<r} A[r,c] Tm_c
  for (let r = 0; r < L; r++) {
    const row = r * L;
    Tm.fill(0, row, row + L);
    Tm[row + r] = 1;
    for (let c = 0; c < r; c++) {
      const a = A[row + c]!;
      if (a === 0) continue;
      const crow = c * L;
      for (let j = 0; j <= c; j++) Tm[row + j] -= a * Tm[crow + j]!;
    }
  }
  TmD.set(Tm.subarray(0, L * L));
  // Kb = Diag(βΓ) K, Vb = Diag(β) V, Kd = Diag(e) K
  for (let r = 0; r < L; r++) {
    const bt = hd.beta[t0 + r]!;
    const kb = bt * gam[r]!;
    const ke = e[r]!;
    const src = qo + r * K;
    for (let j = 0; j < K; j++) {
      const x = hd.k[src + j]!;
      Kb[r * K + j] = kb * x;
      Kd[r * K + j] = ke * x;
    }
    const vs = vo + r * V;
    for (let j = 0; j < V; j++) Vb[r * V + j] = bt * hd.v[vs + j]!;
  }
  // W = Tm Kb, Ũ = Tm Vb, U = Ũ − W S₀
  nn(kern, L, K, L, TmD, 0, Kb, 0, W, 0);
  nn(kern, L, V, L, TmD, 0, Vb, 0, Ut, 0);
  nn(kern, L, V, K, W, 0, s, so, U, 0);
  for (let i = 0; i < L * V; i++) U[i] = Ut[i]! - U[i]!;
  // P = τ (QKᵀ ⊙ D), lower triangle with the diagonal
  nt(kern, L, L, K, hd.q, qo, hd.k, qo, QK, 0);
  for (let i = 0; i < L * L; i++) P[i] = scale * QK[i]! * D[i]!;
}

/** Forward over all chunks; saves each chunk's incoming state when `save`. */
export function deltaChunkForward(p: DeltaProblem, save: boolean): DeltaForward {
  const { B, T, H, K, V, C, scale } = p;
  const alloc = allocator(p.f64);
  const kern = getKernels();
  const N = Math.ceil(T / C);
  const KV = K * V;
  const o = alloc(B * T * H * V);
  const state = alloc(B * H * KV);
  const saved = save ? alloc(B * H * N * KV) : null;
  const Cw = Math.min(C, T);
  const ws = new Workspace(alloc, Cw, K, V);
  const hd = newHead(p, alloc);
  const oh = alloc(T * V);
  const S = alloc(KV);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      loadHead(p, hd, b, h);
      if (p.s0) S.set(p.s0.subarray(bh * KV, bh * KV + KV));
      else S.fill(0);
      for (let n = 0; n < N; n++) {
        const t0 = n * C;
        const L = Math.min(C, T - t0);
        if (saved) saved.set(S, (bh * N + n) * KV);
        prepareChunk(kern, p, ws, hd, t0, L, S, 0);
        const { gam, P, U, Kd, tmpKV } = ws;
        // O = Diag(τΓ) Q S₀ + P U
        const oo = t0 * V;
        nn(kern, L, V, K, hd.q, t0 * K, S, 0, oh, oo);
        for (let r = 0; r < L; r++) {
          const f = scale * gam[r]!;
          for (let j = 0; j < V; j++) oh[oo + r * V + j] *= f;
        }
        nn(kern, L, V, L, P, 0, U, 0, oh, oo, true);
        // S_L = Γ_{L−1} S₀ + (Diag(e) K)ᵀ U
        tn(kern, K, V, L, Kd, 0, U, 0, tmpKV, 0);
        const gl = gam[L - 1]!;
        for (let i = 0; i < KV; i++) S[i] = gl * S[i]! + tmpKV[i]!;
      }
      scatter(oh, o, b, h, T, H, V);
      state.set(S, bh * KV);
    }
  }
  return { o, state, saved };
}

/** Backward over all chunks, in reverse, from the saved incoming states. dO [B,T,H,V], dState [B,H,K,V]. */
export function deltaChunkBackward(p: DeltaProblem, saved: FloatArray, dO: FloatArray, dState: FloatArray): DeltaGrads {
  const { B, T, H, K, V, C, scale } = p;
  const alloc = allocator(p.f64);
  const kern = getKernels();
  const N = Math.ceil(T / C);
  const KV = K * V;
  const dq = alloc(B * T * H * K);
  const dk = alloc(B * T * H * K);
  const dv = alloc(B * T * H * V);
  const dbeta = alloc(B * T * H);
  const dg = p.g ? alloc(B * T * H) : null;
  const ds0 = alloc(B * H * KV);
  const Cw = Math.min(C, T);
  const ws = new Workspace(alloc, Cw, K, V);
  const hd = newHead(p, alloc);
  const dOh = alloc(T * V);
  const dqh = alloc(T * K);
  const dkh = alloc(T * K);
  const dvh = alloc(T * V);
  const dbh = new Float64Array(T);
  const dgh = new Float64Array(T);
  const gated = p.g !== null;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      loadHead(p, hd, b, h);
      gather(dO, dOh, b, h, T, H, V);
      let dS = ws.dS;
      let dSprev = ws.dSprev;
      dS.set(dState.subarray(bh * KV, bh * KV + KV));
      for (let n = N - 1; n >= 0; n--) {
        const t0 = n * C;
        const L = Math.min(C, T - t0);
        const so = (bh * N + n) * KV;
        prepareChunk(kern, p, ws, hd, t0, L, saved, so);
        const { gam, e, D, A, KK, QK, P, TmD, W, Ut, U, Kd, Qb, G, Y, Z, dU, dVb, dP, dQK, dKK, dA1, dA2, M, dGam, de, tmpKV } = ws;
        const dbet = ws.dbeta;
        const qo = t0 * K;
        const vo = t0 * V;
        // dU = Pᵀ dO + Diag(e) K dS
        tn(kern, L, V, L, P, 0, dOh, vo, dU, 0);
        nn(kern, L, V, K, Kd, 0, dS, 0, dU, 0, true);
        // dP = dO Uᵀ; d(QKᵀ) = τ dP ⊙ D; M = dD ⊙ D from P (strictly lower part)
        nt(kern, L, L, V, dOh, vo, U, 0, dP, 0);
        for (let r = 0; r < L; r++) {
          const row = r * L;
          for (let c = 0; c <= r; c++) {
            const x = scale * dP[row + c]! * D[row + c]!;
            dQK[row + c] = x;
            M[row + c] = c < r ? x * QK[row + c]! : 0;
          }
          for (let c = r + 1; c < L; c++) {
            dQK[row + c] = 0;
            M[row + c] = 0;
          }
        }
        // G = dO S₀ᵀ: dΓ_r = τ q_r·G_r, dQ_r = τΓ_r G_r, then dQ += d(QKᵀ) K
        nt(kern, L, K, V, dOh, vo, saved, so, G, 0);
        for (let r = 0; r < L; r++) {
          let s = 0;
          const f = scale * gam[r]!;
          for (let j = 0; j < K; j++) {
            const x = G[r * K + j]!;
            s += hd.q[qo + r * K + j]! * x;
            dqh[qo + r * K + j] = f * x;
          }
          dGam[r] = scale * s;
        }
        nn(kern, L, K, L, dQK, 0, hd.k, qo, dqh, qo, true);
        // dK = d(QKᵀ)ᵀ Q (first contribution)
        tn(kern, L, K, L, dQK, 0, hd.q, qo, dkh, qo);
        // dS₀ = (Diag(τΓ) Q)ᵀ dO − Wᵀ dU + Γ_{L−1} dS;  dΓ_{L−1} (via S_L) = ⟨S₀, dS⟩
        for (let r = 0; r < L; r++) {
          const f = scale * gam[r]!;
          for (let j = 0; j < K; j++) Qb[r * K + j] = f * hd.q[qo + r * K + j]!;
        }
        tn(kern, K, V, L, Qb, 0, dOh, vo, dSprev, 0);
        tn(kern, K, V, L, W, 0, dU, 0, tmpKV, 0);
        const gl = gam[L - 1]!;
        let dGlast = 0;
        for (let i = 0; i < KV; i++) {
          const ds = dS[i]!;
          dGlast += saved[so + i]! * ds;
          dSprev[i] = dSprev[i]! - tmpKV[i]! + gl * ds;
        }
        // d(Diag(e)K) = U dSᵀ (into Y for now): dK_r += e_r ·, de_r = k_r · (…)_r
        nt(kern, L, K, V, U, 0, dS, 0, Y, 0);
        for (let r = 0; r < L; r++) {
          const er = e[r]!;
          let s = 0;
          for (let j = 0; j < K; j++) {
            const x = Y[r * K + j]!;
            s += hd.k[qo + r * K + j]! * x;
            dkh[qo + r * K + j] += er * x;
          }
          de[r] = s;
        }
        // the solve: Y = dU S₀ᵀ (= −dW), Z = Tmᵀ Y (= −dKb), dVb = Tmᵀ dU, dA = Z Wᵀ − dVb Ũᵀ
        nt(kern, L, K, V, dU, 0, saved, so, Y, 0);
        tn(kern, L, K, L, TmD, 0, Y, 0, Z, 0);
        tn(kern, L, V, L, TmD, 0, dU, 0, dVb, 0);
        nt(kern, L, L, K, Z, 0, W, 0, dA1, 0);
        nt(kern, L, L, V, dVb, 0, Ut, 0, dA2, 0);
        // Kb = Diag(βΓ) K and Vb = Diag(β) V
        for (let r = 0; r < L; r++) {
          const bt = hd.beta[t0 + r]!;
          const gr = gam[r]!;
          let kz = 0;
          for (let j = 0; j < K; j++) {
            const z = Z[r * K + j]!;
            kz += hd.k[qo + r * K + j]! * z;
            dkh[qo + r * K + j] -= bt * gr * z;
          }
          let vd = 0;
          for (let j = 0; j < V; j++) {
            const x = dVb[r * V + j]!;
            vd += hd.v[vo + r * V + j]! * x;
            dvh[vo + r * V + j] = bt * x;
          }
          dbet[r] = vd - gr * kz;
          dGam[r] = dGam[r]! - bt * kz;
        }
        // A[r,c] = β_r KK[r,c] D[r,c] (c < r): dβ, d(KKᵀ) (symmetrised into dKK), M += dA ⊙ A
        for (let r = 0; r < L; r++) {
          const row = r * L;
          const bt = hd.beta[t0 + r]!;
          let sb = 0;
          for (let c = 0; c < r; c++) {
            const da = dA1[row + c]! - dA2[row + c]!;
            const d = D[row + c]!;
            sb += da * KK[row + c]! * d;
            dKK[row + c] = da * bt * d;
            M[row + c] = M[row + c]! + da * A[row + c]!;
          }
          dbet[r] = dbet[r]! + sb;
          dKK[row + r] = 0;
        }
        for (let r = 0; r < L; r++) for (let c = r + 1; c < L; c++) dKK[r * L + c] = dKK[c * L + r]!;
        nn(kern, L, K, L, dKK, 0, hd.k, qo, dkh, qo, true);
        for (let r = 0; r < L; r++) dbh[t0 + r] = dbet[r]!;
        // decays: db, then dg = reverse cumulative sum of db within the chunk
        if (gated) {
          let tail = 0; // Σ_s e_s de_s, all of which also flows to b_{L−1}
          const db = ws.bc; // reuse: bc is not needed any more in this chunk
          for (let r = 0; r < L; r++) {
            let rows = 0;
            for (let c = 0; c < r; c++) rows += M[r * L + c]!;
            let cols = 0;
            for (let c = r + 1; c < L; c++) cols += M[c * L + r]!;
            const ed = e[r]! * de[r]!;
            tail += ed;
            db[r] = gam[r]! * dGam[r]! - ed + rows - cols;
          }
          db[L - 1] = db[L - 1]! + gl * dGlast + tail;
          let acc = 0;
          for (let r = L - 1; r >= 0; r--) {
            acc += db[r]!;
            dgh[t0 + r] = acc;
          }
        }
        const swap = dS;
        dS = dSprev;
        dSprev = swap;
      }
      scatter(dqh, dq, b, h, T, H, K);
      scatter(dkh, dk, b, h, T, H, K);
      scatter(dvh, dv, b, h, T, H, V);
      for (let t = 0; t < T; t++) dbeta[(b * T + t) * H + h] = dbh[t]!;
      if (dg) for (let t = 0; t < T; t++) dg[(b * T + t) * H + h] = dgh[t]!;
      ds0.set(dS, bh * KV);
    }
  }
  return { dq, dk, dv, dbeta, dg, ds0 };
}
