import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  Tensor, tensor, gradcheck, randn, Random, noGrad,
  sum, mean, max, logsumexp, softmax, logSoftmax, cumsum, sumTo, where,
} from "../../src/core/index.js";
import { allIndices, assertClose, assertNoNaN, leaf, stridedLeaf, transposedLeaf } from "./helpers.js";

const f64 = (values: number[], shape?: number[]): Tensor => tensor(values, shape, { dtype: "f64" });

/**
 * Reference reduction by visiting every element: `combine` folds the elements of each reduced group (in
 * row-major order), `finalize` maps the folded value and the group size to the result.
 */
function refReduce(
  x: Tensor,
  axes: number[],
  keepdim: boolean,
  init: number,
  combine: (acc: number, v: number) => number,
  finalize: (acc: number, count: number, group: number[]) => number = (a) => a,
): { shape: number[]; values: number[] } {
  const nd = x.ndim;
  const ax = axes.map((a) => (a < 0 ? a + nd : a));
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const groups = new Map<string, number[]>();
  for (const idx of allIndices(x.shape)) {
    const key = idx.map((v, i) => (ax.includes(i) ? 0 : v)).join(",");
    const list = groups.get(key) ?? [];
    list.push(x.get(...idx));
    groups.set(key, list);
  }
  const values = allIndices(kept).map((idx) => {
    const group = groups.get(idx.join(","))!;
    return finalize(group.reduce(combine, init), group.length, group);
  });
  return { shape: keepdim ? kept : x.shape.filter((_, i) => !ax.includes(i)), values };
}

const lseRef = (group: number[]): number => {
  const m = Math.max(...group);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(group.reduce((s, v) => s + Math.exp(v - m), 0));
};

const reductions = [
  { name: "sum", op: sum, ref: (x: Tensor, axes: number[], k: boolean) => refReduce(x, axes, k, 0, (a, v) => a + v) },
  { name: "mean", op: mean, ref: (x: Tensor, axes: number[], k: boolean) => refReduce(x, axes, k, 0, (a, v) => a + v, (a, n) => a / n) },
  { name: "max", op: max, ref: (x: Tensor, axes: number[], k: boolean) => refReduce(x, axes, k, -Infinity, (a, v) => Math.max(a, v)) },
  {
    name: "logsumexp",
    op: (x: Tensor, axes: number | readonly number[] | undefined, k?: boolean) => logsumexp(x, axes ?? [0, 1, 2], k),
    ref: (x: Tensor, axes: number[], k: boolean) => refReduce(x, axes, k, 0, () => 0, (_a, _n, g) => lseRef(g)),
  },
];

const axisChoices: Array<{ label: string; arg: number | number[] | undefined; axes: number[] }> = [
  { label: "axis 0", arg: 0, axes: [0] },
  { label: "axis 1", arg: 1, axes: [1] },
  { label: "axis -1", arg: -1, axes: [2] },
  { label: "axes [0,2]", arg: [0, 2], axes: [0, 2] },
  { label: "axes [-1,-2] (unsorted, negative)", arg: [-1, -2], axes: [1, 2] },
  { label: "all axes (undefined)", arg: undefined, axes: [0, 1, 2] },
  { label: "all axes (listed)", arg: [2, 0, 1], axes: [0, 1, 2] },
];

describe("sum / mean / max / logsumexp", () => {
  for (const r of reductions) {
    describe(r.name, () => {
      test("values and shapes for single, several, all and negative axes, keepdim true/false", () => {
        const x = randn([2, 3, 4], new Random(1), { dtype: "f64" });
        for (const choice of axisChoices) {
          for (const keepdim of [false, true]) {
            const y = r.op(x, choice.arg, keepdim);
            const ref = r.ref(x, choice.axes, keepdim);
            assert.deepEqual(y.shape, ref.shape, `${choice.label} keepdim=${keepdim}`);
            assert.equal(y.dtype, "f64");
            assertClose(y, ref.values, 1e-14, 1e-13, `${r.name} ${choice.label} keepdim=${keepdim}`);
          }
        }
      });
      test("f32 input stays f32 and matches the f64 result", () => {
        const x = randn([3, 5], new Random(2));
        const y = r.op(x, 1, false);
        assert.equal(y.dtype, "f32");
        assertClose(y, r.op(x.to("f64"), 1, false).toArray(), 1e-6, 1e-6);
      });
      test("gradcheck over each axis choice and keepdim", () => {
        for (const choice of axisChoices) {
          for (const keepdim of [false, true]) {
            gradcheck((x) => r.op(x, choice.arg, keepdim), [leaf([2, 3, 4], 3)]);
          }
        }
      });
      test("gradcheck on non-contiguous leaves", () => {
        gradcheck((x) => r.op(x, 0, false), [transposedLeaf(3, 4, 4)]);
        gradcheck((x) => r.op(x, [0, 1], true), [stridedLeaf(3, 4, 5)]);
        gradcheck((x) => r.op(x, -1, false), [stridedLeaf(3, 4, 6)]);
      });
    });
  }

  test("axis errors name the axis and the rank", () => {
    const x = randn([2, 3], new Random(0));
    assert.throws(() => sum(x, 2), /axis 2 is out of range for a tensor with 2 dimension/);
    assert.throws(() => mean(x, -3), /axis -3/);
    assert.throws(() => max(x, [0, 0]), /repeated axis/);
    assert.throws(() => logsumexp(x, 1.5), /axis 1.5/);
  });

  test("max: ties split the gradient evenly", () => {
    const x = f64([1, 3, 3, 2, 0, 2], [2, 3]).requireGrad();
    const y = max(x, 1);
    assert.deepEqual(y.toArray(), [3, 2]);
    y.backward(f64([1, 4]));
    assert.deepEqual(x.grad!.toNested(), [[0, 0.5, 0.5], [2, 0, 2]]);
    const z = f64([5, 1, 5, 5]).requireGrad();
    max(z).backward();
    assertClose(z.grad!, [1 / 3, 0, 1 / 3, 1 / 3], 0, 1e-15);
  });

  test("max over an empty axis is an error", () => {
    assert.throws(() => max(new Tensor(new Float64Array(0), [2, 0]), 1), /empty axis/);
  });

  test("logsumexp: large values stay finite and exact; an all −∞ slice gives −∞ with zero gradient", () => {
    const big = f64([1000, 1000, -1000, 999], [2, 2]);
    assertClose(logsumexp(big, 1), [1000 + Math.log(2), 999 + Math.log1p(Math.exp(-1999))], 0, 1e-15);
    assertClose(logsumexp(f64([-1000, -1000]), 0), [-1000 + Math.log(2)], 0, 1e-15);
    const x = f64([-Infinity, -Infinity, 0, Math.log(3)], [2, 2]).requireGrad();
    const y = logsumexp(x, -1);
    assert.deepEqual(y.toArray(), [-Infinity, Math.log(4)]);
    y.backward(f64([1, 1]));
    assertNoNaN(x.grad!);
    assertClose(x.grad!, [0, 0, 0.25, 0.75], 0, 1e-15);
  });

  test("logsumexp gradcheck with large magnitudes and with some −∞ entries", () => {
    const x = noGrad(() => leaf([3, 4], 7).detach().mul(1).add(f64([500, -500, 0], [3, 1]))).requireGrad();
    gradcheck((t) => logsumexp(t, 1), [x]);
    const masked = f64([0.3, -Infinity, 1.2, -Infinity, -Infinity, -0.4], [2, 3]).requireGrad();
    gradcheck((t) => logsumexp(t, 1), [masked]);
  });
});

describe("softmax / logSoftmax", () => {
  const softmaxRef = (x: Tensor, axis: number): number[] => {
    const ax = axis < 0 ? axis + x.ndim : axis;
    return allIndices(x.shape).map((idx) => {
      const line = Array.from({ length: x.shape[ax]! }, (_, j) => x.get(...idx.map((v, d) => (d === ax ? j : v))));
      const m = Math.max(...line);
      const z = line.reduce((s, v) => s + Math.exp(v - m), 0);
      return Math.exp(x.get(...idx) - m) / z;
    });
  };

  test("softmax along each axis (last axis: kernel path; others: strided path)", () => {
    const x = randn([2, 3, 4], new Random(11), { dtype: "f64", std: 2 });
    for (const axis of [0, 1, 2, -1, -3]) {
      const y = softmax(x, axis);
      assert.deepEqual(y.shape, [2, 3, 4]);
      assertClose(y, softmaxRef(x, axis), 1e-15, 1e-13, `softmax axis ${axis}`);
      assertClose(sum(y, axis), new Array(y.size / x.shape[axis < 0 ? axis + 3 : axis]!).fill(1), 1e-14, 0);
    }
    assertClose(x.softmax(), softmaxRef(x, -1), 1e-15, 1e-13, "fluent default axis");
  });

  test("softmax of a non-contiguous input and of an offset view", () => {
    const base = randn([4, 3], new Random(12), { dtype: "f64" });
    const xt = base.transpose(); // [3,4] non-contiguous
    assertClose(softmax(xt, -1), softmaxRef(xt, -1), 1e-15, 1e-13);
    assertClose(softmax(xt, 0), softmaxRef(xt, 0), 1e-15, 1e-13);
    const rows = base.slice(0, 1, 3); // contiguous, offset 3
    assertClose(softmax(rows, -1), softmaxRef(rows, -1), 1e-15, 1e-13);
  });

  test("large logits do not overflow", () => {
    const y = softmax(f64([1000, 1000, 0]));
    assertClose(y, [0.5, 0.5, 0], 0, 1e-15);
    // x − lse with lse = 1000 + ln 2 rounded to f64 (ulp 1.1e-13 at 1000): ~1e-13 absolute
    assertClose(logSoftmax(f64([1000, 1000, 0])), [-Math.LN2, -Math.LN2, -1000 - Math.LN2], 2e-13, 1e-15);
  });

  test("f32 logSoftmax of large logits is accurate to f32 rounding of the result", () => {
    const y = logSoftmax(tensor([1000, 1000, 0]));
    assert.equal(y.dtype, "f32");
    assert.deepEqual(y.toArray(), [-Math.LN2, -Math.LN2, -1000 - Math.LN2].map(Math.fround));
    const z = logSoftmax(tensor([100, 100.5, 0]));
    const l = Math.log1p(Math.exp(-0.5));
    assert.deepEqual(z.toArray(), [-0.5 - l, -l, -100.5 - l].map(Math.fround));
  });

  test("a fully −∞ row gives zeros (documented choice), on both the last-axis and the strided path", () => {
    const x = f64([-Infinity, -Infinity, -Infinity, 0, 1, -Infinity], [2, 3]);
    const y = softmax(x, -1);
    assert.deepEqual(y.toArray().slice(0, 3), [0, 0, 0]);
    assertClose(y.toArray().slice(3), [1 / (1 + Math.E), Math.E / (1 + Math.E), 0], 0, 1e-15);
    const yt = softmax(x.transpose(), 0); // the same rows, reached through a non-contiguous view
    assert.deepEqual(yt.transpose().toArray(), y.toArray());
    const f32 = softmax(tensor([-Infinity, -Infinity]), 0);
    assert.deepEqual(f32.toArray(), [0, 0]);
  });

  test("softmax gradient through a fully or partly masked row is finite", () => {
    const x = f64([-Infinity, -Infinity, -Infinity, 0, 1, -Infinity], [2, 3]).requireGrad();
    softmax(x, -1).backward(f64([1, 2, 3, 4, 5, 6], [2, 3]));
    assertNoNaN(x.grad!);
    assert.deepEqual(x.grad!.toArray().slice(0, 3), [0, 0, 0]);
    gradcheck((t) => softmax(t, -1), [f64([-Infinity, -Infinity, -Infinity, 0.2, 1.1, -Infinity], [2, 3]).requireGrad()]);
  });

  test("softmax gradcheck along each axis, on non-contiguous inputs", () => {
    for (const axis of [0, 1, 2, -1]) gradcheck((t) => softmax(t, axis), [leaf([2, 3, 4], 13)]);
    gradcheck((t) => softmax(t, -1), [transposedLeaf(3, 4, 14)]);
    gradcheck((t) => softmax(t, 0), [stridedLeaf(3, 4, 15)]);
  });

  test("logSoftmax equals log(softmax) along each axis; gradcheck", () => {
    const x = randn([2, 3, 4], new Random(16), { dtype: "f64" });
    for (const axis of [0, 1, -1]) {
      assertClose(logSoftmax(x, axis), softmaxRef(x, axis).map(Math.log), 1e-14, 1e-13, `axis ${axis}`);
      gradcheck((t) => logSoftmax(t, axis), [leaf([2, 3, 4], 17)]);
    }
    gradcheck((t) => logSoftmax(t, 0), [transposedLeaf(3, 4, 18)]);
    gradcheck((t) => t.logSoftmax(), [stridedLeaf(3, 4, 19)]);
  });

  test("logSoftmax with some −∞ entries keeps the rest finite and the gradient finite", () => {
    const x = f64([0.5, -Infinity, 1.5], [1, 3]).requireGrad();
    const y = logSoftmax(x);
    assert.equal(y.get(0, 1), -Infinity);
    assertClose([y.get(0, 0), y.get(0, 2)], [0.5 - Math.log(Math.exp(0.5) + Math.exp(1.5)), 1.5 - Math.log(Math.exp(0.5) + Math.exp(1.5))], 1e-15, 1e-14);
    // weight the finite outputs only (the −∞ output would make the objective −∞)
    logSoftmax(x).backward(f64([1, 0, 2], [1, 3]));
    assertNoNaN(x.grad!);
    // the −∞ output is replaced by 0 through where (multiplying it by 0 would give NaN)
    gradcheck((t) => where(tensor([1, 0, 1], [1, 3]), logSoftmax(t), 0), [x]);
  });

  test("softmax axis errors", () => {
    assert.throws(() => softmax(randn([2, 3], new Random(0)), 2), /softmax: axis 2/);
    assert.throws(() => logSoftmax(randn([2, 3], new Random(0)), -3), /logSoftmax: axis -3/);
  });
});

describe("cumsum", () => {
  const x = f64([1, 2, 3, 4, 5, 6], [2, 3]);
  test("forward along each axis, forward and reverse", () => {
    assert.deepEqual(cumsum(x, 1).toNested(), [[1, 3, 6], [4, 9, 15]]);
    assert.deepEqual(cumsum(x, -1, true).toNested(), [[6, 5, 3], [15, 11, 6]]);
    assert.deepEqual(cumsum(x, 0).toNested(), [[1, 2, 3], [5, 7, 9]]);
    assert.deepEqual(cumsum(x, 0, true).toNested(), [[5, 7, 9], [4, 5, 6]]);
    assert.deepEqual(x.cumsum(1).toNested(), [[1, 3, 6], [4, 9, 15]]);
  });
  test("non-contiguous input", () => {
    const t = x.transpose(); // [[1,4],[2,5],[3,6]]
    assert.deepEqual(cumsum(t, 0).toNested(), [[1, 4], [3, 9], [6, 15]]);
    assert.deepEqual(cumsum(t, 1, true).toNested(), [[5, 4], [7, 5], [9, 6]]);
    const s = f64([1, 2, 3, 4, 5, 6, 7, 8]).slice(0, 1, 8, 3); // [2,5,8]
    assert.deepEqual(cumsum(s, 0, true).toArray(), [15, 13, 8]);
  });
  test("gradcheck forward/reverse along each axis and on views", () => {
    for (const axis of [0, 1, 2, -1]) {
      for (const reverse of [false, true]) gradcheck((t) => cumsum(t, axis, reverse), [leaf([2, 3, 4], 21)]);
    }
    gradcheck((t) => cumsum(t, 0), [transposedLeaf(3, 4, 22)]);
    gradcheck((t) => cumsum(t, 1, true), [stridedLeaf(3, 4, 23)]);
  });
});

describe("sumTo", () => {
  test("sums leading axes and axes of size 1 in the target", () => {
    const g = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(sumTo(g, [3]).toArray(), [5, 7, 9]);
    assert.deepEqual(sumTo(g, [2, 1]).toNested(), [[6], [15]]);
    assert.deepEqual(sumTo(g, [1, 1]).toNested(), [[21]]);
    assert.deepEqual(sumTo(g, []).toArray(), [21]);
    assert.equal(sumTo(g, [2, 3]), g);
  });
  test("gradcheck", () => {
    gradcheck((t) => sumTo(t, [3, 1]), [leaf([2, 3, 4], 24)]);
    gradcheck((t) => sumTo(t, [1, 4]), [transposedLeaf(3, 4, 25)]);
  });
});
