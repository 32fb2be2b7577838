/**
 * AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization") with the semantics of PyTorch's
 * torch.optim.AdamW (amsgrad = False, maximize = False, the plain for-loop implementation). Per parameter p
 * with gradient g, at its t-th step (t counts only the steps where p had a gradient):
 *
 *   p ← p · (1 − lr·wd)                                   decoupled weight decay, before the Adam update
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 *
 * ε is added after the bias correction of √v, as PyTorch does. The moments are kept in the parameter's dtype,
 * and every intermediate that PyTorch stores (decayed p, m, v, p) is stored here too, so f32 parameters are
 * rounded at the same points. Parameters whose `grad` is null are skipped and their step count does not
 * advance. Before touching anything, `step()` checks every gradient (shape, and by default NaN / ±Inf) so that
 * a bad gradient is an error that names the parameter instead of a silently corrupted model.
 */
import type { Tensor } from "../core/tensor.js";
import { outsideArena } from "../core/arena.js";
import { allocate, type DType, type FloatArray } from "../core/dtype.js";
import { sameShape, shapeString } from "../core/shape.js";
import { checkFiniteGrad } from "./finite.js";
import { checkKnownKeys, describe, requireNonNegative, requireNonNegativeInt } from "./validate.js";

const OWNER = "AdamW";

/** The hyperparameters of one parameter group. */
export interface AdamWHyperparams {
  /** learning rate, >= 0 (default 1e-3) */
  lr: number;
  /** decay rates of the first and second moment estimates, each in [0, 1) (default [0.9, 0.999]) */
  betas: readonly [number, number];
  /** added to the bias-corrected √v, >= 0 (default 1e-8) */
  eps: number;
  /** decoupled weight decay coefficient, >= 0 (default 0.01, as in PyTorch) */
  weightDecay: number;
}

export interface AdamWOptions extends Partial<AdamWHyperparams> {
  /** check every gradient for NaN / ±Inf before a step and throw naming the parameter (default true) */
  checkFinite?: boolean;
}

/** A set of parameters with its own hyperparameters; what it leaves out comes from the optimizer's options. */
export interface AdamWParamGroup extends Partial<AdamWHyperparams> {
  params: Iterable<Tensor>;
}

/** The optimizer state of one parameter. */
export interface AdamWParamState {
  /** number of updates applied to this parameter */
  step: number;
  /** first moment m, in the parameter's dtype */
  expAvg: FloatArray;
  /** second moment v, in the parameter's dtype */
  expAvgSq: FloatArray;
}

/**
 * A snapshot of the optimizer: plain JSON-able values plus typed arrays (which may also be given back as plain
 * number arrays, e.g. after a JSON round trip). `state[k]` belongs to the k-th parameter counting through the
 * groups in order (PyTorch's numbering), null when it has not been updated yet.
 */
export interface AdamWStateDict {
  format: "seqmix.AdamW";
  version: 1;
  groups: Array<{ lr: number; betas: [number, number]; eps: number; weightDecay: number; params: number[] }>;
  state: Array<{ step: number; shape: number[]; dtype: DType; expAvg: FloatArray; expAvgSq: FloatArray } | null>;
}

interface Group {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  params: Tensor[];
}

const OPTION_KEYS = ["lr", "betas", "eps", "weightDecay", "checkFinite"] as const;
const GROUP_KEYS = ["params", "lr", "betas", "eps", "weightDecay"] as const;

function checkBetas(where: string, value: unknown): [number, number] {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new RangeError(`${where}betas must be a pair [beta1, beta2], got ${describe(value)}`);
  }
  value.forEach((b: unknown, i) => {
    if (typeof b !== "number" || !(b >= 0 && b < 1)) {
      throw new RangeError(`${where}betas[${i}] must be in [0, 1), got ${describe(b)}`);
    }
  });
  return [value[0] as number, value[1] as number];
}

/** Validates the hyperparameters present in `h` (the others keep `base`). `where` prefixes the error. */
function resolveHyper(where: string, h: Partial<AdamWHyperparams>, base: Omit<Group, "params">): Omit<Group, "params"> {
  const out = { ...base };
  if (h.lr !== undefined) out.lr = requireNonNegative(where, "lr", h.lr);
  if (h.eps !== undefined) out.eps = requireNonNegative(where, "eps", h.eps);
  if (h.weightDecay !== undefined) out.weightDecay = requireNonNegative(where, "weightDecay", h.weightDecay);
  if (h.betas !== undefined) [out.beta1, out.beta2] = checkBetas(`${where}: `, h.betas);
  return out;
}

function isTensorLike(x: unknown): x is Tensor {
  return typeof x === "object" && x !== null && "data" in x && "shape" in x && "strides" in x;
}

export class AdamW {
  readonly #groups: Group[] = [];
  readonly #state = new Map<Tensor, AdamWParamState>();
  readonly #checkFinite: boolean;

  /**
   * `params` is a list of parameters (one group) or a list of groups, e.g. to exempt norms, biases and
   * embeddings from weight decay: `[{ params: matrices }, { params: others, weightDecay: 0 }]`.
   * Parameters must be leaves that own contiguous storage (as nn.Module parameters do), each in one group only.
   */
  constructor(params: Iterable<Tensor> | Iterable<AdamWParamGroup>, options: AdamWOptions = {}) {
    if (typeof options !== "object" || options === null) throw new TypeError(`${OWNER}: options must be an object, got ${describe(options)}`);
    checkKnownKeys(OWNER, "option", options, OPTION_KEYS);
    if (options.checkFinite !== undefined && typeof options.checkFinite !== "boolean") {
      throw new TypeError(`${OWNER}: checkFinite must be a boolean, got ${describe(options.checkFinite)}`);
    }
    this.#checkFinite = options.checkFinite ?? true;
    const defaults = resolveHyper(OWNER, options, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });

    const items = [...params] as unknown[];
    const asGroups: AdamWParamGroup[] = items.length > 0 && !isTensorLike(items[0])
      ? (items as AdamWParamGroup[])
      : [{ params: items as Tensor[] }];
    const seen = new Map<Tensor, string>();
    asGroups.forEach((g, gi) => {
      const where = `${OWNER}: param group ${gi}`;
      if (typeof g !== "object" || g === null || isTensorLike(g) || !("params" in g)) {
        throw new TypeError(`${OWNER}: expected a list of tensors or a list of { params, ... } groups; entry ${gi} is neither`);
      }
      checkKnownKeys(where, "group option", g, GROUP_KEYS);
      const list = [...g.params];
      list.forEach((p, pi) => {
        const label = `${where}, parameter ${pi}`;
        if (!isTensorLike(p)) throw new TypeError(`${label}: expected a Tensor, got ${describe(p)}`);
        if (!p.isLeaf) throw new Error(`${label}: can't optimize a non-leaf tensor (computed by ${p.node?.op})`);
        if (p.offset !== 0 || p.data.length !== p.size || !p.isContiguous()) {
          throw new Error(`${label}: the optimizer updates storage in place, so a parameter must own contiguous storage (got a view of shape ${shapeString(p.shape)})`);
        }
        const before = seen.get(p);
        if (before !== undefined) throw new Error(`${label} is the same tensor as ${before}; each parameter may appear once`);
        seen.set(p, `param group ${gi}, parameter ${pi}`);
      });
      this.#groups.push({ ...resolveHyper(where, g, defaults), params: list });
    });
    if (seen.size === 0) throw new Error(`${OWNER}: got an empty parameter list`);
  }

  /** All parameters, group by group (the numbering used in errors and in stateDict). */
  get params(): Tensor[] {
    return this.#groups.flatMap((g) => g.params);
  }

  get numGroups(): number {
    return this.#groups.length;
  }

  /** The hyperparameters and parameters of group `i` (a copy). */
  group(i: number): AdamWHyperparams & { params: Tensor[] } {
    const g = this.#group(i);
    return { lr: g.lr, betas: [g.beta1, g.beta2], eps: g.eps, weightDecay: g.weightDecay, params: [...g.params] };
  }

  getLr(group = 0): number {
    return this.#group(group).lr;
  }

  /** Sets the learning rate of every group, or of one group when `group` is given (e.g. from a schedule). */
  setLr(lr: number, group?: number): void {
    const value = requireNonNegative(`${OWNER}.setLr`, "lr", lr);
    if (group === undefined) for (const g of this.#groups) g.lr = value;
    else this.#group(group).lr = value;
  }

  /** Changes any hyperparameter of group `i` (validated like the constructor's options). */
  setGroupOptions(i: number, options: Partial<AdamWHyperparams>): void {
    const g = this.#group(i);
    const where = `${OWNER}.setGroupOptions: param group ${i}`;
    checkKnownKeys(where, "option", options, GROUP_KEYS.filter((k) => k !== "params"));
    Object.assign(g, resolveHyper(where, options, g));
  }

  /** The state of `param` (live arrays, not copies), or undefined before its first update. */
  getState(param: Tensor): Readonly<AdamWParamState> | undefined {
    return this.#state.get(param);
  }

  /** Drops every gradient (`grad = null`, like PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const g of this.#groups) for (const p of g.params) p.grad = null;
  }

  /** One AdamW update of every parameter that has a gradient. */
  step(): void {
    // Check everything first, so that an error leaves parameters and state exactly as they were.
    let k = 0;
    for (const [gi, g] of this.#groups.entries()) {
      for (const [pi, p] of g.params.entries()) {
        if (p.grad !== null) {
          const label = `parameter ${k} (param group ${gi}, index ${pi})`;
          if (!sameShape(p.grad.shape, p.shape)) {
            throw new RangeError(`${OWNER}.step: ${label} has a gradient of shape ${shapeString(p.grad.shape)}, expected ${shapeString(p.shape)}`);
          }
          if (this.#checkFinite) checkFiniteGrad(label, p, `${OWNER}.step: `);
        }
        k++;
      }
    }
    for (const g of this.#groups) {
      for (const p of g.params) {
        if (p.grad === null) continue;
        let st = this.#state.get(p);
        if (st === undefined) {
          st = outsideArena(() => ({ step: 0, expAvg: allocate(p.dtype, p.size), expAvgSq: allocate(p.dtype, p.size) }));
          this.#state.set(p, st);
        }
        st.step += 1;
        updateOne(p.data, p.grad.values(), st, g);
      }
    }
  }

  /** A snapshot of hyperparameters and state (copied, so later steps do not change it). */
  stateDict(): AdamWStateDict {
    let k = 0;
    const groups = this.#groups.map((g) => ({
      lr: g.lr,
      betas: [g.beta1, g.beta2] as [number, number],
      eps: g.eps,
      weightDecay: g.weightDecay,
      params: g.params.map(() => k++),
    }));
    const state = this.params.map((p) => {
      const st = this.#state.get(p);
      if (st === undefined) return null;
      return { step: st.step, shape: [...p.shape], dtype: p.dtype, expAvg: st.expAvg.slice(), expAvgSq: st.expAvgSq.slice() };
    });
    return { format: "seqmix.AdamW", version: 1, groups, state };
  }

  /**
   * Restores a snapshot taken from an optimizer over parameters of the same shapes in the same groups (typically
   * the same model after a restart): hyperparameters per group, step counts and moments (converted to each
   * parameter's dtype). Everything is validated before anything changes; errors name the parameter index.
   */
  loadStateDict(sd: AdamWStateDict): void {
    const where = `${OWNER}.loadStateDict`;
    if (typeof sd !== "object" || sd === null) throw new TypeError(`${where}: expected a state dict object, got ${describe(sd)}`);
    if (sd.format !== "seqmix.AdamW" || sd.version !== 1) {
      throw new Error(`${where}: expected format "seqmix.AdamW" version 1, got format ${describe(sd.format)} version ${describe(sd.version)}`);
    }
    if (!Array.isArray(sd.groups) || sd.groups.length !== this.#groups.length) {
      throw new Error(`${where}: the state dict has ${Array.isArray(sd.groups) ? sd.groups.length : describe(sd.groups)} param groups, the optimizer has ${this.#groups.length}`);
    }
    const params = this.params;
    let k = 0;
    const hypers = sd.groups.map((sg, gi) => {
      const g = this.#groups[gi]!;
      const gw = `${where}: param group ${gi}`;
      if (typeof sg !== "object" || sg === null || !Array.isArray(sg.params)) throw new TypeError(`${gw}: expected { lr, betas, eps, weightDecay, params }, got ${describe(sg)}`);
      if (sg.params.length !== g.params.length) {
        throw new Error(`${gw} has ${sg.params.length} parameters in the state dict but ${g.params.length} in the optimizer`);
      }
      sg.params.forEach((idx, pi) => {
        if (idx !== k + pi) throw new Error(`${gw}: parameter ${pi} has index ${describe(idx)} in the state dict, expected ${k + pi}`);
      });
      k += g.params.length;
      for (const key of ["lr", "betas", "eps", "weightDecay"] as const) {
        if (sg[key] === undefined) throw new Error(`${gw}: missing ${key}`);
      }
      return resolveHyper(gw, sg, g);
    });
    if (!Array.isArray(sd.state) || sd.state.length !== params.length) {
      throw new Error(`${where}: the state dict has state for ${Array.isArray(sd.state) ? sd.state.length : describe(sd.state)} parameters, the optimizer has ${params.length}`);
    }
    const states = sd.state.map((s, i) => {
      if (s === null || s === undefined) return null;
      const p = params[i]!;
      const pw = `${where}: parameter ${i}`;
      if (typeof s !== "object") throw new TypeError(`${pw}: expected { step, shape, expAvg, expAvgSq } or null, got ${describe(s)}`);
      const step = requireNonNegativeInt(pw, "step", s.step);
      if (!Array.isArray(s.shape) || !sameShape(s.shape, p.shape)) {
        throw new RangeError(`${pw}: the state dict has shape ${Array.isArray(s.shape) ? shapeString(s.shape) : describe(s.shape)}, the parameter has shape ${shapeString(p.shape)}`);
      }
      const moment = (name: "expAvg" | "expAvgSq"): FloatArray => {
        const src: unknown = s[name];
        const ok = src instanceof Float32Array || src instanceof Float64Array || (Array.isArray(src) && src.every((x) => typeof x === "number"));
        if (!ok) throw new TypeError(`${pw}: ${name} must be a Float32Array, Float64Array or number[]`);
        const values = src as ArrayLike<number>;
        if (values.length !== p.size) throw new RangeError(`${pw}: ${name} has ${values.length} elements, the parameter of shape ${shapeString(p.shape)} has ${p.size}`);
        const out = allocate(p.dtype, p.size);
        out.set(values);
        return out;
      };
      return { step, expAvg: moment("expAvg"), expAvgSq: moment("expAvgSq") };
    });
    // All valid: apply.
    hypers.forEach((h, gi) => Object.assign(this.#groups[gi]!, h));
    this.#state.clear();
    states.forEach((st, i) => {
      if (st !== null) this.#state.set(params[i]!, st);
    });
  }

  #group(i: number): Group {
    const g = this.#groups[i];
    if (!Number.isInteger(i) || g === undefined) throw new RangeError(`${OWNER}: param group ${i} does not exist (there are ${this.#groups.length})`);
    return g;
  }
}

/** The update of one parameter (its step count already advanced), element by element. */
function updateOne(p: FloatArray, g: FloatArray, st: AdamWParamState, h: Group): void {
  const { lr, beta1, beta2, eps, weightDecay } = h;
  const m = st.expAvg;
  const v = st.expAvgSq;
  const t = st.step;
  const stepSize = lr / (1 - beta1 ** t);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
  const n = p.length;
  if (weightDecay !== 0) {
    const keep = 1 - lr * weightDecay;
    for (let i = 0; i < n; i++) p[i] *= keep;
  }
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    m[i] = beta1 * m[i]! + (1 - beta1) * gi;
    v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
    p[i] -= (stepSize * m[i]!) / (Math.sqrt(v[i]!) / bc2Sqrt + eps);
  }
}

/**
 * Splits named parameters into two AdamW groups: those that decay with `weightDecay` and those for which
 * `noDecay(name, param)` holds, with weight decay 0. The default exempts tensors with fewer than 2 dimensions
 * (biases, norm gains, scalars); pass a predicate to exempt embeddings or gates too, e.g.
 * `(name, p) => p.ndim < 2 || name.endsWith("embeddings.weight") || name.endsWith("A_log")`.
 * Empty groups are left out.
 */
export function decayGroups(
  namedParams: Iterable<readonly [string, Tensor]>,
  weightDecay: number,
  noDecay: (name: string, param: Tensor) => boolean = (_, p) => p.ndim < 2,
): AdamWParamGroup[] {
  requireNonNegative("decayGroups", "weightDecay", weightDecay);
  const decay: Tensor[] = [];
  const keep: Tensor[] = [];
  for (const [name, p] of namedParams) (noDecay(name, p) ? keep : decay).push(p);
  const groups: AdamWParamGroup[] = [];
  if (decay.length > 0) groups.push({ params: decay, weightDecay });
  if (keep.length > 0) groups.push({ params: keep, weightDecay: 0 });
  return groups;
}
