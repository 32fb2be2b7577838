/** The decay engine's call and result types (engine.ts has the math). */
import type { FloatArray } from "../../kernels/types.js";
import { allocate, type DType } from "../../core/dtype.js";
import { runTask, type Task, type TaskBody } from "../../kernels/parallel.js";

export type GateKind = "none" | "scalar" | "vector";

/** One call: sizes, inputs (contiguous, in the op layouts) and how the decay is given. */
export interface DecayProblem {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
  /** chunk length (the last chunk may be shorter) */
  C: number;
  /** τ, applied to q */
  scale: number;
  /** working precision: f64 or f32 arrays for q, k, v, s0 and every result */
  f64: boolean;
  q: FloatArray; // [B,T,H,K]
  k: FloatArray; // [B,T,H,K]
  v: FloatArray; // [B,T,H,V]
  gate: GateKind;
  /** log gates ≤ 0: [B,T,H] for "scalar", [B,T,H,K] for "vector", null for "none" (any float array type) */
  g: FloatArray | null;
  /** initial state [B,H,K,V], or null for zeros */
  s0: FloatArray | null;
  /** rows per sub-block of the vector-gate intra-chunk block (default in vector_gate.ts) */
  sub?: number;
}

export interface DecayForward {
  o: FloatArray; // [B,T,H,V]
  state: FloatArray; // [B,H,K,V], the state after the last token
  /** the incoming state of every chunk, [B,H,N,K,V] with N = ⌈T/C⌉ (null unless kept for backward) */
  saved: FloatArray | null;
}

export interface DecayGrads {
  dq: FloatArray;
  dk: FloatArray;
  dv: FloatArray;
  /** gradient of the log gates, shaped like p.g (f64 for a scalar gate, the working precision for a vector gate); null for gate "none" */
  dg: FloatArray | null;
  ds0: FloatArray; // [B,H,K,V]
}

/** Gate channels per row: K for a vector gate, else 1. */
export const gateWidth = (p: DecayProblem): number => (p.gate === "vector" ? p.K : 1);

// ---------------------------------------------------------------------------------------------------------
// A problem as the numeric arguments and input buffers of a task (kernels/parallel.ts), and back.

const GATES: readonly GateKind[] = ["none", "scalar", "vector"];
const EMPTY = new Float64Array(0);

/** The numeric task arguments of a problem. */
export const problemArgs = (p: DecayProblem): number[] =>
  [p.B, p.T, p.H, p.K, p.V, p.C, p.scale, p.f64 ? 1 : 0, GATES.indexOf(p.gate), p.sub ?? 0];

/** The task inputs [q, k, v, g, s0] of a problem (an absent g or s0 as an empty array). */
export const problemInputs = (p: DecayProblem): FloatArray[] => [p.q, p.k, p.v, p.g ?? EMPTY, p.s0 ?? EMPTY];

/** The problem again, inside a task, from its arguments and the first five buffers (problemInputs). */
export function problemFrom(args: readonly number[], buffers: readonly FloatArray[]): DecayProblem {
  const [B, T, H, K, V, C, scale, f64, gate, sub] = args as number[] as [number, number, number, number, number, number, number, number, number, number];
  const [q, k, v, g, s0] = buffers as [FloatArray, FloatArray, FloatArray, FloatArray, FloatArray];
  const p: DecayProblem = { B, T, H, K, V, C, scale, f64: f64 === 1, q, k, v, gate: GATES[gate]!, g: g.length > 0 ? g : null, s0: s0.length > 0 ? s0 : null };
  if (sub > 0) p.sub = sub;
  return p;
}

/**
 * About how many flops a forward pass does (decides whether threads gain; backward is ~2×): per row and head
 * the chunk's products τ(q ⊙ Γ) S₀, Q Kᵀ, A V and (K ⊙ e)ᵀ V.
 */
export const forwardWork = (p: DecayProblem): number =>
  2 * p.B * p.H * p.T * (2 * p.K * p.V + Math.min(p.C, p.T) * (p.K + p.V));

export { EMPTY };

/** The forward pass of the (batch, head) units `next` hands out, into their rows of o, state (and saved). */
export type ForwardUnits = (p: DecayProblem, o: FloatArray, state: FloatArray, saved: FloatArray | null, next: () => number) => void;

/** A forward task's body: the problem from its arguments, then `units` over the outputs o, state, saved. */
export const forwardTaskBody = (units: ForwardUnits): TaskBody => (buffers, args, next) => {
  const p = problemFrom(args, buffers);
  const [o, state, saved] = buffers.slice(5) as [FloatArray, FloatArray, FloatArray];
  units(p, o, state, saved.length > 0 ? saved : null, next);
};

/** Allocates o [B,T,H,V], the final state [B,H,K,V] (and with `keep` the states entering each chunk) and runs
 * the forward `task` over the (batch, head) units. */
export function runForward(p: DecayProblem, keep: boolean, task: Task, work: number, dtype: DType): DecayForward {
  const { B, T, H, K, V, C } = p;
  const o = allocate(dtype, B * T * H * V);
  const state = allocate(dtype, B * H * K * V);
  const saved = keep ? allocate(dtype, B * H * Math.ceil(T / C) * K * V) : null;
  runTask(task, { units: B * H, work, args: problemArgs(p), inputs: problemInputs(p), outputs: [o, state, saved ?? EMPTY] });
  return { o, state, saved };
}

/** The backward pass of the (batch, head) units `next` hands out, into their rows of the gradients. */
export type BackwardUnits = (p: DecayProblem, saved: FloatArray, state: FloatArray, dO: FloatArray, dS: FloatArray, grads: DecayGrads, next: () => number) => void;

/** A backward task's body: the problem from its arguments, then `units` over the gradient buffers (dg empty: none). */
export const backwardTaskBody = (units: BackwardUnits): TaskBody => (buffers, args, next) => {
  const p = problemFrom(args, buffers);
  const [saved, state, dO, dS, dq, dk, dv, dg, ds0] = buffers.slice(5) as [
    FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray,
  ];
  units(p, saved, state, dO, dS, { dq, dk, dv, dg: dg.length > 0 ? dg : null, ds0 }, next);
};

/**
 * Allocates dq, dk [B,T,H,K], dv [B,T,H,V] and ds0 [B,H,K,V] and runs the backward `task` over the (batch,
 * head) units, with `dg` (or null: no gate) as the gate's gradient buffer.
 */
export function runBackward(
  p: DecayProblem, task: Task, work: number, dtype: DType, dg: FloatArray | null,
  saved: FloatArray, state: FloatArray, dO: FloatArray, dS: FloatArray,
): DecayGrads {
  const { B, T, H, K, V } = p;
  const dq = allocate(dtype, B * T * H * K);
  const dk = allocate(dtype, B * T * H * K);
  const dv = allocate(dtype, B * T * H * V);
  const ds0 = allocate(dtype, B * H * K * V);
  runTask(task, {
    units: B * H, work, args: problemArgs(p),
    inputs: [...problemInputs(p), saved, state, dO, dS], outputs: [dq, dk, dv, dg ?? EMPTY, ds0],
  });
  return { dq, dk, dv, dg, ds0 };
}
