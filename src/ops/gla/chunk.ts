/** `gla`, chunk form: the shared engine's vector-gate path (pivoted sub-blocks as matmuls, direct diagonal sub-blocks). */
import { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { asPrecision, decayChunk } from "../decay_chunk/chunk.js";
import { decayDims, type DecayOptions } from "../decay_chunk/shared.js";

export function glaChunk(inputs: OpInputs, options: DecayOptions): OpOutputs {
  const gk = inputs.gk!;
  return decayChunk({
    node: "gla.chunk",
    inputs,
    gate: { kind: "vector", logs: gk.values(), source: gk, grad: (dg) => new Tensor(asPrecision(dg, gk.dtype === "f64"), gk.shape) },
    scale: decayDims(inputs, options).scale,
    chunkSize: options.chunkSize,
    outputFinalState: options.outputFinalState,
    normalizeEps: null,
  });
}
