/**
 * Per-entry error bounds of the short conv – SiLU – L2 norm kernels in f32 (wasm/short_conv_code.ts) against
 * the exact result, computed from f64 values of the same inputs. u = 2⁻²⁴ (f32 unit roundoff); every f32
 * operation rounds once (|fl(x) − x| ≤ u|x|); a sum of k terms formed in f32 is off by ≤ k·u·Σ|terms| (γ_k,
 * times 1 + k·u, covered by SLACK). The f64 reference adds ~2⁻⁵³ relative, nothing at this scale.
 *
 * Forward, per entry (x̂ the conv input, S_c = |bias| + Σ_j |w_j·x̂_j|):
 *   e_c = (W + 1)·u·S_c                                   (W products, W additions; 0 without a conv)
 *   e_σ = 6u·σ + e_c/4                                    (exp ≤ 2 ulp ≤ 4u relative, scaled by e/(1+e) ≤ 1; the
 *                                                           add and the divide 1u each; σ' ≤ 1/4)
 *   e_a = u·|a| + |c|·6u·σ + e_c·(σ + |c|/4)              (a = c·σ: its rounding, σ's error, c's through ∂a/∂c
 *                                                           = σ + c·σ(1 − σ), |σ(1 − σ)| ≤ 1/4)
 *   per head of width n: e_ss = Σ 2|a|·e_a + k_n·u·Σa² + u·ε, k_n = n/4 + 4 (vector lanes: a product, n/4 − 1
 *   lane adds, three cross-lane adds, +1 for the ε add) or n + 1 (scalar)
 *   e_r = r³/2·e_ss + 3u·r                                (∂r/∂ss = −r³/2; sqrt, divide, and the ε add halved)
 *   e_y = u·|y| + |a|·e_r + r·e_a
 * Backward (inputs a, σ, r, g taken as exact f32 values, so only the backward's roundings count):
 *   dot = ⟨a, g⟩ per head: e_dot = k_n·u·Σ|a·g|;  d = dot·r²: e_d = r²·(e_dot + 2u·|dot|)
 *   g₁ = r·(g − a·d): e_g₁ = r·(|a|·e_d + u·|a·d| + 2u·|g − a·d|)   (g₁ = g, e = 0, without a norm)
 *   f = σ + a(1 − σ): e_f = u·(σ + 3|a|(1 − σ));  gc = g₁·f: e_gc = |f|·e_g₁ + |g₁|·e_f + u·|gc|
 *   gx̂[s] = Σ_j gc[s−j]·w_j over k taps: Σ_j |w_j|·e_gc[s−j] + 2k·u·Σ_j |gc·w|
 *   gw[j] = Σ_t gc[t]·x̂[t+j]: Σ_t |x̂|·e_gc[t] + (L + 1)·u·Σ_t |gc·x̂|  (f32 block sums of L ≤ ROW_BLOCK rows,
 *   then f64), gbias alike with Σ|gc|.
 * SLACK = 1.01 covers the second-order terms (products of two first-order errors, ~u²) and γ_k's 1/(1 − k·u).
 */
import { ROW_BLOCK } from "../../src/kernels/wasm/short_conv.js";

const u = 2 ** -24;
const EPS = 1e-6;
const SLACK = 1.01;

export interface Problem {
  B: number;
  T: number;
  C: number;
  /** taps; 0: no conv */
  W: number;
  normWidth: number;
  z: Float64Array;
  weight: Float64Array | null;
  bias: Float64Array | null;
  state: Float64Array | null;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** x̂ row s of batch b, channel ch (state rows, zeros without a state, then z). */
function xhat(p: Problem, b: number, s: number, ch: number): number {
  const P = p.W - 1;
  if (s < P) return p.state ? p.state[(b * P + s) * p.C + ch]! : 0;
  return p.z[(b * p.T + s - P) * p.C + ch]!;
}

const kSum = (n: number): number => (n % 4 === 0 ? n / 4 + 4 : n + 1);

export interface ForwardBounds {
  a: Float64Array;
  sig: Float64Array;
  y: Float64Array | null;
  rinv: Float64Array | null;
}

export function forwardBounds(p: Problem): ForwardBounds {
  const { B, T, C, W, normWidth: n } = p;
  const N = B * T * C;
  const ea = new Float64Array(N), es = new Float64Array(N), av = new Float64Array(N);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let ch = 0; ch < C; ch++) {
    const i = (b * T + t) * C + ch;
    let c = p.z[i]!, S = 0;
    if (W > 0) {
      c = p.bias ? p.bias[ch]! : 0;
      S = Math.abs(c);
      for (let j = 0; j < W; j++) {
        const term = p.weight![ch * W + j]! * xhat(p, b, t + j, ch);
        c += term;
        S += Math.abs(term);
      }
    }
    const ec = (W > 0 ? W + 1 : 0) * u * S;
    const s = sigmoid(c);
    av[i] = c * s;
    es[i] = SLACK * (6 * u * s + ec / 4);
    ea[i] = SLACK * (u * Math.abs(c * s) + Math.abs(c) * 6 * u * s + ec * (s + Math.abs(c) / 4));
  }
  if (n === 0) return { a: ea, sig: es, y: null, rinv: null };
  const heads = C / n;
  const ey = new Float64Array(N), er = new Float64Array(B * T * heads);
  for (let row = 0; row < B * T; row++) for (let h = 0; h < heads; h++) {
    const o = row * C + h * n;
    let ss = 0, e = 0;
    for (let k = 0; k < n; k++) {
      ss += av[o + k]! ** 2;
      e += 2 * Math.abs(av[o + k]!) * ea[o + k]!;
    }
    e += kSum(n) * u * ss + u * EPS;
    const r = 1 / Math.sqrt(ss + EPS);
    const eR = SLACK * ((r ** 3 / 2) * e + 3 * u * r);
    er[row * heads + h] = eR;
    for (let k = 0; k < n; k++) {
      const a = av[o + k]!;
      ey[o + k] = SLACK * (u * Math.abs(a * r) + Math.abs(a) * eR + r * ea[o + k]!);
    }
  }
  return { a: ea, sig: es, y: ey, rinv: er };
}

export interface BackwardInputs {
  a: Float64Array;
  sig: Float64Array;
  rinv: Float64Array | null;
  g: Float64Array;
}

export interface BackwardBounds {
  gc: Float64Array;
  gz: Float64Array | null;
  gs: Float64Array | null;
  gw: Float64Array | null;
  gb: Float64Array | null;
}

export function backwardBounds(p: Problem, x: BackwardInputs): BackwardBounds {
  const { B, T, C, W, normWidth: n } = p;
  const N = B * T * C;
  const g1 = Float64Array.from(x.g), eg1 = new Float64Array(N);
  if (n > 0) {
    const heads = C / n;
    for (let row = 0; row < B * T; row++) for (let h = 0; h < heads; h++) {
      const o = row * C + h * n, r = x.rinv![row * heads + h]!;
      let dot = 0, S = 0;
      for (let k = 0; k < n; k++) {
        dot += x.a[o + k]! * x.g[o + k]!;
        S += Math.abs(x.a[o + k]! * x.g[o + k]!);
      }
      const ed = r * r * (kSum(n) * u * S + 2 * u * Math.abs(dot));
      const d = dot * r * r;
      for (let k = 0; k < n; k++) {
        const a = x.a[o + k]!, g = x.g[o + k]!;
        g1[o + k] = r * (g - a * d);
        eg1[o + k] = SLACK * r * (Math.abs(a) * ed + u * Math.abs(a * d) + 2 * u * Math.abs(g - a * d));
      }
    }
  }
  const gc = new Float64Array(N), egc = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const s = x.sig[i]!, a = x.a[i]!;
    const f = s + a * (1 - s);
    const ef = u * (s + 3 * Math.abs(a) * (1 - s));
    gc[i] = g1[i]! * f;
    egc[i] = SLACK * (Math.abs(f) * eg1[i]! + Math.abs(g1[i]!) * ef + u * Math.abs(gc[i]!));
  }
  if (W === 0) return { gc: egc, gz: null, gs: null, gw: null, gb: null };
  const P = W - 1;
  const gz = new Float64Array(N), gs = new Float64Array(B * P * C), gw = new Float64Array(C * W), gb = new Float64Array(C);
  const L = Math.min(ROW_BLOCK, T);
  for (let b = 0; b < B; b++) for (let ch = 0; ch < C; ch++) {
    for (let s = 0; s < T + P; s++) {
      let e = 0, S = 0, k = 0;
      for (let j = 0; j < W; j++) {
        const t = s - j;
        if (t < 0 || t >= T) continue;
        const i = (b * T + t) * C + ch, w = p.weight![ch * W + j]!;
        e += Math.abs(w) * egc[i]!;
        S += Math.abs(gc[i]! * w);
        k++;
      }
      const bound = SLACK * (e + 2 * k * u * S);
      if (s < P) gs[(b * P + s) * C + ch] = bound;
      else gz[(b * T + s - P) * C + ch] = bound;
    }
    for (let t = 0; t < T; t++) {
      const i = (b * T + t) * C + ch;
      gb[ch] += egc[i]! + (L + 1) * u * Math.abs(gc[i]!);
      for (let j = 0; j < W; j++) {
        const xv = Math.abs(xhat(p, b, t + j, ch));
        gw[ch * W + j] += xv * egc[i]! + (L + 1) * u * Math.abs(gc[i]!) * xv;
      }
    }
  }
  return { gc: egc, gz, gs, gw: gw.map((v) => SLACK * v), gb: gb.map((v) => SLACK * v) };
}
