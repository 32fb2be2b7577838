/** `linear_attn`, chunk form: the shared engine with no decay (§3: §0.4 with all g = 0); normalize carries z. */
import type { OpInputs, OpOutputs } from "../types.js";
import { decayChunk } from "../decay_chunk/chunk.js";
import { decayDims, type LinearAttnOptions } from "../decay_chunk/shared.js";

export function linearAttnChunk(inputs: OpInputs, options: LinearAttnOptions): OpOutputs {
  return decayChunk({
    node: "linear_attn.chunk",
    inputs,
    gate: null,
    scale: decayDims(inputs, options).scale,
    chunkSize: options.chunkSize,
    outputFinalState: options.outputFinalState,
    normalizeEps: options.normalize ? options.eps : null,
  });
}
