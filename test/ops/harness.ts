/**
 * Shared checks for every op (spec/mixers.md §0.7), used by each op family's test file:
 *  - checkForms: naive = chunk = recurrent on the output, the final state and the gradient of every input
 *    (initial_state included), for one upstream gradient on o and one on the final state;
 *  - checkSplit: two pieces with the carried state equal the whole sequence (chunk and recurrent forms);
 *  - checkGradcheck: the chunk form's hand-written backward against central differences in f64.
 * Tolerances are absolute, scaled by max(1, max |reference|), and stated by each caller.
 */
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { Tensor } from "../../src/core/tensor.js";
import { gradcheck } from "../../src/core/gradcheck.js";
import { concat, slice } from "../../src/core/ops/shape.js";
import { randn } from "../../src/core/create.js";
import { runOp } from "../../src/ops/run.js";
import type { AnyOp, ExampleSizes, OpMode, OpOutputs } from "../../src/ops/types.js";

export type Inputs = Record<string, Tensor>;

export interface OpCase {
  op: AnyOp;
  /** Fresh leaf inputs (call it once per form; it must return the same values each time). */
  make: () => Inputs;
  options?: Record<string, unknown>;
  /** tolerance on outputs and states */
  tol: number;
  /** tolerance on gradients (defaults to tol) */
  gradTol?: number;
  /** inputs that take no gradient (e.g. integer-like or constant inputs) */
  noGrad?: readonly string[];
}

/** The sizes B=2, T=45 (not a multiple of any chunk size), H=3, K=20, V=12 most op cases use. */
export const ODD: ExampleSizes = { B: 2, T: 45, H: 3, K: 20, V: 12 };

/** What an op family's example case may set besides its own knobs (defaults: ODD sizes, seed 11, f64). */
export interface ExampleCase {
  sizes?: ExampleSizes;
  initialState?: boolean;
  seed?: number;
  dtype?: "f32" | "f64";
}

/** The sizes, the generator and the dtype of an example case, defaults filled. */
export function exampleSetup(c: ExampleCase): { s: ExampleSizes; rng: Random; dtype: "f32" | "f64" } {
  return { s: c.sizes ?? ODD, rng: new Random(c.seed ?? 11), dtype: c.dtype ?? "f64" };
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Asserts |a − b| ≤ tol · max(1, max|b|) elementwise; the message names what differs and where. */
export function assertClose(what: string, a: Tensor, b: Tensor, tol: number): void {
  assert.deepEqual([...a.shape], [...b.shape], `${what}: shape ${a.shape} vs ${b.shape}`);
  const av = a.values();
  const bv = b.values();
  const scale = Math.max(1, maxAbs(bv));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < av.length; i++) {
    const d = Math.abs(av[i]! - bv[i]!);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= tol * scale, `${what}: max |diff| ${worst} at element ${at} (${av[at]} vs ${bv[at]}) exceeds ${tol} × ${scale}`);
}

/** The same inputs cast to `dtype` (e.g. f64 values rounded to f32). */
export function castInputs(values: Inputs, dtype: "f32" | "f64"): Inputs {
  return Object.fromEntries(Object.entries(values).map(([k, t]) => [k, t.to(dtype)]));
}

/**
 * Runs one form on fresh leaves of `values` and backpropagates Σ o⊙w₁ + Σ S_T⊙w₂ (w₁ then w₂ drawn from
 * Random(seed), in o's dtype); returns the outputs, the leaves, and their gradients.
 */
export function runBackward(op: AnyOp, values: Inputs, mode: OpMode, options: Record<string, unknown> = {}, seed = 3) {
  const inputs = leaves(values);
  const out = runOp(op, inputs, mode, { ...options, outputFinalState: true });
  const rng = new Random(seed);
  const wo = randn(out.o.shape, rng, { dtype: out.o.dtype });
  const wh = randn(out.finalState!.shape, rng, { dtype: out.o.dtype });
  out.o.mul(wo).sum().add(out.finalState!.mul(wh).sum()).backward();
  const grads: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(inputs)) grads[k] = t.grad!;
  return { out, inputs, o: out.o, finalState: out.finalState!, grads };
}

/**
 * The recurrent form's no-grad fast path (plain inputs) equals its autodiff path (leaf inputs): o and the final
 * state within `tol`, messages prefixed by `label`.
 */
export function checkStepFastPath(op: AnyOp, values: Inputs, options: Record<string, unknown>, label: string, tol: number): void {
  const fast = runOp(op, values, "recurrent", { ...options, outputFinalState: true });
  const taped = runOp(op, leaves(values), "recurrent", { ...options, outputFinalState: true });
  assert.ok(taped.o.requiresGrad && !fast.o.requiresGrad);
  assertClose(`${label} o`, fast.o, taped.o.detach(), tol);
  assertClose(`${label} state`, fast.finalState!, taped.finalState!.detach(), tol);
}

/** Leaves requiring grad, from fixed values. */
export function leaves(values: Inputs, noGrad: readonly string[] = []): Inputs {
  const out: Inputs = {};
  for (const [k, v] of Object.entries(values)) {
    const t = v.clone();
    if (!noGrad.includes(k)) t.requireGrad();
    out[k] = t;
  }
  return out;
}

interface FormResult {
  out: OpOutputs;
  grads: Record<string, Tensor | null>;
}

function runWithGrads(c: OpCase, mode: OpMode, seed = 7): FormResult {
  const inputs = leaves(c.make(), c.noGrad);
  const out = runOp(c.op, inputs, mode, { ...c.options, outputFinalState: true });
  const rng = new Random(seed);
  const dO = randn(out.o.shape, rng, { dtype: out.o.dtype });
  let loss = out.o.mul(dO).sum();
  if (out.finalState) loss = loss.add(out.finalState.mul(randn(out.finalState.shape, rng, { dtype: out.finalState.dtype })).sum());
  loss.backward();
  const grads: Record<string, Tensor | null> = {};
  for (const [k, v] of Object.entries(inputs)) grads[k] = v.requiresGrad ? v.grad : null;
  return { out, grads };
}

/** naive = chunk = recurrent on o, the final state and every input gradient. */
export function checkForms(c: OpCase, modes: readonly OpMode[] = ["naive", "chunk", "recurrent"]): void {
  const [refMode, ...others] = modes;
  const ref = runWithGrads(c, refMode!);
  assert.ok(ref.out.finalState, `${c.op.name}: outputFinalState must return a final state`);
  for (const mode of others) {
    const got = runWithGrads(c, mode);
    assertClose(`${c.op.name} ${mode} vs ${refMode}: o`, got.out.o, ref.out.o, c.tol);
    assertClose(`${c.op.name} ${mode} vs ${refMode}: final state`, got.out.finalState!, ref.out.finalState!, c.tol);
    for (const [name, g] of Object.entries(ref.grads)) {
      if (g === null && c.noGrad?.includes(name)) continue;
      const other = got.grads[name];
      assert.ok(g, `${c.op.name} ${refMode}: no gradient for '${name}'`);
      assert.ok(other, `${c.op.name} ${mode}: no gradient for '${name}'`);
      assertClose(`${c.op.name} ${mode} vs ${refMode}: d${name}`, other, g, c.gradTol ?? c.tol);
    }
  }
}

/**
 * Runs the first `split` steps, then the rest from the carried state, and compares with the whole sequence,
 * for the given modes (the second piece may use a different mode than the first).
 */
export function checkSplit(c: OpCase, split: number, pairs: ReadonlyArray<[OpMode, OpMode]> = [["chunk", "chunk"], ["chunk", "recurrent"], ["recurrent", "chunk"]]): void {
  const values = c.make();
  const perStep = new Set(c.op.inputs.filter((s) => s.perStep).map((s) => s.name));
  const piece = (from: number, to?: number): Inputs => {
    const out: Inputs = {};
    for (const [k, v] of Object.entries(values)) {
      if (k === "initial_state") continue;
      out[k] = perStep.has(k) ? slice(v, 1, from, to).contiguous() : v;
    }
    return out;
  };
  const whole = runOp(c.op, values, "chunk", { ...c.options, outputFinalState: true });
  for (const [m1, m2] of pairs) {
    const first = runOp(c.op, { ...piece(0, split), ...(values.initial_state ? { initial_state: values.initial_state } : {}) }, m1, { ...c.options, outputFinalState: true });
    const second = runOp(c.op, { ...piece(split), initial_state: first.finalState! }, m2, { ...c.options, outputFinalState: true });
    assertClose(`${c.op.name} split ${m1}+${m2} at ${split}: o`, concat([first.o, second.o], 1), whole.o, c.tol);
    assertClose(`${c.op.name} split ${m1}+${m2} at ${split}: final state`, second.finalState!, whole.finalState!, c.tol);
  }
}

/** gradcheck (f64, central differences) of one form, on o and the final state together. */
export function checkGradcheck(c: OpCase, mode: OpMode = "chunk", options?: { atol?: number; rtol?: number }): void {
  const inputs = leaves(c.make(), c.noGrad);
  const names = Object.keys(inputs);
  gradcheck(
    (...ts: Tensor[]) => {
      const byName: Inputs = {};
      names.forEach((n, i) => (byName[n] = ts[i]!));
      const r = runOp(c.op, byName, mode, { ...c.options, outputFinalState: true });
      return [r.o, r.finalState!];
    },
    names.map((n) => inputs[n]!),
    options,
  );
}
