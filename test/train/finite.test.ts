import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { tensor } from "../../src/core/create.js";
import type { Tensor } from "../../src/core/tensor.js";
import { assertFiniteGrads, firstNonFinite, gradsAreFinite, NonFiniteGradError } from "../../src/train/finite.js";

function param(shape: number[], grad: number[] | null, dtype: "f32" | "f64" = "f32"): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const p = tensor(new Array<number>(size).fill(0), shape, { dtype, requiresGrad: true });
  if (grad !== null) p.grad = tensor(grad, shape, { dtype });
  return p;
}

describe("assertFiniteGrads", () => {
  test("passes when every gradient present is finite", () => {
    assertFiniteGrads([["a", param([2], [1, -2])], ["frozen", param([1], null)], ["b", param([2, 2], [0, 1e30, -1e-30, 3])]]);
  });

  test("names the first parameter with a NaN/Inf gradient and the element", () => {
    const named: Array<[string, Tensor]> = [
      ["embed.weight", param([2], [1, 2])],
      ["layers.0.proj.weight", param([2, 3], [0, 1, 2, 3, 4, NaN], "f64")],
      ["head.weight", param([1], [Infinity])],
    ];
    assert.throws(() => assertFiniteGrads(named), (e: unknown) => {
      assert.ok(e instanceof NonFiniteGradError);
      assert.equal(e.message, "non-finite gradient for 'layers.0.proj.weight': grad[1, 2] = NaN (element 5 of shape [2,3])");
      assert.equal(e.paramName, "'layers.0.proj.weight'");
      assert.equal(e.index, 5);
      assert.deepEqual(e.position, [1, 2]);
      return true;
    });
    assert.throws(() => assertFiniteGrads([["h", param([3], [0, -Infinity, NaN])]]), /'h': grad\[1\] = -Infinity \(element 1 of shape \[3\]\)/);
  });

  test("reads strided gradients in logical order and takes any iterable", () => {
    const p = param([2, 2], null);
    p.grad = tensor([1, 2, NaN, 4], [2, 2]).transpose(); // logical [[1, NaN], [2, 4]]
    function* named(): Generator<[string, Tensor]> {
      yield ["w", p];
    }
    assert.throws(() => assertFiniteGrads(named()), /'w': grad\[0, 1\] = NaN \(element 1 of shape \[2,2\]\)/);
  });

  test("gradsAreFinite and firstNonFinite", () => {
    assert.equal(gradsAreFinite([param([2], [1, 2]), param([1], null)]), true);
    assert.equal(gradsAreFinite([param([2], [1, 2]), param([1], [NaN])]), false);
    assert.equal(firstNonFinite(new Float32Array([1, 2, 3])), -1);
    assert.equal(firstNonFinite(new Float64Array([1, Infinity, NaN])), 1);
    assert.equal(firstNonFinite([]), -1);
  });
});
