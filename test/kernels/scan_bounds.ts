/**
 * Error bounds for the wasm f32 selective-scan kernels (scan.test.ts), computed per output entry by running the
 * scan's arithmetic on magnitudes beside the f64 reference. ε = 2⁻²³ (an f32 ulp at 1); every f32 operation
 * rounds with relative error ≤ ε/2; exp ≤ 2ε, σ and softplus ≤ 4ε, SiLU ≤ 5ε (vmath_code.ts, maps.test.ts).
 *
 * The recurrence (first order in ε). With H_t = a_t·H_{t−1} + |x_t·B_t| the state's magnitude and e_t a bound on
 * its error: a = exp(Δ·A) carries a relative error δa = 2 + 0.5 + (δΔ + 0.5)·|Δ·A| (exp, its argument's product
 * rounding and Δ's own error δΔ amplified by |Δ·A|), the product a·h one rounding, x·B = Δ·u·B about δΔ + 1, the
 * sum one rounding, so
 *     e_t = a_t·e_{t−1} + ε·((δa + 0.5)·a_t·H_{t−1} + (δΔ + 1)·|x_t·B_t| + 0.5·H_t),
 * i.e. each step adds a few ε relative to the sizes of its terms, and older errors decay with the state (so
 * e_t ≤ t·κε·H_t at worst, ≪ that under decay). Sums of k terms in f32 add (k/2)·ε·Σ|terms| (sequential
 * summation, γ_k ≈ k·ε/2); products of inexact factors add their relative errors. The reverse scan is the same
 * recurrence run backwards on G, and each gradient is a sum of products of the bounded quantities. The block
 * sums (dA, dDskip, dbias over the L steps of a block; dBm, dCm over the ⌈w/4⌉ channel quads of a lane) add
 * their (k/2)·ε·Σ|terms|; the f64 sums after them add nothing at this scale.
 *
 * The forward's Δ = softplus(delta + bias) is computed in f32 (δΔ = 4.5: softplus 4ε and the rounded input);
 * without softplus δΔ = 0.5. The backward gets the same f32 Δ, checkpoints and p as the reference (δΔ = 0), so
 * its bound covers the backward's own arithmetic only.
 */
import type { ScanBackwardArgs, ScanForwardArgs } from "../../src/kernels/index.js";

export const EPS = 2 ** -23;

const sigma = (x: number): number => 1 / (1 + Math.exp(-x));
const softplus = (x: number): number => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
type F64 = Float64Array;

/** Per-entry bounds of the forward's outputs, for the unit of `p` (f64 reference inputs). */
export function forwardBounds(p: ScanForwardArgs<F64>): { dt: F64; o: F64; pre: F64; hT: F64; checkpoints: F64 } {
  const { T, D, N, C, b, c0, c1, u, delta, A, Bm, Cm, Dskip, z, bias, h0 } = p;
  const blocks = Math.ceil(T / C);
  const out = { dt: new Float64Array(u.length), o: new Float64Array(u.length), pre: new Float64Array(u.length), hT: new Float64Array(p.hT.length), checkpoints: new Float64Array(p.checkpoints?.length ?? 0) };
  const dD = p.softplus ? 4.5 : 0.5;
  const w = c1 - c0;
  const H = new Float64Array(w * N), E = new Float64Array(w * N);
  for (let c = 0; c < w; c++) for (let n = 0; n < N; n++) H[c * N + n] = h0 ? Math.abs(h0[(b * D + c0 + c) * N + n]!) : 0;
  for (let t = 0; t < T; t++) {
    if (t % C === 0 && p.checkpoints) {
      for (let i = 0; i < w * N; i++) out.checkpoints[(b * blocks + t / C) * D * N + c0 * N + i] = EPS * E[i]!;
    }
    for (let c = c0; c < c1; c++) {
      const i = (b * T + t) * D + c;
      const v = delta[i]! + (bias ? bias[c]! : 0);
      const d = p.softplus ? softplus(v) : v;
      out.dt[i] = dD * EPS * Math.abs(d);
      const x = Math.abs(d * u[i]!);
      let P = 0, eP = 0;
      for (let n = 0; n < N; n++) {
        const k = (c - c0) * N + n;
        const ad = Math.abs(d * A[c * N + n]!);
        const a = Math.exp(d * A[c * N + n]!);
        const xb = x * Math.abs(Bm[(b * T + t) * N + n]!);
        const Hn = a * H[k]! + xb;
        E[k] = a * E[k]! + (2.5 + (dD + 0.5) * ad) * a * H[k]! + (dD + 1) * xb + 0.5 * Hn;
        H[k] = Hn;
        const cm = Math.abs(Cm[(b * T + t) * N + n]!);
        P += cm * Hn;
        eP += cm * E[k]!;
      }
      const skip = Dskip ? Math.abs(Dskip[c]! * u[i]!) : 0;
      P += skip;
      const ePre = EPS * (eP + ((N + 2) / 2) * P);
      out.pre[i] = ePre;
      const s = z ? Math.abs(z[i]! * sigma(z[i]!)) : 1;
      out.o[i] = z ? s * ePre + 6 * EPS * P * s : ePre;
    }
  }
  for (let i = 0; i < w * N; i++) out.hT[(b * D + c0) * N + i] = EPS * E[i]!;
  return out;
}

export interface BackwardBounds {
  dU: F64;
  dDelta: F64;
  dZ: F64;
  dH0: F64;
  dBm: F64;
  dCm: F64;
  dA: F64;
  dDskip: F64;
  dBias: F64;
}

/** Per-entry bounds of the backward's outputs and partial sums, for the unit of `p` (f64 reference inputs). */
export function backwardBounds(p: ScanBackwardArgs<F64>): BackwardBounds {
  const { T, D, N, C, b, c0, c1, u, delta, A, Bm, Cm, Dskip, z, bias, dt, checkpoints, pre, dO, dHT, partOffset } = p;
  const DN = D * N;
  const blocks = Math.ceil(T / C);
  const w = c1 - c0, Wq = Math.ceil(w / 4);
  const out: BackwardBounds = {
    dU: new Float64Array(u.length), dDelta: new Float64Array(u.length), dZ: new Float64Array(u.length), dH0: new Float64Array(p.dH0.length),
    dBm: new Float64Array(p.dBm.length), dCm: new Float64Array(p.dCm.length), dA: new Float64Array(p.dA.length),
    dDskip: new Float64Array(p.dDskip.length), dBias: new Float64Array(p.dBias.length),
  };
  const MG = new Float64Array(w * N), EG = new Float64Array(w * N); // |G| and its error bound (in ε)
  for (let i = 0; i < w * N; i++) MG[i] = dHT ? Math.abs(dHT[b * DN + c0 * N + i]!) : 0;
  const L = Math.min(C, T);
  const Hs = new Float64Array((L + 1) * w * N), Es = new Float64Array((L + 1) * w * N), As = new Float64Array(L * w * N), dAs = new Float64Array(L * w * N);
  for (let k = blocks - 1; k >= 0; k--) {
    const t0 = k * C, len = Math.min(T, t0 + C) - t0;
    // the recomputed states: magnitudes and error bounds from the (exact) checkpoint
    for (let i = 0; i < w * N; i++) {
      Hs[i] = Math.abs(checkpoints[(b * blocks + k) * DN + c0 * N + i]!);
      Es[i] = 0;
    }
    for (let r = 0; r < len; r++) {
      for (let c = c0; c < c1; c++) {
        const i = (b * T + t0 + r) * D + c;
        const d = dt[i]!, x = Math.abs(d * u[i]!);
        for (let n = 0; n < N; n++) {
          const s = r * w * N + (c - c0) * N + n;
          const arg = d * A[c * N + n]!;
          const a = Math.exp(arg), da = 2 + 0.5 * Math.abs(arg);
          const xb = x * Math.abs(Bm[(b * T + t0 + r) * N + n]!);
          As[s] = a;
          dAs[s] = da;
          Hs[s + w * N] = a * Hs[s]! + xb;
          Es[s + w * N] = a * Es[s]! + (da + 0.5) * a * Hs[s]! + xb + 0.5 * Hs[s + w * N]!;
        }
      }
    }
    const sumL = len / 2; // (k/2)·ε per f32 block sum over the block's steps
    for (let r = len - 1; r >= 0; r--) {
      const t = t0 + r;
      for (let c = c0; c < c1; c++) {
        const i = (b * T + t) * D + c;
        const d = Math.abs(dt[i]!), uc = Math.abs(u[i]!), x = d * uc;
        let Y = Math.abs(dO[i]!), eY = 0; // |ȳ| and its error bound
        if (z) {
          // dZ = ((ȳ·p)·σ)·(1 + z(1 − σ)): σ's 4ε is 4ε·σ absolute on 1 − σ, times |z|
          const zc = z[i]!, sg = sigma(zc), gp = Math.abs(dO[i]! * pre![i]!), F = Math.abs(1 + zc * (1 - sg));
          out.dZ[i] = EPS * gp * sg * (Math.abs(zc) * (4 * sg + (1 - sg)) + 6 * F);
          Y *= Math.abs(zc * sg);
          eY = 6 * Y;
        }
        const skip = Dskip ? Math.abs(Dskip[c]!) : 0;
        if (Dskip) out.dDskip[b * D + c] += EPS * (uc * eY + (0.5 + sumL) * Y * uc);
        let Mq = 0, eq = 0, Mdl = 0, edl = 0;
        for (let n = 0; n < N; n++) {
          const j = (c - c0) * N + n;
          const s = r * w * N + j;
          const cm = Math.abs(Cm[(b * T + t) * N + n]!), bm = Math.abs(Bm[(b * T + t) * N + n]!), am = Math.abs(A[c * N + n]!);
          const a = As[s]!, da = dAs[s]!;
          const Mg = MG[j]! + Y * cm;
          const eg = EG[j]! + cm * eY + 0.5 * Y * cm + 0.5 * Mg;
          const hNext = Hs[s + w * N]!, eNext = Es[s + w * N]!, hPrev = Hs[s]!, ePrev = Es[s]!;
          const quadSum = 0.5 + Wq / 2;
          out.dCm[partOffset + t * N + n] += EPS * (hNext * eY + Y * eNext + quadSum * Y * hNext);
          out.dBm[partOffset + t * N + n] += EPS * (x * eg + (0.5 + quadSum) * Mg * x);
          Mq += Mg * bm;
          eq += bm * eg;
          const Mgl = Mg * a * hPrev;
          const egl = a * hPrev * eg + Mg * hPrev * a * da + Mg * a * ePrev + Mgl;
          out.dA[b * DN + c * N + n] += EPS * (d * egl + (0.5 + sumL) * d * Mgl);
          Mdl += Mgl * am;
          edl += am * egl;
          MG[j] = Mg * a;
          EG[j] = a * eg + (da + 0.5) * Mg * a;
        }
        eq += (N / 2 + 0.5) * Mq;
        edl += (N / 2 + 0.5) * Mdl;
        const Mdu = Y * skip;
        out.dU[i] = EPS * (skip * eY + d * eq + Mdu + Mq * d);
        const Mdd = Mdl + Mq * uc;
        let edd = edl + uc * eq + Mq * uc + 0.5 * Mdd;
        let Mdd2 = Mdd;
        if (p.softplus) {
          const v = delta[i]! + (bias ? bias[c]! : 0), sg = sigma(v);
          edd = sg * edd + (5 + 0.5 * Math.abs(v)) * sg * Mdd;
          Mdd2 = sg * Mdd;
        }
        out.dDelta[i] = EPS * edd;
        out.dBias[b * D + c] += EPS * (edd + sumL * Mdd2);
      }
    }
  }
  for (let i = 0; i < w * N; i++) out.dH0[b * DN + c0 * N + i] = EPS * EG[i]!;
  return out;
}
