import assert from "node:assert/strict";

/**
 * Every entry i < n of `got` within `bound[i]` of `ref` (entries where `skip(i)` is true are not compared; without
 * n, the arrays must have the same length); returns the largest |got − ref| / bound seen.
 */
export function within(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, bound: ArrayLike<number>, n?: number, skip?: (i: number) => boolean): number {
  if (n === undefined) assert.equal(got.length, ref.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < (n ?? ref.length); i++) {
    if (skip?.(i)) continue;
    const err = Math.abs(got[i]! - ref[i]!);
    if (!(err <= bound[i]!)) assert.fail(`${what}[${i}]: got ${got[i]}, reference ${ref[i]}, |error| ${err} > bound ${bound[i]}`);
    if (err > 0) worst = Math.max(worst, err / bound[i]!);
  }
  return worst;
}
