/** `simple_gla`, naive form: the loop over time of spec/mixers.md §0.4 with a scalar gate per head (§6, §8.2). */
import { exp } from "../../core/ops/elementwise.js";
import { reshape } from "../../core/ops/shape.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { at, decayNaive } from "../decay_chunk/naive.js";
import { decayDims, type DecayOptions } from "../decay_chunk/shared.js";

export function simpleGlaNaive(inputs: OpInputs, options: DecayOptions): OpOutputs {
  const { B, H, scale } = decayDims(inputs, options);
  const g = inputs.g!;
  return decayNaive({
    q: inputs.q!, k: inputs.k!, v: inputs.v!, initialState: inputs.initial_state,
    decayAt: (t) => reshape(exp(at(g, t)), [B, H, 1, 1]),
    scale,
    normalizeEps: null,
    outputFinalState: options.outputFinalState,
  });
}
