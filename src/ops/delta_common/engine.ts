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
 * decays). Tm is found by forward substitution in f64 and rounded once to the working precision; the small
 * triangular and elementwise work runs in JS numbers with f64 scratch. Every buffer comes from `allocate`.
 */
import { allocate, type DType } from "../../core/dtype.js";
import { getKernels } from "../../kernels/index.js";
import { mm } from "../products.js";
import { defineTask, runTask } from "../../kernels/parallel.js";
import type { FloatArray } from "../../kernels/types.js";
import { gatherRows, loadHead, newHead, scatterRows, type HeadInputs } from "./head.js";

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

/** Scratch for one chunk (at most Cw rows), reused across chunks and heads. */
class Workspace {
  // per-row decays (f64): chunk-local cumulative log decay, Γ, e
  readonly bc: Float64Array;
  readonly gam: Float64Array;
  readonly e: Float64Array;
  /** D (L×L, lower with the diagonal), gated only */
  readonly D: Float64Array;
  /** [KKᵀ; QKᵀ], 2L×L */
  readonly KQK: FloatArray;
  /** [−Kb | Vb] and then [−W | Ũ], L×(K+V) */
  readonly KbVb: FloatArray;
  readonly WU: FloatArray;
  /** U, L×V */
  readonly U: FloatArray;
  /** [Diag(τΓ)Q | P], L×(K+L) (forward); [Diag(e)K | Pᵀ] (backward) */
  readonly QP: FloatArray;
  /** Diag(e)K, L×K (gated only; the plain rule reads K itself) */
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

  constructor(dtype: DType, C: number, K: number, V: number, gated: boolean, backward: boolean) {
    const w = (n: number) => allocate(dtype, n);
    const bw = backward ? 1 : 0;
    this.bc = f64(C); this.gam = f64(C); this.e = f64(C);
    this.D = f64(gated ? C * C : 0);
    this.KQK = w(2 * C * C);
    this.KbVb = w(bw ? 0 : C * (K + V));
    this.WU = w(bw ? 0 : C * (K + V));
    this.U = w(bw ? 0 : C * V);
    this.QP = w(C * (K + C));
    this.Kd = w(gated ? C * K : 0);
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
  const su = saved ? saved.su : allocate(dtype, 2 * SUW);
  const tm = saved ? saved.tm : allocate(dtype, Cw * Cw);
  const ws = new Workspace(dtype, Cw, K, V, gated, false);
  const hd = newHead(dtype, T, K, V, gated);
  const { gam, e, D, KQK, KbVb, WU, QP, Kd, O } = ws;
  for (let bh = next(); bh >= 0; bh = next()) {
    {
      const b = Math.floor(bh / H);
      const h = bh - b * H;
      loadHead(hd, p.q, p.k, p.v, p.beta, p.g, b, h, T, H, K, V, C);
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
        const wn = saved ? saved.wn : WU;
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
          k: { data: kq, offset: kOff, stride: K },
          q: { data: kq, offset: qOff, stride: K },
          v: { data: vh, offset: t0 * V, stride: V },
          qk: { data: KQK, offset: L * L, stride: L },
          beta, betaOffset: t0, gam, e, d: gated ? D : null,
          kb: { data: KbVb, offset: 0, stride: KpV },
          vb: { data: KbVb, offset: K, stride: KpV },
          ke: gated ? { data: Kd, offset: 0, stride: K } : null,
          qp: { data: QP, offset: 0, stride: KpL },
          s: { data: su, offset: suOff, stride: V },
          sOut: { data: sNext, offset: sNextOff, stride: V },
          sScale: gated ? gam[L - 1]! : 1,
        });
        // −W = Tm (−Kb), Ũ = Tm Vb below S₀, then U = Ũ + (−W) S₀ there: [S₀; U] (kept for backward when saving)
        mm(kern, L, K, L, tm, tmOff, L, 1, KbVb, 0, KpV, 1, wn, wOff, false);
        mm(kern, L, V, L, tm, tmOff, L, 1, KbVb, K, KpV, 1, su, suOff + KV, false);
        mm(kern, L, V, K, wn, wOff, K, 1, su, suOff, V, 1, su, suOff + KV, true);
        // O = [Diag(τΓ) Q | P] [S₀; U]
        mm(kern, L, V, KpL, QP, 0, KpL, 1, su, suOff, V, 1, O, 0, false);
        scatterRows(O, 0, o, b, h, t0, L, T, H, V);
        // S_L = Γ_{L−1} S₀ + (Diag(e) K)ᵀ U
        if (gated) mm(kern, K, V, L, Kd, 0, 1, K, su, suOff + KV, V, 1, sNext, sNextOff, true);
        else mm(kern, K, V, L, kq, kOff, 1, K, su, suOff + KV, V, 1, sNext, sNextOff, true);
      }
    }
  }
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
  const ws = new Workspace(dtype, Cw, K, V, gated, true);
  const hd: HeadInputs = newHead(dtype, T, K, V, gated);
  const { su, wn, tm } = saved;
  const { gam, e, D, KQK, QP, dSOU, dOVb, dU, R, Y, dKQ, QbW, dQc, dKc, tmpKV, dGam, de, rowM, colM } = ws;
  for (let bh = next(); bh >= 0; bh = next()) {
    {
      const b = Math.floor(bh / H);
      const h = bh - b * H;
      loadHead(hd, p.q, p.k, p.v, p.beta, p.g, b, h, T, H, K, V, C);
      const { kq, v: vh, beta } = hd;
      for (let i = 0; i < KV; i++) dSOU[i] = dState[bh * KV + i]!;
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
        for (let r = 0; r < L; r++) {
          const row = r * KpL;
          const src = kOff + r * K;
          if (gated) {
            const er = e[r]!;
            for (let j = 0; j < K; j++) QP[row + j] = er * kq[src + j]!;
          } else {
            for (let j = 0; j < K; j++) QP[row + j] = kq[src + j]!;
          }
          for (let c = 0; c < r; c++) QP[row + K + c] = 0;
          if (gated) for (let c = r; c < L; c++) QP[row + K + c] = scale * KQK[(L + c) * L + r]! * D[c * L + r]!;
          else for (let c = r; c < L; c++) QP[row + K + c] = scale * KQK[(L + c) * L + r]!;
        }
        gatherRows(dO, dSOU, KV, b, h, t0, L, T, H, V);
        gatherRows(dO, dOVb, 0, b, h, t0, L, T, H, V);
        mm(kern, L, V, KpL, QP, 0, KpL, 1, dSOU, 0, V, 1, dU, 0, false);
        for (let i = 0, at = KV + L * V; i < L * V; i++) dSOU[at + i] = dU[i]!;
        // dVb = Tmᵀ dU, below dO
        mm(kern, L, V, L, tm, tmOff, 1, L, dU, 0, V, 1, dOVb, L * V, false);
        // [G | dP; Z | −dA] = [dO; dVb] [S₀; U]ᵀ  and  Y = U dSᵀ
        mm(kern, 2 * L, KpL, V, dOVb, 0, V, 1, su, suOff, 1, V, R, 0, false);
        mm(kern, L, K, V, su, suOff + KV, V, 1, dSOU, 0, 1, V, Y, 0, false);
        // d(QKᵀ) = τ dP ⊙ D (lower with the diagonal), written transposed into the right half of
        // dKQ = [d(KKᵀ)+d(KKᵀ)ᵀ | d(QKᵀ)ᵀ] (L×2L, zero elsewhere); M = dD ⊙ D gets dQK ⊙ QKᵀ below the diagonal
        const L2 = 2 * L;
        dKQ.fill(0, 0, L * L2);
        if (gated) {
          rowM.fill(0, 0, L);
          colM.fill(0, 0, L);
        }
        for (let r = 0; r < L; r++) {
          const row = r * L;
          const rr = r * KpL + K;
          const qk = (L + r) * L;
          if (gated) {
            let rs = 0;
            for (let c = 0; c < r; c++) {
              const x = scale * R[rr + c]! * D[row + c]!;
              dKQ[c * L2 + L + r] = x;
              const m = x * KQK[qk + c]!;
              rs += m;
              colM[c] += m;
            }
            rowM[r] = rs;
            dKQ[r * L2 + L + r] = scale * R[rr + r]! * D[row + r]!;
          } else {
            for (let c = 0; c <= r; c++) dKQ[c * L2 + L + r] = scale * R[rr + c]!;
          }
        }
        // dQ = Diag(τΓ) G + d(QKᵀ) K;  dΓ_r = τ q_r·G_r
        for (let r = 0; r < L; r++) {
          const f = scale * gam[r]!;
          const gr = r * KpL;
          const qs = qOff + r * K;
          let s = 0;
          for (let j = 0; j < K; j++) {
            const x = R[gr + j]!;
            s += kq[qs + j]! * x;
            dQc[r * K + j] = f * x;
          }
          dGam[r] = scale * s;
        }
        // d(QKᵀ)[i,p] = dKQ[p, L+i]
        mm(kern, L, K, L, dKQ, L, 1, L2, kq, kOff, K, 1, dQc, 0, true);
        scatterRows(dQc, 0, dq, b, h, t0, L, T, H, K);
        // per row: Z = dVb S₀ᵀ (= −dKb), Y = U dSᵀ, dVb; then dA = −(dVb Uᵀ) below the diagonal
        const dVb = dOVb;
        for (let r = 0; r < L; r++) {
          const bt = beta[t0 + r]!;
          const gr = gam[r]!;
          const er = e[r]!;
          const zr = (L + r) * KpL;
          const ks = kOff + r * K;
          let kz = 0;
          let ky = 0;
          for (let j = 0; j < K; j++) {
            const z = R[zr + j]!;
            const y = Y[r * K + j]!;
            const kx = kq[ks + j]!;
            kz += kx * z;
            ky += kx * y;
            dKc[r * K + j] = er * y - bt * gr * z;
          }
          de[r] = ky;
          let vd = 0;
          const vb = (L + r) * V;
          const vs = (t0 + r) * V;
          for (let j = 0; j < V; j++) {
            const x = dVb[vb + j]!;
            vd += vh[vs + j]! * x;
            ws.dV[r * V + j] = bt * x;
          }
          // A[r,c] = β_r KK[r,c] D[r,c]: dβ_r += Σ_c dA KK D, d(KKᵀ) = dA β_r D, M += dA ⊙ A
          const row = r * L;
          let sb = 0;
          let rs = 0;
          for (let c = 0; c < r; c++) {
            const da = -R[zr + K + c]!;
            const d = gated ? D[row + c]! : 1;
            const kkd = KQK[row + c]! * d;
            sb += da * kkd;
            const dkk = da * bt * d;
            dKQ[r * L2 + c] = dkk;
            dKQ[c * L2 + r] = dkk;
            if (gated) {
              const m = da * bt * kkd;
              rs += m;
              colM[c] += m;
            }
          }
          if (gated) rowM[r] += rs;
          dbeta[(b * T + t0 + r) * H + h] = vd - gr * kz + sb;
          dGam[r] = dGam[r]! - bt * kz;
        }
        scatterRows(ws.dV, 0, dv, b, h, t0, L, T, H, V);
        // dK += [d(KKᵀ) + d(KKᵀ)ᵀ | d(QKᵀ)ᵀ] [K; Q]
        mm(kern, L, K, L2, dKQ, 0, L2, 1, kq, kOff, K, 1, dKc, 0, true);
        scatterRows(dKc, 0, dk, b, h, t0, L, T, H, K);
        // dS₀ = [Diag(τΓ) Q; −W]ᵀ [dO; dU] + Γ_{L−1} dS;  dΓ_{L−1} (via S_L) = ⟨S₀, dS⟩
        for (let r = 0; r < L; r++) {
          const f = scale * gam[r]!;
          for (let j = 0; j < K; j++) QbW[r * K + j] = f * kq[qOff + r * K + j]!;
        }
        for (let i = 0, at = L * K; i < L * K; i++) QbW[at + i] = wn[wOff + i]!;
        mm(kern, K, V, L2, QbW, 0, 1, K, dSOU, KV, V, 1, tmpKV, 0, false);
        const gl = gam[L - 1]!;
        let dGlast = 0;
        if (gated) {
          for (let i = 0; i < KV; i++) {
            const ds = dSOU[i]!;
            dGlast += su[suOff + i]! * ds;
            dSOU[i] = tmpKV[i]! + gl * ds;
          }
        } else {
          for (let i = 0; i < KV; i++) dSOU[i] = tmpKV[i]! + dSOU[i]!;
        }
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
      for (let i = 0; i < KV; i++) ds0[bh * KV + i] = dSOU[i]!;
    }
  }
}
