/**
 * Feature maps for linear attention (spec/mixers.md §3, §4), applied per head to q and k before
 * `linear_attn`: differentiable functions of a tensor [..., D] → [..., f], not registered ops (they have no
 * time structure). References: zoology `mixers/feature_maps/{base,taylor}.py`, Based `linear_attention.py`.
 *
 *   identity       φ(z) = z                                          f = D
 *   elu_plus_one   φ(z) = ELU(z) + 1   (> 0)                          f = D
 *   relu           φ(z) = max(z, 0)                                   f = D
 *   taylor2        φ(z) = [1, z / D^{1/4}, vec(z zᵀ) / (√2·√D)]       f = 1 + D + D²
 *
 * taylor2 makes φ(q)·φ(k) = 1 + s + s²/2 with s = q·k/√D, the 2nd-order Taylor expansion of exp(s) (Based):
 * it carries its own 1/√D, so `linear_attn` should then be called with scale 1. It keeps the full D² outer
 * product (not the symmetric i ≤ j packing), so the feature width is exactly 1 + D + D².
 */
import { ones } from "../../core/create.js";
import { relu as reluOp } from "../../core/ops/elementwise.js";
import { concat, reshape, unsqueeze } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import { OpError } from "../options.js";

export type FeatureMapName = "identity" | "elu_plus_one" | "relu" | "taylor2";

export interface FeatureMap {
  readonly name: FeatureMapName;
  /** output width f for input width D */
  dim(D: number): number;
  /** [..., D] → [..., f] */
  apply(x: Tensor): Tensor;
}

/** φ(z) = z */
export function identityMap(x: Tensor): Tensor {
  return x;
}

/** φ(z) = ELU(z) + 1, strictly positive (Katharopoulos et al.) */
export function eluPlusOne(x: Tensor): Tensor {
  return x.elu().add(1);
}

/** φ(z) = max(z, 0) */
export function reluMap(x: Tensor): Tensor {
  return reluOp(x);
}

/** φ(z) = [1, z / D^{1/4}, vec(z zᵀ) / (√2·√D)]: [..., D] → [..., 1 + D + D²] (spec §3, Based) */
export function taylor2(x: Tensor): Tensor {
  if (x.ndim < 1) throw new OpError(`taylor2: input must have at least one axis [..., D], got a scalar`);
  const D = x.shape[x.ndim - 1]!;
  const lead = x.shape.slice(0, -1);
  const linear = x.mul(D ** -0.25);
  const outer = unsqueeze(x, -1).mul(unsqueeze(x, -2)); // [..., D, D]
  const quad = reshape(outer, [...lead, D * D]).mul(1 / (Math.SQRT2 * Math.sqrt(D)));
  const one = ones([...lead, 1], { dtype: x.dtype });
  return concat([one, linear, quad], -1);
}

export const FEATURE_MAPS: Readonly<Record<FeatureMapName, FeatureMap>> = {
  identity: { name: "identity", dim: (D) => D, apply: identityMap },
  elu_plus_one: { name: "elu_plus_one", dim: (D) => D, apply: eluPlusOne },
  relu: { name: "relu", dim: (D) => D, apply: reluMap },
  taylor2: { name: "taylor2", dim: (D) => 1 + D + D * D, apply: taylor2 },
};

export function getFeatureMap(name: string): FeatureMap {
  const map = (FEATURE_MAPS as Record<string, FeatureMap>)[name];
  if (!map) throw new OpError(`unknown feature map '${name}'; expected one of ${Object.keys(FEATURE_MAPS).join(", ")}`);
  return map;
}
