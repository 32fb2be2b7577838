/**
 * `gated_delta_rule`: Gated DeltaNet's memory (spec/mixers.md §7; arXiv 2412.06464): the delta rule with a
 * per-head scalar log decay g ≤ 0, S_t = e^{g_t} (I − β_t k_tᵀk_t) S_{t−1} + β_t k_tᵀv_t, o_t = τ q_t S_t;
 * beta ∈ [0,2]. With g = 0 it is `delta_rule`, and both run one shared chunk engine. Keys are used as given
 * (the layers L2-normalise them, spec §7.1).
 */
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import { deltaExample, deltaInputs, deltaOptions, deltaStateSize, GATED_DELTA, STATE_SHAPE, validateDelta, type DeltaOptions } from "../delta_common/shared.js";
import { gatedDeltaRuleChunk } from "./chunk.js";
import { gatedDeltaRuleNaive } from "./naive.js";
import { gatedDeltaRuleRecurrent } from "./recurrent.js";

export const gatedDeltaRule: OpDefinition<DeltaOptions> = {
  name: "gated_delta_rule",
  summary: "Gated DeltaNet: delta rule with a per-head log decay g ≤ 0, β ∈ [0,2]; chunkwise WY/UT form",
  spec: "spec/mixers.md §7",
  inputs: deltaInputs(GATED_DELTA),
  stateShape: STATE_SHAPE,
  options: deltaOptions,
  validate: (inputs) => validateDelta(GATED_DELTA, inputs),
  naive: gatedDeltaRuleNaive,
  chunk: gatedDeltaRuleChunk,
  recurrent: gatedDeltaRuleRecurrent,
  /** H·K·V floats per sequence, constant in T. */
  stateSize: (shapes) => deltaStateSize(shapes),
  /** unit-norm q and k, v normal, beta uniform in [0.05, 0.95], g uniform in [−0.5, −0.01] */
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    return deltaExample(GATED_DELTA, rng, dtype, sizes);
  },
};
