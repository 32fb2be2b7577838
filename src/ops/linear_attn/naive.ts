/** `linear_attn`, naive form: the loop over time of spec/mixers.md §3 (shared with the decay ops, no decay). */
import type { OpInputs, OpOutputs } from "../types.js";
import { decayNaive } from "../decay_chunk/naive.js";
import { decayDims, type LinearAttnOptions } from "../decay_chunk/shared.js";

export function linearAttnNaive(inputs: OpInputs, options: LinearAttnOptions): OpOutputs {
  return decayNaive({
    q: inputs.q!, k: inputs.k!, v: inputs.v!, initialState: inputs.initial_state,
    decayAt: null,
    scale: decayDims(inputs, options).scale,
    normalizeEps: options.normalize ? options.eps : null,
    outputFinalState: options.outputFinalState,
  });
}
