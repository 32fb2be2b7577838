/**
 * The fused and fast forms of the core ops against their unfused compositions (f64, tolerances stated per
 * assertion), with gradchecks: swiglu, rmsNorm, crossEntropy, causalConv1d, the flat loops of the unary ops,
 * the row-broadcast loops of the binary ops and the run-of-axes sum.
 */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  Tensor, gradcheck, noGrad, Random, randn, indices,
  add, sub, mul, div, sigmoid, silu, softplus, logsigmoid, rsqrt, sum, mean, logSoftmax, gather, pad, slice, reshape,
  rmsNorm, crossEntropy, swiglu, causalConv1d,
} from "../../src/core/index.js";
import { assertClose, leaf, transposedLeaf } from "./helpers.js";

/** The value of f and the gradients of Σ f(inputs) ⊙ seed with respect to every input (fresh leaves). */
function valueAndGrads(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], seedRng = 99): { y: number[]; grads: number[][] } {
  const leaves = inputs.map((t) => t.detach().requireGrad());
  const y = f(...leaves);
  const seed = randn(y.shape, new Random(seedRng), { dtype: y.dtype });
  y.backward(seed);
  return { y: y.toArray(), grads: leaves.map((l) => l.grad!.toArray()) };
}

function assertSameForms(
  fused: (...xs: Tensor[]) => Tensor,
  reference: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  atol: number,
  rtol: number,
  what: string,
): void {
  const a = valueAndGrads(fused, inputs);
  const b = valueAndGrads(reference, inputs);
  assertClose(a.y, b.y, atol, rtol, `${what}: value`);
  a.grads.forEach((g, k) => assertClose(g, b.grads[k]!, atol, rtol, `${what}: gradient of input ${k}`));
}

const f64 = (shape: number[], seed: number, std = 1): Tensor => randn(shape, new Random(seed), { dtype: "f64", std });
/** The values of t read through a non-contiguous view: every other element along the last axis of a wider base. */
function stridedCopy(t: Tensor): Tensor {
  return noGrad(() => {
    const last = t.shape[t.ndim - 1]!;
    const wide = new Tensor(new Float64Array(t.size * 2).fill(NaN), [...t.shape.slice(0, -1), 2 * last]);
    const v = t.values();
    for (let i = 0; i < v.length; i++) wide.data[2 * i] = v[i]!;
    const view = slice(wide, -1, 0, 2 * last, 2);
    assert.equal(view.isContiguous(), last === 1);
    return view;
  });
}

/** A non-contiguous [r, c] copy of x's values (a transposed view of a [c, r] base). */
const transposedCopy = (x: Tensor): Tensor =>
  noGrad(() => new Tensor(Float64Array.from(x.transpose(0, 1).contiguous().values()), [x.shape[1]!, x.shape[0]!]).transpose(0, 1));

describe("swiglu = silu(gate) ⊙ up", () => {
  const composition = (a: Tensor, u: Tensor): Tensor => mul(silu(a), u);

  test("value and both gradients equal the composition (f64, odd shapes, large gates: rtol 1e-15)", () => {
    for (const [shape, seed] of [[[7, 13], 1], [[2, 3, 5], 2], [[1], 3], [[129], 4]] as const) {
      assertSameForms(swiglu, composition, [f64([...shape], seed, 4), f64([...shape], seed + 10)], 0, 1e-15, `swiglu ${shape}`);
    }
  });
  test("non-contiguous operands, and broadcasting (falls back to the composition)", () => {
    const a = f64([5, 6], 5);
    assertSameForms(swiglu, composition, [transposedCopy(a), f64([5, 6], 6)], 0, 1e-15, "transposed gate");
    assertSameForms(swiglu, composition, [f64([4, 3], 7), f64([3], 8)], 0, 1e-15, "[4,3] ∘ [3]");
    assertSameForms(swiglu, composition, [f64([1, 3], 9), f64([4, 1], 10)], 0, 1e-15, "[1,3] ∘ [4,1]");
  });
  test("f32 agrees with f64 to f32 rounding (rtol 1e-6), and the gradients are f32", () => {
    const a = f64([6, 7], 11, 3);
    const u = f64([6, 7], 12);
    const r64 = valueAndGrads(swiglu, [a, u]);
    const r32 = valueAndGrads(swiglu, [a.to("f32"), u.to("f32")]);
    assertClose(r32.y, r64.y, 1e-6, 1e-6);
    r32.grads.forEach((g, k) => assertClose(g, r64.grads[k]!, 1e-6, 1e-5));
    const g = a.to("f32").requireGrad();
    swiglu(g, u.to("f32")).sum().backward();
    assert.equal(g.grad!.dtype, "f32");
  });
  test("gradcheck, both operands and one at a time, extreme gates stay finite", () => {
    gradcheck(swiglu, [leaf([3, 4], 13, 3), leaf([3, 4], 14)]);
    gradcheck((a) => swiglu(a, f64([3, 4], 15)), [leaf([3, 4], 16)]);
    gradcheck((u) => swiglu(f64([3, 4], 17), u), [leaf([3, 4], 18)]);
    gradcheck(swiglu, [transposedLeaf(3, 4, 19), leaf([3, 4], 20)]);
    const big = valueAndGrads(swiglu, [new Tensor(Float64Array.from([-1000, 1000, 0]), [3]), new Tensor(Float64Array.from([2, 2, 2]), [3])]);
    assert.deepEqual(big.y, [-0, 2000, 0]);
    for (const g of big.grads) for (const v of g) assert.ok(Number.isFinite(v));
  });
  test("without gradients no graph is recorded", () => {
    const y = noGrad(() => swiglu(leaf([2, 2], 21), leaf([2, 2], 22)));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);
  });
});

describe("rmsNorm against its composition x · rsqrt(mean(x²) + eps) · w", () => {
  const composition = (x: Tensor, w?: Tensor): Tensor => {
    const normed = mul(x, rsqrt(add(mean(mul(x, x), -1, true), 1e-5)));
    return w ? mul(normed, w) : normed;
  };
  test("with and without weight, odd widths (f64, rtol 1e-13)", () => {
    for (const [rows, width, seed] of [[7, 13, 31], [1, 1, 32], [5, 129, 33]] as const) {
      assertSameForms((x, w) => rmsNorm(x, w!), composition, [f64([rows, width], seed, 2), f64([width], seed + 1)], 1e-14, 1e-13, `rmsNorm [${rows},${width}]`);
      assertSameForms((x) => rmsNorm(x, null), (x) => composition(x), [f64([rows, width], seed + 2)], 1e-14, 1e-13, `rmsNorm no weight [${rows},${width}]`);
    }
  });
});

describe("crossEntropy against −mean(gather(logSoftmax(logits), target)) over scored rows", () => {
  test("value and gradient with ignored rows, odd class count (f64, rtol 1e-13)", () => {
    const targets = [3, -100, 0, 10, 10, 7, -100];
    const scored = targets.map((t, i) => [t, i] as const).filter(([t]) => t !== -100);
    const composition = (l: Tensor): Tensor => {
      const picked = gather(logSoftmax(l, -1), 1, indices(targets.map((t) => (t === -100 ? 0 : t)), [targets.length, 1]));
      const mask = new Tensor(Float64Array.from(targets, (t) => (t === -100 ? 0 : 1)), [targets.length, 1]);
      return div(sum(mul(picked, mask)), -scored.length);
    };
    assertSameForms((l) => crossEntropy(l, targets), composition, [f64([7, 11], 41, 3)], 1e-14, 1e-13, "crossEntropy");
  });
  test("gradcheck on a wider odd shape", () => {
    gradcheck((l) => crossEntropy(l, [4, 0, -100, 16, 2]), [leaf([5, 17], 42, 2)]);
  });
  test("a second backward through a retained graph recomputes the softmax (the kept buffer became the first gradient)", () => {
    const l = leaf([4, 9], 43, 2);
    const loss = crossEntropy(l, [8, -100, 0, 3]);
    loss.backward(undefined, { retainGraph: true });
    const first = l.grad!.toArray();
    loss.backward();
    assertClose(l.grad!, first.map((v) => 2 * v), 1e-15, 1e-14);
  });
  test("f32 logits: value and gradient agree with f64 to f32 rounding (rtol 1e-5), and no-grad gives the same value", () => {
    const l64 = f64([6, 13], 44, 3);
    const targets = [12, 0, -100, 5, 5, 1];
    const a = valueAndGrads((l) => crossEntropy(l, targets), [l64]);
    const b = valueAndGrads((l) => crossEntropy(l, targets), [l64.to("f32")]);
    assertClose(b.y, a.y, 1e-6, 1e-6);
    assertClose(b.grads[0]!, a.grads[0]!, 1e-7, 1e-5);
    assert.deepEqual(noGrad(() => crossEntropy(l64.detach().requireGrad(), targets)).toArray(), a.y);
  });
});

describe("causalConv1d against Σ_j slice(pad(x)) · w[:, j] + bias", () => {
  const composition = (W: number) => (x: Tensor, w: Tensor, b: Tensor): Tensor => {
    const T = x.shape[1]!;
    const xp = pad(x, [[0, 0], [W - 1, 0], [0, 0]]);
    let acc: Tensor = b;
    for (let j = 0; j < W; j++) acc = add(acc, mul(slice(xp, 1, j, j + T), reshape(slice(w, 1, j, j + 1), [-1])));
    return acc;
  };
  test("values and gradients of x, weight and bias (f64, rtol 1e-13), including T < W", () => {
    for (const [B, T, C, W, seed] of [[2, 7, 5, 4, 51], [1, 2, 3, 4, 52], [3, 5, 1, 1, 53]] as const) {
      assertSameForms(
        (x, w, b) => causalConv1d(x, w, b),
        composition(W),
        [f64([B, T, C], seed), f64([C, W], seed + 1), f64([C], seed + 2)],
        1e-14, 1e-13, `causalConv1d B${B} T${T} C${C} W${W}`,
      );
    }
  });
});

describe("flat loops of the unary ops equal the strided path exactly", () => {
  for (const [name, op] of [["sigmoid", sigmoid], ["silu", silu], ["softplus", softplus], ["logsigmoid", logsigmoid]] as const) {
    test(`${name}: contiguous and transposed inputs give identical values and gradients (f64, tolerance 0)`, () => {
      const base = f64([9, 11], 61, 6);
      base.data[0] = 0;
      base.data[1] = -0;
      base.data[2] = 800;
      base.data[3] = -800;
      const a = valueAndGrads(op, [base]);
      const b = valueAndGrads(op, [transposedCopy(base)]);
      assert.deepEqual(a.y, b.y);
      assert.deepEqual(a.grads, b.grads);
    });
  }
});

describe("binary ops with a block repeated over leading axes, or a single value, equal the strided path exactly", () => {
  const cases = [
    [[4, 6], [6]],
    [[6], [4, 6]],
    [[2, 3, 5], [3, 5]],
    [[2, 3, 5], [1, 1, 5]],
    [[1, 3, 5], [2, 3, 5]],
    // one single value, on either side (the scalar loop)
    [[4, 6], [1]],
    [[2, 3, 5], [1, 1, 1]],
    [[1], [3, 4]],
  ] as const;
  for (const [name, op] of [["add", add], ["sub", sub], ["mul", mul], ["div", div]] as const) {
    test(`${name}: values and gradients (f64, tolerance 0)`, () => {
      cases.forEach(([sa, sb], k) => {
        const a = f64([...sa], 70 + k);
        const b = noGrad(() => add(f64([...sb], 80 + k, 0.3), 2)); // away from 0 for div
        const fast = valueAndGrads(op, [a, b]);
        const slow = valueAndGrads(op, [stridedCopy(a), stridedCopy(b)]);
        assert.deepEqual(fast.y, slow.y, `${name} [${sa}] ∘ [${sb}]`);
        assert.deepEqual(fast.grads, slow.grads, `${name} [${sa}] ∘ [${sb}] gradients`);
      });
    });
  }
  test("a plain number on either side (a 0-d operand): values and gradients as the strided path (f64, tolerance 0)", () => {
    for (const [name, op] of [["add", add], ["sub", sub], ["mul", mul], ["div", div]] as const) {
      const a = noGrad(() => add(f64([3, 7], 95, 0.3), 2));
      for (const [fast, slow] of [
        // the transposed view is not contiguous, so it takes the general strided path
        [(x: Tensor) => op(x, 0.37), (x: Tensor) => op(x.transpose(0, 1), 0.37).transpose(0, 1)],
        [(x: Tensor) => op(1.9, x), (x: Tensor) => op(1.9, x.transpose(0, 1)).transpose(0, 1)],
      ] as const) {
        const f = valueAndGrads(fast, [a]);
        const g = valueAndGrads(slow, [a]);
        assert.deepEqual(f.y, g.y, name);
        assert.deepEqual(f.grads, g.grads, `${name} gradients`);
      }
    }
  });
  test("gradcheck of a bias add and a row scaling", () => {
    gradcheck(add, [leaf([4, 6], 90), leaf([6], 91)]);
    gradcheck(mul, [leaf([3], 92), leaf([2, 4, 3], 93)]);
  });
});

describe("sum over a run of axes of a contiguous tensor equals the strided reduction exactly", () => {
  test("leading, trailing, middle and all axes (f64, tolerance 0), and its gradcheck", () => {
    const x = f64([3, 4, 5, 2], 101);
    const xs = stridedCopy(x);
    for (const axes of [[0], [0, 1], [3], [2, 3], [1, 2], [1], [0, 1, 2, 3]]) {
      for (const keepdim of [true, false]) {
        assert.deepEqual(sum(x, axes, keepdim).toArray(), sum(xs, axes, keepdim).toArray(), `axes ${axes}`);
        assert.deepEqual(mean(x, axes, keepdim).toArray(), mean(xs, axes, keepdim).toArray(), `mean axes ${axes}`);
      }
    }
    gradcheck((t) => sum(t, [0, 1]), [leaf([3, 4, 2], 102)]);
    gradcheck((t) => sum(t, [1]), [leaf([3, 4, 2], 103)]);
  });
});
