/**
 * `attention`: causal (or full) softmax attention with grouped-query heads and an optional sliding window
 * (spec/mixers.md §1). The recurrent state is the KV cache, which grows with T (or stays at the window W).
 */
import { randn } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import { attentionChunk } from "./chunk.js";
import { attentionNaive } from "./naive.js";
import { attentionRecurrent } from "./recurrent.js";
import { attentionOptions, cacheLength, validateAttention, type AttentionOptions } from "./shared.js";

export type { AttentionOptions } from "./shared.js";

export const attention: OpDefinition<AttentionOptions> = {
  name: "attention",
  summary: "softmax attention (causal or not), grouped-query heads, sliding window; KV-cache step form",
  spec: "spec/mixers.md §1",
  inputs: [
    { name: "q", shape: "[B,T,H,K]", perStep: true },
    { name: "k", shape: "[B,T,Hkv,K]", perStep: true },
    { name: "v", shape: "[B,T,Hkv,V]", perStep: true },
    { name: "initial_state", shape: "[B,S,Hkv,K+V]", optional: true, perStep: false },
  ],
  stateShape: "[B,S,Hkv,K+V]: the KV cache, keys then values on the last axis, S = tokens seen (the last min(S,W) with a window)",
  options: attentionOptions,
  validate: validateAttention,
  naive: attentionNaive,
  chunk: attentionChunk,
  recurrent: attentionRecurrent,
  /** Hkv·(K+V) floats per cached position; min(tokens, W) positions. */
  stateSize(shapes, options, tokens) {
    const k = shapes.k!;
    const v = shapes.v!;
    return k[2]! * (k[3]! + v[3]!) * cacheLength(tokens, options.window ?? Infinity);
  },
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    const { B = 2, T = 7, H = 4, K = 5, V = 3 } = sizes;
    // two query heads per kv head when H is even, so the example exercises grouped-query attention
    const Hkv = H % 2 === 0 ? H / 2 : H;
    return {
      q: randn([B, T, H, K], rng, { dtype }),
      k: randn([B, T, Hkv, K], rng, { dtype }),
      v: randn([B, T, Hkv, V], rng, { dtype }),
    };
  },
};
