/** `simple_gla`, chunk form: the shared engine's scalar-gate path (intra-chunk (QKᵀ ⊙ D) V as masked matmuls). */
import { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { asPrecision, decayChunk } from "../decay_chunk/chunk.js";
import { decayDims, type DecayOptions } from "../decay_chunk/shared.js";

export function simpleGlaChunk(inputs: OpInputs, options: DecayOptions): OpOutputs {
  const g = inputs.g!;
  return decayChunk({
    node: "simple_gla.chunk",
    inputs,
    gate: { kind: "scalar", logs: g.values(), source: g, grad: (dg) => new Tensor(asPrecision(dg, g.dtype === "f64"), g.shape) },
    scale: decayDims(inputs, options).scale,
    chunkSize: options.chunkSize,
    outputFinalState: options.outputFinalState,
    normalizeEps: null,
  });
}
