/**
 * `aaren`: attention of one learned query per head over all positions ≤ t, as a many-to-many RNN
 * (spec/mixers.md §2, arXiv 2405.13956). Parallel form by an associative prefix scan, recurrent form with
 * V+2 floats per head.
 */
import { randn } from "../../core/create.js";
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import { aarenChunk } from "./chunk.js";
import { aarenNaive } from "./naive.js";
import { aarenRecurrent } from "./recurrent.js";
import { aarenOptions, validateAaren, type AarenOptions } from "./shared.js";

export type { AarenOptions } from "./shared.js";

export const aaren: OpDefinition<AarenOptions> = {
  name: "aaren",
  summary: "softmax attention of one learned query per head over the prefix (Aaren); prefix-scan parallel form",
  spec: "spec/mixers.md §2",
  inputs: [
    { name: "q", shape: "[H,K]", perStep: false },
    { name: "k", shape: "[B,T,H,K]", perStep: true },
    { name: "v", shape: "[B,T,H,V]", perStep: true },
    { name: "initial_state", shape: "[B,H,V+2]", optional: true, perStep: false },
  ],
  stateShape: "[B,H,V+2]: per head (m, u, w_1..w_V) = running max score, Σ e^(s−m), Σ e^(s−m)·v; empty = (−∞, 0, 0)",
  options: aarenOptions,
  validate: validateAaren,
  naive: aarenNaive,
  chunk: aarenChunk,
  recurrent: aarenRecurrent,
  /** H·(V+2) floats, whatever the number of tokens. */
  stateSize(shapes) {
    const v = shapes.v!;
    return v[2]! * (v[3]! + 2);
  },
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    const { B = 2, T = 7, H = 3, K = 5, V = 3 } = sizes;
    return {
      q: randn([H, K], rng, { dtype }),
      k: randn([B, T, H, K], rng, { dtype }),
      v: randn([B, T, H, V], rng, { dtype }),
    };
  },
};
