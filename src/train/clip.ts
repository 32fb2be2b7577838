/**
 * Gradient-norm clipping with the semantics of torch.nn.utils.clip_grad_norm_: the norm is taken over all
 * gradients together (as if concatenated into one vector), and when it is too large every gradient is scaled
 * by maxNorm / (total + 1e-6). Norms are accumulated in float64 whatever the gradients' dtype.
 */
import { Tensor } from "../core/tensor.js";
import { firstNonFinite } from "./finite.js";
import { describe } from "./validate.js";

export interface ClipGradNormOptions {
  /** throw when the total norm is NaN or ±Inf (default false, as in PyTorch) */
  errorIfNonfinite?: boolean;
}

function checkNormType(owner: string, normType: unknown): number {
  if (typeof normType !== "number" || !(normType > 0)) {
    throw new RangeError(`${owner}: normType must be a number > 0 or Infinity, got ${describe(normType)}`);
  }
  return normType;
}

/** The distinct parameters that have a gradient. */
function withGrads(params: Iterable<Tensor>): Tensor[] {
  return [...new Set(params)].filter((p) => p.grad !== null);
}

function normOf(params: readonly Tensor[], normType: number): number {
  if (normType === Infinity) {
    let max = 0;
    for (const p of params) {
      const g = p.grad!.values();
      for (let i = 0; i < g.length; i++) {
        const a = Math.abs(g[i]!);
        if (a > max) max = a;
        else if (a !== a) return NaN; // NaN compares false with everything
      }
    }
    return max;
  }
  let acc = 0;
  for (const p of params) {
    const g = p.grad!.values();
    if (normType === 2) for (let i = 0; i < g.length; i++) acc += g[i]! * g[i]!;
    else if (normType === 1) for (let i = 0; i < g.length; i++) acc += Math.abs(g[i]!);
    else for (let i = 0; i < g.length; i++) acc += Math.abs(g[i]!) ** normType;
  }
  return normType === 1 ? acc : acc ** (1 / normType);
}

/**
 * The total `normType`-norm (default 2; Infinity for the largest |g|) of the gradients of `params`, without
 * changing them. Parameters without a gradient are ignored; with none at all the norm is 0.
 */
export function gradNorm(params: Iterable<Tensor>, normType = 2): number {
  return normOf(withGrads(params), checkNormType("gradNorm", normType));
}

/**
 * Scales the gradients of `params` in place so that their total norm is at most `maxNorm`, and returns the total
 * norm from before clipping (log it: it is the best single signal of training health).
 *
 * As in PyTorch the factor is maxNorm / (total + 1e-6), applied when it is below 1 (so a total just under maxNorm,
 * within 1e-6, is scaled by a hair too). Unlike PyTorch, a non-finite total leaves the gradients untouched
 * (PyTorch would multiply them by NaN or 0); the returned NaN / Infinity tells the loop to skip the step, and
 * assertFiniteGrads can still say where the bad value is. With `errorIfNonfinite` it throws instead, naming the
 * first parameter (by position in `params`) whose gradient is not finite.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number, normType = 2, options: ClipGradNormOptions = {}): number {
  if (typeof maxNorm !== "number" || !(maxNorm > 0)) {
    throw new RangeError(`clipGradNorm: maxNorm must be a number > 0, got ${describe(maxNorm)}`);
  }
  checkNormType("clipGradNorm", normType);
  const list = [...params];
  const grads = withGrads(list);
  const total = normOf(grads, normType);
  if (!Number.isFinite(total)) {
    if (options.errorIfNonfinite) {
      const bad = list.findIndex((p) => p.grad !== null && firstNonFinite(p.grad.values()) >= 0);
      const culprit = bad >= 0 ? `parameter ${bad} has a non-finite gradient` : "the gradients are finite but their norm overflows";
      throw new RangeError(`clipGradNorm: the total ${normType}-norm of the gradients is ${total} (${culprit})`);
    }
    return total;
  }
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1) {
    for (const p of grads) {
      const g = p.grad!;
      // values() of a contiguous gradient is a view of its storage, so this scales it in place; a strided
      // (possibly broadcast) gradient set by hand gives a copy, which replaces it.
      const v = g.values();
      for (let i = 0; i < v.length; i++) v[i] *= coef;
      if (!g.isContiguous()) p.grad = new Tensor(v, g.shape);
    }
  }
  return total;
}
