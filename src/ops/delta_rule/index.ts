/**
 * `delta_rule`: DeltaNet's memory (spec/mixers.md §7; arXiv 2406.06484), with beta allowed up to 2 for
 * negative eigenvalues (arXiv 2411.12537). Per head, S_t = (I − β_t k_tᵀk_t) S_{t−1} + β_t k_tᵀv_t and
 * o_t = τ q_t S_t. Keys are used as given: the layers L2-normalise them (spec §7.1 calls that mandatory,
 * since the transition is only non-expansive for unit keys); the op does not.
 */
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import { DELTA, deltaExample, deltaInputs, deltaOptions, deltaStateSize, STATE_SHAPE, validateDelta, type DeltaOptions } from "../delta_common/shared.js";
import { deltaRuleChunk } from "./chunk.js";
import { deltaRuleNaive } from "./naive.js";
import { deltaRuleRecurrent } from "./recurrent.js";

export type { DeltaOptions } from "../delta_common/shared.js";

export const deltaRule: OpDefinition<DeltaOptions> = {
  name: "delta_rule",
  summary: "DeltaNet delta rule S ← (I − β kᵀk) S + β kᵀv, β ∈ [0,2]; chunkwise WY/UT form",
  spec: "spec/mixers.md §7",
  inputs: deltaInputs(DELTA),
  stateShape: STATE_SHAPE,
  options: deltaOptions,
  validate: (inputs) => validateDelta(DELTA, inputs),
  naive: deltaRuleNaive,
  chunk: deltaRuleChunk,
  recurrent: deltaRuleRecurrent,
  /** H·K·V floats per sequence, constant in T. */
  stateSize: (shapes) => deltaStateSize(shapes),
  /** unit-norm q and k (as the layers feed them), v normal, beta uniform in [0.05, 0.95] */
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    return deltaExample(DELTA, rng, dtype, sizes);
  },
};
