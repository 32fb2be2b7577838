import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  Tensor, tensor, scalar, gradcheck, noGrad, Random, randn,
  add, sub, mul, div, neg, pow, exp, log, sqrt, rsqrt, abs, square, tanh, sigmoid, silu, gelu, relu, elu,
  softplus, logsigmoid, where, maximum, minimum, clamp, cast,
} from "../../src/core/index.js";
import { assertClose, assertNoNaN, leaf, leafAwayFrom, stridedLeaf, transposedLeaf, uniformLeaf } from "./helpers.js";

const X = [-2, -0.5, 0.3, 1.7];
const P = [0.2, 0.9, 1.5, 3];

const f64 = (values: number[]): Tensor => tensor(values, undefined, { dtype: "f64" });

interface UnaryCase {
  name: string;
  op: (x: Tensor) => Tensor;
  ref: (x: number) => number;
  /** "any": normal inputs; "positive": inputs in [0.3, 2.5); kinks: normal inputs kept 1e-3 away from these points */
  domain: "any" | "positive";
  kinks?: number[];
}

const sig = (v: number): number => 1 / (1 + Math.exp(-v));

const unaryCases: UnaryCase[] = [
  { name: "neg", op: neg, ref: (v) => -v, domain: "any" },
  { name: "exp", op: exp, ref: Math.exp, domain: "any" },
  { name: "log", op: log, ref: Math.log, domain: "positive" },
  { name: "sqrt", op: sqrt, ref: Math.sqrt, domain: "positive" },
  { name: "rsqrt", op: rsqrt, ref: (v) => 1 / Math.sqrt(v), domain: "positive" },
  { name: "abs", op: abs, ref: Math.abs, domain: "any", kinks: [0] },
  { name: "square", op: square, ref: (v) => v * v, domain: "any" },
  { name: "tanh", op: tanh, ref: Math.tanh, domain: "any" },
  { name: "sigmoid", op: sigmoid, ref: sig, domain: "any" },
  { name: "silu", op: silu, ref: (v) => v * sig(v), domain: "any" },
  { name: "relu", op: relu, ref: (v) => Math.max(v, 0), domain: "any", kinks: [0] },
  { name: "elu", op: (x) => elu(x), ref: (v) => (v > 0 ? v : Math.exp(v) - 1), domain: "any" },
  { name: "elu(alpha=0.5)", op: (x) => elu(x, 0.5), ref: (v) => (v > 0 ? v : 0.5 * (Math.exp(v) - 1)), domain: "any", kinks: [0] },
  { name: "softplus", op: softplus, ref: (v) => Math.log(1 + Math.exp(v)), domain: "any" },
  { name: "logsigmoid", op: logsigmoid, ref: (v) => Math.log(sig(v)), domain: "any" },
  { name: "clamp(-0.5, 0.7)", op: (x) => clamp(x, -0.5, 0.7), ref: (v) => Math.min(Math.max(v, -0.5), 0.7), domain: "any", kinks: [-0.5, 0.7] },
  { name: "clamp(null, 0.7)", op: (x) => clamp(x, null, 0.7), ref: (v) => Math.min(v, 0.7), domain: "any", kinks: [0.7] },
  { name: "clamp(-0.5, null)", op: (x) => clamp(x, -0.5, null), ref: (v) => Math.max(v, -0.5), domain: "any", kinks: [-0.5] },
  { name: "pow(x, 3)", op: (x) => pow(x, 3), ref: (v) => v ** 3, domain: "any" },
  { name: "pow(x, 2) (negative bases fine)", op: (x) => pow(x, 2), ref: (v) => v * v, domain: "any" },
  { name: "pow(x, 0.5)", op: (x) => pow(x, 0.5), ref: Math.sqrt, domain: "positive" },
  { name: "pow(x, -1.5)", op: (x) => pow(x, -1.5), ref: (v) => v ** -1.5, domain: "positive" },
  { name: "pow(2, x) (scalar base)", op: (x) => pow(2, x), ref: (v) => 2 ** v, domain: "any" },
];

function inputsFor(c: UnaryCase, shape: number[], seed: number): Tensor {
  if (c.domain === "positive") return uniformLeaf(shape, seed, 0.3, 2.5);
  return leafAwayFrom(shape, seed, c.kinks ?? []);
}

function viewMap(c: UnaryCase): (v: number) => number {
  if (c.domain === "positive") return (v) => 0.3 + Math.abs(v);
  const kinks = c.kinks ?? [];
  return (v) => {
    for (const k of kinks) if (Math.abs(v - k) < 1e-3) return k + 2e-3;
    return v;
  };
}

describe("unary ops", () => {
  for (const c of unaryCases) {
    describe(c.name, () => {
      test("forward matches the scalar formula", () => {
        const xs = c.domain === "positive" ? P : X;
        for (const dtype of ["f64", "f32"] as const) {
          const y = c.op(tensor(xs, undefined, { dtype }));
          assert.equal(y.dtype, dtype);
          assert.deepEqual(y.shape, [4]);
          const tol = dtype === "f64" ? 1e-13 : 1e-6;
          assertClose(y, xs.map(c.ref), tol, tol, `${c.name} ${dtype}`);
        }
      });
      test("gradcheck on contiguous f64 input", () => {
        gradcheck(c.op, [inputsFor(c, [3, 4], 11)]);
      });
      test("gradcheck on a 0-d input", () => {
        const x = inputsFor(c, [], 12);
        gradcheck(c.op, [x]);
        assert.deepEqual(c.op(x).shape, []);
      });
      test("gradcheck on non-contiguous leaves (transposed view, strided slice)", () => {
        const m = viewMap(c);
        gradcheck(c.op, [transposedLeaf(3, 4, 13, m)]);
        gradcheck(c.op, [stridedLeaf(3, 4, 14, m)]);
      });
    });
  }
});

describe("gelu", () => {
  test("exact erf form matches PyTorch reference values", () => {
    const xs = [1, -0.5, 0, 2, -1, 3, -3];
    const expected = [
      0.8413447460685429, -0.15426876936299344, 0, 1.9544997361036416, -0.15865525393145707,
      2.9959503059051097, -0.004049694094890284,
    ];
    assertClose(gelu(f64(xs)), expected, 1e-15, 1e-13, "gelu");
  });
  test("gradcheck (incl. tails where erf switches method near |x/√2| = 3)", () => {
    gradcheck(gelu, [leaf([3, 4], 21, 2)]);
    gradcheck(gelu, [f64([-5, -4.3, -4.2, 4.2, 4.3, 5, 0.1, -0.1]).requireGrad()]);
    gradcheck(gelu, [transposedLeaf(3, 4, 22)]);
  });
  test("far tails are finite: gelu(-40) = 0, gelu(40) = 40", () => {
    assertClose(gelu(f64([-40, 40])), [0, 40], 0, 0);
  });
});

describe("numerical stability at extreme inputs", () => {
  test("sigmoid(±1000), softplus, logsigmoid, silu, tanh stay finite and exact", () => {
    const x = f64([-1000, 1000]);
    assertClose(sigmoid(x), [0, 1], 0, 0, "sigmoid");
    assertClose(softplus(x), [0, 1000], 0, 0, "softplus");
    assertClose(logsigmoid(x), [-1000, 0], 0, 0, "logsigmoid");
    assertClose(silu(x), [0, 1000], 0, 0, "silu");
    assertClose(tanh(x), [-1, 1], 0, 0, "tanh");
    for (const f of [sigmoid, softplus, logsigmoid, silu, tanh, gelu, elu]) assertNoNaN(f(x), f.name);
  });
  test("the same in f32", () => {
    const x = tensor([-1000, 1000]);
    assertClose(sigmoid(x), [0, 1], 0, 0, "sigmoid");
    assertClose(softplus(x), [0, 1000], 0, 0, "softplus");
    assertClose(logsigmoid(x), [-1000, 0], 0, 0, "logsigmoid");
  });
  test("gradients at ±1000 are finite: σ' = 0, softplus' ∈ {0, 1}, logsigmoid' ∈ {1, 0}", () => {
    for (const [f, expected] of [
      [sigmoid, [0, 0]],
      [softplus, [0, 1]],
      [logsigmoid, [1, 0]],
      [silu, [0, 1]],
      [tanh, [0, 0]],
    ] as const) {
      const x = f64([-1000, 1000]).requireGrad();
      f(x).sum().backward();
      assertClose(x.grad!, expected, 0, 0, `${f.name}'`);
    }
  });
  test("softplus is log1p-accurate for very negative inputs", () => {
    assertClose(softplus(f64([-30])), [Math.exp(-30)], 0, 1e-12);
  });
});

// ---- binary ops ----

interface BinaryCase {
  name: string;
  op: (a: Tensor | number, b: Tensor | number) => Tensor;
  ref: (a: number, b: number) => number;
  /** how to draw inputs (a, b) so that the op is smooth there */
  draw: (shapeA: number[], shapeB: number[], seed: number) => [Tensor, Tensor];
}

const normalPair = (sa: number[], sb: number[], seed: number): [Tensor, Tensor] => [leaf(sa, seed), leaf(sb, seed + 1)];

/** a in k + [0.1, 0.4], b in k' + [0.6, 0.9] for small integers k, k': |a − b| ≥ 0.2, so no ties nearby. */
function separatedPair(sa: number[], sb: number[], seed: number): [Tensor, Tensor] {
  const rng = new Random(seed);
  const mk = (shape: number[], lo: number, hi: number): Tensor => {
    const n = shape.reduce((x, y) => x * y, 1);
    const d = new Float64Array(n).map(() => rng.integer(-2, 2) + rng.uniform(lo, hi));
    return new Tensor(d, shape).requireGrad();
  };
  return [mk(sa, 0.1, 0.4), mk(sb, 0.6, 0.9)];
}

const binaryCases: BinaryCase[] = [
  { name: "add", op: add, ref: (a, b) => a + b, draw: normalPair },
  { name: "sub", op: sub, ref: (a, b) => a - b, draw: normalPair },
  { name: "mul", op: mul, ref: (a, b) => a * b, draw: normalPair },
  {
    name: "div",
    op: div,
    ref: (a, b) => a / b,
    draw: (sa, sb, seed) => [leaf(sa, seed), uniformLeaf(sb, seed + 1, 0.5, 2)],
  },
  {
    name: "pow (tensor exponent)",
    op: pow,
    ref: Math.pow,
    draw: (sa, sb, seed) => [uniformLeaf(sa, seed, 0.4, 2), leaf(sb, seed + 1)],
  },
  { name: "maximum", op: maximum, ref: Math.max, draw: separatedPair },
  { name: "minimum", op: minimum, ref: Math.min, draw: separatedPair },
];

describe("binary ops", () => {
  for (const c of binaryCases) {
    describe(c.name, () => {
      test("forward matches the scalar formula (same shape, number on either side)", () => {
        const a = [0.5, 1.25, 2, 3];
        const b = [1.5, -0.75, 2, 0.5];
        const y = c.op(f64(a), f64(b));
        assertClose(y, a.map((v, i) => c.ref(v, b[i]!)), 1e-15, 1e-14);
        assertClose(c.op(f64(a), 1.5), a.map((v) => c.ref(v, 1.5)), 1e-15, 1e-14, "tensor ∘ number");
        assertClose(c.op(1.5, f64(a)), a.map((v) => c.ref(1.5, v)), 1e-15, 1e-14, "number ∘ tensor");
      });
      test("forward with broadcasting [3,1,4] ∘ [5,4] → [3,5,4]", () => {
        const [a, b] = c.draw([3, 1, 4], [5, 4], 31);
        const y = c.op(a, b);
        assert.deepEqual(y.shape, [3, 5, 4]);
        for (const [i, j, k] of [[0, 0, 0], [2, 4, 3], [1, 3, 2], [2, 0, 1]] as const) {
          assertClose(y.get(i, j, k), c.ref(a.get(i, 0, k), b.get(j, k)), 1e-15, 1e-14);
        }
      });
      test("gradcheck, same shape", () => {
        gradcheck(c.op, c.draw([3, 4], [3, 4], 32));
      });
      test("gradcheck with broadcasting: [3,1,4] ∘ [5,4], [4] ∘ [2,3,1], [2,1] ∘ [1,3]", () => {
        gradcheck(c.op, c.draw([3, 1, 4], [5, 4], 33));
        gradcheck(c.op, c.draw([4], [2, 3, 1], 34));
        gradcheck(c.op, c.draw([2, 1], [1, 3], 35));
      });
      test("gradcheck with a 0-d tensor operand and with plain numbers on either side", () => {
        gradcheck(c.op, c.draw([3, 4], [], 36));
        gradcheck(c.op, c.draw([], [3, 4], 37));
        const [a, b] = c.draw([3, 4], [3, 4], 38);
        const sb = b.get(0, 0);
        const sa = a.get(0, 0);
        gradcheck((x) => c.op(x, sb), [a]);
        gradcheck((x) => c.op(sa, x), [b]);
      });
      test("gradcheck only one operand requiring grad (the other held constant)", () => {
        const [a, b] = c.draw([3, 4], [4], 39);
        gradcheck(c.op, [a, b.detach()]);
        gradcheck(c.op, [a.detach(), b]);
      });
      test("gradcheck on non-contiguous leaves", () => {
        // build the drawn values into a transposed and a strided layout
        const [a0, b0] = c.draw([3, 4], [3, 4], 40);
        const a = transposedLeaf(3, 4, 0);
        const b = stridedLeaf(3, 4, 0);
        noGrad(() => {
          for (let i = 0; i < 3; i++) {
            for (let j = 0; j < 4; j++) {
              a.data[a.offset + i * a.strides[0]! + j * a.strides[1]!] = a0.get(i, j);
              b.data[b.offset + i * b.strides[0]! + j * b.strides[1]!] = b0.get(i, j);
            }
          }
        });
        assertClose(a, a0.toArray(), 0, 0);
        gradcheck(c.op, [a, b]);
        gradcheck(c.op, [a, b0.slice(0, 0, 1).detach().requireGrad()]); // non-contiguous ∘ broadcast row
      });
    });
  }

  test("gradient of a broadcast operand is summed over the broadcast axes", () => {
    const a = f64([1, 2, 3]).reshape(3, 1).requireGrad();
    const b = f64([10, 20, 30, 40]).requireGrad();
    mul(a, b).sum().backward();
    assertClose(a.grad!, [100, 100, 100], 0, 0);
    assert.deepEqual(a.grad!.shape, [3, 1]);
    assertClose(b.grad!, [6, 6, 6, 6], 0, 0);
  });

  test("maximum/minimum split the gradient evenly at ties", () => {
    const a = f64([1, 2, 5]).requireGrad();
    const b = f64([1, 3, 5]).requireGrad();
    maximum(a, b).sum().backward();
    assertClose(a.grad!, [0.5, 0, 0.5], 0, 0);
    assertClose(b.grad!, [0.5, 1, 0.5], 0, 0);
    a.zeroGrad();
    b.zeroGrad();
    minimum(a, b).sum().backward();
    assertClose(a.grad!, [0.5, 1, 0.5], 0, 0);
    assertClose(b.grad!, [0.5, 0, 0.5], 0, 0);
  });

  test("relu and abs have zero / sign gradient away from the kink; clamp passes gradient inside [min, max]", () => {
    const x = f64([-1, 2, -0.6, 0.5, 0.8]).requireGrad();
    relu(x).sum().backward();
    assertClose(x.grad!, [0, 1, 0, 1, 1], 0, 0);
    x.zeroGrad();
    abs(x).sum().backward();
    assertClose(x.grad!, [-1, 1, -1, 1, 1], 0, 0);
    x.zeroGrad();
    clamp(x, -0.5, 0.7).sum().backward();
    assertClose(x.grad!, [0, 0, 0, 1, 0], 0, 0);
  });

  test("pow with a tensor exponent: the exponent gradient is z·log a", () => {
    const a = f64([2, 3]).requireGrad();
    const b = f64([3, 0.5]).requireGrad();
    pow(a, b).sum().backward();
    assertClose(a.grad!, [3 * 4, 0.5 / Math.sqrt(3)], 1e-15, 1e-14);
    assertClose(b.grad!, [8 * Math.log(2), Math.sqrt(3) * Math.log(3)], 1e-15, 1e-14);
  });

  test("broadcast shape errors name both shapes", () => {
    assert.throws(() => add(f64([1, 2, 3]), f64([1, 2, 3, 4])), (e: Error) => e instanceof RangeError && /\[3\]/.test(e.message) && /\[4\]/.test(e.message));
    assert.throws(() => mul(randn([2, 3], new Random(0)), randn([3, 2], new Random(0))), /\[2,3\].*\[3,2\]/);
  });

  test("binary ops promote f32 ∘ f64 to f64 and keep a number operand in the tensor's dtype", () => {
    const a = tensor([1, 2]);
    const b = f64([3, 4]);
    assert.equal(add(a, b).dtype, "f64");
    assert.equal(mul(b, a).dtype, "f64");
    assert.equal(add(a, 1).dtype, "f32");
    assert.equal(sub(2, a).dtype, "f32");
    assert.equal(add(b, 1).dtype, "f64");
  });

  test("the gradient of an f32 operand in a mixed-dtype op is f32", () => {
    const a = tensor([1, 2]).requireGrad();
    const b = f64([3, 4]).requireGrad();
    mul(a, b).sum().backward();
    assert.equal(a.grad!.dtype, "f32");
    assert.equal(b.grad!.dtype, "f64");
    assertClose(a.grad!, [3, 4], 0, 0);
    assertClose(b.grad!, [1, 2], 0, 0);
  });
});

describe("where", () => {
  test("forward picks a where cond ≠ 0, with broadcasting of all three", () => {
    const cond = tensor([1, 0, 1], [3, 1]);
    const a = f64([1, 2, 3, 4]);
    const y = where(cond, a, -1);
    assert.deepEqual(y.shape, [3, 4]);
    assert.deepEqual(y.toNested(), [[1, 2, 3, 4], [-1, -1, -1, -1], [1, 2, 3, 4]]);
    assert.equal(y.dtype, "f64");
    assert.deepEqual(where(tensor([0, 2]), 5, 7).toArray(), [7, 5]);
  });
  test("gradcheck: same shape, broadcast cond/a/b, numbers on either side", () => {
    const cond = tensor([1, 0, 0, 1, 1, 0, 1, 0, 0, 0, 1, 1], [3, 4]);
    gradcheck((a, b) => where(cond, a, b), [leaf([3, 4], 51), leaf([3, 4], 52)]);
    const condCol = tensor([1, 0, 1], [3, 1]);
    gradcheck((a, b) => where(condCol, a, b), [leaf([4], 53), leaf([3, 1], 54)]);
    gradcheck((a) => where(cond, a, 2.5), [leaf([3, 4], 55)]);
    gradcheck((b) => where(cond, -1, b), [leaf([4], 56)]);
    gradcheck((a, b) => where(cond, a, b), [leaf([], 57), transposedLeaf(3, 4, 58)]);
  });
  test("gradient goes only to the chosen side", () => {
    const a = f64([1, 2, 3]).requireGrad();
    const b = f64([4, 5, 6]).requireGrad();
    where(tensor([1, 0, 1]), a, b).sum().backward();
    assert.deepEqual(a.grad!.toArray(), [1, 0, 1]);
    assert.deepEqual(b.grad!.toArray(), [0, 1, 0]);
  });
});

describe("cast", () => {
  test("values and dtype; same dtype returns the tensor itself", () => {
    const x = f64([1 / 3, 2]);
    const y = cast(x, "f32");
    assert.equal(y.dtype, "f32");
    assert.deepEqual(y.toArray(), [Math.fround(1 / 3), 2]);
    assert.equal(cast(x, "f64"), x);
    assert.equal(x.to("f64"), x);
  });
  test("gradcheck through f64 → f32 → f64", () => {
    // The round trip quantises to f32 (ulp ≈ 1.2e-7 near 1), so the default eps = 1e-6 would be dominated by
    // rounding; with eps = 1e-2 the rounding error of the difference quotient is ~6e-6·|w|, far below rtol.
    // The op is linear, so the larger step costs no truncation error.
    gradcheck((x) => cast(cast(x, "f32"), "f64"), [leaf([3, 4], 61)], { eps: 1e-2 });
    gradcheck((x) => cast(cast(x, "f32"), "f64"), [transposedLeaf(3, 4, 62)], { eps: 1e-2 });
  });
  test("gradient flows back to an f32 leaf in f32", () => {
    const x = tensor([1, 2, 3]).requireGrad();
    x.to("f64").mul(f64([1, 2, 3])).sum().backward();
    assert.equal(x.grad!.dtype, "f32");
    assert.deepEqual(x.grad!.toArray(), [1, 2, 3]);
  });
});

test("fluent methods agree with the functions", () => {
  const x = uniformLeaf([5], 71, 0.2, 2).detach();
  const y = leaf([5], 72).detach();
  const pairs: Array<[Tensor, Tensor]> = [
    [x.add(y), add(x, y)], [x.sub(y), sub(x, y)], [x.mul(y), mul(x, y)], [x.div(y), div(x, y)],
    [x.pow(y), pow(x, y)], [x.maximum(y), maximum(x, y)], [x.minimum(y), minimum(x, y)],
    [x.neg(), neg(x)], [x.exp(), exp(x)], [x.log(), log(x)], [x.sqrt(), sqrt(x)], [x.rsqrt(), rsqrt(x)],
    [y.abs(), abs(y)], [y.square(), square(y)], [y.tanh(), tanh(y)], [y.sigmoid(), sigmoid(y)],
    [y.silu(), silu(y)], [y.gelu(), gelu(y)], [y.relu(), relu(y)], [y.elu(0.3), elu(y, 0.3)],
    [y.softplus(), softplus(y)], [y.logsigmoid(), logsigmoid(y)], [y.clamp(-0.2, 0.2), clamp(y, -0.2, 0.2)],
  ];
  for (const [p, q] of pairs) assert.deepEqual(p.toArray(), q.toArray());
});

test("clamp rejects min > max", () => {
  assert.throws(() => clamp(scalar(1), 2, 1), /min \(2\) must not exceed max \(1\)/);
});
