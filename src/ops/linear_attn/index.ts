/**
 * `linear_attn`: causal linear attention (spec/mixers.md §3). q and k arrive with the feature map already
 * applied (src/ops/feature_maps: identity, elu+1, relu, Taylor-2). Per head, S_t = S_{t−1} + k_tᵀ v_t and
 * o_t = τ q_t S_t; with `normalize`, o_t = τ q_t S_t / (τ q_t·z_t + eps) with the key sum z_t = Σ_{s≤t} k_s
 * (fla `chunk_linear_attn`: τ is applied to q before both numerator and denominator, so with normalize it
 * only matters relative to eps). τ defaults to K^-1/2 as in fla; pass scale 1 with the Taylor map, which
 * scales itself (§3). Normalising is only well-posed for positive features (elu+1, Taylor-2): the op does not
 * know the map, so refusing identity + normalize is the layer's job.
 */
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import {
  decayExample, linearAttnOptions, matrixStateSize, QKV_INPUTS, validateInitialState, validateQKV, type LinearAttnOptions,
} from "../decay_chunk/shared.js";
import { linearAttnChunk } from "./chunk.js";
import { linearAttnNaive } from "./naive.js";
import { linearAttnRecurrent } from "./recurrent.js";

export type { LinearAttnOptions } from "../decay_chunk/shared.js";

export const linearAttn: OpDefinition<LinearAttnOptions> = {
  name: "linear_attn",
  summary: "linear attention o_t = τ q_t Σ_{s≤t} k_sᵀv_s on feature-mapped q, k; optional normaliser τ q_t·Σ k_s + eps",
  spec: "spec/mixers.md §3",
  inputs: [...QKV_INPUTS, { name: "initial_state", shape: "[B,H,K,V] ([B,H,K,V+1] with normalize)", optional: true, perStep: false }],
  stateShape:
    "[B,H,K,V]: key-major S_t = Σ_{s≤t} k_sᵀ v_s per sequence and head (spec §0.1); with normalize [B,H,K,V+1]: columns 0..V−1 hold S, column V the key sum z_t = Σ_{s≤t} k_s",
  options: linearAttnOptions,
  validate(inputs, options) {
    const { B, H, K, V } = validateQKV("linear_attn", inputs);
    const Vs = options.normalize ? V + 1 : V;
    validateInitialState("linear_attn", inputs, [B, H, K, Vs], options.normalize ? "([B,H,K,V+1] from q and v: with normalize the last column is the key sum z)" : "([B,H,K,V] from q and v)");
  },
  naive: linearAttnNaive,
  chunk: linearAttnChunk,
  recurrent: linearAttnRecurrent,
  /** H·K·V floats per sequence (H·K·(V+1) with normalize), constant in T. */
  stateSize: (shapes, options) => matrixStateSize(shapes, options.normalize ? 1 : 0),
  /** positive features (elu+1 of standard normals) for q and k, so both normalize settings are well-posed; v normal */
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    return decayExample(rng, dtype, sizes, { kind: "none", positive: true });
  },
};
