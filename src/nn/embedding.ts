/** Token embedding: weight [numEmbeddings, dim] (torch.nn.Embedding, init N(0, 1) unless std is given). */
import type { Tensor } from "../core/tensor.js";
import { indexSelect, type Indices } from "../core/ops/shape.js";
import { Module } from "./module.js";
import { normal } from "./init.js";
import { requirePositiveInt, type ModuleOptions } from "./options.js";

export interface EmbeddingOptions extends ModuleOptions {
  std?: number;
}

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly dim: number, options: EmbeddingOptions) {
    super();
    requirePositiveInt("Embedding", "numEmbeddings", numEmbeddings);
    requirePositiveInt("Embedding", "dim", dim);
    this.weight = this.param("weight", normal([numEmbeddings, dim], options.std ?? 1, options.rng, options.dtype ?? "f32"));
  }

  /** ids of any shape → [...ids.shape, dim]; an id outside 0..numEmbeddings−1 is an error naming its position. */
  forward(ids: Indices): Tensor {
    return indexSelect(this.weight, 0, ids);
  }
}
