/** `gla`, naive form: the loop over time of spec/mixers.md §0.4 / §6 with a per-channel gate, S_t = Diag(exp(gk_t)) S_{t−1} + k_tᵀ v_t. */
import { exp } from "../../core/ops/elementwise.js";
import { unsqueeze } from "../../core/ops/shape.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { at, decayNaive } from "../decay_chunk/naive.js";
import { decayDims, type DecayOptions } from "../decay_chunk/shared.js";

export function glaNaive(inputs: OpInputs, options: DecayOptions): OpOutputs {
  const gk = inputs.gk!;
  return decayNaive({
    q: inputs.q!, k: inputs.k!, v: inputs.v!, initialState: inputs.initial_state,
    decayAt: (t) => unsqueeze(exp(at(gk, t)), 3), // [B,H,K,1]: one decay per key row of S
    scale: decayDims(inputs, options).scale,
    normalizeEps: null,
    outputFinalState: options.outputFinalState,
  });
}
