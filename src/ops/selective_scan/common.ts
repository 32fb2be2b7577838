/**
 * Pieces shared by the tensor-op forms of `selective_scan` (naive and recurrent): reading the inputs by name,
 * the effective step size Δ and the skip/gate applied to the scan's read-out. The chunk form works on raw
 * arrays and has its own copies of this arithmetic (chunk.ts).
 */
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs } from "../types.js";

export const OP = "selective_scan";

/** Options of the op (parsed by the schema in index.ts). */
export interface SelectiveScanOptions {
  outputFinalState: boolean;
  chunkSize: number;
  /** Δ = softplus(delta + delta_bias) when true, else delta + delta_bias */
  deltaSoftplus: boolean;
}

/** The inputs by their contract names (shapes as in index.ts; presence was checked by `validate`). */
export interface ScanTensors {
  u: Tensor;
  delta: Tensor;
  A: Tensor;
  Bm: Tensor;
  Cm: Tensor;
  Dskip?: Tensor;
  z?: Tensor;
  deltaBias?: Tensor;
  initialState?: Tensor;
}

export function scanTensors(inputs: OpInputs): ScanTensors {
  return {
    u: inputs.u!,
    delta: inputs.delta!,
    A: inputs.A!,
    Bm: inputs.Bm!,
    Cm: inputs.Cm!,
    Dskip: inputs.Dskip,
    z: inputs.z,
    deltaBias: inputs.delta_bias,
    initialState: inputs.initial_state,
  };
}

/**
 * Δ = softplus(delta + delta_bias) or delta + delta_bias (spec §8.1; selective_scan_ref adds the bias first,
 * then applies softplus). delta is [..., D] (a whole sequence [B,T,D] or one step [B,D]); delta_bias is [D] and
 * broadcasts over the leading axes.
 */
export function stepSize(delta: Tensor, deltaBias: Tensor | undefined, softplus: boolean): Tensor {
  const biased = deltaBias ? delta.add(deltaBias) : delta;
  return softplus ? biased.softplus() : biased;
}

/**
 * The read-out after the scan: y ← y + Dskip ⊙ u, then y ← y ⊙ SiLU(z) (in that order, as selective_scan_ref:
 * the skip term is gated too). y, u, z are [..., D]; Dskip is [D].
 */
export function skipAndGate(y: Tensor, u: Tensor, Dskip: Tensor | undefined, z: Tensor | undefined): Tensor {
  const skipped = Dskip ? y.add(u.mul(Dskip)) : y;
  return z ? skipped.mul(z.silu()) : skipped;
}
