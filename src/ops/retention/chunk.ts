/**
 * `retention`, chunk form: the shared engine's scalar-gate path with the constant log gate g = log γ_h
 * (spec §5: b_r = r·log γ, D[r,s] = γ^{r−s}). The engine returns ∂L/∂g per step; since every step of head h
 * uses g = log γ_h, ∂L/∂γ_h = Σ_{b,t} ∂L/∂g[b,t,h] / γ_h.
 */
import { allocate } from "../../core/dtype.js";
import { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { asPrecision, decayChunk } from "../decay_chunk/chunk.js";
import { decayDims, type DecayOptions } from "../decay_chunk/shared.js";

export function retentionChunk(inputs: OpInputs, options: DecayOptions): OpOutputs {
  const { B, T, H, scale } = decayDims(inputs, options);
  const gamma = inputs.gamma!;
  const gv = gamma.values();
  const logs = allocate("f64", B * T * H) as Float64Array;
  for (let i = 0; i < logs.length; i++) logs[i] = Math.log(gv[i % H]!);
  return decayChunk({
    node: "retention.chunk",
    inputs,
    gate: {
      kind: "scalar",
      logs,
      source: gamma,
      grad(dg) {
        const d = new Float64Array(H);
        for (let i = 0; i < dg.length; i++) d[i % H] += dg[i]!;
        for (let h = 0; h < H; h++) d[h] = d[h]! / gv[h]!;
        return new Tensor(asPrecision(d, gamma.dtype === "f64"), [H]);
      },
    },
    scale,
    chunkSize: options.chunkSize,
    outputFinalState: options.outputFinalState,
    normalizeEps: null,
  });
}
