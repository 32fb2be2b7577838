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
import { allocate, type FloatArray } from "../core/dtype.js";
import { concat, contiguous, slice } from "../core/ops/shape.js";
import { Tensor } from "../core/tensor.js";
import { zeros } from "../core/create.js";
import { getKernels } from "../kernels/index.js";
import { defineTask, runTask } from "../kernels/parallel.js";

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
  const rows = B * T;
  // saved for backward: a = SiLU(c), σ(c), and r per (row, head)
  const a = allocate(dtype, n);
  const sig = allocate(dtype, n);
  const heads = normWidth > 0 ? C / normWidth : 0;
  const rinv = normWidth > 0 ? (allocate("f64", rows * heads) as Float64Array) : null;
  const y = rinv ? allocate(dtype, n) : a;
  const shape = [B, T, C, W, normWidth];
  runTask(forwardTask, {
    units: B,
    work: n * (2 * W + 12),
    args: shape,
    inputs: [zv, orEmpty(sv, zv), orEmpty(wv, zv), orEmpty(bv, zv)],
    outputs: [a, sig, rinv ? y : orEmpty(null, zv), rinv ?? new Float64Array(0)],
    memoryBound: true,
  });
  const out = new Tensor(y, [B, T, C]);
  const inputs = [z, ...(conv ? [conv.weight] : []), ...(conv?.bias ? [conv.bias] : []), ...(conv?.state ? [conv.state] : [])];
  return record(out, "convSiluNorm", inputs, (g) => {
    const gc = allocate(dtype, n);
    gc.set(contiguous(g).values());
    const gz = wv ? allocate(dtype, n) : orEmpty(null, zv);
    const gs = wv && sv ? allocate(dtype, B * P * C) : orEmpty(null, zv);
    // the weight and bias gradients as one f64 partial sum per batch row, added up in order below
    const gwParts = new Float64Array(wv ? B * C * W : 0);
    const gbParts = new Float64Array(wv ? B * C : 0);
    runTask(backwardTask, {
      units: B,
      work: n * (4 * W + 12),
      args: shape,
      inputs: [a, sig, rinv ?? new Float64Array(0), zv, orEmpty(sv, zv), orEmpty(wv, zv)],
      outputs: [gc, gz, gs, gwParts, gbParts],
      memoryBound: true,
    });
    if (!wv) return [new Tensor(gc, [B, T, C])];
    const gw = sumRows(gwParts, B, C * W);
    const gb = sumRows(gbParts, B, C);
    const grads: Tensor[] = [new Tensor(gz, [B, T, C]), new Tensor(gw, [C, W]).to(dtype)];
    if (conv!.bias) grads.push(new Tensor(gb, [C]).to(dtype));
    if (sv) grads.push(new Tensor(gs, [B, P, C]));
    return grads;
  });
}

const orEmpty = (x: FloatArray | null, like: FloatArray): FloatArray => x ?? (like instanceof Float64Array ? new Float64Array(0) : new Float32Array(0));
const orNull = (x: FloatArray): FloatArray | null => (x.length === 0 ? null : x);

/** Σ over the leading axis of a [count, width] array, in order (f64). */
function sumRows(parts: Float64Array, count: number, width: number): Float64Array {
  const out = new Float64Array(width);
  for (let i = 0; i < count; i++) for (let j = 0; j < width; j++) out[j] += parts[i * width + j]!;
  return out;
}

/**
 * Forward task, one unit per batch row b (rows never meet): conv (or copy), SiLU keeping σ, L2 norm per head.
 * Buffers: z, state, weight, bias (absent: empty) → a, σ, y (empty without a norm: y is a), rinv (f64).
 * Args: B, T, C, W, normWidth.
 */
const forwardTask = defineTask("layers.convSiluNorm.forward", (buffers, args, next) => {
  const [zv, svB, wvB, bvB, a, sig, y, rinv] = buffers as [FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, Float64Array];
  const [, T, C, W, normWidth] = args as [number, number, number, number, number];
  const [sv, wv, bv] = [svB, wvB, bvB].map(orNull);
  const len = T * C;
  const groups = normWidth > 0 ? T * (C / normWidth) : 0;
  for (let b = next(); b >= 0; b = next()) {
    const off = b * len;
    if (wv) convForward(zv, sv, wv, bv, a, b, T, C, W);
    else a.set(zv.subarray(off, off + len), off);
    siluInPlace(a.subarray(off, off + len), sig.subarray(off, off + len), len);
    if (groups > 0) normForward(a.subarray(off, off + len), y.subarray(off, off + len), rinv.subarray(b * groups, (b + 1) * groups), groups, normWidth);
  }
});

/**
 * Backward task, one unit per batch row b: the norm's and SiLU's backward in place on gc, then the conv's
 * backward into gz, gs and this row's partial sums of gw and gbias. Buffers: a, σ, rinv (empty without a
 * norm), z, state, weight (absent: empty) → gc, gz, gs, gwParts [B,C·W], gbParts [B,C] (empty without a conv).
 */
const backwardTask = defineTask("layers.convSiluNorm.backward", (buffers, args, next) => {
  const [a, sig, rinv, zv, svB, wvB, gc, gz, gsB, gwParts, gbParts] =
    buffers as [FloatArray, FloatArray, Float64Array, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, Float64Array, Float64Array];
  const [, T, C, W, normWidth] = args as [number, number, number, number, number];
  const [sv, wv, gs] = [svB, wvB, gsB].map(orNull);
  const len = T * C;
  const groups = normWidth > 0 ? T * (C / normWidth) : 0;
  for (let b = next(); b >= 0; b = next()) {
    const off = b * len;
    const gcb = gc.subarray(off, off + len);
    if (groups > 0) normBackward(a.subarray(off, off + len), gcb, rinv.subarray(b * groups, (b + 1) * groups), groups, normWidth);
    siluBackward(a.subarray(off, off + len), sig.subarray(off, off + len), gcb, len);
    if (wv) convBackward(gc, zv, sv, wv, gz, gs, gwParts.subarray(b * C * W, (b + 1) * C * W), gbParts.subarray(b * C, (b + 1) * C), b, T, C, W);
  }
});

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

/** a ← SiLU(a) = a·σ(a), keeping σ in `sig` (σ by the kernel backend's map). */
function siluInPlace(a: FloatArray, sig: FloatArray, n: number): void {
  getKernels().map("sigmoid", [{ data: a, offset: 0 }], [{ data: sig, offset: 0 }], n);
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
