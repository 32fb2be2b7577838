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
 *  - vector gate (vector_gate.ts, which also runs the whole vector-gate pass): the chunk is cut into
 *    sub-blocks of `sub` rows (8 or 16). For the query sub-block starting at row p and every key row s < p,
 *    the pivot p splits the decay (§0.4 rule 4, "secondary chunking" of the GLA paper):
 *    E_rs = exp(b_r − b_p) ⊙ exp(b_p − b_s), both ≤ 1, so A[p.., :p] = (τ Q_{p..} ⊙ exp(b_r − b_p))
 *    (K_{:p} ⊙ exp(b_p − b_s))ᵀ is one matmul per sub-block. Inside a diagonal sub-block the O(sub²·K)
 *    elementwise form is computed directly, with E_rs built as the running product Π_{s<j≤r} a_j. All these
 *    decays are built as products of the factors a_j = exp(g_j) ≤ 1 (one exp per element, no overflow).
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
 * Dense products go through getKernels().matmul / matmulF64 in the inputs' precision (kernels/types.ts has
 * what each backend guarantees for f32). Scalar and no gate: the cumulative sums, decays and gate gradients
 * are f64 scratch. Vector gate: see vector_gate.ts ("Precision").
 */
import { getKernels } from "../../kernels/index.js";
import type { FloatArray, Kernels } from "../../kernels/types.js";
import { f64Array, gatherRows, HeadRows, scatterRows, workType, Workspace } from "./buffers.js";
import { backwardTaskBody, forwardTaskBody, forwardWork, gateWidth, runBackward, runForward, type DecayForward, type DecayGrads, type DecayProblem, type ForwardUnits } from "./problem.js";
import { defineTask } from "../../kernels/parallel.js";
import { mmNN, mmNT, mmTN } from "../products.js";
import { vectorBackward, vectorForward } from "./vector_gate.js";

export type { DecayForward, DecayGrads, DecayProblem, GateKind } from "./problem.js";

function loadHead(p: DecayProblem, rows: HeadRows, b: number, h: number): void {
  gatherRows(p.q, rows.q, b, h, p.T, p.H, p.K);
  gatherRows(p.k, rows.k, b, h, p.T, p.H, p.K);
  gatherRows(p.v, rows.v, b, h, p.T, p.H, p.V);
  if (p.g) gatherRows(p.g, rows.g, b, h, p.T, p.H, gateWidth(p));
}

// ---------------------------------------------------------------------------------------------------------
// one chunk of the scalar or no-gate path (the vector gate's is in vector_gate.ts): rows t0 .. t0+L−1

/** b (cumulative log gate), Γ = exp(b), e = exp(b_{L−1} − b), then Qg = τ q ⊙ Γ and Ke = k ⊙ e. */
function prepareChunk(p: DecayProblem, ws: Workspace, rows: HeadRows, t0: number, L: number): void {
  const { K, scale } = p;
  const { b, gam, e } = ws;
  const hasGate = p.gate !== "none";
  for (let r = 0; r < L; r++) {
    const gv = hasGate ? rows.g[t0 + r]! : 0;
    b[r] = (r > 0 ? b[r - 1]! : 0) + gv;
    gam[r] = Math.exp(b[r]!);
  }
  ws.gamLast[0] = gam[L - 1]!;
  for (let s = 0; s < L; s++) e[s] = Math.exp(b[L - 1]! - b[s]!);
  const { Qg, Ke } = ws;
  for (let r = 0; r < L; r++) {
    const src = (t0 + r) * K;
    const gr = scale * gam[r]!;
    const er = e[r]!;
    for (let d = 0; d < K; d++) {
      Qg[r * K + d] = rows.q[src + d]! * gr;
      Ke[r * K + d] = rows.k[src + d]! * er;
    }
  }
}

/** M ← τ M ⊙ D on the lower triangle (D[r,s] = exp(b_r − b_s), the exponent formed only for s ≤ r), 0 above. */
function maskDecay(M: FloatArray, b: Float64Array, L: number, scale: number): void {
  for (let r = 0; r < L; r++) {
    const row = r * L;
    const br = b[r]!;
    for (let s = 0; s <= r; s++) M[row + s] = M[row + s]! * scale * Math.exp(br - b[s]!);
    for (let s = r + 1; s < L; s++) M[row + s] = 0;
  }
}

/** S ← Γ_{L−1} S. */
function decayState(ws: Workspace, S: FloatArray, n: number): void {
  const x = ws.gamLast[0]!;
  if (x === 1) return;
  for (let i = 0; i < n; i++) S[i] = S[i]! * x;
}

function chunkForward(p: DecayProblem, kern: Kernels, ws: Workspace, rows: HeadRows, t0: number, L: number): void {
  const { K, V } = p;
  prepareChunk(p, ws, rows, t0, L);
  // O = (τ q ⊙ Γ) S₀ + A V,  A = τ (Q Kᵀ) ⊙ D
  mmNN(kern, L, V, K, ws.Qg, 0, ws.S, 0, rows.o, t0 * V);
  mmNT(kern, L, L, K, rows.q, t0 * K, rows.k, t0 * K, ws.A, 0);
  maskDecay(ws.A, ws.b, L, p.scale);
  mmNN(kern, L, V, L, ws.A, 0, rows.v, t0 * V, rows.o, t0 * V, true);
  // S ← Γ_{L−1} S + (K ⊙ e)ᵀ V
  decayState(ws, ws.S, K * V);
  mmTN(kern, K, V, L, ws.Ke, 0, rows.v, t0 * V, ws.S, 0, true);
}

/**
 * One chunk of the backward pass. On entry ws.dS is ∂L/∂S at the chunk's end and `s0` (at s0o) its incoming
 * state; writes dq, dk, dv, db for the chunk's rows and leaves ∂L/∂S₀ in ws.dS.
 */
function chunkBackward(p: DecayProblem, kern: Kernels, ws: Workspace, rows: HeadRows, t0: number, L: number, s0: FloatArray, s0o: number): void {
  const { K, V, scale } = p;
  prepareChunk(p, ws, rows, t0, L);
  const dO = rows.o;
  const { A, dA, dQc, dKc, dS } = ws;
  mmNT(kern, L, L, K, rows.q, t0 * K, rows.k, t0 * K, A, 0);
  maskDecay(A, ws.b, L, scale);
  // dV = Aᵀ dO + (K ⊙ e) dS
  mmTN(kern, L, V, L, A, 0, dO, t0 * V, rows.dv, t0 * V);
  mmNN(kern, L, V, K, ws.Ke, 0, dS, 0, rows.dv, t0 * V, true);
  // dA = dO Vᵀ, then τ dA ⊙ D
  mmNT(kern, L, L, V, dO, t0 * V, rows.v, t0 * V, dA, 0);
  maskDecay(dA, ws.b, L, scale);
  // dq_r = τ Γ_r (dO S₀ᵀ)_r + (dA K)_r,  dk_s = e_s (V dSᵀ)_s + (dAᵀ Q)_s
  mmNT(kern, L, K, V, dO, t0 * V, s0, s0o, dQc, 0);
  mmNT(kern, L, K, V, rows.v, t0 * V, dS, 0, dKc, 0);
  for (let r = 0; r < L; r++) {
    const gr = scale * ws.gam[r]!;
    const er = ws.e[r]!;
    for (let d = 0; d < K; d++) {
      dQc[r * K + d] = dQc[r * K + d]! * gr;
      dKc[r * K + d] = dKc[r * K + d]! * er;
    }
  }
  mmNN(kern, L, K, L, dA, 0, rows.k, t0 * K, dQc, 0, true);
  mmTN(kern, L, K, L, dA, 0, rows.q, t0 * K, dKc, 0, true);
  // gate: ∂L/∂B_t = Σ_d (q ⊙ dq − k ⊙ dk) (see the header)
  if (p.gate !== "none") {
    for (let r = 0; r < L; r++) {
      const src = (t0 + r) * K;
      let acc = 0;
      for (let d = 0; d < K; d++) acc += rows.q[src + d]! * dQc[r * K + d]! - rows.k[src + d]! * dKc[r * K + d]!;
      rows.db[t0 + r] = acc;
    }
  }
  rows.dq.set(dQc.subarray(0, L * K), t0 * K);
  rows.dk.set(dKc.subarray(0, L * K), t0 * K);
  // dS₀ = Γ_{L−1} dS + (τ q ⊙ Γ)ᵀ dO
  decayState(ws, dS, K * V);
  mmTN(kern, K, V, L, ws.Qg, 0, dO, t0 * V, dS, 0, true);
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

// ---------------------------------------------------------------------------------------------------------
// (batch, head) pairs are independent (nothing is summed across them): both passes are tasks whose units are
// the pairs, split over the kernel threads (src/kernels/parallel.ts). A unit writes only its own rows and
// state, and each thread has its own HeadRows and Workspace, so results do not depend on the thread count.
// The vector gate's tasks are in vector_gate.ts.

/** The chunkwise forward pass; `keep` saves each chunk's incoming state for the backward pass. */
export function decayForward(p: DecayProblem, keep: boolean): DecayForward {
  checkProblem(p);
  if (p.gate === "vector") return vectorForward(p, keep);
  return runForward(p, keep, forwardTask, forwardWork(p), workType(p));
}

const forwardUnits: ForwardUnits = (p, o, state, saved, next) => {
  const { T, H, K, V, C } = p;
  const N = Math.ceil(T / C);
  const kern = getKernels();
  const ws = new Workspace(p);
  const rows = new HeadRows(kern, p, false);
  const KV = K * V;
  for (let bh = next(); bh >= 0; bh = next()) {
    const b = Math.floor(bh / H);
    const h = bh - b * H;
    loadHead(p, rows, b, h);
    if (p.s0) ws.S.set(p.s0.subarray(bh * KV, bh * KV + KV));
    else ws.S.fill(0);
    for (let n = 0; n < N; n++) {
      const t0 = n * C;
      if (saved) saved.set(ws.S, (bh * N + n) * KV);
      const L = Math.min(C, T - t0);
      chunkForward(p, kern, ws, rows, t0, L);
    }
    state.set(ws.S, bh * KV);
    scatterRows(rows.o, o, b, h, T, H, V);
  }
  rows.release();
};

const forwardTask = defineTask("decay_chunk.forward", forwardTaskBody(forwardUnits));

/**
 * The backward pass: `saved` and `state` from decayForward(p, true), dO [B,T,H,V] and dS [B,H,K,V] the
 * gradients of o and of the final state.
 */
export function decayBackward(p: DecayProblem, saved: FloatArray, state: FloatArray, dO: FloatArray, dS: FloatArray): DecayGrads {
  checkProblem(p);
  if (p.gate === "vector") return vectorBackward(p, saved, state, dO, dS);
  const { B, T, H } = p;
  return runBackward(p, backwardTask, 2 * forwardWork(p), workType(p), p.gate === "none" ? null : f64Array(B * T * H), saved, state, dO, dS);
}

const backwardTask = defineTask("decay_chunk.backward", backwardTaskBody(backwardUnits));

function backwardUnits(p: DecayProblem, saved: FloatArray, state: FloatArray, dO: FloatArray, dS: FloatArray, grads: DecayGrads, next: () => number): void {
  const { T, H, K, V, C } = p;
  const N = Math.ceil(T / C);
  const kern = getKernels();
  const { dq, dk, dv, dg, ds0 } = grads;
  const ws = new Workspace(p);
  const rows = new HeadRows(kern, p, true);
  const KV = K * V;
  for (let bh = next(); bh >= 0; bh = next()) {
    const b = Math.floor(bh / H);
    const h = bh - b * H;
    loadHead(p, rows, b, h);
    gatherRows(dO, rows.o, b, h, T, H, V);
    ws.dS.set(dS.subarray(bh * KV, bh * KV + KV));
    for (let n = N - 1; n >= 0; n--) {
      const t0 = n * C;
      const L = Math.min(C, T - t0);
      chunkBackward(p, kern, ws, rows, t0, L, saved, (bh * N + n) * KV);
    }
    ds0.set(ws.dS, bh * KV);
    scatterRows(rows.dq, dq, b, h, T, H, K);
    scatterRows(rows.dk, dk, b, h, T, H, K);
    scatterRows(rows.dv, dv, b, h, T, H, V);
    if (dg) {
      // dg_j = Σ_{t ≥ j} ∂L/∂B_t, starting from the final-state term rowsum(S_T ⊙ dS_T)
      let running = 0;
      for (let i = bh * KV; i < bh * KV + KV; i++) running += state[i]! * dS[i]!;
      for (let t = T - 1; t >= 0; t--) {
        running += rows.db[t]!;
        rows.db[t] = running;
      }
      scatterRows(rows.db, dg, b, h, T, H, 1);
    }
  }
  rows.release();
}
