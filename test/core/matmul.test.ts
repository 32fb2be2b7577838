import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Tensor, tensor, gradcheck, matmul, noGrad, randn, Random, scalar } from "../../src/core/index.js";
import { allIndices, assertClose, leaf, transposedLeaf } from "./helpers.js";

/**
 * Reference product by a plain loop over logical indices (get() reads any layout). `aAt(batch, i, k)` and
 * `bAt(batch, k, j)` map an output batch index to the operands' own (broadcast) elements.
 */
function refMatmul(
  batchShape: number[],
  m: number,
  n: number,
  k: number,
  aAt: (batch: number[], i: number, kk: number) => number,
  bAt: (batch: number[], kk: number, j: number) => number,
): number[] {
  const out: number[] = [];
  for (const batch of allIndices(batchShape)) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let kk = 0; kk < k; kk++) s += aAt(batch, i, kk) * bAt(batch, kk, j);
        out.push(s);
      }
    }
  }
  return out;
}

describe("matmul forward", () => {
  test("2-D values against a hand loop (f64 exact to rounding; f32)", () => {
    const a = randn([3, 4], new Random(1), { dtype: "f64" });
    const b = randn([4, 5], new Random(2), { dtype: "f64" });
    const y = matmul(a, b);
    assert.deepEqual(y.shape, [3, 5]);
    assert.equal(y.dtype, "f64");
    assertClose(y, refMatmul([], 3, 5, 4, (_, i, k) => a.get(i, k), (_, k, j) => b.get(k, j)), 1e-14, 1e-13);
    const y32 = matmul(a.to("f32"), b.to("f32"));
    assert.equal(y32.dtype, "f32");
    assertClose(y32, y.toArray(), 1e-5, 1e-5);
  });

  test("small integer example", () => {
    const a = tensor([[1, 2], [3, 4], [5, 6]]);
    const b = tensor([[7, 8, 9], [10, 11, 12]]);
    assert.deepEqual(matmul(a, b).toNested(), [[27, 30, 33], [61, 68, 75], [95, 106, 117]]);
  });

  test("batch broadcasting: [2,3,4,5] @ [5,6] → [2,3,4,6]", () => {
    const a = randn([2, 3, 4, 5], new Random(3), { dtype: "f64" });
    const b = randn([5, 6], new Random(4), { dtype: "f64" });
    const y = matmul(a, b);
    assert.deepEqual(y.shape, [2, 3, 4, 6]);
    const ref = refMatmul([2, 3], 4, 6, 5, ([p, q], i, k) => a.get(p!, q!, i, k), (_, k, j) => b.get(k, j));
    assertClose(y, ref, 1e-14, 1e-13);
  });

  test("batch broadcasting: [4,5] @ [3,5,2] → [3,4,2]", () => {
    const a = randn([4, 5], new Random(5), { dtype: "f64" });
    const b = randn([3, 5, 2], new Random(6), { dtype: "f64" });
    const y = matmul(a, b);
    assert.deepEqual(y.shape, [3, 4, 2]);
    const ref = refMatmul([3], 4, 2, 5, (_, i, k) => a.get(i, k), ([p], k, j) => b.get(p!, k, j));
    assertClose(y, ref, 1e-14, 1e-13);
  });

  test("batch broadcasting on size-1 batch axes: [2,1,3,4] @ [1,5,4,2] → [2,5,3,2]", () => {
    const a = randn([2, 1, 3, 4], new Random(7), { dtype: "f64" });
    const b = randn([1, 5, 4, 2], new Random(8), { dtype: "f64" });
    const y = matmul(a, b);
    assert.deepEqual(y.shape, [2, 5, 3, 2]);
    const ref = refMatmul([2, 5], 3, 2, 4, ([p], i, k) => a.get(p!, 0, i, k), ([, q], k, j) => b.get(0, q!, k, j));
    assertClose(y, ref, 1e-14, 1e-13);
  });

  test("1-D operands: vector @ matrix, matrix @ vector, vector @ vector, vector @ batch", () => {
    const v = randn([5], new Random(9), { dtype: "f64" });
    const m = randn([5, 3], new Random(10), { dtype: "f64" });
    const mt = randn([4, 5], new Random(11), { dtype: "f64" });
    const vm = matmul(v, m);
    assert.deepEqual(vm.shape, [3]);
    assertClose(vm, refMatmul([], 1, 3, 5, (_, __, k) => v.get(k), (_, k, j) => m.get(k, j)), 1e-14, 1e-13);
    const mv = matmul(mt, v);
    assert.deepEqual(mv.shape, [4]);
    assertClose(mv, refMatmul([], 4, 1, 5, (_, i, k) => mt.get(i, k), (_, k) => v.get(k)), 1e-14, 1e-13);
    const vv = matmul(v, v);
    assert.deepEqual(vv.shape, []);
    assertClose(vv.item(), v.toArray().reduce((s, x) => s + x * x, 0), 1e-14, 1e-13);
    const batch = randn([2, 5, 3], new Random(12), { dtype: "f64" });
    const vb = matmul(v, batch);
    assert.deepEqual(vb.shape, [2, 3]);
    assertClose(vb, refMatmul([2], 1, 3, 5, (_, __, k) => v.get(k), ([p], k, j) => batch.get(p!, k, j)), 1e-14, 1e-13);
  });

  test("transposed and sliced views (non-contiguous operands) give the same product as contiguous copies", () => {
    const aBase = randn([5, 4], new Random(13), { dtype: "f64" });
    const bBase = randn([6, 5], new Random(14), { dtype: "f64" });
    const a = aBase.transpose(); // [4,5], column-major
    const b = bBase.transpose(); // [5,6]
    assert.equal(a.isContiguous(), false);
    const y = matmul(a, b);
    assertClose(y, matmul(a.contiguous(), b.contiguous()).toArray(), 1e-14, 1e-13);
    assertClose(y, refMatmul([], 4, 6, 5, (_, i, k) => aBase.get(k, i), (_, k, j) => bBase.get(j, k)), 1e-14, 1e-13);
    // every other row of a [8,5] matrix, and a batch of permuted matrices
    const c = randn([8, 5], new Random(15), { dtype: "f64" }).slice(0, 1, 8, 2);
    assertClose(matmul(c, b), matmul(c.contiguous(), b.contiguous()).toArray(), 1e-14, 1e-13);
    const d = randn([3, 2, 5], new Random(16), { dtype: "f64" }).permute(1, 2, 0); // [2,5,3]
    assertClose(matmul(c, d), matmul(c.contiguous(), d.contiguous()).toArray(), 1e-14, 1e-13);
    // the f32 kernel with the same strided operands
    assertClose(matmul(a.to("f32").transpose().transpose(), bBase.to("f32").transpose()), y.toArray(), 1e-5, 1e-5);
    assertClose(matmul(c.to("f32"), d.to("f32").permute(0, 2, 1).transpose()), matmul(c, d).toArray(), 1e-5, 1e-5);
  });

  test("f32 × f64 promotes to f64", () => {
    const a = randn([3, 4], new Random(17));
    const b = randn([4, 2], new Random(18), { dtype: "f64" });
    const y = matmul(a, b);
    assert.equal(y.dtype, "f64");
    assertClose(y, matmul(a.to("f64"), b).toArray(), 0, 0);
    assert.equal(matmul(b.transpose(), a.transpose()).dtype, "f64");
  });

  test("shape errors name both shapes", () => {
    const a = randn([3, 4], new Random(19));
    const b = randn([5, 6], new Random(20));
    assert.throws(() => matmul(a, b), (e: Error) => e instanceof RangeError && e.message.includes("[3,4]") && e.message.includes("[5,6]"));
    assert.throws(
      () => matmul(randn([2, 3, 4], new Random(0)), randn([3, 4, 5], new Random(0))),
      (e: Error) => e instanceof RangeError && e.message.includes("[2]") && e.message.includes("[3]"),
    );
    assert.throws(() => matmul(scalar(2), b), (e: Error) => e instanceof RangeError && e.message.includes("[]") && e.message.includes("[5,6]"));
    assert.throws(() => matmul(randn([3], new Random(0)), randn([4], new Random(0))), /matmul/);
  });

  test("empty inner dimension gives zeros", () => {
    const y = matmul(new Tensor(new Float64Array(0), [2, 0]), new Tensor(new Float64Array(0), [0, 3]));
    assert.deepEqual(y.shape, [2, 3]);
    assert.deepEqual(y.toArray(), [0, 0, 0, 0, 0, 0]);
  });
});

describe("matmul gradcheck", () => {
  test("2-D", () => {
    gradcheck(matmul, [leaf([3, 4], 31), leaf([4, 5], 32)]);
  });
  test("batch broadcasting [2,3,4,5] @ [5,6] (the [5,6] gradient sums over the batch)", () => {
    gradcheck(matmul, [leaf([2, 3, 4, 5], 33), leaf([5, 6], 34)]);
  });
  test("batch broadcasting [4,5] @ [3,5,2] and [2,1,3,4] @ [1,5,4,2]", () => {
    gradcheck(matmul, [leaf([4, 5], 35), leaf([3, 5, 2], 36)]);
    gradcheck(matmul, [leaf([2, 1, 3, 4], 37), leaf([1, 5, 4, 2], 38)]);
  });
  test("1-D operands", () => {
    gradcheck(matmul, [leaf([5], 39), leaf([5, 3], 40)]);
    gradcheck(matmul, [leaf([4, 5], 41), leaf([5], 42)]);
    gradcheck(matmul, [leaf([5], 43), leaf([5], 44)]);
    gradcheck(matmul, [leaf([5], 45), leaf([2, 5, 3], 46)]);
    gradcheck(matmul, [leaf([2, 3, 5], 47), leaf([5], 48)]);
  });
  test("non-contiguous leaves: transposed operands", () => {
    gradcheck(matmul, [transposedLeaf(4, 5, 49), transposedLeaf(5, 3, 50)]);
    gradcheck(matmul, [transposedLeaf(4, 5, 51), leaf([5, 3], 52)]);
  });
  test("non-contiguous leaves: strided slice and batched permute", () => {
    const c = noGrad(() => randn([8, 5], new Random(53), { dtype: "f64" }).slice(0, 1, 8, 2)).requireGrad();
    const d = noGrad(() => randn([3, 2, 5], new Random(54), { dtype: "f64" }).permute(1, 2, 0)).requireGrad();
    assert.equal(c.isContiguous(), false);
    assert.equal(d.isContiguous(), false);
    gradcheck(matmul, [c, d]);
  });
  test("f32 operand promoted: gradcheck the f64 side, and the f32 side gets an f32 gradient", () => {
    const a32 = randn([3, 4], new Random(55));
    gradcheck((b) => matmul(a32, b), [leaf([4, 2], 56)]);
    const a = randn([3, 4], new Random(57)).requireGrad();
    const b = leaf([4, 2], 58);
    matmul(a, b).sum().backward();
    assert.equal(a.grad!.dtype, "f32");
    // d(sum(a@b))/da[i,k] = Σ_j b[k,j]
    const rowSums = [0, 1, 2, 3].map((k) => b.get(k, 0) + b.get(k, 1));
    assertClose(a.grad!, [0, 1, 2].flatMap(() => rowSums), 1e-6, 1e-6);
  });
  test("the same operand on both sides (x @ xᵀ)", () => {
    gradcheck((x) => matmul(x, x.transpose()), [leaf([3, 4], 59)]);
  });
});
