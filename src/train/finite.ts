/**
 * Finding NaN / ±Inf in gradients before they reach the parameters. One NaN in a gradient turns the Adam
 * moments, and then the parameter, into NaN for good, so a training loop should stop (or skip the step) and
 * say where it came from.
 */
import type { Tensor } from "../core/tensor.js";
import { shapeString } from "../core/shape.js";

/** Index of the first NaN or ±Inf in `values`, or -1 when every element is finite. */
export function firstNonFinite(values: ArrayLike<number>): number {
  // x * 0 is 0 for every finite x and NaN for NaN and ±Inf, so one branch-free pass tells whether to look closer.
  let probe = 0;
  const n = values.length;
  for (let i = 0; i < n; i++) probe += values[i]! * 0;
  if (probe === 0) return -1;
  for (let i = 0; i < n; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/** Row-major multi-index of flat element `flat` in `shape`. */
export function unravelIndex(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  let rest = flat;
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    index[d] = rest % n;
    rest = Math.floor(rest / n);
  }
  return index;
}

/** A gradient holds NaN or ±Inf. `paramName` says whose, `index` which element (flat, row-major). */
export class NonFiniteGradError extends Error {
  override name = "NonFiniteGradError";
  constructor(
    readonly paramName: string,
    readonly index: number,
    readonly position: readonly number[],
    readonly value: number,
    readonly shape: readonly number[],
    context = "",
  ) {
    super(
      `${context}non-finite gradient for ${paramName}: grad[${position.join(", ")}] = ${value} ` +
        `(element ${index} of shape ${shapeString(shape)})`,
    );
  }
}

/**
 * Checks one parameter's gradient; throws NonFiniteGradError naming `label` when it holds NaN or ±Inf.
 * A parameter without a gradient passes.
 */
export function checkFiniteGrad(label: string, param: Tensor, context = ""): void {
  const grad = param.grad;
  if (grad === null) return;
  const values = grad.values();
  const i = firstNonFinite(values);
  if (i >= 0) throw new NonFiniteGradError(label, i, unravelIndex(i, grad.shape), values[i]!, grad.shape, context);
}

/**
 * Throws a NonFiniteGradError naming the first parameter (in the given order) whose gradient holds NaN or ±Inf,
 * and the element. Parameters with `grad === null` are skipped. Takes `module.namedParameters()` directly.
 */
export function assertFiniteGrads(namedParams: Iterable<readonly [string, Tensor]>): void {
  for (const [name, param] of namedParams) checkFiniteGrad(`'${name}'`, param);
}

/** true when every gradient present is finite (for loops that skip a step instead of stopping). */
export function gradsAreFinite(params: Iterable<Tensor>): boolean {
  for (const p of params) {
    if (p.grad !== null && firstNonFinite(p.grad.values()) >= 0) return false;
  }
  return true;
}
