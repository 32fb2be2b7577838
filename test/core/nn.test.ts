import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  Tensor, tensor, gradcheck, randn, Random, ones, concat, slice, indices,
  rmsNorm, layerNorm, crossEntropy, causalConv1d, dropout,
} from "../../src/core/index.js";
import { assertClose, leaf, transposedLeaf } from "./helpers.js";

const f64 = (values: number[], shape?: number[]): Tensor => tensor(values, shape, { dtype: "f64" });
const rows = (x: Tensor): number[][] => {
  const w = x.shape[x.ndim - 1]!;
  const v = x.toArray();
  return Array.from({ length: v.length / w }, (_, r) => v.slice(r * w, (r + 1) * w));
};

describe("rmsNorm", () => {
  const ref = (x: Tensor, w: Tensor | null, eps: number): number[] =>
    rows(x).flatMap((row) => {
      const r = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / row.length + eps);
      return row.map((v, j) => v * r * (w ? w.get(j) : 1));
    });

  test("values with and without weight, custom eps, f32", () => {
    const x = randn([2, 3, 5], new Random(1), { dtype: "f64" });
    const w = randn([5], new Random(2), { dtype: "f64" });
    assertClose(rmsNorm(x, null), ref(x, null, 1e-5), 1e-14, 1e-13);
    assertClose(rmsNorm(x, w), ref(x, w, 1e-5), 1e-14, 1e-13);
    assertClose(rmsNorm(x, w, 0.5), ref(x, w, 0.5), 1e-14, 1e-13);
    const y32 = rmsNorm(x.to("f32"), w.to("f32"));
    assert.equal(y32.dtype, "f32");
    assertClose(y32, ref(x, w, 1e-5), 1e-5, 1e-5);
    // a row [3, 4]: mean square 12.5
    assertClose(rmsNorm(f64([3, 4]), null, 0), [3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5)], 1e-15, 1e-15);
  });
  test("non-contiguous input", () => {
    const x = randn([4, 3], new Random(3), { dtype: "f64" }).transpose();
    assertClose(rmsNorm(x, null), ref(x, null, 1e-5), 1e-14, 1e-13);
  });
  test("gradcheck with and without weight, non-contiguous input", () => {
    gradcheck((x) => rmsNorm(x, null), [leaf([2, 3, 5], 4)]);
    gradcheck((x, w) => rmsNorm(x, w), [leaf([2, 3, 5], 5), leaf([5], 6)]);
    gradcheck((x, w) => rmsNorm(x, w), [transposedLeaf(3, 4, 7), leaf([4], 8)]);
    gradcheck((w) => rmsNorm(randn([3, 4], new Random(9), { dtype: "f64" }), w), [leaf([4], 10)]);
  });
  test("shape errors", () => {
    assert.throws(() => rmsNorm(randn([2, 5], new Random(0)), randn([4], new Random(0))), /weight must have shape \[5\] like the last axis of x \[2,5\], got \[4\]/);
  });
});

describe("layerNorm", () => {
  const ref = (x: Tensor, w: Tensor | null, b: Tensor | null, eps: number): number[] =>
    rows(x).flatMap((row) => {
      const mu = row.reduce((s, v) => s + v, 0) / row.length;
      const variance = row.reduce((s, v) => s + (v - mu) ** 2, 0) / row.length;
      return row.map((v, j) => ((v - mu) / Math.sqrt(variance + eps)) * (w ? w.get(j) : 1) + (b ? b.get(j) : 0));
    });

  test("values for every weight/bias combination (biased variance, as PyTorch)", () => {
    const x = randn([2, 3, 5], new Random(11), { dtype: "f64", std: 3 });
    const w = randn([5], new Random(12), { dtype: "f64" });
    const b = randn([5], new Random(13), { dtype: "f64" });
    for (const [ww, bb] of [[null, null], [w, null], [null, b], [w, b]] as const) {
      assertClose(layerNorm(x, ww, bb), ref(x, ww, bb, 1e-5), 1e-14, 1e-13);
    }
    // [1, 2, 3]: mean 2, biased variance 2/3
    assertClose(layerNorm(f64([1, 2, 3]), null, null, 0), [-Math.sqrt(1.5), 0, Math.sqrt(1.5)], 1e-15, 1e-15);
    assertClose(layerNorm(x.transpose(), null, null), ref(x.transpose(), null, null, 1e-5), 1e-14, 1e-13);
  });
  test("gradcheck for every weight/bias combination and a non-contiguous input", () => {
    gradcheck((x) => layerNorm(x, null, null), [leaf([2, 3, 5], 14)]);
    gradcheck((x, w) => layerNorm(x, w, null), [leaf([2, 3, 5], 15), leaf([5], 16)]);
    gradcheck((x, b) => layerNorm(x, null, b), [leaf([2, 3, 5], 17), leaf([5], 18)]);
    gradcheck((x, w, b) => layerNorm(x, w, b), [leaf([2, 3, 5], 19), leaf([5], 20), leaf([5], 21)]);
    gradcheck((x, w, b) => layerNorm(x, w, b), [transposedLeaf(3, 4, 22), leaf([4], 23), leaf([4], 24)]);
  });
  test("shape errors", () => {
    const x = randn([2, 5], new Random(0));
    assert.throws(() => layerNorm(x, null, randn([3], new Random(0))), /bias must have shape \[5\]/);
    assert.throws(() => layerNorm(x, randn([5, 1], new Random(0)), null), /weight must have shape \[5\]/);
  });
});

describe("crossEntropy", () => {
  const nll = (row: number[], target: number): number => {
    const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    return lse - row[target]!;
  };

  test("value against a hand computation", () => {
    const logits = f64([1, 2, 0.5, -1, 0, 3, 2, 2, -0.5], [3, 3]);
    const targets = [1, 0, 2];
    const r = rows(logits);
    const expected = (nll(r[0]!, 1) + nll(r[1]!, 0) + nll(r[2]!, 2)) / 3;
    assertClose(crossEntropy(logits, targets), [expected], 1e-15, 1e-14);
    assert.deepEqual(crossEntropy(logits, targets).shape, []);
    // uniform logits: log C
    assertClose(crossEntropy(f64([0, 0, 0, 0], [1, 4]), [3]), [Math.log(4)], 1e-15, 1e-15);
  });

  test("large logits stay finite", () => {
    assertClose(crossEntropy(f64([1000, 0], [1, 2]), [1]), [1000], 0, 1e-15);
    assertClose(crossEntropy(tensor([1000, 0], [1, 2]), [0]), [0], 0, 0);
  });

  test("ignore index −100 is excluded from the mean and its rows get zero gradient", () => {
    const logits = f64([1, 2, 0.5, -1, 0, 3, 2, 2, -0.5, 0.1, 0.2, 0.3], [4, 3]).requireGrad();
    const targets = [1, -100, 2, -100];
    const r = rows(logits);
    const loss = crossEntropy(logits, targets);
    assertClose(loss, [(nll(r[0]!, 1) + nll(r[2]!, 2)) / 2], 1e-15, 1e-14);
    loss.backward();
    const g = rows(logits.grad!);
    assert.deepEqual(g[1], [0, 0, 0]);
    assert.deepEqual(g[3], [0, 0, 0]);
    // scored rows: (softmax − onehot) / count
    const sm = (row: number[]): number[] => {
      const z = row.reduce((s, v) => s + Math.exp(v), 0);
      return row.map((v) => Math.exp(v) / z);
    };
    assertClose(g[0]!, sm(r[0]!).map((p, c) => (p - (c === 1 ? 1 : 0)) / 2), 1e-15, 1e-14);
    assertClose(g[2]!, sm(r[2]!).map((p, c) => (p - (c === 2 ? 1 : 0)) / 2), 1e-15, 1e-14);
  });

  test("custom ignore index", () => {
    const logits = f64([1, 2, 0.5, -1], [2, 2]);
    assertClose(crossEntropy(logits, [0, 1], { ignoreIndex: 1 }), [nll([1, 2], 0)], 1e-15, 1e-14);
  });

  test("all positions ignored gives 0 with zero gradient", () => {
    const logits = f64([1, 2, 3, 4], [2, 2]).requireGrad();
    const loss = crossEntropy(logits, [-100, -100]);
    assert.equal(loss.item(), 0);
    loss.backward();
    assert.deepEqual(logits.grad!.toArray(), [0, 0, 0, 0]);
  });

  test("3-D logits with Indices targets, non-contiguous logits", () => {
    const logits = randn([2, 3, 4], new Random(31), { dtype: "f64" });
    const t = indices([0, 3, -100, 2, 1, 1], [2, 3]);
    const r = rows(logits);
    const expected = [0, 1, 3, 4, 5].reduce((s, i) => s + nll(r[i]!, t.data[i]!), 0) / 5;
    assertClose(crossEntropy(logits, t), [expected], 1e-15, 1e-14);
    const lt = randn([4, 3], new Random(32), { dtype: "f64" }).transpose(); // [3,4]
    const rt = rows(lt);
    assertClose(crossEntropy(lt, [3, 0, 1]), [(nll(rt[0]!, 3) + nll(rt[1]!, 0) + nll(rt[2]!, 1)) / 3], 1e-15, 1e-14);
  });

  test("gradcheck (with ignored rows, 3-D logits, non-contiguous logits)", () => {
    gradcheck((l) => crossEntropy(l, [1, -100, 2, 0]), [leaf([4, 3], 33)]);
    gradcheck((l) => crossEntropy(l, indices([0, 3, -100, 2, 1, 1], [2, 3])), [leaf([2, 3, 4], 34)]);
    gradcheck((l) => crossEntropy(l, [3, 0, 1]), [transposedLeaf(3, 4, 35)]);
    gradcheck((l) => crossEntropy(l, [-100, -100]), [leaf([2, 3], 36)]);
  });

  test("errors: out-of-range target, wrong number of targets", () => {
    const logits = randn([2, 3], new Random(0));
    assert.throws(() => crossEntropy(logits, [0, 3]), /crossEntropy: target 3 at position 1 is not a class index in 0..2 \(or the ignore index -100\)/);
    assert.throws(() => crossEntropy(logits, [-1, 0]), /target -1 at position 0/);
    assert.throws(() => crossEntropy(logits, [0.5, 0]), /target 0.5/);
    assert.throws(() => crossEntropy(logits, [0, 1, 2]), /targets must have 2 entries .*\[2,3\].*got 3/);
  });
});

describe("causalConv1d", () => {
  /** y[b,t,c] = bias[c] + Σ_j w[c,j] · x̂[b, t + j − (W−1), c], x̂ = state for negative times (zeros without state) */
  const ref = (x: Tensor, w: Tensor, bias: Tensor | null, state: Tensor | null): number[] => {
    const [B, T, C] = x.shape as [number, number, number];
    const W = w.shape[1]!;
    const at = (b: number, s: number, c: number): number => (s >= 0 ? x.get(b, s, c) : state ? state.get(b, W - 1 + s, c) : 0);
    const out: number[] = [];
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let c = 0; c < C; c++) {
          let acc = bias ? bias.get(c) : 0;
          for (let j = 0; j < W; j++) acc += w.get(c, j) * at(b, t + j - (W - 1), c);
          out.push(acc);
        }
      }
    }
    return out;
  };
  const rng = new Random(41);
  const x = randn([2, 5, 3], rng, { dtype: "f64" });
  const w = randn([3, 4], rng, { dtype: "f64" });
  const bias = randn([3], rng, { dtype: "f64" });
  const state = randn([2, 3, 3], rng, { dtype: "f64" });

  test("values against a hand loop (with/without bias and initial state)", () => {
    assertClose(causalConv1d(x, w), ref(x, w, null, null), 1e-14, 1e-13);
    assertClose(causalConv1d(x, w, bias), ref(x, w, bias, null), 1e-14, 1e-13);
    assertClose(causalConv1d(x, w, bias, state), ref(x, w, bias, state), 1e-14, 1e-13);
    assertClose(causalConv1d(x, w.slice(1, 3)), ref(x, w.slice(1, 3), null, null), 1e-14, 1e-13, "W = 1");
  });

  test("small explicit example: y[t] = 1·x[t−2] + 2·x[t−1] + 3·x[t]", () => {
    const y = causalConv1d(f64([1, 10, 100, 1000], [1, 4, 1]), f64([1, 2, 3], [1, 3]));
    assert.deepEqual(y.toArray(), [3, 32, 321, 3210]);
  });

  test("initial state = running on concat(state, x) and dropping the first W−1 outputs", () => {
    const full = causalConv1d(concat([state, x], 1), w, bias);
    const tail = slice(full, 1, 3);
    assertClose(causalConv1d(x, w, bias, state), tail.toArray(), 1e-14, 1e-13);
  });

  test("non-contiguous x and weight", () => {
    const xt = randn([2, 3, 5], new Random(42), { dtype: "f64" }).transpose(1, 2); // [2,5,3]
    const wt = randn([4, 3], new Random(43), { dtype: "f64" }).transpose(); // [3,4]
    assertClose(causalConv1d(xt, wt, bias), ref(xt, wt, bias, null), 1e-14, 1e-13);
  });

  test("gradcheck including weight, bias and initial state", () => {
    gradcheck((a, b) => causalConv1d(a, b), [leaf([2, 5, 3], 44), leaf([3, 4], 45)]);
    gradcheck((a, b, c) => causalConv1d(a, b, c), [leaf([2, 5, 3], 46), leaf([3, 4], 47), leaf([3], 48)]);
    gradcheck((a, b, c, d) => causalConv1d(a, b, c, d), [leaf([2, 5, 3], 49), leaf([3, 4], 50), leaf([3], 51), leaf([2, 3, 3], 52)]);
    gradcheck((a, d) => causalConv1d(a, w, null, d), [leaf([1, 2, 3], 53), leaf([1, 3, 3], 54)]); // T < W − 1
  });

  test("gradcheck with non-contiguous x", () => {
    const xt = randn([2, 3, 5], new Random(55), { dtype: "f64" }).transpose(1, 2).requireGrad();
    gradcheck((a, b) => causalConv1d(a, b, bias), [xt, leaf([3, 2], 56)]);
  });

  test("shape errors", () => {
    assert.throws(() => causalConv1d(randn([5, 3], new Random(0)), w), /x must have shape \[B,T,C\], got \[5,3\]/);
    assert.throws(() => causalConv1d(x, randn([2, 4], new Random(0))), /weight must have shape \[3,W\] with W ≥ 1, got \[2,4\]/);
    assert.throws(() => causalConv1d(x, w, randn([4], new Random(0))), /bias must have shape \[3\], got \[4\]/);
    assert.throws(() => causalConv1d(x, w, null, randn([2, 2, 3], new Random(0))), /initialState must have shape \[2,3,3\], got \[2,2,3\]/);
  });
});

describe("dropout", () => {
  test("p = 0 and eval mode are the identity", () => {
    const x = randn([4, 5], new Random(61));
    assert.equal(dropout(x, 0, new Random(1)), x);
    assert.equal(dropout(x, 0.5, new Random(1), false), x);
  });

  test("zeros about a fraction p, scales the rest by 1/(1−p): the mean is preserved roughly", () => {
    const x = ones([20000], { dtype: "f64" });
    const y = dropout(x, 0.3, new Random(2)).toArray();
    const zeros = y.filter((v) => v === 0).length;
    assert.ok(Math.abs(zeros / y.length - 0.3) < 0.02, `fraction dropped ${zeros / y.length}`);
    for (const v of y) assert.ok(v === 0 || Math.abs(v - 1 / 0.7) < 1e-15);
    const mean = y.reduce((s, v) => s + v, 0) / y.length;
    assert.ok(Math.abs(mean - 1) < 0.03, `mean ${mean}`);
  });

  test("the same seed gives the same mask; a different seed a different one", () => {
    const x = randn([50], new Random(62));
    const a = dropout(x, 0.5, new Random(7)).toArray();
    const b = dropout(x, 0.5, new Random(7)).toArray();
    const c = dropout(x, 0.5, new Random(8)).toArray();
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test("gradient = mask · 1/(1−p)", () => {
    const x = ones([200], { dtype: "f64" }).requireGrad();
    const y = dropout(x, 0.25, new Random(9));
    y.backward(f64(new Array(200).fill(3)));
    // with x = 1, y itself is mask·scale
    assertClose(x.grad!, y.toArray().map((v) => 3 * v), 0, 1e-15);
    assert.ok(y.toArray().some((v) => v === 0));
  });

  test("gradcheck (a fresh generator with the same seed on every call gives a fixed mask)", () => {
    gradcheck((t) => dropout(t, 0.4, new Random(10)), [leaf([3, 4], 63)]);
    gradcheck((t) => dropout(t, 0.4, new Random(11)), [transposedLeaf(3, 4, 64)]);
  });

  test("p outside [0, 1) is an error", () => {
    const x = randn([2], new Random(0));
    assert.throws(() => dropout(x, 1, new Random(0)), /dropout: p must be in \[0, 1\), got 1/);
    assert.throws(() => dropout(x, -0.1, new Random(0)), /got -0.1/);
    assert.throws(() => dropout(x, NaN, new Random(0)), /got NaN/);
  });
});
