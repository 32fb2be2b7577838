/** `gated_delta_rule`, naive form: the loop over time of spec/mixers.md §7.2 (shared with the other delta op). */
import type { OpInputs, OpOutputs } from "../types.js";
import { deltaNaive } from "../delta_common/naive.js";
import { GATED_DELTA, type DeltaOptions } from "../delta_common/shared.js";

export const gatedDeltaRuleNaive = (inputs: OpInputs, options: DeltaOptions): OpOutputs => deltaNaive(GATED_DELTA, inputs, options);
