/**
 * The chunkwise engine of the diagonal-decay linear recurrence (spec/mixers.md §0.4), shared by linear_attn,
 * retention, simple_gla and gla. Forward and backward are written by hand on raw typed arrays.
 *
 *   S_t = Diag(a_t) S_{t−1} + k_tᵀ v_t,   o_t = τ q_t S_t,   a_t = exp(g_t)   (S key-major [K,V], §0.1)
 *
 * Gate kinds: "none" (a = 1: linear attention), "scalar" (one log gate per step and head: retention with
 * g = log γ, simple_gla / Mamba-2), "vector" (one log gate per step, head and key channel: gla).
 *
 * Notation for one (batch, head) and one chunk of L ≤ C rows with incoming state S₀ (rows are row vectors):
 *   b_r  = Σ_{j≤r} g_j                 chunk-local inclusive cumulative log gate (restarted every chunk, §0.4
 *                                      rule 3, so |b| ≤ C·max|g|); a scalar per row, or a K-vector
 *   Γ_r  = exp(b_r)                    decay from the chunk start through row r
 *   e_s  = exp(b_{L−1} − b_s)          decay from row s to the chunk end
 *   E_rs = exp(b_r − b_s), s ≤ r       decay from row s to row r (a scalar or a K-vector)
 *   A[r,s] = τ Σ_d q_r[d] k_s[d] E_rs[d] for s ≤ r, else 0
 *   O   = (τ q ⊙ Γ) S₀ + A V                                    (inter-chunk + intra-chunk)
 *   S_L = Diag(Γ_{L−1}) S₀ + (K ⊙ e)ᵀ V                          (state passed to the next chunk)
 * Only differences b_later − b_earlier ≤ 0 are ever exponentiated (§0.4 rule 1), and the mask is applied by
 * never forming the exponent for s > r (rule 2), so strong decay underflows gracefully and nothing overflows.
 *
 * The intra-chunk block A:
 *  - scalar / no gate: A = τ (Q Kᵀ) ⊙ D with D[r,s] = exp(b_r − b_s) for s ≤ r — one matmul and a mask.
 *  - vector gate: the chunk is cut into sub-blocks of `sub` rows (16). For the query sub-block starting at
 *    row p and every key row s < p, the pivot p splits the decay (§0.4 rule 4, "secondary chunking" of the
 *    GLA paper): E_rs = exp(b_r − b_p) ⊙ exp(b_p − b_s), both exponents ≤ 0, so
 *    A[p.., :p] = (τ Q_{p..} ⊙ exp(b_r − b_p)) (K_{:p} ⊙ exp(b_p − b_s))ᵀ is one matmul per sub-block.
 *    Inside a diagonal sub-block the O(sub²·K) elementwise form is computed directly, with E_rs built as the
 *    running product Π_{s<j≤r} a_j (factors ≤ 1: no exp per pair, no overflow).
 *
 * Backward. Upstream gradients dO (rows) and dS (of the final state). Chunks are visited in reverse,
 * carrying dS = ∂L/∂S at the current chunk's end; each chunk's incoming state S₀ was saved by the forward
 * pass and everything else is recomputed. Differentiating the two chunk equations above:
 *   dV      = Aᵀ dO + (K ⊙ e) dS
 *   dA      = dO Vᵀ (kept for s ≤ r)
 *   dq_r    = τ Γ_r ⊙ (dO S₀ᵀ)_r + τ Σ_{s≤r} dA[r,s] (k_s ⊙ E_rs)
 *   dk_s    = e_s ⊙ (V dSᵀ)_s     + τ Σ_{r≥s} dA[r,s] (q_r ⊙ E_rs)
 *   dS₀     = (τ q ⊙ Γ)ᵀ dO + Diag(Γ_{L−1}) dS       (carried to the previous chunk)
 *   (scalar gate: the two sums are (τ dA ⊙ D) K and (τ dA ⊙ D)ᵀ Q, two matmuls; vector gate: the same
 *   pivot split as the forward pass, (dA K̃) ⊙ exp(b_r − b_p) and (dAᵀ Q̃) ⊙ exp(b_p − b_s), plus the
 *   direct loops in the diagonal sub-blocks.)
 * The log gates. Write the whole-sequence form with global cumulative sums B_t = Σ_{j≤t} g_j:
 *   o_r = τ q_r (Diag(e^{B_r}) S_init + Σ_{s≤r} Diag(e^{B_r − B_s}) k_sᵀ v_s),
 *   S_T = Diag(e^{B_T}) S_init + Σ_s Diag(e^{B_T − B_s}) k_sᵀ v_s.
 * Treat each B_t as a free variable. Every term in which B_r appears with a + sign carries a factor q_r[d]
 * (it is in o_r), and differentiating it multiplies by 1: together those terms give q_r ⊙ dq_r. Every term in
 * which B_s appears with a − sign carries k_s[d] and sums to k_s ⊙ dk_s — except the s = r diagonal, where the
 * two cancel, which the identity reproduces since q_r ⊙ (τ dA[r,r] k_r) = k_r ⊙ (τ dA[r,r] q_r). The last
 * state adds Σ_j (S_T ⊙ dS_T)[d,j] at t = T (the + sign of B_T, times what multiplies it: S_T itself). So
 *   ∂L/∂B_t = q_t ⊙ dq_t − k_t ⊙ dk_t  (+ rowsum(S_T ⊙ dS_T) at t = T),
 * and since B_t = Σ_{j≤t} g_j, dg_j = Σ_{t≥j} ∂L/∂B_t — a reverse cumulative sum over the whole sequence,
 * independent of the chunking (the identity fla uses for dg). For a scalar gate sum over d as well. This needs
 * only dq, dk (already computed) and the final state; tests check it with gradcheck.
 *
 * Dense products go through getKernels().matmul / matmulF64 in the inputs' precision (f32 products
 * accumulate in f64 and round once); the cumulative sums, decays and gate gradients are f64 scratch.
 */
import { getKernels } from "../../kernels/index.js";
import type { FloatArray, Kernels, MatmulArgs } from "../../kernels/types.js";

export type GateKind = "none" | "scalar" | "vector";

/** One call: sizes, inputs (contiguous, in the op layouts) and how the decay is given. */
export interface DecayProblem {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
  /** chunk length (the last chunk may be shorter) */
  C: number;
  /** τ, applied to q */
  scale: number;
  /** working precision: f64 or f32 arrays for q, k, v, s0 and every result */
  f64: boolean;
  q: FloatArray; // [B,T,H,K]
  k: FloatArray; // [B,T,H,K]
  v: FloatArray; // [B,T,H,V]
  gate: GateKind;
  /** log gates ≤ 0: [B,T,H] for "scalar", [B,T,H,K] for "vector", null for "none" (any float array type) */
  g: FloatArray | null;
  /** initial state [B,H,K,V], or null for zeros */
  s0: FloatArray | null;
  /** rows per sub-block of the vector-gate intra-chunk block (default 16) */
  sub?: number;
}

export interface DecayForward {
  o: FloatArray; // [B,T,H,V]
  state: FloatArray; // [B,H,K,V], the state after the last token
  /** the incoming state of every chunk, [B,H,N,K,V] with N = ⌈T/C⌉ (null unless kept for backward) */
  saved: FloatArray | null;
}

export interface DecayGrads {
  dq: FloatArray;
  dk: FloatArray;
  dv: FloatArray;
  /** gradient of the log gates, shaped like p.g (f64); null for gate "none" */
  dg: Float64Array | null;
  ds0: FloatArray; // [B,H,K,V]
}

const DEFAULT_SUB = 16;

// ---------------------------------------------------------------------------------------------------------
// dense products; the output block is dense row-major with row length n

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
/** C[m×n] (+)= A[m×k] B[k×n], A and B dense row-major */
function mmNN(kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void {
  mm(kern, m, n, k, a, ao, k, 1, b, bo, n, 1, c, co, acc);
}
/** C[m×n] (+)= A[m×k] B[n×k]ᵀ */
function mmNT(kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void {
  mm(kern, m, n, k, a, ao, k, 1, b, bo, 1, k, c, co, acc);
}
/** C[m×n] (+)= A[k×m]ᵀ B[k×n] */
function mmTN(kern: Kernels, m: number, n: number, k: number, a: FloatArray, ao: number, b: FloatArray, bo: number, c: FloatArray, co: number, acc = false): void {
  mm(kern, m, n, k, a, ao, 1, m, b, bo, n, 1, c, co, acc);
}

// ---------------------------------------------------------------------------------------------------------

type Alloc = (n: number) => FloatArray;
const allocator = (f64: boolean): Alloc => (f64 ? (n) => new Float64Array(n) : (n) => new Float32Array(n));

/** Gate channels per row: K for a vector gate, else 1. */
const gateWidth = (p: DecayProblem): number => (p.gate === "vector" ? p.K : 1);

/** One (batch, head)'s rows gathered densely: [T,K], [T,V], gates [T,G]. Reused for every head. */
class HeadRows {
  readonly q: FloatArray;
  readonly k: FloatArray;
  readonly v: FloatArray;
  /** forward: o; backward: dO */
  readonly o: FloatArray;
  readonly g: Float64Array;
  readonly dq: FloatArray;
  readonly dk: FloatArray;
  readonly dv: FloatArray;
  /** ∂L/∂B_t per row (backward) */
  readonly db: Float64Array;

  constructor(alloc: Alloc, p: DecayProblem, backward: boolean) {
    const { T, K, V } = p;
    const G = gateWidth(p);
    this.q = alloc(T * K);
    this.k = alloc(T * K);
    this.v = alloc(T * V);
    this.o = alloc(T * V);
    this.g = new Float64Array(p.gate === "none" ? 0 : T * G);
    this.dq = alloc(backward ? T * K : 0);
    this.dk = alloc(backward ? T * K : 0);
    this.dv = alloc(backward ? T * V : 0);
    this.db = new Float64Array(backward && p.gate !== "none" ? T * G : 0);
  }
}

/** Scratch for one chunk (row-major, row length L or K), reused across chunks and heads. */
class Workspace {
  // per row (and channel, for a vector gate), f64
  readonly b: Float64Array;
  readonly a: Float64Array;
  readonly gam: Float64Array;
  readonly e: Float64Array;
  readonly gamLast: Float64Array;
  readonly eq: Float64Array;
  readonly f: Float64Array;
  readonly w: Float64Array;
  // L×L, working precision
  readonly A: FloatArray;
  readonly dA: FloatArray;
  readonly blk: FloatArray;
  // L×K, working precision
  readonly Qg: FloatArray;
  readonly Ke: FloatArray;
  readonly Qt: FloatArray;
  readonly Kt: FloatArray;
  readonly tmp: FloatArray;
  readonly dQc: FloatArray;
  readonly dKc: FloatArray;
  // K×V, working precision
  readonly S: FloatArray;
  readonly dS: FloatArray;

  constructor(alloc: Alloc, p: DecayProblem) {
    const { C, K, V } = p;
    const G = gateWidth(p);
    const f = (n: number) => new Float64Array(n);
    this.b = f(C * G); this.a = f(C * G); this.gam = f(C * G); this.e = f(C * G); this.gamLast = f(G);
    this.eq = f(C * K); this.f = f(C * K); this.w = f(K);
    this.A = alloc(C * C); this.dA = alloc(C * C); this.blk = alloc(C * C);
    this.Qg = alloc(C * K); this.Ke = alloc(C * K); this.Qt = alloc(C * K); this.Kt = alloc(C * K);
    this.tmp = alloc(C * K); this.dQc = alloc(C * K); this.dKc = alloc(C * K);
    this.S = alloc(K * V); this.dS = alloc(K * V);
  }
}

/** x[b,:,h,:] of a [B,T,H,D] array into dense [T,D] rows (a block copy when the array types match). */
function gatherRows(x: FloatArray, out: FloatArray | Float64Array, b: number, h: number, T: number, H: number, D: number): void {
  const same = x.constructor === out.constructor;
  for (let t = 0; t < T; t++) {
    const src = ((b * T + t) * H + h) * D;
    if (same) (out as FloatArray).set(x.subarray(src, src + D), t * D);
    else for (let d = 0; d < D; d++) out[t * D + d] = x[src + d]!;
  }
}
/** dense [T,D] rows back into x[b,:,h,:]. */
function scatterRows(rows: FloatArray | Float64Array, x: FloatArray | Float64Array, b: number, h: number, T: number, H: number, D: number): void {
  const same = x.constructor === rows.constructor;
  for (let t = 0; t < T; t++) {
    const dst = ((b * T + t) * H + h) * D;
    if (same) (x as FloatArray).set(rows.subarray(t * D, t * D + D), dst);
    else for (let d = 0; d < D; d++) x[dst + d] = rows[t * D + d]!;
  }
}

function loadHead(p: DecayProblem, rows: HeadRows, b: number, h: number): void {
  gatherRows(p.q, rows.q, b, h, p.T, p.H, p.K);
  gatherRows(p.k, rows.k, b, h, p.T, p.H, p.K);
  gatherRows(p.v, rows.v, b, h, p.T, p.H, p.V);
  if (p.g) gatherRows(p.g, rows.g, b, h, p.T, p.H, gateWidth(p));
}

// ---------------------------------------------------------------------------------------------------------
// one chunk: rows t0 .. t0+L−1 of the current head

/** b (cumulative log gate), a = exp(g), Γ = exp(b), e = exp(b_{L−1} − b), then Qg = τ q ⊙ Γ and Ke = k ⊙ e. */
function prepareChunk(p: DecayProblem, ws: Workspace, rows: HeadRows, t0: number, L: number): void {
  const { K, scale } = p;
  const G = gateWidth(p);
  const { b, a, gam, e, gamLast } = ws;
  const hasGate = p.gate !== "none";
  for (let r = 0; r < L; r++) {
    for (let d = 0; d < G; d++) {
      const gv = hasGate ? rows.g[(t0 + r) * G + d]! : 0;
      const i = r * G + d;
      b[i] = (r > 0 ? b[i - G]! : 0) + gv;
      a[i] = Math.exp(gv);
      gam[i] = Math.exp(b[i]!);
    }
  }
  const last = (L - 1) * G;
  for (let d = 0; d < G; d++) gamLast[d] = gam[last + d]!;
  for (let s = 0; s < L; s++) for (let d = 0; d < G; d++) e[s * G + d] = Math.exp(b[last + d]! - b[s * G + d]!);
  const { Qg, Ke } = ws;
  for (let r = 0; r < L; r++) {
    const src = (t0 + r) * K;
    for (let d = 0; d < K; d++) {
      const gi = G === 1 ? r : r * K + d;
      Qg[r * K + d] = scale * rows.q[src + d]! * gam[gi]!;
      Ke[r * K + d] = rows.k[src + d]! * e[gi]!;
    }
  }
}

/** ws.A ← the intra-chunk block (L×L, zero above the diagonal, τ included). */
function buildIntra(p: DecayProblem, kern: Kernels, ws: Workspace, rows: HeadRows, t0: number, L: number): void {
  const { K, scale } = p;
  const A = ws.A;
  if (p.gate !== "vector") {
    // A = τ (Q Kᵀ) ⊙ D; the exponent b_r − b_s is only formed for s ≤ r
    mmNT(kern, L, L, K, rows.q, t0 * K, rows.k, t0 * K, A, 0);
    const b = ws.b;
    for (let r = 0; r < L; r++) {
      const row = r * L;
      const br = b[r]!;
      for (let s = 0; s <= r; s++) A[row + s] = A[row + s]! * scale * Math.exp(br - b[s]!);
      for (let s = r + 1; s < L; s++) A[row + s] = 0;
    }
    return;
  }
  A.fill(0, 0, L * L);
  const sub = p.sub ?? DEFAULT_SUB;
  for (let p0 = 0; p0 < L; p0 += sub) {
    const p1 = Math.min(p0 + sub, L);
    if (p0 > 0) {
      pivotFactors(p, ws, rows, t0, p0, p1);
      // A[p0..p1, 0..p0] = Q̃ K̃ᵀ
      const m = p1 - p0;
      mmNT(kern, m, p0, K, ws.Qt, 0, ws.Kt, 0, ws.blk, 0);
      for (let r = 0; r < m; r++) {
        const dst = (p0 + r) * L;
        for (let s = 0; s < p0; s++) A[dst + s] = ws.blk[r * p0 + s]!;
      }
    }
    // diagonal sub-block, directly: A[r,s] = τ Σ_d q_r[d] k_s[d] Π_{s<j≤r} a_j[d]
    const w = ws.w;
    for (let s = p0; s < p1; s++) {
      const ks = (t0 + s) * K;
      for (let d = 0; d < K; d++) w[d] = scale * rows.k[ks + d]!;
      for (let r = s; r < p1; r++) {
        const qr = (t0 + r) * K;
        if (r > s) for (let d = 0; d < K; d++) w[d] = w[d]! * ws.a[r * K + d]!;
        let acc = 0;
        for (let d = 0; d < K; d++) acc += rows.q[qr + d]! * w[d]!;
        A[r * L + s] = acc;
      }
    }
  }
}

/**
 * The pivot factors of the query sub-block [p0, p1) (pivot row p0) against key rows [0, p0):
 * eq = exp(b_r − b_p0), Qt = τ q ⊙ eq; f = exp(b_p0 − b_s), Kt = k ⊙ f. All exponents ≤ 0.
 */
function pivotFactors(p: DecayProblem, ws: Workspace, rows: HeadRows, t0: number, p0: number, p1: number): void {
  const { K, scale } = p;
  const { b, eq, f, Qt, Kt } = ws;
  const bp = p0 * K;
  for (let r = p0; r < p1; r++) {
    const src = (t0 + r) * K;
    const dst = (r - p0) * K;
    for (let d = 0; d < K; d++) {
      const x = Math.exp(b[r * K + d]! - b[bp + d]!);
      eq[dst + d] = x;
      Qt[dst + d] = scale * rows.q[src + d]! * x;
    }
  }
  for (let s = 0; s < p0; s++) {
    const src = (t0 + s) * K;
    for (let d = 0; d < K; d++) {
      const x = Math.exp(b[bp + d]! - b[s * K + d]!);
      f[s * K + d] = x;
      Kt[s * K + d] = rows.k[src + d]! * x;
    }
  }
}

/** S ← Diag(Γ_{L−1}) S (a scalar or per key row). */
function decayRows(p: DecayProblem, ws: Workspace, S: FloatArray): void {
  const { K, V } = p;
  const vec = p.gate === "vector";
  for (let d = 0; d < K; d++) {
    const x = ws.gamLast[vec ? d : 0]!;
    if (x === 1) continue;
    for (let j = 0; j < V; j++) S[d * V + j] = S[d * V + j]! * x;
  }
}

function chunkForward(p: DecayProblem, kern: Kernels, ws: Workspace, rows: HeadRows, t0: number, L: number): void {
  const { K, V } = p;
  prepareChunk(p, ws, rows, t0, L);
  // O = (τ q ⊙ Γ) S₀ + A V
  mmNN(kern, L, V, K, ws.Qg, 0, ws.S, 0, rows.o, t0 * V);
  buildIntra(p, kern, ws, rows, t0, L);
  mmNN(kern, L, V, L, ws.A, 0, rows.v, t0 * V, rows.o, t0 * V, true);
  // S ← Diag(Γ_{L−1}) S + (K ⊙ e)ᵀ V
  decayRows(p, ws, ws.S);
  mmTN(kern, K, V, L, ws.Ke, 0, rows.v, t0 * V, ws.S, 0, true);
}

/**
 * One chunk of the backward pass. On entry ws.dS is ∂L/∂S at the chunk's end and `s0` (at s0o) its incoming
 * state; writes dq, dk, dv, db for the chunk's rows and leaves ∂L/∂S₀ in ws.dS.
 */
function chunkBackward(p: DecayProblem, kern: Kernels, ws: Workspace, rows: HeadRows, t0: number, L: number, s0: FloatArray, s0o: number): void {
  const { K, V, scale } = p;
  const G = gateWidth(p);
  prepareChunk(p, ws, rows, t0, L);
  buildIntra(p, kern, ws, rows, t0, L);
  const dO = rows.o;
  const { A, dA, dQc, dKc, dS } = ws;
  // dV = Aᵀ dO + (K ⊙ e) dS
  mmTN(kern, L, V, L, A, 0, dO, t0 * V, rows.dv, t0 * V);
  mmNN(kern, L, V, K, ws.Ke, 0, dS, 0, rows.dv, t0 * V, true);
  // dA = dO Vᵀ (only s ≤ r is read below)
  mmNT(kern, L, L, V, dO, t0 * V, rows.v, t0 * V, dA, 0);
  // inter-chunk terms: dq_r = τ Γ_r ⊙ (dO S₀ᵀ)_r,  dk_s = e_s ⊙ (V dSᵀ)_s
  mmNT(kern, L, K, V, dO, t0 * V, s0, s0o, dQc, 0);
  mmNT(kern, L, K, V, rows.v, t0 * V, dS, 0, dKc, 0);
  for (let r = 0; r < L; r++) {
    for (let d = 0; d < K; d++) {
      const gi = G === 1 ? r : r * K + d;
      dQc[r * K + d] = dQc[r * K + d]! * scale * ws.gam[gi]!;
      dKc[r * K + d] = dKc[r * K + d]! * ws.e[gi]!;
    }
  }
  if (p.gate !== "vector") {
    // dA ← τ dA ⊙ D (lower triangle), then dq += dA K, dk += dAᵀ Q
    const b = ws.b;
    for (let r = 0; r < L; r++) {
      const row = r * L;
      const br = b[r]!;
      for (let s = 0; s <= r; s++) dA[row + s] = dA[row + s]! * scale * Math.exp(br - b[s]!);
      for (let s = r + 1; s < L; s++) dA[row + s] = 0;
    }
    mmNN(kern, L, K, L, dA, 0, rows.k, t0 * K, dQc, 0, true);
    mmTN(kern, L, K, L, dA, 0, rows.q, t0 * K, dKc, 0, true);
  } else {
    intraBackwardVector(p, kern, ws, rows, t0, L);
  }
  // gate: ∂L/∂B_t = q ⊙ dq − k ⊙ dk (see the header), summed over d for a scalar gate
  if (p.gate !== "none") {
    const db = rows.db;
    for (let r = 0; r < L; r++) {
      const src = (t0 + r) * K;
      if (G === 1) {
        let acc = 0;
        for (let d = 0; d < K; d++) acc += rows.q[src + d]! * dQc[r * K + d]! - rows.k[src + d]! * dKc[r * K + d]!;
        db[t0 + r] = acc;
      } else {
        for (let d = 0; d < K; d++) db[src + d] = rows.q[src + d]! * dQc[r * K + d]! - rows.k[src + d]! * dKc[r * K + d]!;
      }
    }
  }
  rows.dq.set(dQc.subarray(0, L * K), t0 * K);
  rows.dk.set(dKc.subarray(0, L * K), t0 * K);
  // dS₀ = Diag(Γ_{L−1}) dS + (τ q ⊙ Γ)ᵀ dO
  decayRows(p, ws, dS);
  mmTN(kern, K, V, L, ws.Qg, 0, dO, t0 * V, dS, 0, true);
}

/** The vector-gate intra-chunk gradients, added into ws.dQc and ws.dKc (dA holds dO Vᵀ). */
function intraBackwardVector(p: DecayProblem, kern: Kernels, ws: Workspace, rows: HeadRows, t0: number, L: number): void {
  const { K, scale } = p;
  const { dA, dQc, dKc, tmp, w } = ws;
  const sub = p.sub ?? DEFAULT_SUB;
  for (let p0 = 0; p0 < L; p0 += sub) {
    const p1 = Math.min(p0 + sub, L);
    const m = p1 - p0;
    if (p0 > 0) {
      pivotFactors(p, ws, rows, t0, p0, p1);
      // X = dA[p0..p1, 0..p0] read in place (row stride L)
      // dq_r += τ eq_r ⊙ (X K̃)_r
      mm(kern, m, K, p0, dA, p0 * L, L, 1, ws.Kt, 0, K, 1, tmp, 0, false);
      for (let r = 0; r < m; r++) {
        for (let d = 0; d < K; d++) dQc[(p0 + r) * K + d] = dQc[(p0 + r) * K + d]! + scale * ws.eq[r * K + d]! * tmp[r * K + d]!;
      }
      // dk_s += f_s ⊙ (Xᵀ Q̃)_s   (τ is inside Q̃)
      mm(kern, p0, K, m, dA, p0 * L, 1, L, ws.Qt, 0, K, 1, tmp, 0, false);
      for (let s = 0; s < p0; s++) {
        for (let d = 0; d < K; d++) dKc[s * K + d] = dKc[s * K + d]! + ws.f[s * K + d]! * tmp[s * K + d]!;
      }
    }
    // diagonal sub-block, with the running product w = Π_{s<j≤r} a_j
    for (let s = p0; s < p1; s++) {
      const ks = (t0 + s) * K;
      w.fill(1, 0, K);
      for (let r = s; r < p1; r++) {
        if (r > s) for (let d = 0; d < K; d++) w[d] = w[d]! * ws.a[r * K + d]!;
        const x = scale * dA[r * L + s]!;
        if (x === 0) continue;
        const qr = (t0 + r) * K;
        for (let d = 0; d < K; d++) {
          const xw = x * w[d]!;
          dQc[r * K + d] = dQc[r * K + d]! + xw * rows.k[ks + d]!;
          dKc[s * K + d] = dKc[s * K + d]! + xw * rows.q[qr + d]!;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------

function checkProblem(p: DecayProblem): void {
  const { B, T, H, K, V, C } = p;
  if (!(C >= 1 && Number.isInteger(C))) throw new Error(`decay engine: chunk size must be a positive integer, got ${C}`);
  const want = (name: string, arr: FloatArray | null, n: number) => {
    if (arr && arr.length !== n) throw new Error(`decay engine: ${name} has ${arr.length} elements, expected ${n}`);
  };
  want("q", p.q, B * T * H * K);
  want("k", p.k, B * T * H * K);
  want("v", p.v, B * T * H * V);
  want("s0", p.s0, B * H * K * V);
  if (p.gate === "none" ? p.g !== null : p.g === null) throw new Error(`decay engine: gate '${p.gate}' ${p.gate === "none" ? "takes no" : "needs"} log gates`);
  want("g", p.g, B * T * H * gateWidth(p));
}

/** The chunkwise forward pass; `keep` saves each chunk's incoming state for the backward pass. */
export function decayForward(p: DecayProblem, keep: boolean): DecayForward {
  checkProblem(p);
  const { B, T, H, K, V, C } = p;
  const N = Math.ceil(T / C);
  const alloc = allocator(p.f64);
  const kern = getKernels();
  const o = alloc(B * T * H * V);
  const state = alloc(B * H * K * V);
  const saved = keep ? alloc(B * H * N * K * V) : null;
  const ws = new Workspace(alloc, p);
  const rows = new HeadRows(alloc, p, false);
  const KV = K * V;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      loadHead(p, rows, b, h);
      if (p.s0) ws.S.set(p.s0.subarray(bh * KV, bh * KV + KV));
      else ws.S.fill(0);
      for (let n = 0; n < N; n++) {
        const t0 = n * C;
        if (saved) saved.set(ws.S, (bh * N + n) * KV);
        chunkForward(p, kern, ws, rows, t0, Math.min(C, T - t0));
      }
      state.set(ws.S, bh * KV);
      scatterRows(rows.o, o, b, h, T, H, V);
    }
  }
  return { o, state, saved };
}

/**
 * The backward pass: `saved` and `state` from decayForward(p, true), dO [B,T,H,V] and dS [B,H,K,V] the
 * gradients of o and of the final state.
 */
export function decayBackward(p: DecayProblem, saved: FloatArray, state: FloatArray, dO: FloatArray, dS: FloatArray): DecayGrads {
  checkProblem(p);
  const { B, T, H, K, V, C } = p;
  const N = Math.ceil(T / C);
  const G = gateWidth(p);
  const alloc = allocator(p.f64);
  const kern = getKernels();
  const dq = alloc(B * T * H * K);
  const dk = alloc(B * T * H * K);
  const dv = alloc(B * T * H * V);
  const ds0 = alloc(B * H * K * V);
  const dg = p.gate === "none" ? null : new Float64Array(B * T * H * G);
  const ws = new Workspace(alloc, p);
  const rows = new HeadRows(alloc, p, true);
  const KV = K * V;
  const running = new Float64Array(G);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = b * H + h;
      loadHead(p, rows, b, h);
      gatherRows(dO, rows.o, b, h, T, H, V);
      ws.dS.set(dS.subarray(bh * KV, bh * KV + KV));
      for (let n = N - 1; n >= 0; n--) {
        const t0 = n * C;
        chunkBackward(p, kern, ws, rows, t0, Math.min(C, T - t0), saved, (bh * N + n) * KV);
      }
      ds0.set(ws.dS, bh * KV);
      scatterRows(rows.dq, dq, b, h, T, H, K);
      scatterRows(rows.dk, dk, b, h, T, H, K);
      scatterRows(rows.dv, dv, b, h, T, H, V);
      if (dg) {
        // dg_j = Σ_{t ≥ j} ∂L/∂B_t, starting from the final-state term rowsum(S_T ⊙ dS_T)
        running.fill(0);
        for (let d = 0; d < K; d++) {
          let acc = 0;
          for (let j = 0; j < V; j++) acc += state[bh * KV + d * V + j]! * dS[bh * KV + d * V + j]!;
          running[G === 1 ? 0 : d] += acc;
        }
        for (let t = T - 1; t >= 0; t--) {
          for (let d = 0; d < G; d++) {
            running[d] += rows.db[t * G + d]!;
            rows.db[t * G + d] = running[d]!;
          }
        }
        scatterRows(rows.db, dg, b, h, T, H, G);
      }
    }
  }
  return { dq, dk, dv, dg, ds0 };
}
