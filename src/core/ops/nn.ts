/**
 * Fused neural-network ops with hand-written backward passes: RMSNorm, LayerNorm, cross-entropy with an
 * ignore index, the SwiGLU gate, causal depthwise conv1d (the short convolution, spec/mixers.md §0.2) and
 * dropout.
 */
import { allocate, allocateForOverwrite, promoteTypes, type FloatArray } from "../dtype.js";
import { sameShape, shapeString, sizeOf } from "../shape.js";
import { isGradEnabled, record } from "../autograd.js";
import { Tensor } from "../tensor.js";
import { mapBinary, mul, silu } from "./elementwise.js";
import { contiguous, type Indices } from "./shape.js";
import { getKernels } from "../../kernels/index.js";
import { rmsNormBackwardRows, rmsNormRows } from "./norm_rows.js";
import { runMap } from "./map_task.js";

function lastAxis(op: string, x: Tensor, weight: Tensor | null, name: string): { rows: number; width: number } {
  if (x.ndim < 1) throw new RangeError(`${op}: x must have at least 1 dimension, got a scalar`);
  const width = x.shape[x.ndim - 1]!;
  if (weight !== null && (weight.ndim !== 1 || weight.shape[0] !== width)) {
    throw new RangeError(`${op}: ${name} must have shape [${width}] like the last axis of x ${shapeString(x.shape)}, got ${shapeString(weight.shape)}`);
  }
  return { rows: width === 0 ? 0 : x.size / width, width };
}

/**
 * RMSNorm over the last axis: y = x · r · w, r = 1/sqrt(mean(x²) + eps).
 * Backward with x̂ = x·r and u = g·w: dx = r·(u − x̂·mean(u·x̂)), dw = Σ_rows g·x̂.
 * One pass per row each way (the row is re-read from cache for its second loop); only r is kept per row.
 * The row loops are in norm_rows.ts (tasks over blocks of rows: both cores when the buffers are the arena's).
 */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps = 1e-5): Tensor {
  const { rows, width } = lastAxis("rmsNorm", x, weight, "weight");
  const xv = x.values();
  const wv = weight === null ? null : weight.values();
  const inv = new Float64Array(rows);
  const out = allocateForOverwrite(x.dtype, x.size);
  rmsNormRows(xv, wv, out, inv, rows, width, eps);
  const y = new Tensor(out, x.shape);
  const inputs = weight ? [x, weight] : [x];
  return record(y, "rmsNorm", inputs, (g) => {
    const gv = g.values();
    const dx = allocateForOverwrite(x.dtype, x.size);
    const dw = rmsNormBackwardRows(xv, gv, wv, inv, dx, rows, width);
    if (dw === null) return [new Tensor(dx, x.shape)];
    const dwOut = allocate(weight!.dtype, width);
    dwOut.set(dw);
    return [new Tensor(dx, x.shape), new Tensor(dwOut, [width])];
  });
}

/**
 * LayerNorm over the last axis (biased variance, as PyTorch): x̂ = (x − μ)·r, r = 1/sqrt(var + eps), y = x̂·w + b.
 * Backward with u = g·w: dx = r·(u − mean(u) − x̂·mean(u·x̂)), dw = Σ g·x̂, db = Σ g.
 */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const { rows, width } = lastAxis("layerNorm", x, weight, "weight");
  lastAxis("layerNorm", x, bias, "bias");
  const xv = x.values();
  const wv = weight?.values();
  const bv = bias?.values();
  const mu = new Float64Array(rows);
  const inv = new Float64Array(rows);
  const out = allocate(x.dtype, x.size);
  for (let r = 0, base = 0; r < rows; r++, base += width) {
    let s = 0;
    for (let j = 0; j < width; j++) s += xv[base + j]!;
    const m = s / width;
    let v = 0;
    for (let j = 0; j < width; j++) v += (xv[base + j]! - m) ** 2;
    const ir = 1 / Math.sqrt(v / width + eps);
    mu[r] = m;
    inv[r] = ir;
    for (let j = 0; j < width; j++) out[base + j] = (xv[base + j]! - m) * ir * (wv ? wv[j]! : 1) + (bv ? bv[j]! : 0);
  }
  const y = new Tensor(out, x.shape);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(y, "layerNorm", inputs, (g) => {
    const gv = g.values();
    const dx = allocate(x.dtype, x.size);
    const dw = new Float64Array(width);
    const db = new Float64Array(width);
    for (let r = 0, base = 0; r < rows; r++, base += width) {
      const ir = inv[r]!;
      const m = mu[r]!;
      let meanU = 0;
      let meanUX = 0;
      for (let j = 0; j < width; j++) {
        const u = gv[base + j]! * (wv ? wv[j]! : 1);
        const xh = (xv[base + j]! - m) * ir;
        meanU += u;
        meanUX += u * xh;
        dw[j] += gv[base + j]! * xh;
        db[j] += gv[base + j]!;
      }
      meanU /= width;
      meanUX /= width;
      for (let j = 0; j < width; j++) {
        const u = gv[base + j]! * (wv ? wv[j]! : 1);
        const xh = (xv[base + j]! - m) * ir;
        dx[base + j] = ir * (u - meanU - xh * meanUX);
      }
    }
    const grads: Tensor[] = [new Tensor(dx, x.shape)];
    if (weight) grads.push(new Tensor(dw, [width]).to(weight.dtype));
    if (bias) grads.push(new Tensor(db, [width]).to(bias.dtype));
    return grads;
  });
}

export interface CrossEntropyOptions {
  /** target value whose positions are skipped (default −100, as PyTorch) */
  ignoreIndex?: number;
}

/**
 * Mean cross-entropy of logits [..., C] against integer targets (targets.shape = logits.shape[:-1]), averaged
 * over the positions whose target is not ignoreIndex. If every position is ignored the loss is 0 with zero
 * gradient (PyTorch gives NaN; a batch with nothing to score should not poison training).
 * Backward: dlogits = (softmax(logits) − onehot(target)) · g / count on scored rows, 0 on ignored rows.
 */
export function crossEntropy(logits: Tensor, targets: Indices | ArrayLike<number>, options: CrossEntropyOptions = {}): Tensor {
  const ignore = options.ignoreIndex ?? -100;
  if (logits.ndim < 1) throw new RangeError("crossEntropy: logits must have at least 1 dimension (classes last)");
  const classes = logits.shape[logits.ndim - 1]!;
  const rows = classes === 0 ? 0 : logits.size / classes;
  const t = "shape" in targets && "data" in targets ? (targets as Indices) : { data: targets as ArrayLike<number>, shape: [targets.length] };
  if (t.data.length !== rows || ("shape" in targets && sizeOf(t.shape) !== rows)) {
    throw new RangeError(`crossEntropy: targets must have ${rows} entries (logits ${shapeString(logits.shape)} without the class axis), got ${t.data.length}`);
  }
  const lv = logits.values();
  for (let r = 0; r < rows; r++) {
    const target = t.data[r]!;
    if (target !== ignore && (!Number.isInteger(target) || target < 0 || target >= classes)) {
      throw new RangeError(`crossEntropy: target ${target} at position ${r} is not a class index in 0..${classes - 1} (or the ignore index ${ignore})`);
    }
  }
  // One softmax pass of the kernel backend gives every row's probabilities and log-sum-exp (one exp per
  // logit). The probabilities are kept for the backward when a gradient may be asked (a second backward
  // through a retained graph recomputes them); loss_r = logsumexp_r − logit_r[target].
  const lse = new Float64Array(rows);
  let probs: FloatArray | null = allocateForOverwrite(logits.dtype, logits.size);
  getKernels().softmaxRows(lv, probs, rows, classes, lse);
  if (!(isGradEnabled() && logits.requiresGrad)) probs = null;
  let total = 0;
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const target = t.data[r]!;
    if (target === ignore) continue;
    total += lse[r]! - lv[r * classes + target]!;
    count++;
  }
  const out = allocate(logits.dtype, 1);
  out[0] = count === 0 ? 0 : total / count;
  const y = new Tensor(out, []);
  return record(y, "crossEntropy", [logits], (g) => {
    const scale = count === 0 ? 0 : g.item() / count;
    let dx = probs;
    probs = null;
    if (dx === null) {
      dx = allocate(logits.dtype, logits.size);
      getKernels().softmaxRows(lv, dx, rows, classes);
    }
    for (let r = 0; r < rows; r++) {
      const target = t.data[r]!;
      const base = r * classes;
      if (target === ignore) {
        dx.fill(0, base, base + classes);
        continue;
      }
      for (let c = base; c < base + classes; c++) dx[c] = dx[c]! * scale;
      dx[base + target] -= scale;
    }
    return [new Tensor(dx, logits.shape)];
  });
}

/**
 * The SwiGLU gate silu(gate) ⊙ up = gate·σ(gate)·up in one pass, with one hand-written backward: with
 * s = σ(gate) (kept from the forward), dgate = g·up·s·(1 + gate·(1 − s)) and dup = g·gate·s.
 * Operands of different shapes fall back to the composition mul(silu(gate), up) (NumPy broadcasting).
 */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  if (!sameShape(gate.shape, up.shape)) return mul(silu(gate), up);
  const dtype = promoteTypes(gate.dtype, up.dtype);
  const av = gate.values();
  const uv = up.values();
  const n = gate.size;
  const out = allocateForOverwrite(dtype, n);
  if (!(isGradEnabled() && (gate.requiresGrad || up.requiresGrad))) {
    swigluForward(av, uv, out, null, n);
    return new Tensor(out, gate.shape);
  }
  const sig = allocateForOverwrite(dtype, n);
  swigluForward(av, uv, out, sig, n);
  return record(new Tensor(out, gate.shape), "swiglu", [gate, up], (g) => {
    const gv = g.values();
    const dgate = gate.requiresGrad ? allocateForOverwrite(gate.dtype, n) : null;
    const dup = up.requiresGrad ? allocateForOverwrite(up.dtype, n) : null;
    const at = (data: FloatArray | null) => data && { data, offset: 0 };
    runMap("swigluGrad", [at(gv)!, at(av)!, at(uv)!, at(sig)!], [at(dgate), at(dup)], n);
    return [dgate === null ? null : new Tensor(dgate, gate.shape), dup === null ? null : new Tensor(dup, up.shape)];
  });
}

/** out = a·σ(a)·u elementwise, σ(a) into sig when given (the kernel backend's "swiglu" map). */
function swigluForward(av: FloatArray, uv: FloatArray, out: FloatArray, sig: FloatArray | null, n: number): void {
  runMap("swiglu", [{ data: av, offset: 0 }, { data: uv, offset: 0 }], [{ data: out, offset: 0 }, sig && { data: sig, offset: 0 }], n);
}

/**
 * Causal depthwise conv1d over time (spec/mixers.md §0.2): x [B,T,C], weight [C,W], bias [C] or null,
 * y[b,t,c] = bias[c] + Σ_{j<W} weight[c,j] · x̂[b, t+j, c] where x̂ = concat(initialState, x) along time and
 * initialState [B, W−1, C] holds the previous W−1 inputs (zeros when omitted). No activation is applied.
 */
export function causalConv1d(x: Tensor, weight: Tensor, bias: Tensor | null = null, initialState: Tensor | null = null): Tensor {
  if (x.ndim !== 3) throw new RangeError(`causalConv1d: x must have shape [B,T,C], got ${shapeString(x.shape)}`);
  const [B, T, C] = x.shape as [number, number, number];
  if (weight.ndim !== 2 || weight.shape[0] !== C || weight.shape[1]! < 1) {
    throw new RangeError(`causalConv1d: weight must have shape [${C},W] with W ≥ 1, got ${shapeString(weight.shape)}`);
  }
  const W = weight.shape[1]!;
  if (bias !== null && (bias.ndim !== 1 || bias.shape[0] !== C)) throw new RangeError(`causalConv1d: bias must have shape [${C}], got ${shapeString(bias.shape)}`);
  if (initialState !== null && (initialState.ndim !== 3 || initialState.shape[0] !== B || initialState.shape[1] !== W - 1 || initialState.shape[2] !== C)) {
    throw new RangeError(`causalConv1d: initialState must have shape [${B},${W - 1},${C}], got ${shapeString(initialState.shape)}`);
  }
  const xv = contiguous(x.detach()).values();
  const sv = initialState ? contiguous(initialState.detach()).values() : null;
  const wv = weight.values();
  const bv = bias?.values();
  const P = W - 1;
  // the taps transposed to [W, C] so that every loop below runs along channels (contiguous in x and y)
  const wt = new Float64Array(W * C);
  for (let c = 0; c < C; c++) for (let j = 0; j < W; j++) wt[j * C + c] = wv[c * W + j]!;
  // start of row s of the padded input x̂[b] (s < P: the initial state, else x), as [data, offset]
  const rowOf = (b: number, s: number): [FloatArray | null, number] =>
    s < P ? [sv, (b * P + s) * C] : [xv, (b * T + s - P) * C];
  const out = allocate(x.dtype, B * T * C);
  const acc = new Float64Array(C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      if (bv) for (let c = 0; c < C; c++) acc[c] = bv[c]!;
      else acc.fill(0);
      for (let j = 0; j < W; j++) {
        const [src, p] = rowOf(b, t + j);
        if (src === null) continue; // zero history
        const wo = j * C;
        for (let c = 0; c < C; c++) acc[c] += wt[wo + c]! * src[p + c]!;
      }
      out.set(acc, (b * T + t) * C);
    }
  }
  const y = new Tensor(out, x.shape);
  const inputs = [x, weight, ...(bias ? [bias] : []), ...(initialState ? [initialState] : [])];
  return record(y, "causalConv1d", inputs, (g) => {
    const gv = g.values();
    const dwt = new Float64Array(W * C);
    const db = new Float64Array(C);
    const dx = allocate(x.dtype, B * T * C);
    const ds = allocate(x.dtype, B * P * C);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const o = (b * T + t) * C;
        for (let c = 0; c < C; c++) db[c] += gv[o + c]!;
        for (let j = 0; j < W; j++) {
          const [src, p] = rowOf(b, t + j);
          if (src === null) continue;
          const wo = j * C;
          for (let c = 0; c < C; c++) dwt[wo + c] += gv[o + c]! * src[p + c]!;
        }
      }
      // dx̂[b, s] = Σ_j g[b, s − j] · w[:, j] over the outputs that read x̂[b, s], in increasing output time
      for (let s = 0; s < T + P; s++) {
        acc.fill(0);
        for (let j = Math.min(W - 1, s); j >= 0 && s - j < T; j--) {
          const o = (b * T + s - j) * C;
          const wo = j * C;
          for (let c = 0; c < C; c++) acc[c] += gv[o + c]! * wt[wo + c]!;
        }
        if (s < P) ds.set(acc, (b * P + s) * C);
        else dx.set(acc, (b * T + s - P) * C);
      }
    }
    const dw = allocate(weight.dtype, C * W);
    for (let c = 0; c < C; c++) for (let j = 0; j < W; j++) dw[c * W + j] = dwt[j * C + c]!;
    const grads: Tensor[] = [new Tensor(dx, x.shape), new Tensor(dw, [C, W])];
    if (bias) grads.push(new Tensor(db, [C]).to(bias.dtype));
    if (initialState) grads.push(new Tensor(ds, initialState.shape).to(initialState.dtype));
    return grads;
  });
}

/** Anything with a uniform() in [0, 1): the library's seeded Random. */
export interface UniformSource {
  uniform(): number;
}

/** Inverted dropout: zero each element with probability p, scale the rest by 1/(1−p). Identity when not training. */
export function dropout(x: Tensor, p: number, rng: UniformSource, training = true): Tensor {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  const keep = 1 / (1 - p);
  const mask = new Tensor(allocate(x.dtype, x.size).map(() => (rng.uniform() < p ? 0 : keep)), x.shape);
  const y = mapBinary("dropout", x, mask, (a, m) => a * m);
  return record(y, "dropout", [x], (g) => [mapBinary("dropout", g, mask, (a, m) => a * m)]);
}
