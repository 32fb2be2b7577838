/**
 * One q, k or v branch of the delta-rule layers after its projection, as a single op with a hand-written backward
 * (spec/mixers.md §0.2, §7.1): the causal depthwise short conv, SiLU, and (for q and k) the per-head L2 norm,
 *
 *   c[b,t,ch] = bias[ch] + Σ_{j<W} w[ch,j] · x̂[b,t+j,ch],   x̂ = concat(state, z) along time (state: the W−1
 *               inputs before z, zeros when absent; without a conv, c = z)
 *   a = SiLU(c) = c·σ(c)
 *   y = a / √(Σ_head a² + 1e-6) per head of width `normWidth` (or y = a when normWidth is 0).
 *
 * It computes what causalConv1d → silu → l2normalize compute (tests compare them), in one pass over the data
 * and with a few saved arrays instead of a graph of elementwise temporaries.
 *
 * Backward, for upstream gy, with r = 1/√(Σa² + ε) per head:
 *   ga = r·(gy − y·⟨y, gy⟩)                       (L2 norm; ga = gy without it)
 *   gc = ga · σ(c)·(1 + c·(1 − σ(c))) = ga · (σ + a·(1 − σ))
 *   gx̂[b,s,ch] = Σ_j gc[b,s−j,ch] w[ch,j],  gw[ch,j] = Σ_{b,t} gc[b,t,ch] x̂[b,t+j,ch],  gbias = Σ_{b,t} gc;
 *   gz = gx̂[:, W−1:],  gstate = gx̂[:, :W−1].
 */
import { record } from "../core/autograd.js";
import { allocate } from "../core/dtype.js";
import { concat, contiguous, slice } from "../core/ops/shape.js";
import { Tensor } from "../core/tensor.js";
import { zeros } from "../core/create.js";

/** ε inside the per-head L2 norm, as fla's l2norm (spec §0.2). */
const L2_EPS = 1e-6;

export interface BranchConv {
  /** [C, W] */
  weight: Tensor;
  /** [C] or null */
  bias: Tensor | null;
  /** [B, W−1, C]: the inputs before z, or null for zeros */
  state: Tensor | null;
}

/**
 * z [B,T,C] → y [B,T,C]: short conv (when `conv` is given), SiLU, and the L2 norm over each group of
 * `normWidth` channels (a head; 0: no norm). Differentiable in z, the conv weight, bias and state.
 */
export function convSiluNorm(z: Tensor, conv: BranchConv | null, normWidth: number): Tensor {
  if (z.ndim !== 3) throw new RangeError(`convSiluNorm: z must have shape [B,T,C], got [${z.shape.join(",")}]`);
  const [B, T, C] = z.shape as [number, number, number];
  if (normWidth < 0 || (normWidth > 0 && C % normWidth !== 0)) throw new RangeError(`convSiluNorm: normWidth ${normWidth} must divide C = ${C}`);
  const W = conv ? conv.weight.shape[1]! : 1;
  if (conv && (conv.weight.ndim !== 2 || conv.weight.shape[0] !== C)) throw new RangeError(`convSiluNorm: weight must have shape [${C},W], got [${conv.weight.shape.join(",")}]`);
  const P = W - 1;
  if (conv?.bias && (conv.bias.ndim !== 1 || conv.bias.shape[0] !== C)) throw new RangeError(`convSiluNorm: bias must have shape [${C}]`);
  if (conv?.state && (conv.state.ndim !== 3 || conv.state.shape[0] !== B || conv.state.shape[1] !== P || conv.state.shape[2] !== C)) {
    throw new RangeError(`convSiluNorm: state must have shape [${B},${P},${C}], got [${conv.state.shape.join(",")}]`);
  }
  const dtype = z.dtype;
  const zv = contiguous(z.detach()).values();
  const wv = conv ? contiguous(conv.weight.detach()).values() : null;
  const bv = conv?.bias ? conv.bias.values() : null;
  const sv = conv?.state ? contiguous(conv.state.detach()).values() : null;
  const n = B * T * C;
  const y = allocate(dtype, n);
  // saved for backward: a = SiLU(c), σ(c), and r per (row, head)
  const a = allocate(dtype, n);
  const sig = allocate(dtype, n);
  const heads = normWidth > 0 ? C / normWidth : 0;
  const rinv = normWidth > 0 ? allocate("f64", B * T * heads) : null;
  const cRow = new Float64Array(C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const o = (b * T + t) * C;
      if (wv) {
        // c = bias + Σ_j w[:,j] x̂[t+j]: x̂[t+j] is state row t+j when t+j < P, else z row t+j−P
        for (let ch = 0; ch < C; ch++) cRow[ch] = bv ? bv[ch]! : 0;
        for (let j = 0; j < W; j++) {
          const s = t + j;
          if (s < P) {
            if (!sv) continue;
            const xo = (b * P + s) * C;
            for (let ch = 0; ch < C; ch++) cRow[ch] += wv[ch * W + j]! * sv[xo + ch]!;
          } else {
            const xo = (b * T + s - P) * C;
            for (let ch = 0; ch < C; ch++) cRow[ch] += wv[ch * W + j]! * zv[xo + ch]!;
          }
        }
      } else {
        for (let ch = 0; ch < C; ch++) cRow[ch] = zv[o + ch]!;
      }
      for (let ch = 0; ch < C; ch++) {
        const c = cRow[ch]!;
        const s = 1 / (1 + Math.exp(-c));
        sig[o + ch] = s;
        a[o + ch] = c * s;
      }
      if (rinv) {
        for (let hh = 0; hh < heads; hh++) {
          const ho = o + hh * normWidth;
          let ss = 0;
          for (let j = 0; j < normWidth; j++) ss += a[ho + j]! * a[ho + j]!;
          const r = 1 / Math.sqrt(ss + L2_EPS);
          rinv[(b * T + t) * heads + hh] = r;
          for (let j = 0; j < normWidth; j++) y[ho + j] = a[ho + j]! * r;
        }
      } else {
        for (let ch = 0; ch < C; ch++) y[o + ch] = a[o + ch]!;
      }
    }
  }
  const out = new Tensor(y, [B, T, C]);
  const inputs = [z, ...(conv ? [conv.weight] : []), ...(conv?.bias ? [conv.bias] : []), ...(conv?.state ? [conv.state] : [])];
  return record(out, "convSiluNorm", inputs, (g) => {
    const gy = contiguous(g).values();
    // gc, overwriting a scratch row by row
    const gc = allocate(dtype, n);
    for (let row = 0; row < B * T; row++) {
      const o = row * C;
      if (rinv) {
        for (let hh = 0; hh < heads; hh++) {
          const ho = o + hh * normWidth;
          const r = rinv[row * heads + hh]!;
          let dot = 0;
          for (let j = 0; j < normWidth; j++) dot += a[ho + j]! * gy[ho + j]!;
          dot *= r * r; // ⟨y, gy⟩ / r
          for (let j = 0; j < normWidth; j++) {
            const i = ho + j;
            const ga = r * (gy[i]! - a[i]! * dot);
            const s = sig[i]!;
            gc[i] = ga * (s + a[i]! * (1 - s));
          }
        }
      } else {
        for (let ch = 0; ch < C; ch++) {
          const i = o + ch;
          const s = sig[i]!;
          gc[i] = gy[i]! * (s + a[i]! * (1 - s));
        }
      }
    }
    if (!wv) return [new Tensor(gc, [B, T, C])];
    const gz = allocate(dtype, n);
    const gw = new Float64Array(C * W);
    const gb = new Float64Array(C);
    const gs = sv ? allocate(dtype, B * P * C) : null;
    const acc = new Float64Array(C);
    for (let b = 0; b < B; b++) {
      // gx̂ row s = Σ_j gc[s−j] w[:,j] over 0 ≤ s−j < T; rows s < P go to the state, the rest to z
      for (let s = 0; s < T + P; s++) {
        acc.fill(0);
        for (let j = 0; j < W; j++) {
          const t = s - j;
          if (t < 0 || t >= T) continue;
          const go = (b * T + t) * C;
          for (let ch = 0; ch < C; ch++) acc[ch] += gc[go + ch]! * wv[ch * W + j]!;
        }
        if (s < P) {
          if (gs) for (let ch = 0; ch < C; ch++) gs[(b * P + s) * C + ch] = acc[ch]!;
        } else {
          const zo = (b * T + s - P) * C;
          for (let ch = 0; ch < C; ch++) gz[zo + ch] = acc[ch]!;
        }
      }
      // gw[:,j] += Σ_t gc[t] x̂[t+j], gbias += Σ_t gc[t]
      for (let t = 0; t < T; t++) {
        const go = (b * T + t) * C;
        for (let ch = 0; ch < C; ch++) gb[ch] += gc[go + ch]!;
        for (let j = 0; j < W; j++) {
          const s = t + j;
          if (s < P) {
            if (!sv) continue;
            const xo = (b * P + s) * C;
            for (let ch = 0; ch < C; ch++) gw[ch * W + j] += gc[go + ch]! * sv[xo + ch]!;
          } else {
            const xo = (b * T + s - P) * C;
            for (let ch = 0; ch < C; ch++) gw[ch * W + j] += gc[go + ch]! * zv[xo + ch]!;
          }
        }
      }
    }
    const grads: Tensor[] = [new Tensor(gz, [B, T, C]), new Tensor(gw, [C, W]).to(dtype)];
    if (conv!.bias) grads.push(new Tensor(gb, [C]).to(dtype));
    if (gs) grads.push(new Tensor(gs, [B, P, C]));
    return grads;
  });
}

/**
 * The conv FIFO after z [B,T,C]: the last W−1 rows of concat(state, z) along time (state zeros when null), as
 * ShortConv keeps it, without copying the whole sequence.
 */
export function convTail(z: Tensor, state: Tensor | null, W: number): Tensor {
  const [B, T, C] = z.shape as [number, number, number];
  const keep = W - 1;
  if (T >= keep) return slice(z, 1, T - keep);
  const prev = state ?? zeros([B, keep, C], { dtype: z.dtype });
  return concat([slice(prev, 1, T), z], 1);
}
