/**
 * `gla`: Gated Linear Attention (spec/mixers.md §6; arXiv 2312.06635; fla `ops/gla`). Per head,
 * S_t = Diag(exp(gk_t)) S_{t−1} + k_tᵀ v_t and o_t = τ q_t S_t (τ default K^-1/2), with a data-dependent log
 * forget gate gk ≤ 0 per key channel (the layer makes it as logsigmoid(·)/16).
 */
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import {
  decayExample, decayOptions, matrixStateSize, QKV_INPUTS, STATE_SHAPE, validateInitialState, validateLogGate, validateQKV, type DecayOptions,
} from "../decay_chunk/shared.js";
import { glaChunk } from "./chunk.js";
import { glaNaive } from "./naive.js";
import { glaRecurrent } from "./recurrent.js";

export const gla: OpDefinition<DecayOptions> = {
  name: "gla",
  summary: "gated linear attention S ← Diag(exp(gk_t)) S + kᵀv, per-channel log gate gk [B,T,H,K] ≤ 0; o = τ q S",
  spec: "spec/mixers.md §6",
  inputs: [
    ...QKV_INPUTS,
    { name: "gk", shape: "[B,T,H,K]", perStep: true },
    { name: "initial_state", shape: "[B,H,K,V]", optional: true, perStep: false },
  ],
  stateShape: STATE_SHAPE,
  options: decayOptions,
  validate(inputs) {
    const { B, T, H, K, V } = validateQKV("gla", inputs);
    validateLogGate("gla", "gk", inputs.gk, [B, T, H, K], "[B,T,H,K]", "like k");
    validateInitialState("gla", inputs, [B, H, K, V], "([B,H,K,V] from q and v)");
  },
  naive: glaNaive,
  chunk: glaChunk,
  recurrent: glaRecurrent,
  /** H·K·V floats per sequence, constant in T. */
  stateSize: (shapes) => matrixStateSize(shapes),
  /** q, k, v standard normal; gk uniform in [−0.5, −0.01] */
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    return decayExample(rng, dtype, sizes, { kind: "vector" });
  },
};
