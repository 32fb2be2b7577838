import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { tensor } from "../../src/core/create.js";
import { Tensor } from "../../src/core/tensor.js";
import { clipGradNorm, gradNorm } from "../../src/train/clip.js";

function withGrad(values: number[], grad: number[] | null, dtype: "f32" | "f64" = "f64"): Tensor {
  const p = tensor(values, undefined, { dtype, requiresGrad: true });
  if (grad !== null) p.grad = tensor(grad, undefined, { dtype });
  return p;
}

// gradients [3, 4] and [12]: 2-norm √(9 + 16 + 144) = 13, 1-norm 19, ∞-norm 12
const make = (): Tensor[] => [withGrad([0, 0], [3, -4]), withGrad([0], [12]), withGrad([0, 0], null)];

describe("clipGradNorm", () => {
  test("returns the total 2-norm before clipping and scales by maxNorm / (total + 1e-6)", () => {
    const params = make();
    const total = clipGradNorm(params, 6.5);
    assert.equal(total, 13);
    const c = 6.5 / (13 + 1e-6);
    assert.deepEqual([...params[0]!.grad!.data], [3 * c, -4 * c]);
    assert.deepEqual([...params[1]!.grad!.data], [12 * c]);
    assert.equal(params[2]!.grad, null);
    assert.ok(Math.abs(gradNorm(params) - 6.5) < 1e-6);
  });

  test("below the threshold the gradients are not touched", () => {
    const params = make();
    const grads = params.map((p) => p.grad);
    assert.equal(clipGradNorm(params, 20), 13);
    assert.equal(clipGradNorm(params, 13.001), 13);
    assert.deepEqual([...params[0]!.grad!.data], [3, -4]);
    assert.deepEqual([...params[1]!.grad!.data], [12]);
    assert.deepEqual(params.map((p) => p.grad), grads, "same gradient tensors");
  });

  test("the ∞-norm is the largest |g|; other p-norms work too", () => {
    const params = [withGrad([0, 0], [3, -14]), withGrad([0], [12])];
    assert.equal(clipGradNorm(params, 7, Infinity), 14);
    const c = 7 / (14 + 1e-6);
    assert.deepEqual([...params[0]!.grad!.data], [3 * c, -14 * c]);
    assert.deepEqual([...params[1]!.grad!.data], [12 * c]);
    assert.equal(gradNorm(make(), 1), 19);
    assert.equal(gradNorm(make(), Infinity), 12);
    assert.ok(Math.abs(gradNorm(make(), 3) - Math.cbrt(27 + 64 + 1728)) < 1e-12);
  });

  test("f32 gradients are scaled in place and stay f32", () => {
    const p = withGrad([0, 0], [30, 40], "f32");
    const storage = p.grad!.data;
    assert.equal(clipGradNorm([p], 1), 50);
    assert.equal(p.grad!.data, storage);
    assert.ok(p.grad!.data instanceof Float32Array);
    assert.ok(Math.abs(gradNorm([p]) - 1) < 1e-6);
  });

  test("a strided gradient is replaced by a scaled contiguous copy", () => {
    const p = tensor([0, 0, 0, 0], [2, 2], { dtype: "f64", requiresGrad: true });
    const storage = new Float64Array([1, 2, 3, 4]);
    p.grad = new Tensor(storage, [2, 2], [1, 2]); // logical [[1, 3], [2, 4]]
    const total = clipGradNorm([p], 1);
    assert.equal(total, Math.sqrt(30));
    const c = 1 / (Math.sqrt(30) + 1e-6);
    assert.ok(p.grad.isContiguous());
    assert.deepEqual([...p.grad.values()], [1 * c, 3 * c, 2 * c, 4 * c]);
    assert.deepEqual([...storage], [1, 2, 3, 4]);
  });

  test("no gradients: the norm is 0; a parameter listed twice counts once", () => {
    assert.equal(clipGradNorm([withGrad([1], null)], 1), 0);
    const p = withGrad([0, 0], [3, 4]);
    assert.equal(clipGradNorm([p, p], 10), 5);
  });

  test("a non-finite norm leaves the gradients as they are, or throws naming the parameter", () => {
    const params = [withGrad([0], [1]), withGrad([0, 0], [2, NaN])];
    assert.ok(Number.isNaN(clipGradNorm(params, 1)));
    assert.deepEqual([...params[0]!.grad!.data], [1]);
    assert.equal(clipGradNorm([withGrad([0], [Infinity])], 1, Infinity), Infinity);
    assert.ok(Number.isNaN(gradNorm(params, Infinity)));
    assert.throws(() => clipGradNorm(params, 1, 2, { errorIfNonfinite: true }), /total 2-norm of the gradients is NaN \(parameter 1 has a non-finite gradient\)/);
  });

  test("validation", () => {
    assert.throws(() => clipGradNorm(make(), 0), /clipGradNorm: maxNorm must be a number > 0, got 0/);
    assert.throws(() => clipGradNorm(make(), -1), /maxNorm must be a number > 0, got -1/);
    assert.throws(() => clipGradNorm(make(), NaN), /maxNorm must be a number > 0, got NaN/);
    assert.throws(() => clipGradNorm(make(), 1, 0), /normType must be a number > 0 or Infinity, got 0/);
    assert.throws(() => gradNorm(make(), NaN), /gradNorm: normType must be/);
  });
});
