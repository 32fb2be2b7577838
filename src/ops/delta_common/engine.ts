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
 *   dVb = Tmᵀ dU,  dKb = Tmᵀ dW = −Tmᵀ dU S₀ᵀ = −dVb S₀ᵀ =: −Z,  dA = Z Wᵀ − dVb Ũᵀ = −dVb (Ũ − W S₀)ᵀ = −dVb Uᵀ
 *   Kb, Vb: dK_r += β_r Γ_r dKb_r, dβ_r += Γ_r k_r·dKb_r + v_r·dVb_r, dΓ_r += β_r k_r·dKb_r, dV_r = β_r dVb_r
 *   A[r,s] = β_r (k_r·k_s) D[r,s]:  dβ_r += Σ_s dA[r,s] (KKᵀ)[r,s] D[r,s],  d(KKᵀ) = dA ⊙ β_r D,
 *          dK += (d(KKᵀ) + d(KKᵀ)ᵀ) K,  dD += dA ⊙ β_r KKᵀ
 *   Decays, with M = dD ⊙ D (strictly lower):
 *   db_r = Γ_r dΓ_r − e_r de_r + Σ_s M[r,s] − Σ_s M[s,r],  and db_{L−1} += Γ_{L−1} dΓ_{L−1}(from S_L) + Σ_s e_s de_s
 *   dg_j = Σ_{r ≥ j} db_r within the chunk (the reverse cumulative sum).
 *
 * Products go through getKernels().matmul / matmulF64 in the inputs' precision, merged so that one call does
 * what shares an operand (spec §7.3 is the same math):
 *   forward   [KKᵀ; QKᵀ] = [K; Q] Kᵀ,  −W = Tm (−Kb),  Ũ = Tm Vb,  U = Ũ + (−W) S₀,  O = [Diag(τΓ)Q | P] [S₀; U],
 *             S_L = Γ_{L−1} S₀ + (Diag(e)K)ᵀ U    (6 products, each written where its rows are kept: −W and [S₀; U]
 *             in the saved arrays, S_L in the next chunk's S₀; the elementwise work between them is one kernel call
 *             per chunk, Kernels.deltaChunkForwardPrep)
 *   backward  [KKᵀ; QKᵀ] again,  dU = [Diag(e)K | Pᵀ] [dS; dO],  dVb = Tmᵀ dU,
 *             [G | dP; Z | −dA] = [dO; dVb] [S₀; U]ᵀ,  U dSᵀ,  dQ += d(QKᵀ) K,
 *             dK += [d(KKᵀ)+d(KKᵀ)ᵀ | d(QKᵀ)ᵀ] [K; Q],  dS₀ = [Diag(τΓ)Q; −W]ᵀ [dO; dU] + Γ_{L−1} dS      (8 products)
 * The forward pass saves, per chunk, [S₀; U], −W and Tm (the backward pass recomputes only KKᵀ, QKᵀ and the
 * decays). Tm is found by forward substitution in f64 (`unitLowerInverse`) and rounded once to the working
 * precision. The elementwise work between the products is the kernels' (forward `deltaChunkForwardPrep`, backward
 * `deltaChunkBackwardPrep` / `Middle` / `StateGrad`: the JS routines in kernels/js/delta_chunk_*.ts, f32 SIMD on the
 * wasm backend); only the per-row decays and dg's reverse cumulative sum stay here, in JS numbers. The head's rows
 * (head.ts) and the chunk workspace are borrowed from the kernels (in their memory, so that the products and
 * kernels use them in place); the results and saved arrays come from `allocate`.
 */
import { allocate, type DType } from "../../core/dtype.js";
import { getKernels } from "../../kernels/index.js";
import { mm } from "../products.js";
import { defineTask, runTask } from "../../kernels/parallel.js";
import type { FloatArray, StridedRows } from "../../kernels/types.js";
import { gatherRows, loadHead, newHead, scatterRows, type HeadInputs } from "./head.js";
import { ScratchSet } from "../../kernels/scratch.js";

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

/** What the forward pass keeps for the backward pass, per (batch, head) and chunk n (rows t0 … t0+L−1). */
export interface DeltaSaved {
  /** [S₀ (K×V); U (L×V)] stacked, at bh·suStride(T) + n·K·V + t0·V */
  su: FloatArray;
  /** −W = −Tm Kb [L,K], at (bh·T + t0)·K */
  wn: FloatArray;
  /** Tm = (I + A)⁻¹ [L,L], at bh·N·Cw² + n·Cw² (Cw = min(C, T)) */
  tm: FloatArray;
}

export interface DeltaForward {
  o: FloatArray; // [B,T,H,V]
  state: FloatArray; // [B,H,K,V]
  /** null unless asked for, to run backward */
  saved: DeltaSaved | null;
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

const f64 = (n: number): Float64Array => allocate("f64", n) as Float64Array;

/**
 * Scratch for one chunk (at most Cw rows), reused across chunks and heads. The working-precision arrays are
 * borrowed from the kernels through `scratch` (in their memory, so the products and kernels use them in place).
 */
class Workspace {
  // per-row decays (f64): chunk-local cumulative log decay, Γ, e
  readonly bc: Float64Array;
  readonly gam: Float64Array;
  readonly e: Float64Array;
  /** D (L×L, lower with the diagonal), gated only */
  readonly D: Float64Array;
  /** [KKᵀ; QKᵀ], 2L×L */
  readonly KQK: FloatArray;
  /** [−Kb | Vb], L×(K+V) */
  readonly KbVb: FloatArray;
  /** −W, L×K, when the forward does not save it */
  readonly Wn: FloatArray;
  /** [Diag(τΓ)Q | P], L×(K+L) (forward); [Diag(e)K | Pᵀ] (backward) */
  readonly QP: FloatArray;
  /** Diag(e)K, L×K (gated forward only; the plain rule reads K itself, the backward builds it in QP) */
  readonly Kd: FloatArray;
  /** one chunk's output rows, L×V */
  readonly O: FloatArray;
  // backward only (null-sized in a forward-only workspace)
  /** [dS (K×V); dO (L×V); dU (L×V)] */
  readonly dSOU: FloatArray;
  /** [dO; dVb], 2L×V */
  readonly dOVb: FloatArray;
  readonly dU: FloatArray;
  /** [G | dP; Z | −dA], 2L×(K+L) */
  readonly R: FloatArray;
  /** U dSᵀ, L×K */
  readonly Y: FloatArray;
  /** [d(KKᵀ)+d(KKᵀ)ᵀ | d(QKᵀ)ᵀ], L×2L */
  readonly dKQ: FloatArray;
  /** [Diag(τΓ)Q; −W], 2L×K */
  readonly QbW: FloatArray;
  readonly dQc: FloatArray;
  readonly dKc: FloatArray;
  readonly dV: FloatArray;
  readonly tmpKV: FloatArray;
  readonly dGam: Float64Array;
  readonly de: Float64Array;
  readonly rowM: Float64Array;
  readonly colM: Float64Array;

  constructor(scratch: ScratchSet, dtype: DType, C: number, K: number, V: number, gated: boolean, backward: boolean) {
    const w = (n: number): FloatArray => scratch.take(dtype, n);
    const bw = backward ? 1 : 0;
    this.bc = f64(C); this.gam = f64(C); this.e = f64(C);
    this.D = f64(gated ? C * C : 0);
    this.KQK = w(2 * C * C);
    this.KbVb = w(bw ? 0 : C * (K + V));
    this.Wn = w(bw ? 0 : C * K);
    this.QP = w(C * (K + C));
    this.Kd = w(gated && !bw ? C * K : 0);
    this.O = w(bw ? 0 : C * V);
    this.dSOU = w(bw * (K + 2 * C) * V);
    this.dOVb = w(bw * 2 * C * V);
    this.dU = w(bw * C * V);
    this.R = w(bw * 2 * C * (K + C));
    this.Y = w(bw * C * K);
    this.dKQ = w(bw * 2 * C * C);
    this.QbW = w(bw * 2 * C * K);
    this.dQc = w(bw * C * K);
    this.dKc = w(bw * C * K);
    this.dV = w(bw * C * V);
    this.tmpKV = w(bw * K * V);
    this.dGam = f64(bw * C); this.de = f64(bw * C); this.rowM = f64(bw * C); this.colM = f64(bw * C);
  }
}

/** Elements of `su` per (batch, head): N chunk states and T rows of U. */
const suStride = (T: number, N: number, K: number, V: number): number => N * K * V + T * V;

/**
 * The decays of chunk [t0, t0+L): bc (restarting at the chunk start), Γ = exp(bc), e = exp(bc_{L−1} − bc),
 * and D[r,c] = exp(bc_r − bc_c) for c ≤ r (exponents formed only there, spec §0.4). Γ = e = 1 without g.
 */
function decays(ws: Workspace, g: Float64Array | null, t0: number, L: number): void {
  const { bc, gam, e, D } = ws;
  if (!g) {
    gam.fill(1, 0, L);
    e.fill(1, 0, L);
    return;
  }
  let acc = 0;
  for (let r = 0; r < L; r++) {
    acc += g[t0 + r]!;
    bc[r] = acc;
    gam[r] = Math.exp(acc);
  }
  for (let r = 0; r < L; r++) {
    e[r] = Math.exp(acc - bc[r]!);
    const row = r * L;
    const br = bc[r]!;
    for (let c = 0; c <= r; c++) D[row + c] = Math.exp(br - bc[c]!);
  }
}

// ---------------------------------------------------------------------------------------------------------
// (batch, head) pairs are independent: both passes are tasks whose units are the pairs, split over the
// kernel threads (src/kernels/parallel.ts); a unit writes only its own rows, so results do not depend on
// the number of threads.

const EMPTY = new Float64Array(0);

/** Rows of `data` from `offset` on, `stride` apart (a kernel argument). */
const rows = (data: FloatArray, offset: number, stride: number): StridedRows => ({ data, offset, stride });

/** The numeric task arguments of a problem. */
const problemArgs = (p: DeltaProblem): number[] => [p.B, p.T, p.H, p.K, p.V, p.C, p.scale, p.f64 ? 1 : 0];

/** The problem again, inside a task, from its arguments and [q, k, v, beta, g, s0] (absent ones empty). */
function problemFrom(args: readonly number[], buffers: readonly FloatArray[]): DeltaProblem {
  const [B, T, H, K, V, C, scale, f64] = args as [number, number, number, number, number, number, number, number];
  const [q, k, v, beta, g, s0] = buffers as [FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray];
  return { B, T, H, K, V, C, scale, q, k, v, beta, g: g.length > 0 ? g : null, s0: s0.length > 0 ? s0 : null, f64: f64 === 1 };
}

/** About how many flops a forward pass does (decides whether threads gain). */
const forwardWork = (p: DeltaProblem): number => 2 * p.B * p.H * p.T * (Math.min(p.C, p.T) * (3 * p.K + p.V) + 3 * p.K * p.V);

const forwardTask = defineTask("delta_chunk.forward", (buffers, args, next) => {
  const p = problemFrom(args, buffers);
  const [o, state, su, wn, tm] = buffers.slice(6) as [FloatArray, FloatArray, FloatArray, FloatArray, FloatArray];
  forwardUnits(p, su.length > 0 ? { su, wn, tm } : null, o, state, next);
});

/** Forward over all chunks; saves what backward needs when `save`. */
export function deltaChunkForward(p: DeltaProblem, save: boolean): DeltaForward {
  const { B, T, H, K, V, C } = p;
  const dtype: DType = p.f64 ? "f64" : "f32";
  const N = Math.ceil(T / C);
  const Cw = Math.min(C, T);
  const o = allocate(dtype, B * T * H * V);
  const state = allocate(dtype, B * H * K * V);
  const saved: DeltaSaved | null = save
    ? { su: allocate(dtype, B * H * suStride(T, N, K, V)), wn: allocate(dtype, B * H * T * K), tm: allocate(dtype, B * H * N * Cw * Cw) }
    : null;
  runTask(forwardTask, {
    units: B * H, work: forwardWork(p), args: problemArgs(p),
    inputs: [p.q, p.k, p.v, p.beta, p.g ?? EMPTY, p.s0 ?? EMPTY],
    outputs: [o, state, saved?.su ?? EMPTY, saved?.wn ?? EMPTY, saved?.tm ?? EMPTY],
  });
  return { o, state, saved };
}

/** The forward pass of the (batch, head) units that `next` hands out, into o and state (and `saved`). */
function forwardUnits(p: DeltaProblem, saved: DeltaSaved | null, o: FloatArray, state: FloatArray, next: () => number): void {
  const { T, H, K, V, C, scale } = p;
  const dtype: DType = p.f64 ? "f64" : "f32";
  const kern = getKernels();
  const gated = p.g !== null;
  const N = Math.ceil(T / C);
  const Cw = Math.min(C, T);
  const KV = K * V;
  const KpV = K + V;
  const SUS = suStride(T, N, K, V);
  // without saving, two chunks' worth of [S₀; U] used in turn (a chunk's state update goes into the other's S₀)
  const SUW = (K + Cw) * V;
  const scratch = new ScratchSet(kern);
  const su = saved ? saved.su : scratch.take(dtype, 2 * SUW);
  const tm = saved ? saved.tm : scratch.take(dtype, Cw * Cw);
  const ws = new Workspace(scratch, dtype, Cw, K, V, gated, false);
  const hd = newHead(scratch, dtype, T, K, V, gated);
  const { gam, e, D, KQK, KbVb, Wn, QP, Kd, O } = ws;
  for (let bh = next(); bh >= 0; bh = next()) {
    const b = Math.floor(bh / H);
    const h = bh - b * H;
    loadHead(kern, hd, p.q, p.k, p.v, p.beta, p.g, b, h, T, H, K, V, C);
    const { kq, v: vh, beta } = hd;
    // where chunk n (from row t0) keeps [S₀; U]
    const slot = (n: number, t0: number): number => (saved ? bh * SUS + n * KV + t0 * V : (n % 2) * SUW);
    if (p.s0) su.set(p.s0.subarray(bh * KV, (bh + 1) * KV), slot(0, 0));
    else su.fill(0, slot(0, 0), slot(0, 0) + KV);
    for (let n = 0; n < N; n++) {
      const t0 = n * C;
      const L = Math.min(C, T - t0);
      const kOff = 2 * t0 * K;
      const qOff = kOff + L * K;
      const suOff = slot(n, t0);
      const tmOff = saved ? (bh * N + n) * Cw * Cw : 0;
      // the state after the chunk: the next chunk's S₀, or the result
      const sNext = n < N - 1 ? su : state;
      const sNextOff = n < N - 1 ? slot(n + 1, t0 + L) : bh * KV;
      // −W: kept for backward when saving
      const wn = saved ? saved.wn : Wn;
      const wOff = saved ? (bh * T + t0) * K : 0;
      const KpL = K + L;
      decays(ws, hd.g, t0, L);
      // [KKᵀ; QKᵀ] = [K; Q] Kᵀ
      mm(kern, 2 * L, L, K, kq, kOff, K, 1, kq, kOff, 1, K, KQK, 0, false);
      // Tm = (I + A)⁻¹, A[r,c] = β_r KK[r,c] D[r,c] (c < r), by forward substitution in f64 (kernels/js/tri.ts)
      kern.unitLowerInverse({ kk: KQK, kkOffset: 0, beta, betaOffset: t0, d: gated ? D : null, L, out: tm, outOffset: tmOff });
      // [−Kb | Vb] with Kb = Diag(βΓ) K, Vb = Diag(β) V; Diag(e) K; [Diag(τΓ) Q | P], P = τ (QKᵀ ⊙ D) with the
      // diagonal; Γ_{L−1} S₀ where S_L is formed
      kern.deltaChunkForwardPrep({
        L, K, V, scale,
        k: rows(kq, kOff, K), q: rows(kq, qOff, K), v: rows(vh, t0 * V, V), qk: rows(KQK, L * L, L),
        beta, betaOffset: t0, gam, e, d: gated ? D : null,
        kb: rows(KbVb, 0, KpV), vb: rows(KbVb, K, KpV), ke: gated ? rows(Kd, 0, K) : null, qp: rows(QP, 0, KpL),
        s: rows(su, suOff, V), sOut: rows(sNext, sNextOff, V),
        sScale: gated ? gam[L - 1]! : 1,
      });
      // −W = Tm (−Kb), Ũ = Tm Vb below S₀, then U = Ũ + (−W) S₀ there: [S₀; U] (kept for backward when saving)
      mm(kern, L, K, L, tm, tmOff, L, 1, KbVb, 0, KpV, 1, wn, wOff, false);
      mm(kern, L, V, L, tm, tmOff, L, 1, KbVb, K, KpV, 1, su, suOff + KV, false);
      mm(kern, L, V, K, wn, wOff, K, 1, su, suOff, V, 1, su, suOff + KV, true);
      // O = [Diag(τΓ) Q | P] [S₀; U]
      mm(kern, L, V, KpL, QP, 0, KpL, 1, su, suOff, V, 1, O, 0, false);
      scatterRows(kern, O, 0, o, b, h, t0, L, T, H, V);
      // S_L = Γ_{L−1} S₀ + (Diag(e) K)ᵀ U
      if (gated) mm(kern, K, V, L, Kd, 0, 1, K, su, suOff + KV, V, 1, sNext, sNextOff, true);
      else mm(kern, K, V, L, kq, kOff, 1, K, su, suOff + KV, V, 1, sNext, sNextOff, true);
    }
  }
  scratch.release();
}

/** Backward over all chunks, in reverse, from what the forward pass saved. dO [B,T,H,V], dState [B,H,K,V]. */
export function deltaChunkBackward(p: DeltaProblem, saved: DeltaSaved, dO: FloatArray, dState: FloatArray): DeltaGrads {
  const { B, T, H, K, V } = p;
  const dtype: DType = p.f64 ? "f64" : "f32";
  const grads: DeltaGrads = {
    dq: allocate(dtype, B * T * H * K),
    dk: allocate(dtype, B * T * H * K),
    dv: allocate(dtype, B * T * H * V),
    dbeta: allocate(dtype, B * T * H),
    dg: p.g !== null ? allocate(dtype, B * T * H) : null,
    ds0: allocate(dtype, B * H * K * V),
  };
  runTask(backwardTask, {
    units: B * H, work: 2 * forwardWork(p), args: problemArgs(p),
    inputs: [p.q, p.k, p.v, p.beta, p.g ?? EMPTY, p.s0 ?? EMPTY, saved.su, saved.wn, saved.tm, dO, dState],
    outputs: [grads.dq, grads.dk, grads.dv, grads.dbeta, grads.dg ?? EMPTY, grads.ds0],
  });
  return grads;
}

const backwardTask = defineTask("delta_chunk.backward", (buffers, args, next) => {
  const p = problemFrom(args, buffers);
  const [su, wn, tm, dO, dState, dq, dk, dv, dbeta, dg, ds0] = buffers.slice(6) as FloatArray[] as [
    FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray,
  ];
  backwardUnits(p, { su, wn, tm }, dO, dState, { dq, dk, dv, dbeta, dg: dg.length > 0 ? dg : null, ds0 }, next);
});

/** The backward pass of the (batch, head) units that `next` hands out, into their rows of `grads`. */
function backwardUnits(p: DeltaProblem, saved: DeltaSaved, dO: FloatArray, dState: FloatArray, grads: DeltaGrads, next: () => number): void {
  const { T, H, K, V, C, scale } = p;
  const dtype: DType = p.f64 ? "f64" : "f32";
  const kern = getKernels();
  const gated = p.g !== null;
  const N = Math.ceil(T / C);
  const Cw = Math.min(C, T);
  const KV = K * V;
  const SUS = suStride(T, N, K, V);
  const { dq, dk, dv, dbeta, dg, ds0 } = grads;
  const scratch = new ScratchSet(kern);
  const ws = new Workspace(scratch, dtype, Cw, K, V, gated, true);
  const hd: HeadInputs = newHead(scratch, dtype, T, K, V, gated);
  const { su, wn, tm } = saved;
  const { gam, e, D, KQK, QP, dSOU, dOVb, dU, R, Y, dKQ, QbW, dQc, dKc, tmpKV, dGam, de, rowM, colM } = ws;
  for (let bh = next(); bh >= 0; bh = next()) {
    const b = Math.floor(bh / H);
    const h = bh - b * H;
    loadHead(kern, hd, p.q, p.k, p.v, p.beta, p.g, b, h, T, H, K, V, C);
    const { kq, v: vh, beta } = hd;
    dSOU.set(dState.subarray(bh * KV, (bh + 1) * KV));
    for (let n = N - 1; n >= 0; n--) {
      const t0 = n * C;
      const L = Math.min(C, T - t0);
      const kOff = 2 * t0 * K;
      const qOff = kOff + L * K;
      const suOff = bh * SUS + n * KV + t0 * V;
      const tmOff = (bh * N + n) * Cw * Cw;
      const wOff = (bh * T + t0) * K;
      const KpL = K + L;
      decays(ws, hd.g, t0, L);
      mm(kern, 2 * L, L, K, kq, kOff, K, 1, kq, kOff, 1, K, KQK, 0, false);
      // dU = [Diag(e) K | Pᵀ] [dS; dO]
      const kRows = rows(kq, kOff, K);
      kern.deltaChunkBackwardPrep({ L, K, scale, k: kRows, qk: rows(KQK, L * L, L), e, d: gated ? D : null, out: rows(QP, 0, KpL) });
      gatherRows(kern, dO, dSOU, KV, b, h, t0, L, T, H, V);
      gatherRows(kern, dO, dOVb, 0, b, h, t0, L, T, H, V);
      mm(kern, L, V, KpL, QP, 0, KpL, 1, dSOU, 0, V, 1, dU, 0, false);
      dSOU.set(dU.subarray(0, L * V), KV + L * V);
      // dVb = Tmᵀ dU, below dO
      mm(kern, L, V, L, tm, tmOff, 1, L, dU, 0, V, 1, dOVb, L * V, false);
      // [G | dP; Z | −dA] = [dO; dVb] [S₀; U]ᵀ  and  Y = U dSᵀ
      mm(kern, 2 * L, KpL, V, dOVb, 0, V, 1, su, suOff, 1, V, R, 0, false);
      mm(kern, L, K, V, su, suOff + KV, V, 1, dSOU, 0, 1, V, Y, 0, false);
      // dKQ = [d(KKᵀ)+d(KKᵀ)ᵀ | d(QKᵀ)ᵀ], the row parts of dQ, dK, dV, dΓ, de, dβ, M's row and column sums, and
      // QbW's top Diag(τΓ)Q (kernels/js/delta_chunk_backward.ts)
      const L2 = 2 * L;
      kern.deltaChunkBackwardMiddle({
        L, K, V, scale, r: rows(R, 0, KpL), kk: rows(KQK, 0, L), k: kRows, q: rows(kq, qOff, K), v: rows(vh, t0 * V, V),
        y: rows(Y, 0, K), dvb: rows(dOVb, L * V, V), beta, betaOffset: t0, gam, e, d: gated ? D : null,
        dkq: rows(dKQ, 0, L2), dq: rows(dQc, 0, K), dk: rows(dKc, 0, K), dv: rows(ws.dV, 0, V), qg: rows(QbW, 0, K),
        dbeta: rows(dbeta, (b * T + t0) * H + h, H), dGam, de, rowM, colM,
      });
      // dQ += d(QKᵀ) K, d(QKᵀ)[i,p] = dKQ[p, L+i]
      mm(kern, L, K, L, dKQ, L, 1, L2, kq, kOff, K, 1, dQc, 0, true);
      scatterRows(kern, dQc, 0, dq, b, h, t0, L, T, H, K);
      scatterRows(kern, ws.dV, 0, dv, b, h, t0, L, T, H, V);
      // dK += [d(KKᵀ) + d(KKᵀ)ᵀ | d(QKᵀ)ᵀ] [K; Q]
      mm(kern, L, K, L2, dKQ, 0, L2, 1, kq, kOff, K, 1, dKc, 0, true);
      scatterRows(kern, dKc, 0, dk, b, h, t0, L, T, H, K);
      // dS₀ = [Diag(τΓ) Q; −W]ᵀ [dO; dU] + Γ_{L−1} dS;  dΓ_{L−1} (via S_L) = ⟨S₀, dS⟩
      QbW.set(wn.subarray(wOff, wOff + L * K), L * K);
      mm(kern, K, V, L2, QbW, 0, 1, K, dSOU, KV, V, 1, tmpKV, 0, false);
      const gl = gam[L - 1]!;
      const dGlast = kern.deltaChunkStateGrad({ K, V, gated, gl, ds: rows(dSOU, 0, V), upd: rows(tmpKV, 0, V), s0: rows(su, suOff, V) });
      // decays: db_r = Γ_r dΓ_r − e_r de_r + Σ_s M[r,s] − Σ_s M[s,r] (+ the S_L terms on the last row);
      // dg = the reverse cumulative sum of db within the chunk
      if (gated) {
        let tail = 0;
        let acc = gl * dGlast;
        for (let r = 0; r < L; r++) tail += e[r]! * de[r]!;
        acc += tail;
        for (let r = L - 1; r >= 0; r--) {
          acc += gam[r]! * dGam[r]! - e[r]! * de[r]! + rowM[r]! - colM[r]!;
          dg![(b * T + t0 + r) * H + h] = acc;
        }
      }
    }
    ds0.set(dSOU.subarray(0, KV), bh * KV);
  }
  scratch.release();
}
