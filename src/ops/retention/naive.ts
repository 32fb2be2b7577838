/** `retention`, naive form: the loop over time of spec/mixers.md §5, S_t = γ_h S_{t−1} + k_tᵀ v_t. */
import { reshape } from "../../core/ops/shape.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { decayNaive } from "../decay_chunk/naive.js";
import { decayDims, type DecayOptions } from "../decay_chunk/shared.js";

export function retentionNaive(inputs: OpInputs, options: DecayOptions): OpOutputs {
  const H = inputs.q!.shape[2]!;
  const gamma = reshape(inputs.gamma!, [1, H, 1, 1]);
  return decayNaive({
    q: inputs.q!, k: inputs.k!, v: inputs.v!, initialState: inputs.initial_state,
    decayAt: () => gamma,
    scale: decayDims(inputs, options).scale,
    normalizeEps: null,
    outputFinalState: options.outputFinalState,
  });
}
