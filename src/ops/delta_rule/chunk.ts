/** `delta_rule`, chunk form: the shared WY / UT-transform engine (spec/mixers.md §7.3) with a hand-written backward. */
import type { OpInputs, OpOutputs } from "../types.js";
import { deltaChunk } from "../delta_common/chunk.js";
import { DELTA, type DeltaOptions } from "../delta_common/shared.js";

export const deltaRuleChunk = (inputs: OpInputs, options: DeltaOptions): OpOutputs => deltaChunk(DELTA, inputs, options);
