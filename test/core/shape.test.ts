import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  Tensor, tensor, arange, gradcheck, randn, Random, noGrad,
  reshape, permute, transpose, slice, expand, unsqueeze, squeeze, contiguous, concat, stack, pad,
  indexSelect, gather, oneHot, tril, triu, indices,
} from "../../src/core/index.js";
import { assertClose, leaf, stridedLeaf, transposedLeaf } from "./helpers.js";

const f64 = (values: number[], shape?: number[]): Tensor => tensor(values, shape, { dtype: "f64" });
/** 0, 1, 2, … in f64 with the given shape */
const iota = (...shape: number[]): Tensor => arange(shape.reduce((a, b) => a * b, 1), undefined, 1, { dtype: "f64" }).reshape(...shape);

describe("reshape", () => {
  test("values, -1 inference, a view of contiguous data", () => {
    const x = iota(2, 3, 4);
    const y = reshape(x, [4, -1]);
    assert.deepEqual(y.shape, [4, 6]);
    assert.deepEqual(y.toArray(), x.toArray());
    assert.equal(y.data, x.data, "reshape of contiguous data shares storage");
    assert.deepEqual(x.reshape(-1).shape, [24]);
    assert.deepEqual(x.reshape(2, -1, 2).shape, [2, 6, 2]);
    assert.equal(reshape(x, [2, 3, 4]), x);
    assert.deepEqual(new Tensor(new Float64Array(0), [0, 3]).reshape(-1, 3).shape, [0, 3]);
  });
  test("of a non-contiguous input: row-major order of the view", () => {
    const x = iota(3, 4).transpose(); // [[0,4,8],[1,5,9],[2,6,10],[3,7,11]]
    const y = reshape(x, [2, 6]);
    assert.deepEqual(y.toNested(), [[0, 4, 8, 1, 5, 9], [2, 6, 10, 3, 7, 11]]);
    assert.deepEqual(iota(2, 6).slice(1, 1, 6, 2).reshape(-1).toArray(), [1, 3, 5, 7, 9, 11]);
  });
  test("gradcheck (contiguous, transposed, strided)", () => {
    gradcheck((t) => reshape(t, [4, -1]), [leaf([2, 3, 4], 1)]);
    gradcheck((t) => reshape(t, [2, 6]), [transposedLeaf(3, 4, 2)]);
    gradcheck((t) => reshape(t, [-1]), [stridedLeaf(3, 4, 3)]);
  });
  test("errors name the shapes", () => {
    const x = iota(2, 3);
    assert.throws(() => reshape(x, [4, 2]), (e: Error) => e instanceof RangeError && /\[2,3\]/.test(e.message) && /\[4,2\]/.test(e.message));
    assert.throws(() => reshape(x, [-1, -1]), /only one dimension can be -1/);
    assert.throws(() => reshape(x, [4, -1]), /cannot reshape a tensor of shape \[2,3\] \(6 elements\) to \[4,-1\]/);
    assert.throws(() => reshape(x, [-2, -3]), /shape entries must be non-negative integers \(or one -1\), got \[-2,-3\]/);
    assert.throws(() => reshape(x, [1.5, 4]), /got \[1.5,4\]/);
  });
});

describe("permute / transpose", () => {
  test("values are views with permuted strides", () => {
    const x = iota(2, 3, 4);
    const y = permute(x, [2, 0, 1]);
    assert.deepEqual(y.shape, [4, 2, 3]);
    assert.equal(y.data, x.data);
    for (const [i, j, k] of [[0, 0, 0], [3, 1, 2], [2, 0, 1]] as const) assert.equal(y.get(i, j, k), x.get(j, k, i));
    assert.deepEqual(permute(x, [-1, 0, 1]).shape, [4, 2, 3]);
    const t = transpose(x, 0, 2);
    assert.deepEqual(t.shape, [4, 3, 2]);
    assert.equal(t.get(3, 2, 1), x.get(1, 2, 3));
    assert.deepEqual(x.transpose().shape, [2, 4, 3]);
    assert.deepEqual(iota(2, 3).transpose().toNested(), [[0, 3], [1, 4], [2, 5]]);
  });
  test("gradcheck", () => {
    gradcheck((t) => permute(t, [2, 0, 1]), [leaf([2, 3, 4], 4)]);
    gradcheck((t) => transpose(t, 0, -1), [leaf([2, 3, 4], 5)]);
    gradcheck((t) => permute(t, [1, 0]), [transposedLeaf(3, 4, 6)]);
    gradcheck((t) => transpose(t).mul(2), [stridedLeaf(3, 4, 7)]);
  });
  test("errors", () => {
    const x = iota(2, 3, 4);
    assert.throws(() => permute(x, [0, 1]), /permute: dims must be a permutation of 0..2, got \[0,1\]/);
    assert.throws(() => permute(x, [0, 1, 1]), /permutation/);
    assert.throws(() => permute(x, [0, 1, 3]), /axis 3 is out of range/);
    assert.throws(() => transpose(x, 0, 5), /transpose: axis 5/);
  });
});

describe("slice", () => {
  const x = iota(3, 6);
  test("start/end/step with Python semantics", () => {
    assert.deepEqual(slice(x, 1, 1, 5, 2).toNested(), [[1, 3], [7, 9], [13, 15]]);
    assert.deepEqual(slice(x, 0, -2).toNested(), [[6, 7, 8, 9, 10, 11], [12, 13, 14, 15, 16, 17]]);
    assert.deepEqual(slice(x, -1, -3, -1).toNested(), [[3, 4], [9, 10], [15, 16]]);
    assert.deepEqual(slice(x, 1, 0, undefined, 4).toNested(), [[0, 4], [6, 10], [12, 16]]);
    assert.deepEqual(slice(x, 1, 2, 6, 3).toNested(), [[2, 5], [8, 11], [14, 17]]);
  });
  test("out-of-range bounds are clamped; an empty range gives size 0", () => {
    assert.deepEqual(slice(x, 1, -100, 100).toArray(), x.toArray());
    assert.deepEqual(slice(x, 1, 4, 100).toNested(), [[4, 5], [10, 11], [16, 17]]);
    assert.deepEqual(slice(x, 1, 5, 2).shape, [3, 0]);
    assert.deepEqual(slice(x, 0, 10).shape, [0, 6]);
  });
  test("is a view sharing storage", () => {
    const y = slice(x, 0, 1, 3);
    assert.equal(y.data, x.data);
    assert.equal(y.offset, 6);
    assert.equal(y.isContiguous(), true);
    assert.equal(slice(x, 1, 0, 6, 2).isContiguous(), false);
  });
  test("gradcheck: steps, negative indices, nested slices, non-contiguous input", () => {
    gradcheck((t) => slice(t, 1, 1, 5, 2), [leaf([3, 6], 8)]);
    gradcheck((t) => slice(t, 0, -2), [leaf([3, 6], 9)]);
    gradcheck((t) => slice(slice(t, 1, -5, -1), 0, 0, 3, 2), [leaf([3, 6], 10)]);
    gradcheck((t) => slice(t, 0, 1, 4, 2), [transposedLeaf(5, 3, 11)]);
    gradcheck((t) => slice(t, 1, 1), [stridedLeaf(3, 4, 12)]);
  });
  test("a gradient only reaches the sliced elements", () => {
    const t = iota(2, 4).requireGrad();
    slice(t, 1, 1, 4, 2).sum().backward();
    assert.deepEqual(t.grad!.toNested(), [[0, 1, 0, 1], [0, 1, 0, 1]]);
  });
  test("errors", () => {
    assert.throws(() => slice(x, 1, 0, 3, 0), /step must be a positive integer, got 0/);
    assert.throws(() => slice(x, 1, 0, 3, -1), /step must be a positive integer/);
    assert.throws(() => slice(x, 2, 0), /slice: axis 2 is out of range/);
    assert.throws(() => slice(x, 0, 0.5), /start and end must be integers/);
  });
});

describe("expand", () => {
  test("broadcast view with stride 0, -1 keeps a dimension, new leading axes", () => {
    const x = f64([1, 2, 3], [3, 1]);
    const y = expand(x, [2, 3, 4]);
    assert.deepEqual(y.shape, [2, 3, 4]);
    assert.deepEqual(y.strides, [0, 1, 0]);
    assert.equal(y.data, x.data);
    assert.deepEqual(y.toNested(), [0, 1].map(() => [1, 2, 3].map((v) => [v, v, v, v])));
    assert.deepEqual(x.expand(-1, 2).toNested(), [[1, 1], [2, 2], [3, 3]]);
    assert.equal(expand(x, [3, 1]), x);
  });
  test("gradcheck: the gradient sums over the expanded axes", () => {
    gradcheck((t) => expand(t, [2, 3, 4]), [leaf([3, 1], 13)]);
    gradcheck((t) => expand(t, [2, -1, -1]), [transposedLeaf(3, 4, 14)]);
    const t = f64([1, 2]).reshape(2, 1).requireGrad();
    expand(t, [3, 2, 5]).sum().backward();
    assert.deepEqual(t.grad!.toArray(), [15, 15]);
  });
  test("errors name the shapes", () => {
    const x = f64([1, 2, 3], [3, 1]);
    assert.throws(() => expand(x, [2, 4]), (e: Error) => /\[3,1\]/.test(e.message) && /\[2,4\]/.test(e.message));
    assert.throws(() => expand(x, [3]), /fewer dimensions/);
  });
});

describe("unsqueeze / squeeze", () => {
  test("shapes and values", () => {
    const x = iota(2, 3);
    assert.deepEqual(unsqueeze(x, 0).shape, [1, 2, 3]);
    assert.deepEqual(unsqueeze(x, 1).shape, [2, 1, 3]);
    assert.deepEqual(unsqueeze(x, -1).shape, [2, 3, 1]);
    assert.deepEqual(unsqueeze(x, 1).toArray(), x.toArray());
    assert.deepEqual(unsqueeze(x.transpose(), 1).toNested(), [[[0, 3]], [[1, 4]], [[2, 5]]]);
    const y = iota(1, 2, 1, 3);
    assert.deepEqual(squeeze(y).shape, [2, 3]);
    assert.deepEqual(squeeze(y, 2).shape, [1, 2, 3]);
    assert.deepEqual(squeeze(y, -4).shape, [2, 1, 3]);
    assert.equal(squeeze(x), x);
    assert.deepEqual(squeeze(f64([5], [1, 1])).shape, []);
  });
  test("gradcheck", () => {
    gradcheck((t) => unsqueeze(t, 1), [leaf([2, 3], 15)]);
    gradcheck((t) => unsqueeze(t, 0).mul(unsqueeze(t, 1)), [transposedLeaf(3, 4, 16)]); // [1,3,4]·[3,1,4]
    gradcheck((t) => unsqueeze(t, -1), [transposedLeaf(3, 4, 16)]);
    gradcheck((t) => squeeze(t), [leaf([1, 3, 1, 2], 17)]);
    gradcheck((t) => squeeze(unsqueeze(t, 2), 2), [stridedLeaf(3, 4, 18)]);
  });
  test("errors", () => {
    assert.throws(() => squeeze(iota(2, 3), 1), /squeeze: axis 1 has size 3, expected 1/);
    assert.throws(() => unsqueeze(iota(2, 3), 3), /unsqueeze: axis 3 is out of range/);
  });
});

describe("contiguous", () => {
  test("returns the tensor itself when contiguous, a row-major copy otherwise", () => {
    const x = iota(2, 3);
    assert.equal(contiguous(x), x);
    const t = x.transpose();
    const c = contiguous(t);
    assert.equal(c.isContiguous(), true);
    assert.notEqual(c.data, x.data);
    assert.deepEqual(c.toNested(), t.toNested());
    assert.deepEqual(c.strides, [2, 1]);
  });
  test("gradcheck", () => {
    gradcheck(contiguous, [transposedLeaf(3, 4, 19)]);
    gradcheck((t) => t.contiguous(), [stridedLeaf(3, 4, 20)]);
    gradcheck(contiguous, [leaf([3], 21)]);
  });
});

describe("concat / stack", () => {
  test("concat of three tensors along a non-last axis", () => {
    const a = iota(2, 1, 2);
    const b = iota(2, 2, 2).add(10);
    const c = iota(2, 3, 2).add(100);
    const y = concat([a, b, c], 1);
    assert.deepEqual(y.shape, [2, 6, 2]);
    assert.deepEqual(y.toNested(), [
      [[0, 1], [10, 11], [12, 13], [100, 101], [102, 103], [104, 105]],
      [[2, 3], [14, 15], [16, 17], [106, 107], [108, 109], [110, 111]],
    ]);
    assert.deepEqual(concat([iota(1, 2), iota(2, 2)], 0).toNested(), [[0, 1], [0, 1], [2, 3]]);
    assert.deepEqual(concat([iota(2, 1), iota(2, 2)], -1).toNested(), [[0, 0, 1], [1, 2, 3]]);
  });
  test("concat of non-contiguous inputs and mixed dtypes (promoted to f64)", () => {
    const t = iota(2, 3).transpose(); // [3,2]
    const y = concat([t, tensor([[7, 8]])], 0);
    assert.equal(y.dtype, "f64");
    assert.deepEqual(y.toNested(), [[0, 3], [1, 4], [2, 5], [7, 8]]);
  });
  test("concat gradcheck: three tensors, non-last axis, non-contiguous inputs, one constant input", () => {
    gradcheck((a, b, c) => concat([a, b, c], 1), [leaf([2, 1, 2], 22), leaf([2, 2, 2], 23), leaf([2, 3, 2], 24)]);
    gradcheck((a, b) => concat([a, b], 0), [transposedLeaf(3, 4, 25), stridedLeaf(2, 4, 26)]);
    gradcheck((a, b) => concat([a, b, a], -1), [leaf([2, 3], 27), leaf([2, 1], 28).detach()]);
  });
  test("concat: the f32 input of a mixed concat gets an f32 gradient", () => {
    const a = tensor([1, 2]).requireGrad();
    const b = f64([3]).requireGrad();
    concat([a, b]).mul(f64([1, 2, 3])).sum().backward();
    assert.equal(a.grad!.dtype, "f32");
    assert.deepEqual(a.grad!.toArray(), [1, 2]);
    assert.deepEqual(b.grad!.toArray(), [3]);
  });
  test("stack along a new first, middle and last axis", () => {
    const a = iota(2, 3);
    const b = iota(2, 3).add(10);
    assert.deepEqual(stack([a, b]).shape, [2, 2, 3]);
    assert.deepEqual(stack([a, b]).toNested(), [a.toNested(), b.toNested()]);
    assert.deepEqual(stack([a, b], 1).toNested(), [[[0, 1, 2], [10, 11, 12]], [[3, 4, 5], [13, 14, 15]]]);
    assert.deepEqual(stack([a, b], -1).shape, [2, 3, 2]);
    assert.deepEqual(stack([a, b], -1).get(1, 2, 1), 15);
  });
  test("stack gradcheck", () => {
    gradcheck((a, b, c) => stack([a, b, c], 1), [leaf([2, 3], 29), transposedLeaf(2, 3, 30), stridedLeaf(2, 3, 31)]);
    gradcheck((a) => stack([a, a], -1), [leaf([3], 32)]);
  });
  test("errors name the shapes and the axis", () => {
    assert.throws(() => concat([iota(2, 3), iota(3, 3)], 1), /tensor 1 has shape \[3,3\], expected \[2,3\] except along axis 1/);
    assert.throws(() => concat([iota(2, 3), iota(6)], 0), /tensor 1 has shape \[6\]/);
    assert.throws(() => concat([]), /at least one tensor/);
    assert.throws(() => concat([iota(2, 3)], 2), /concat: axis 2/);
    assert.throws(() => stack([iota(2, 3), iota(3, 2)]), /stack: tensor 1 has shape \[3,2\], expected \[2,3\]/);
    assert.throws(() => stack([]), /at least one tensor/);
  });
});

describe("pad", () => {
  test("constant padding on every axis", () => {
    const x = iota(2, 2).add(1);
    const y = pad(x, [[1, 0], [0, 2]]);
    assert.deepEqual(y.toNested(), [[0, 0, 0, 0], [1, 2, 0, 0], [3, 4, 0, 0]]);
    assert.deepEqual(pad(x, [[0, 0], [1, 1]], -1).toNested(), [[-1, 1, 2, -1], [-1, 3, 4, -1]]);
    assert.deepEqual(pad(x.transpose(), [[0, 1], [0, 0]]).toNested(), [[1, 3], [2, 4], [0, 0]]);
  });
  test("gradcheck", () => {
    gradcheck((t) => pad(t, [[1, 0], [0, 2], [2, 2]]), [leaf([2, 3, 2], 33)]);
    gradcheck((t) => pad(t, [[0, 1], [3, 0]], 5), [transposedLeaf(3, 4, 34)]);
  });
  test("errors", () => {
    assert.throws(() => pad(iota(2, 2), [[1, 1]]), /widths must give \[before, after\] for each of the 2 axes, got 1/);
    assert.throws(() => pad(iota(2, 2), [[1, 1], [-1, 0]]), /widths\[1\] must be two non-negative integers, got \[-1,0\]/);
  });
});

describe("indexSelect", () => {
  test("embedding lookup with repeated indices; the gradient accumulates per row", () => {
    const weight = iota(4, 3).requireGrad();
    const ids = indices([0, 2, 2, 2, 3, 0], [2, 3]);
    const y = indexSelect(weight, 0, ids);
    assert.deepEqual(y.shape, [2, 3, 3]);
    assert.deepEqual(y.toNested(), [
      [[0, 1, 2], [6, 7, 8], [6, 7, 8]],
      [[6, 7, 8], [9, 10, 11], [0, 1, 2]],
    ]);
    y.sum().backward();
    assert.deepEqual(weight.grad!.toNested(), [[2, 2, 2], [0, 0, 0], [3, 3, 3], [1, 1, 1]]);
  });
  test("other axes, negative indices, plain arrays, non-contiguous input", () => {
    const x = iota(2, 3, 2);
    assert.deepEqual(indexSelect(x, 1, [2, -3]).toNested(), [[[4, 5], [0, 1]], [[10, 11], [6, 7]]]);
    assert.deepEqual(indexSelect(x, -1, Int32Array.from([1])).shape, [2, 3, 1]);
    const t = iota(2, 3).transpose(); // [[0,3],[1,4],[2,5]]
    assert.deepEqual(indexSelect(t, 0, [2, 0]).toNested(), [[2, 5], [0, 3]]);
    assert.deepEqual(indexSelect(t, 1, [1, 1]).toNested(), [[3, 3], [4, 4], [5, 5]]);
  });
  test("gradcheck", () => {
    gradcheck((w) => indexSelect(w, 0, indices([0, 2, 2, 3, 0, 0], [3, 2])), [leaf([4, 3], 35)]);
    gradcheck((w) => indexSelect(w, 1, [1, 1, 0]), [leaf([2, 3, 2], 36)]);
    gradcheck((w) => indexSelect(w, 0, [3, 1, 3]), [transposedLeaf(4, 2, 37)]);
    gradcheck((w) => indexSelect(w, 1, [0, 0]), [stridedLeaf(3, 4, 38)]);
  });
  test("an out-of-range index is named with its position and the axis size", () => {
    assert.throws(() => indexSelect(iota(4, 3), 0, [0, 4]), /indexSelect: index 4 at position 1 is out of range for an axis of size 4/);
    assert.throws(() => indexSelect(iota(4, 3), 0, [-5]), /index -5/);
    assert.throws(() => indexSelect(iota(4, 3), 0, [1.5]), /index 1.5/);
    assert.throws(() => indexSelect(iota(4, 3), 2, [0]), /indexSelect: axis 2/);
  });
});

describe("gather", () => {
  test("values along the last and the first axis", () => {
    const x = iota(2, 3);
    assert.deepEqual(gather(x, 1, indices([2, 0, 1, 1], [2, 2])).toNested(), [[2, 0], [4, 4]]);
    assert.deepEqual(gather(x, 0, indices([1, 0, 1], [1, 3])).toNested(), [[3, 1, 5]]);
    assert.deepEqual(gather(x.transpose(), 1, indices([1, 1, 0], [3, 1])).toNested(), [[3], [4], [2]]);
  });
  test("gradient scatter-adds repeated picks", () => {
    const x = iota(2, 3).requireGrad();
    gather(x, 1, indices([2, 2, 2, 0], [2, 2])).sum().backward();
    assert.deepEqual(x.grad!.toNested(), [[0, 0, 2], [1, 0, 1]]);
  });
  test("gradcheck", () => {
    gradcheck((t) => gather(t, 1, indices([2, 0, 0, 1, 1, 3], [2, 3])), [leaf([2, 4], 39)]);
    gradcheck((t) => gather(t, 0, indices([1, 0, 2, 2], [2, 2])), [leaf([3, 2], 40)]);
    gradcheck((t) => gather(t, -1, indices([3, 0, 1], [3, 1])), [transposedLeaf(3, 4, 41)]);
  });
  test("errors: index shape and range", () => {
    assert.throws(() => gather(iota(2, 3), 1, indices([0, 1, 2], [3, 1])), /index shape \[3,1\] must match x \[2,3\] on every axis but 1/);
    assert.throws(() => gather(iota(2, 3), 1, indices([0, 3], [2, 1])), /gather: index 3 at position 1 is out of range for an axis of size 3/);
  });
});

describe("oneHot", () => {
  test("values, shape and dtype (takes no gradient)", () => {
    const y = oneHot(indices([0, 2, 1, 2], [2, 2]), 3);
    assert.deepEqual(y.shape, [2, 2, 3]);
    assert.equal(y.dtype, "f32");
    assert.deepEqual(y.toNested(), [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 0, 1]]]);
    assert.equal(oneHot([1], 2, "f64").dtype, "f64");
    assert.equal(oneHot([1], 2).requiresGrad, false);
  });
  test("errors", () => {
    assert.throws(() => oneHot([0, 3], 3), /oneHot: index 3 at position 1 is out of range for an axis of size 3/);
    assert.throws(() => oneHot([0], 0), /numClasses must be a positive integer, got 0/);
    assert.throws(() => indices([1, 2, 3], [2, 2]), /shape \[2,2\] needs 4 values, got 3/);
  });
});

describe("tril / triu", () => {
  const x = iota(3, 4).add(1);
  const expected = (keep: (r: number, c: number) => boolean): number[][] =>
    [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => (keep(r, c) ? r * 4 + c + 1 : 0)));
  for (const k of [-1, 0, 1]) {
    test(`k = ${k}: values on a matrix and on a batch`, () => {
      assert.deepEqual(tril(x, k).toNested(), expected((r, c) => c - r <= k));
      assert.deepEqual(triu(x, k).toNested(), expected((r, c) => c - r >= k));
      const batch = stack([x, x.mul(-1)]);
      assert.deepEqual(tril(batch, k).toNested(), [expected((r, c) => c - r <= k), expected((r, c) => c - r <= k).map((row) => row.map((v) => 0 - v))]);
      assert.deepEqual(triu(x.transpose(), k).toNested(), [0, 1, 2, 3].map((r) => [0, 1, 2].map((c) => (c - r >= k ? c * 4 + r + 1 : 0))));
    });
    test(`k = ${k}: gradcheck`, () => {
      gradcheck((t) => tril(t, k), [leaf([2, 3, 4], 42)]);
      gradcheck((t) => triu(t, k), [leaf([3, 4], 43)]);
      gradcheck((t) => tril(t, k), [transposedLeaf(4, 3, 44)]);
    });
  }
  test("default k is 0; fewer than 2 dimensions is an error", () => {
    assert.deepEqual(tril(x).toNested(), expected((r, c) => c <= r));
    assert.throws(() => tril(iota(3)), /tril: expected at least 2 dimensions, got shape \[3\]/);
    assert.throws(() => triu(iota(3)), /triu: expected at least 2 dimensions/);
  });
});

test("views of views keep the right elements (permute ∘ slice ∘ expand)", () => {
  const x = noGrad(() => randn([3, 1, 5], new Random(45), { dtype: "f64" }));
  const y = expand(x, [3, 2, 5]).slice(2, 1, 5, 2).permute(2, 0, 1); // [2,3,2]
  for (const [i, j, k] of [[0, 0, 0], [1, 2, 1], [0, 1, 1]] as const) assert.equal(y.get(i, j, k), x.get(j, 0, 1 + 2 * i));
  assertClose(y.contiguous(), y.toArray(), 0, 0);
  gradcheck((t) => expand(t, [3, 2, 5]).slice(2, 1, 5, 2).permute(2, 0, 1), [leaf([3, 1, 5], 46)]);
});
