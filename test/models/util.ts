import assert from "node:assert/strict";
import type { Tensor } from "../../src/core/tensor.js";

/** Largest absolute elementwise difference of two tensors of the same size. */
export function maxDiff(a: Tensor, b: Tensor): number {
  const av = a.values();
  const bv = b.values();
  assert.equal(av.length, bv.length);
  let m = 0;
  for (let i = 0; i < av.length; i++) m = Math.max(m, Math.abs(av[i]! - bv[i]!));
  return m;
}
