/** Random attention inputs (q, k, v and an optional KV cache) shared by the attention and thread tests. */
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import type { Inputs } from "./harness.js";

export interface AttentionSizes {
  B: number;
  T: number;
  H: number;
  Hkv: number;
  K: number;
  V: number;
  /** cached positions in initial_state (0: none) */
  S: number;
}

export function attentionInputs(s: AttentionSizes, seed: number, dtype: "f32" | "f64"): Inputs {
  const rng = new Random(seed);
  const out: Inputs = {
    q: randn([s.B, s.T, s.H, s.K], rng, { dtype }),
    k: randn([s.B, s.T, s.Hkv, s.K], rng, { dtype }),
    v: randn([s.B, s.T, s.Hkv, s.V], rng, { dtype }),
  };
  if (s.S > 0) out.initial_state = randn([s.B, s.S, s.Hkv, s.K + s.V], rng, { dtype });
  return out;
}
