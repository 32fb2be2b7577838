/**
 * The delta layers' short conv – SiLU – L2 norm branch (math in layers/delta_branch.ts) over one batch row, in
 * plain TypeScript: the reference, and the path for f64. Each sum is formed in a JS number (f64) and rounded
 * once when stored; the weight and bias gradients go into the row's f64 partial sums directly.
 */
import type { FloatArray, ShortConvBackwardArgs, ShortConvForwardArgs } from "../types.js";
import { mapJs } from "./maps.js";

/** ε inside the per-head L2 norm, as fla's l2norm (spec §0.2). */
export const L2_EPS = 1e-6;

/** The forward of row b: conv (or copy), SiLU keeping σ, L2 norm per head. */
export function shortConvForwardJs(p: ShortConvForwardArgs): void {
  const { b, T, C, W, normWidth, z: zv, weight: wv, state: sv, bias: bv, a, sig, y, rinv } = p;
  const len = T * C;
  const groups = normWidth > 0 ? T * (C / normWidth) : 0;
  const off = b * len;
  if (wv) convForward(zv, sv, wv, bv, a, b, T, C, W);
  else a.set(zv.subarray(off, off + len), off);
  siluInPlace(a.subarray(off, off + len), sig.subarray(off, off + len), len);
  if (groups > 0) normForward(a.subarray(off, off + len), y!.subarray(off, off + len), rinv!.subarray(b * groups, (b + 1) * groups), groups, normWidth);
}

/** The backward of row b: the norm's and SiLU's backward in place on gc, then the conv's backward. */
export function shortConvBackwardJs(p: ShortConvBackwardArgs): void {
  const { b, T, C, W, normWidth, z: zv, weight: wv, state: sv, a, sig, rinv, gc, gz, gs, gw, gb } = p;
  const len = T * C;
  const groups = normWidth > 0 ? T * (C / normWidth) : 0;
  const off = b * len;
  const gcb = gc.subarray(off, off + len);
  if (groups > 0) normBackward(a.subarray(off, off + len), gcb, rinv!.subarray(b * groups, (b + 1) * groups), groups, normWidth);
  siluBackward(a.subarray(off, off + len), sig.subarray(off, off + len), gcb, len);
  if (wv) convBackward(gc, zv, sv, wv, gz!, gs, gw!.subarray(b * C * W, (b + 1) * C * W), gb!.subarray(b * C, (b + 1) * C), b, T, C, W);
}

// The loops, each in its own small function (V8 optimizes them once and keeps them optimized).

/**
 * c = bias + Σ_j w[:,j] x̂[t+j] into `c` [B,T,C]; x̂[s] is state row s when s < P = W−1 (zeros without it), else
 * z row s−P. Each sum is formed in a JS number (f64) and rounded once.
 */
function convForward(zv: FloatArray, sv: FloatArray | null, wv: FloatArray, bv: FloatArray | null, c: FloatArray, b: number, T: number, C: number, W: number): void {
  const P = W - 1;
  {
    // the first P rows read the state; the rest only z (rows t−P … t)
    for (let t = 0; t < Math.min(P, T); t++) {
      const o = (b * T + t) * C;
      for (let ch = 0; ch < C; ch++) {
        let acc = bv ? bv[ch]! : 0;
        for (let j = 0; j < W; j++) {
          const s = t + j;
          if (s < P) acc += sv ? wv[ch * W + j]! * sv[(b * P + s) * C + ch]! : 0;
          else acc += wv[ch * W + j]! * zv[(b * T + s - P) * C + ch]!;
        }
        c[o + ch] = acc;
      }
    }
    for (let t = P; t < T; t++) {
      const o = (b * T + t) * C;
      const x0 = o - P * C; // z row t−P
      for (let ch = 0; ch < C; ch++) {
        let acc = bv ? bv[ch]! : 0;
        const wo = ch * W;
        for (let j = 0, xi = x0 + ch; j < W; j++, xi += C) acc += wv[wo + j]! * zv[xi]!;
        c[o + ch] = acc;
      }
    }
  }
}

/** a ← SiLU(a) = a·σ(a), keeping σ in `sig` (σ by the JS map). */
function siluInPlace(a: FloatArray, sig: FloatArray, n: number): void {
  mapJs("sigmoid", [{ data: a, offset: 0 }], [{ data: sig, offset: 0 }], n);
  for (let i = 0; i < n; i++) a[i] = a[i]! * sig[i]!;
}

/** y = a·r per group of `width`, r = 1/√(Σa² + ε) kept in rinv. */
function normForward(a: FloatArray, y: FloatArray, rinv: Float64Array, groups: number, width: number): void {
  for (let gi = 0; gi < groups; gi++) {
    const o = gi * width;
    let ss = 0;
    for (let j = 0; j < width; j++) ss += a[o + j]! * a[o + j]!;
    const r = 1 / Math.sqrt(ss + L2_EPS);
    rinv[gi] = r;
    for (let j = 0; j < width; j++) y[o + j] = a[o + j]! * r;
  }
}

/** g ← r·(g − y⟨y, g⟩) per group, with y = a·r (the L2 norm's backward, in place). */
function normBackward(a: FloatArray, g: FloatArray, rinv: Float64Array, groups: number, width: number): void {
  for (let gi = 0; gi < groups; gi++) {
    const o = gi * width;
    const r = rinv[gi]!;
    let dot = 0;
    for (let j = 0; j < width; j++) dot += a[o + j]! * g[o + j]!;
    dot *= r * r;
    for (let j = 0; j < width; j++) g[o + j] = r * (g[o + j]! - a[o + j]! * dot);
  }
}

/** g ← g · SiLU'(c) = g · (σ + a·(1 − σ)) in place. */
function siluBackward(a: FloatArray, sig: FloatArray, g: FloatArray, n: number): void {
  for (let i = 0; i < n; i++) {
    const s = sig[i]!;
    g[i] = g[i]! * (s + a[i]! * (1 - s));
  }
}

/**
 * The conv's backward: gx̂[s] = Σ_j gc[s−j] w[:,j] over 0 ≤ s−j < T (rows s ≥ P into gz as row s−P, rows s < P
 * into gs when kept), gw[:,j] += Σ_{b,t} gc[t] x̂[t+j] and gb += Σ_{b,t} gc[t], in one pass over the rows.
 */
function convBackward(
  gc: FloatArray, zv: FloatArray, sv: FloatArray | null, wv: FloatArray,
  gz: FloatArray, gs: FloatArray | null, gw: Float64Array, gb: Float64Array, b: number, T: number, C: number, W: number,
): void {
  const P = W - 1;
  {
    for (let s = 0; s < T + P; s++) {
      // gx̂ row s (all taps inside gc when P ≤ s < T)
      const inner = s >= P && s < T;
      if (s >= P || gs) {
        const out = s < P ? gs! : gz;
        const o = s < P ? (b * P + s) * C : (b * T + s - P) * C;
        const g0 = (b * T + s) * C; // gc row s (tap 0); tap j reads row s − j
        for (let ch = 0; ch < C; ch++) {
          let acc = 0;
          const wo = ch * W;
          if (inner) {
            for (let j = 0, gi = g0 + ch; j < W; j++, gi -= C) acc += gc[gi]! * wv[wo + j]!;
          } else {
            for (let j = 0; j < W; j++) {
              const t = s - j;
              if (t >= 0 && t < T) acc += gc[(b * T + t) * C + ch]! * wv[wo + j]!;
            }
          }
          out[o + ch] = acc;
        }
      }
      // gw and gb from gc row t = s (when it exists): x̂[t+j] is state row t+j (t+j < P) or z row t+j−P
      if (s < T) {
        const t = s;
        const go = (b * T + t) * C;
        if (t >= P) {
          const x0 = go - P * C;
          for (let ch = 0; ch < C; ch++) {
            const g = gc[go + ch]!;
            gb[ch] += g;
            const wo = ch * W;
            for (let j = 0, xi = x0 + ch; j < W; j++, xi += C) gw[wo + j] += g * zv[xi]!;
          }
        } else {
          for (let ch = 0; ch < C; ch++) {
            const g = gc[go + ch]!;
            gb[ch] += g;
            for (let j = 0; j < W; j++) {
              const u = t + j;
              if (u < P) {
                if (sv) gw[ch * W + j] += g * sv[(b * P + u) * C + ch]!;
              } else {
                gw[ch * W + j] += g * zv[(b * T + u - P) * C + ch]!;
              }
            }
          }
        }
      }
    }
  }
}
