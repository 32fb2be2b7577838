/**
 * `retention`: RetNet / Lightning-style fixed per-head decay (spec/mixers.md §5; fla `ops/retention`).
 * Per head, S_t = γ_h S_{t−1} + k_tᵀ v_t and o_t = τ q_t S_t (τ default K^-1/2), without RetNet's row
 * normalisations of D and the scores (the per-head norm that follows removes them; fla omits them too).
 * gamma [H] is an input, any values in (0,1]; the RetNet schedule γ_h = 1 − 2^{−5−h} is what `example` uses.
 */
import { tensor } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import { expectShape, required } from "../check.js";
import { OpError } from "../options.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import {
  decayExample, decayOptions, matrixStateSize, QKV_INPUTS, STATE_SHAPE, validateInitialState, validateQKV, type DecayOptions,
} from "../decay_chunk/shared.js";
import { retentionChunk } from "./chunk.js";
import { retentionNaive } from "./naive.js";
import { retentionRecurrent } from "./recurrent.js";

/** RetNet's per-head decays γ_h = 1 − 2^{−5−h} (0.96875, 0.984375, …). */
export function retnetGammas(H: number): number[] {
  return Array.from({ length: H }, (_, h) => 1 - 2 ** (-5 - h));
}

export const retention: OpDefinition<DecayOptions> = {
  name: "retention",
  summary: "RetNet retention S ← γ_h S + kᵀv with a fixed decay γ_h ∈ (0,1] per head; o = τ q S",
  spec: "spec/mixers.md §5",
  inputs: [
    ...QKV_INPUTS,
    { name: "gamma", shape: "[H]", perStep: false },
    { name: "initial_state", shape: "[B,H,K,V]", optional: true, perStep: false },
  ],
  stateShape: STATE_SHAPE,
  options: decayOptions,
  validate(inputs) {
    const { B, H, K, V } = validateQKV("retention", inputs);
    const gamma = required("retention", inputs, "gamma", "[H]");
    expectShape("retention", "gamma", gamma, [H], "(one decay per head of q)");
    const g = gamma.values();
    for (let h = 0; h < H; h++) {
      if (!(g[h]! > 0 && g[h]! <= 1)) throw new OpError(`retention: gamma must lie in (0, 1] (a decay per head), got ${g[h]} at [${h}]`);
    }
    validateInitialState("retention", inputs, [B, H, K, V], "([B,H,K,V] from q and v)");
  },
  naive: retentionNaive,
  chunk: retentionChunk,
  recurrent: retentionRecurrent,
  /** H·K·V floats per sequence, constant in T. */
  stateSize: (shapes) => matrixStateSize(shapes),
  /** q, k, v standard normal; gamma the RetNet schedule 1 − 2^{−5−h} */
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    const out = decayExample(rng, dtype, sizes, { kind: "none" });
    const H = out.q!.shape[2]!;
    out.gamma = tensor(retnetGammas(H), [H], { dtype });
    return out;
  },
};
