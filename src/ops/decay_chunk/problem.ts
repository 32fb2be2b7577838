/** The decay engine's call and result types (engine.ts has the math). */
import type { FloatArray } from "../../kernels/types.js";

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
