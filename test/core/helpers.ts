/** Shared helpers for the tensor-core tests: seeded f64 inputs, non-contiguous leaves, closeness checks. */
import assert from "node:assert/strict";
import { noGrad, Random, Tensor, randn, type Shape } from "../../src/core/index.js";

/** f64 normal samples that require grad (a gradcheck input). */
export function leaf(shape: Shape, seed: number, scale = 1): Tensor {
  return randn(shape, new Random(seed), { dtype: "f64", std: scale }).requireGrad();
}

/** f64 uniform samples in [lo, hi) that require grad. */
export function uniformLeaf(shape: Shape, seed: number, lo: number, hi: number): Tensor {
  const rng = new Random(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  rng.fillUniform(data, lo, hi);
  return new Tensor(data, shape).requireGrad();
}

/**
 * f64 normal samples at least `margin` away from every point in `kinks` (a sample that lands too close is
 * pushed out to kink ± margin·(1 + |u|)), so finite differences never straddle a kink.
 */
export function leafAwayFrom(shape: Shape, seed: number, kinks: readonly number[], margin = 1e-3): Tensor {
  const t = randn(shape, new Random(seed), { dtype: "f64" });
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    for (const k of kinks) {
      if (Math.abs(d[i]! - k) < margin) d[i] = k + (d[i]! >= k ? 1 : -1) * margin * 2;
    }
  }
  return t.requireGrad();
}

/** A non-contiguous leaf of logical shape [r, c]: the transpose of a [c, r] base built without grad. */
export function transposedLeaf(r: number, c: number, seed: number, map: (v: number) => number = (v) => v): Tensor {
  const view = noGrad(() => {
    const base = randn([c, r], new Random(seed), { dtype: "f64" });
    base.data.forEach((v, i) => (base.data[i] = map(v)));
    return base.transpose(0, 1);
  });
  assert.equal(view.isContiguous(), false);
  return view.requireGrad();
}

/** A non-contiguous leaf of logical shape [r, c]: every other column (from column 1) of an [r, 2c+1] base. */
export function stridedLeaf(r: number, c: number, seed: number, map: (v: number) => number = (v) => v): Tensor {
  const view = noGrad(() => {
    const base = randn([r, 2 * c + 1], new Random(seed), { dtype: "f64" });
    base.data.forEach((v, i) => (base.data[i] = map(v)));
    return base.slice(1, 1, 2 * c + 1, 2);
  });
  assert.deepEqual(view.shape, [r, c]);
  assert.equal(view.isContiguous(), false);
  return view.requireGrad();
}

/** |actual − expected| ≤ atol + rtol·|expected| elementwise (NaN never passes; equal infinities do). */
export function assertClose(
  actual: Tensor | ArrayLike<number> | number,
  expected: ArrayLike<number> | number,
  atol = 1e-12,
  rtol = 1e-12,
  what = "",
): void {
  const a = actual instanceof Tensor ? actual.toArray() : typeof actual === "number" ? [actual] : Array.from(actual);
  const e = typeof expected === "number" ? [expected] : Array.from(expected);
  assert.equal(a.length, e.length, `${what} length ${a.length} vs expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (x === y) continue;
    assert.ok(
      Math.abs(x - y) <= atol + rtol * Math.abs(y),
      `${what} element ${i}: got ${x}, expected ${y} (|diff| ${Math.abs(x - y)})\n  actual   ${JSON.stringify(a)}\n  expected ${JSON.stringify(e)}`,
    );
  }
}

/** All row-major multi-indices of a shape. */
export function allIndices(shape: Shape): number[][] {
  const out: number[][] = [];
  const idx = new Array<number>(shape.length).fill(0);
  if (shape.some((d) => d === 0)) return out;
  for (;;) {
    out.push([...idx]);
    let d = shape.length - 1;
    while (d >= 0 && ++idx[d]! === shape[d]) idx[d--] = 0;
    if (d < 0) return out;
  }
}

export function assertNoNaN(t: Tensor, what = ""): void {
  t.toArray().forEach((v, i) => assert.ok(!Number.isNaN(v), `${what} element ${i} is NaN`));
}
