/**
 * `simple_gla`: gated linear attention with one scalar log gate per step and head — the Mamba-2 / SSD core
 * (spec/mixers.md §0.4, §6, §8.2; fla `ops/simple_gla`). Per head, S_t = exp(g_t) S_{t−1} + k_tᵀ v_t and
 * o_t = τ q_t S_t (τ default K^-1/2). Mamba-2 reads q = C, k = B, v = Δ·x, g = Δ·A (pass scale 1).
 */
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import {
  decayExample, decayOptions, matrixStateSize, QKV_INPUTS, STATE_SHAPE, validateInitialState, validateLogGate, validateQKV, type DecayOptions,
} from "../decay_chunk/shared.js";
import { simpleGlaChunk } from "./chunk.js";
import { simpleGlaNaive } from "./naive.js";
import { simpleGlaRecurrent } from "./recurrent.js";

export const simpleGla: OpDefinition<DecayOptions> = {
  name: "simple_gla",
  summary: "scalar-gated linear attention S ← exp(g_t) S + kᵀv, g [B,T,H] ≤ 0 (Mamba-2 / SSD core); o = τ q S",
  spec: "spec/mixers.md §6, §8.2",
  inputs: [
    ...QKV_INPUTS,
    { name: "g", shape: "[B,T,H]", perStep: true },
    { name: "initial_state", shape: "[B,H,K,V]", optional: true, perStep: false },
  ],
  stateShape: STATE_SHAPE,
  options: decayOptions,
  validate(inputs) {
    const { B, T, H, K, V } = validateQKV("simple_gla", inputs);
    validateLogGate("simple_gla", "g", inputs.g, [B, T, H], "[B,T,H]", "([B,T,H] of q)");
    validateInitialState("simple_gla", inputs, [B, H, K, V], "([B,H,K,V] from q and v)");
  },
  naive: simpleGlaNaive,
  chunk: simpleGlaChunk,
  recurrent: simpleGlaRecurrent,
  /** H·K·V floats per sequence, constant in T. */
  stateSize: (shapes) => matrixStateSize(shapes),
  /** q, k, v standard normal; g uniform in [−0.5, −0.01] */
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    return decayExample(rng, dtype, sizes, { kind: "scalar" });
  },
};
