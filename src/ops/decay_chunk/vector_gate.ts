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
 * That is the JS kernels' arithmetic (kernels/js/gate_chunk.ts, and every f64 call). On the wasm backend, f32
 * calls form the exps and running products in f32 SIMD (kernels/wasm/gate_chunk_code.ts): each factor a_j then
 * carries the exp's ≤ 2 ulp and each product one rounding, so a decay across n rows is within
 * (5n + C/sub + 4)·2⁻²⁴ relative (≤ 2e-5 at C = 64, n = 63; plus as many 2⁻¹⁵⁰ absolute through the subnormals) —
 * still of the order of the f32 matmuls' k·2⁻²³ at k = C. The gate gradient's sums are f32 within a chunk and f64
 * across chunks there (rounded to f32 once per chunk). Per-entry bounds: test/kernels/gate_chunk_bounds.ts.
 */
import { allocate } from "../../core/dtype.js";
import { getKernels } from "../../kernels/index.js";
import { defineTask } from "../../kernels/parallel.js";
import type { FloatArray, GateChunkScratch, Kernels } from "../../kernels/types.js";
import { copyRows, f64Array, workType } from "./buffers.js";
import { backwardTaskBody, forwardTaskBody, forwardWork, runBackward, runForward, type DecayForward, type DecayGrads, type DecayProblem, type ForwardUnits } from "./problem.js";
import { mm } from "../products.js";
import { ScratchSet } from "../../kernels/scratch.js";

/**
 * Rows per sub-block when the problem does not say. Smaller blocks shrink the direct diagonal blocks (their
 * cost per row grows with sub·K) but add one product per block (a fixed cost each): measured at C = 64,
 * 8 rows pay from K = 32 on (K = 64: ~12% faster forward+backward than 16), 16 rows below (K = 16: ~10%).
 */
export const defaultSub = (K: number): number => (K >= 32 ? 8 : 16);

/**
 * Scratch for one chunk of one head (rows of K channels), reused across chunks and units; one per thread. The
 * elementwise work on it is the kernels' (`gateChunkPrepare`, `gateChunkBackward`; kernels/js/gate_chunk.ts).
 */
class VectorScratch implements GateChunkScratch {
  readonly sub: number;
  /** blocks in a full chunk */
  readonly nbMax: number;
  // L×K, working precision
  readonly a: FloatArray;
  readonly u: FloatArray;
  readonly w: FloatArray;
  readonly Qu: FloatArray;
  readonly Kw: FloatArray;
  readonly Qg: FloatArray;
  readonly Ke: FloatArray;
  // per block (nbMax×K) and per pair of blocks (nbMax×nbMax×K), working precision
  readonly G: FloatArray;
  readonly Ehat: FloatArray;
  readonly M: FloatArray;
  readonly Kt: FloatArray;
  readonly A: FloatArray; // L×L
  readonly dA: FloatArray; // L×L
  readonly blk: FloatArray; // sub×L
  readonly tmp: FloatArray; // L×max(K,V)
  // backward: the products the gradients are formed from (GateChunkScratch)
  readonly tq: FloatArray;
  readonly tk: FloatArray;
  readonly xq: FloatArray;
  readonly xk: FloatArray;
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

  /** the working-precision arrays' one block (lent by the kernels when they can: then they use it in place) */
  private readonly scratch: ScratchSet;

  constructor(p: DecayProblem, kern: Kernels) {
    const { C, K, V } = p;
    const sub = p.sub ?? defaultSub(K);
    if (!(sub >= 1 && Number.isInteger(sub))) throw new Error(`decay engine: sub-block size must be a positive integer, got ${sub}`);
    const nb = Math.ceil(C / sub);
    const pivoted = ((nb * (nb - 1)) / 2) * sub * K;
    this.scratch = new ScratchSet(kern);
    const CK = C * K;
    const v = this.scratch.takeBlock(workType(p), {
      a: CK, u: CK, w: CK, Qu: CK, Kw: CK, Qg: CK, Ke: CK, G: nb * K, Ehat: nb * K, M: nb * nb * K, Kt: pivoted,
      A: C * C, dA: C * C, blk: sub * C, tmp: C * Math.max(K, V), tk: CK, xq: CK, xk: pivoted,
    });
    this.a = v.a; this.u = v.u; this.w = v.w; this.Qu = v.Qu; this.Kw = v.Kw; this.Qg = v.Qg; this.Ke = v.Ke;
    this.G = v.G; this.Ehat = v.Ehat; this.M = v.M; this.Kt = v.Kt;
    this.A = v.A; this.dA = v.dA; this.blk = v.blk; this.tmp = v.tmp; this.tk = v.tk; this.xq = v.xq; this.xk = v.xk;
    this.tq = this.tmp;
    this.sub = sub;
    this.nbMax = nb;
    this.aSt = f64Array(nb * K); this.D = f64Array(nb * K);
    this.run = f64Array(K); this.pu = f64Array(K); this.pw = f64Array(K); this.gamLast = f64Array(K);
    this.running = f64Array(K);
    this.x = f64Array(K);
  }

  /** Gives the block back to the kernels that lent it (the arrays must not be used afterwards). */
  dispose(): void {
    this.scratch.release();
  }
}

/** The chunk's factors and A's diagonal sub-blocks (head h, rows r0 … r0+L−1 of the flattened [B·T] rows). */
function prepare(p: DecayProblem, kern: Kernels, vs: VectorScratch, h: number, r0: number, L: number): void {
  const { H, K } = p;
  kern.gateChunkPrepare({ K, L, scale: p.scale, q: p.q, k: p.k, g: p.g!, offset: r0 * H * K + h * K, stride: H * K, s: vs });
}

/** vs.A ← head h's intra-chunk block (L×L, zero above the diagonal, τ included); its diagonal blocks are `prepare`'s. */
function buildIntra(p: DecayProblem, kern: Kernels, vs: VectorScratch, L: number): void {
  const { K } = p;
  const { sub, Qu, Kt, blk, A } = vs;
  const nb = Math.ceil(L / sub);
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
  const vs = new VectorScratch(p, kern);
  const { tmp, A } = vs;
  try {
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
        prepare(p, kern, vs, h, r0, L);
        if (saved) saved.set(state.subarray(sh, sh + KV), (bh * N + n) * KV);
        const vo = r0 * Wv + h * V;
        // O = (τ q ⊙ Γ) S₀ + A V
        mm(kern, L, V, K, vs.Qg, 0, K, 1, state, sh, V, 1, tmp, 0, false);
        buildIntra(p, kern, vs, L);
        mm(kern, L, V, L, A, 0, L, 1, p.v, vo, Wv, 1, tmp, 0, true);
        copyRows(tmp, 0, V, o, vo, Wv, L, V);
        // S ← Diag(Γ_{L−1}) S + (K ⊙ e)ᵀ V
        decayKeyRows(state, sh, vs.gamLast, K, V);
        mm(kern, K, V, L, vs.Ke, 0, 1, K, p.v, vo, Wv, 1, state, sh, true);
      }
    }
  } finally {
    vs.dispose();
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
  const kern = getKernels();
  const { dq, dk, dv, ds0 } = grads;
  const dg = grads.dg!;
  const vs = new VectorScratch(p, kern);
  const { running } = vs;
  try {
    for (let bh = next(); bh >= 0; bh = next()) {
      const b = Math.floor(bh / H);
      const h = bh - b * H;
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
        prepare(p, kern, vs, h, r0, L);
        chunkHeadBackward(p, kern, vs, dq, dk, dg, h, r0, L, saved, (bh * N + n) * KV, dO, dv, ds0, sh);
      }
    }
  } finally {
    vs.dispose();
  }
}

/**
 * Head h of one chunk of the backward pass (engine.ts, "Backward"). On entry dSh[dso..] is the head's ∂L/∂S
 * at the chunk's end, saved[s0o..] its incoming state and vs.running the gate gradient's sum over the later
 * rows; writes the head's entries of the chunk's rows of dq, dk, dv and dg, and leaves ∂L/∂S₀ in dSh[dso..].
 */
function chunkHeadBackward(
  p: DecayProblem, kern: Kernels, vs: VectorScratch, dq: FloatArray, dk: FloatArray, dg: FloatArray, h: number, r0: number, L: number,
  saved: FloatArray, s0o: number, dO: FloatArray, dv: FloatArray, dSh: FloatArray, dso: number,
): void {
  const { H, K, V } = p;
  const { sub, A, dA, tmp, Kt, Qu, xq, xk } = vs;
  const Wv = H * V;
  const vo = r0 * Wv + h * V;
  buildIntra(p, kern, vs, L);
  // dV = Aᵀ dO + (K ⊙ e) dS
  mm(kern, L, V, L, A, 0, 1, L, dO, vo, Wv, 1, tmp, 0, false);
  mm(kern, L, V, K, vs.Ke, 0, K, 1, dSh, dso, V, 1, tmp, 0, true);
  copyRows(tmp, 0, V, dv, vo, Wv, L, V);
  // dA = dO Vᵀ (only s ≤ r is read below)
  mm(kern, L, L, V, dO, vo, Wv, 1, p.v, vo, 1, Wv, dA, 0, false);
  // the products of the inter-chunk terms: dO S₀ᵀ (tq, in tmp) and V dSᵀ
  mm(kern, L, K, V, dO, vo, Wv, 1, saved, s0o, 1, V, vs.tq, 0, false);
  mm(kern, L, K, V, p.v, vo, Wv, 1, dSh, dso, 1, V, vs.tk, 0, false);
  // the pivoted blocks', with X = dA[block i, s < st_i] read in place (row stride L): X K̃ and Xᵀ Qu_i
  for (let i = 1, ko = 0, nb = Math.ceil(L / sub); i < nb; i++) {
    const st = i * sub;
    const m = Math.min(sub, L - st);
    mm(kern, m, K, st, dA, st * L, L, 1, Kt, ko, K, 1, xq, st * K, false);
    mm(kern, st, K, m, dA, st * L, 1, L, Qu, st * K, K, 1, xk, ko, false);
    ko += st * K;
  }
  kern.gateChunkBackward({ K, L, scale: p.scale, q: p.q, k: p.k, offset: r0 * H * K + h * K, stride: H * K, dq, dk, dg, running: vs.running, s: vs });
  // dS₀ = Diag(Γ_{L−1}) dS + (τ q ⊙ Γ)ᵀ dO
  decayKeyRows(dSh, dso, vs.gamLast, K, V);
  mm(kern, K, V, L, vs.Qg, 0, 1, K, dO, vo, Wv, 1, dSh, dso, true);
}
