import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  Tensor, tensor, zeros, ones, full, zerosLike, onesLike, scalar, arange, randn, rand, Random, DTYPES,
  add, mul, where, concat, matmul, shapeString, sizeOf, broadcastShapes,
} from "../../src/core/index.js";

describe("factories", () => {
  test("tensor from nested arrays infers the shape; default dtype f32", () => {
    const t = tensor([[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(t.strides, [3, 1]);
    assert.equal(t.dtype, "f32");
    assert.ok(t.data instanceof Float32Array);
    assert.deepEqual(t.toArray(), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(tensor([[[1], [2]]]).shape, [1, 2, 1]);
    assert.deepEqual(tensor(7).shape, []);
    assert.equal(tensor(7).item(), 7);
    assert.deepEqual(tensor([]).shape, [0]);
    assert.deepEqual(tensor([[], []]).shape, [2, 0]);
  });

  test("dtype option, flat values with an explicit shape, nested values with a compatible shape", () => {
    const t = tensor([0.1, 0.2], undefined, { dtype: "f64" });
    assert.equal(t.dtype, "f64");
    assert.equal(t.get(0), 0.1);
    assert.equal(tensor([0.1]).get(0), Math.fround(0.1));
    assert.deepEqual(tensor([1, 2, 3, 4, 5, 6], [3, 2]).toNested(), [[1, 2], [3, 4], [5, 6]]);
    assert.deepEqual(tensor([[1, 2], [3, 4]], [4]).toArray(), [1, 2, 3, 4]);
    assert.deepEqual(tensor(5, [1, 1]).shape, [1, 1]);
    assert.equal(tensor([1], undefined, { requiresGrad: true }).requiresGrad, true);
  });

  test("typed arrays: a matching dtype is used without a copy, a different dtype is converted", () => {
    const d64 = new Float64Array([1, 2, 3, 4]);
    const t = tensor(d64, [2, 2]);
    assert.equal(t.dtype, "f64");
    assert.equal(t.data, d64);
    const t32 = tensor(d64, [4], { dtype: "f32" });
    assert.equal(t32.dtype, "f32");
    assert.notEqual(t32.data, d64);
    assert.deepEqual(t32.toArray(), [1, 2, 3, 4]);
    const f32 = new Float32Array([1.5]);
    assert.equal(tensor(f32).data, f32);
    assert.deepEqual(tensor(Int32Array.from([3, 4])).toArray(), [3, 4]);
  });

  test("shape errors", () => {
    assert.throws(() => tensor([1, 2, 3], [2, 2]), /shape \[2,2\] needs 4 values, got 3/);
    assert.throws(() => tensor([[1, 2], [3]]), /ragged nested array: expected 2 entries at depth 1/);
    assert.throws(() => tensor([[1, 2], 3] as never), /ragged/);
    assert.throws(() => tensor([1, 2], [-1, -2]), /must be non-negative integers/);
    assert.throws(() => tensor([1, 2], [2.5]), /must be non-negative integers/);
    assert.throws(() => tensor([1], undefined, { dtype: "f16" as never }), /dtype must be "f32" or "f64", got "f16"/);
    assert.throws(() => new Tensor(new Float32Array(3), [2, 2]), /needs 4 elements but the data has 3/);
    assert.throws(() => zeros([2, -1]), /full: shape must be non-negative integers, got \[2,-1\]/);
  });

  test("zeros / ones / full / *Like / scalar / arange", () => {
    assert.deepEqual(zeros([2, 3]).toArray(), [0, 0, 0, 0, 0, 0]);
    assert.equal(zeros([2]).dtype, "f32");
    assert.equal(ones([2], { dtype: "f64" }).dtype, "f64");
    assert.deepEqual(full([2], 2.5).toArray(), [2.5, 2.5]);
    const base = ones([3, 1], { dtype: "f64" });
    assert.deepEqual(zerosLike(base).shape, [3, 1]);
    assert.equal(zerosLike(base).dtype, "f64");
    assert.equal(onesLike(base, { dtype: "f32" }).dtype, "f32");
    assert.deepEqual(scalar(3).shape, []);
    assert.deepEqual(arange(4).toArray(), [0, 1, 2, 3]);
    assert.deepEqual(arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
    assert.deepEqual(arange(3, 0, -1).toArray(), [3, 2, 1]);
    assert.deepEqual(arange(3, 0).shape, [0]);
    assert.throws(() => arange(0, 1, 0), /step must be a finite non-zero number/);
    assert.equal(ones([1], { requiresGrad: true }).requiresGrad, true);
  });

  test("randn / rand are deterministic per seed and respect options", () => {
    const a = randn([4, 4], new Random(1), { dtype: "f64" });
    const b = randn([4, 4], new Random(1), { dtype: "f64" });
    assert.deepEqual(a.toArray(), b.toArray());
    assert.notDeepEqual(a.toArray(), randn([4, 4], new Random(2), { dtype: "f64" }).toArray());
    const s = randn([1000], new Random(3), { dtype: "f64", mean: 5, std: 0.1 }).toArray();
    const mean = s.reduce((x, y) => x + y, 0) / s.length;
    assert.ok(Math.abs(mean - 5) < 0.02, `mean ${mean}`);
    const u = rand([1000], new Random(4), { low: -2, high: -1 }).toArray();
    assert.ok(u.every((v) => v >= -2 && v < -1));
  });
});

describe("reading values", () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]], undefined, { dtype: "f64" });

  test("toNested / toArray / values", () => {
    assert.deepEqual(x.toNested(), [[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(scalar(2).toNested(), 2);
    assert.deepEqual(tensor([[], []]).toNested(), [[], []]);
    assert.equal(x.values(), x.data, "values() of a contiguous tensor that owns its storage is the storage");
  });

  test("item: single-element tensors of any rank, an error otherwise", () => {
    assert.equal(scalar(3.5, { dtype: "f64" }).item(), 3.5);
    assert.equal(x.slice(0, 1, 2).slice(1, 2, 3).item(), 6);
    assert.equal(x.transpose().slice(0, 1, 2).slice(1, 1).item(), 5);
    assert.throws(() => x.item(), /item: expected a tensor with one element, got shape \[2,3\]/);
  });

  test("get: multi-index with negative indices; errors name the axis", () => {
    assert.equal(x.get(1, 2), 6);
    assert.equal(x.get(-1, -3), 4);
    assert.equal(x.transpose().get(2, 0), 3);
    assert.equal(scalar(9).get(), 9);
    assert.throws(() => x.get(0), /get: expected 2 indices, got 1/);
    assert.throws(() => x.get(0, 3), /index 3 out of range for axis 1 of size 3/);
    assert.throws(() => x.get(-3, 0), /index -3 out of range for axis 0 of size 2/);
    assert.throws(() => x.get(0.5, 0), /index 0.5/);
  });

  test("values of views: transpose, strided slice, offset slice, expand, permute", () => {
    const t = x.transpose();
    assert.equal(t.isContiguous(), false);
    assert.deepEqual(Array.from(t.values()), [1, 4, 2, 5, 3, 6]);
    assert.deepEqual(t.toNested(), [[1, 4], [2, 5], [3, 6]]);
    const s = x.slice(1, 0, 3, 2);
    assert.deepEqual(s.toNested(), [[1, 3], [4, 6]]);
    const row = x.slice(0, 1);
    assert.equal(row.isContiguous(), true);
    assert.equal(row.offset, 3);
    const rv = row.values();
    assert.equal(rv.buffer, x.data.buffer, "a contiguous offset view reads through a subarray");
    assert.deepEqual(Array.from(rv), [4, 5, 6]);
    const e = tensor([1, 2], [2, 1]).expand(2, 3);
    assert.deepEqual(e.toNested(), [[1, 1, 1], [2, 2, 2]]);
    assert.equal(e.isContiguous(), false);
    const p = tensor([0, 1, 2, 3, 4, 5, 6, 7], [2, 2, 2]).permute(2, 0, 1);
    assert.deepEqual(p.toArray(), [0, 2, 4, 6, 1, 3, 5, 7]);
  });

  test("views share storage with their base", () => {
    const base = tensor([1, 2, 3, 4], [2, 2], { dtype: "f64" });
    const t = base.transpose();
    base.data[1] = 20;
    assert.equal(t.get(1, 0), 20);
    assert.equal(base.reshape(4).data, base.data);
  });

  test("clone owns a contiguous copy and is cut from the graph", () => {
    const base = tensor([1, 2, 3, 4], [2, 2], { dtype: "f64" }).requireGrad();
    const c = base.transpose().clone();
    assert.deepEqual(c.toNested(), [[1, 3], [2, 4]]);
    assert.equal(c.requiresGrad, false);
    assert.equal(c.isContiguous(), true);
    c.data[0] = 100;
    assert.equal(base.get(0, 0), 1);
    const c2 = base.clone();
    assert.notEqual(c2.data, base.data);
  });

  test("size, ndim, isLeaf, toString", () => {
    assert.equal(x.size, 6);
    assert.equal(x.ndim, 2);
    assert.equal(x.isLeaf, true);
    assert.equal(String(x), "Tensor(f64, [2,3]) [[1,2,3],[4,5,6]]");
    const big = zeros([5, 5]);
    assert.equal(String(big), "Tensor(f32, [5,5])");
    const g = ones([2]).requireGrad();
    assert.equal(g.mul(2).isLeaf, false);
    assert.match(String(g), /requiresGrad/);
  });
});

describe("dtype promotion", () => {
  const a32 = tensor([1, 2]);
  const a64 = tensor([1, 2], undefined, { dtype: "f64" });
  test("f32 with f32 stays f32; f32 with f64 gives f64 (elementwise, where, concat, matmul)", () => {
    assert.equal(add(a32, a32).dtype, "f32");
    assert.equal(add(a32, a64).dtype, "f64");
    assert.equal(mul(a64, a32).dtype, "f64");
    assert.equal(where(tensor([1, 0]), a32, a64).dtype, "f64");
    assert.equal(where(tensor([1, 0]), a32, a32).dtype, "f32");
    assert.equal(concat([a32, a64]).dtype, "f64");
    assert.equal(concat([a32, a32]).dtype, "f32");
    assert.equal(matmul(a32, a64).dtype, "f64");
  });
  test("a plain number takes the tensor's dtype", () => {
    assert.equal(add(a32, 0.1).dtype, "f32");
    assert.equal(add(a32, 0.1).get(0), Math.fround(1 + Math.fround(0.1)));
    assert.equal(mul(3, a64).dtype, "f64");
    assert.equal(add(a64, 0.1).get(0), 1.1);
  });
  test("to() converts and is a no-op for the same dtype", () => {
    assert.equal(a32.to("f32"), a32);
    const c = a32.to("f64");
    assert.equal(c.dtype, "f64");
    assert.deepEqual(c.toArray(), [1, 2]);
    assert.equal(tensor([0.1], undefined, { dtype: "f64" }).to("f32").get(0), Math.fround(0.1));
  });
  test("DTYPES lists both", () => {
    assert.deepEqual([...DTYPES], ["f32", "f64"]);
  });
});

describe("shape helpers", () => {
  test("shapeString, sizeOf, broadcastShapes", () => {
    assert.equal(shapeString([2, 3]), "[2,3]");
    assert.equal(shapeString([]), "[]");
    assert.equal(sizeOf([]), 1);
    assert.equal(sizeOf([2, 0, 3]), 0);
    assert.deepEqual(broadcastShapes("op", [3, 1, 4], [5, 4]), [3, 5, 4]);
    assert.deepEqual(broadcastShapes("op", [], [2]), [2]);
    assert.throws(() => broadcastShapes("myop", [3, 2], [4, 2]), /myop: shapes \[3,2\] and \[4,2\] cannot be broadcast together \(axis -2: 3 vs 4\)/);
  });
});
