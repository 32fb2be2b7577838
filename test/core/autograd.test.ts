import { test, describe } from "node:test";
import assert from "node:assert/strict";
import v8 from "node:v8";
import vm from "node:vm";
import {
  Tensor, tensor, gradcheck, GradcheckError, noGrad, enableGrad, isGradEnabled, randn, Random, matmul, expand, slice, concat, add,
} from "../../src/core/index.js";
import { record } from "../../src/core/autograd.js";
import { assertClose, leaf } from "./helpers.js";

const f64 = (values: number[], shape?: number[]): Tensor => tensor(values, shape, { dtype: "f64" });

/** A gc() function without --expose-gc on the command line (node --test does not pass it). */
function getGc(): () => void {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
}

/** Lets the current job end (WeakRef targets stay alive until then), then collects twice. */
async function collect(gc: () => void): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  await new Promise((resolve) => setImmediate(resolve));
  gc();
}

describe("gradient accumulation and reuse", () => {
  test("gradients accumulate across two backward calls (fresh graphs)", () => {
    const x = f64([1, 2, 3]).requireGrad();
    x.mul(2).sum().backward();
    x.mul(2).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [4, 4, 4]);
    x.zeroGrad();
    assert.equal(x.grad, null);
    x.square().sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
  });

  test("a tensor used twice gets both contributions (x·x, and a diamond)", () => {
    const x = f64([1.5, -2]).requireGrad();
    x.mul(x).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [3, -4]);
    x.zeroGrad();
    const y = x.exp();
    y.mul(y).add(y).sum().backward(); // d/dx (e^{2x} + e^x) = (2y + 1)·y
    assertClose(x.grad!, x.toArray().map((v) => (2 * Math.exp(v) + 1) * Math.exp(v)), 0, 1e-15);
    gradcheck((t) => {
      const e = t.exp();
      return e.mul(e).add(e).add(t.mul(t));
    }, [leaf([4], 1)]);
  });

  test("noGrad records nothing; enableGrad re-enables inside it; the mode is restored after a throw", () => {
    const x = f64([1, 2]).requireGrad();
    assert.equal(isGradEnabled(), true);
    const y = noGrad(() => {
      assert.equal(isGradEnabled(), false);
      const inner = enableGrad(() => x.mul(3));
      assert.equal(inner.requiresGrad, true);
      return x.mul(2).exp();
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);
    assert.throws(() => noGrad(() => { throw new Error("boom"); }), /boom/);
    assert.equal(isGradEnabled(), true);
    assert.throws(() => y.backward(), /does not require grad/);
  });

  test("ops on tensors that do not require grad record nothing", () => {
    const a = f64([1, 2]);
    const y = a.mul(2).exp().sum();
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);
  });

  test("detach shares storage, is a leaf without grad, and stops the gradient", () => {
    const x = f64([1, 2, 3]).requireGrad();
    const h = x.mul(2);
    const d = h.detach();
    assert.equal(d.data, h.data);
    assert.equal(d.requiresGrad, false);
    assert.equal(d.isLeaf, true);
    d.mul(x).sum().backward(); // only the x factor carries a gradient
    assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
  });

  test("retainGrad keeps the gradient of a non-leaf", () => {
    const x = f64([1, 2]).requireGrad();
    const h = x.mul(3).retainGrad();
    const h2 = x.mul(4);
    h.square().sum().add(h2.sum()).backward();
    assert.deepEqual(h.grad!.toArray(), [6, 12]);
    assert.equal(h2.grad, null);
    assert.deepEqual(x.grad!.toArray(), [18 + 4, 36 + 4]);
  });
});

describe("graph release", () => {
  test("a second backward through a released graph throws a clear error", () => {
    const x = f64([1, 2]).requireGrad();
    const loss = x.tanh().sum();
    loss.backward();
    assert.throws(() => loss.backward(), (e: Error) => /already released/.test(e.message) && /retainGraph: true/.test(e.message));
  });

  test("a new graph built on a released intermediate also throws", () => {
    const x = f64([1, 2]).requireGrad();
    const h = x.exp();
    h.sum().backward();
    assert.throws(() => h.mul(2).sum().backward(), /graph through 'exp' was already released/);
  });

  test("retainGraph: true allows a second backward (and the gradients add up)", () => {
    const x = f64([0.5, -1]).requireGrad();
    const loss = x.tanh().sum();
    loss.backward(undefined, { retainGraph: true });
    const once = x.grad!.toArray();
    loss.backward();
    assertClose(x.grad!, once.map((v) => 2 * v), 0, 1e-15);
    assert.throws(() => loss.backward(), /already released/);
  });
});

describe("backward argument checks", () => {
  test("a non-scalar output needs a gradient of its shape", () => {
    const x = f64([1, 2]).requireGrad();
    const y = x.mul(2);
    assert.throws(() => y.backward(), /gradient argument is needed for a non-scalar output of shape \[2\]/);
    assert.throws(() => y.backward(f64([1, 2, 3])), /grad has shape \[3\], expected \[2\]/);
    y.backward(f64([1, 10]));
    assert.deepEqual(x.grad!.toArray(), [2, 20]);
  });

  test("requireGrad(false) is only for leaves", () => {
    const x = f64([1]).requireGrad();
    assert.throws(() => x.mul(2).requireGrad(false), /only leaves/);
    assert.equal(x.requireGrad(false).requiresGrad, false);
  });

  test("a backward rule returning a wrongly shaped gradient is reported with the op name", () => {
    const x = f64([1, 2, 3]).requireGrad();
    const y = record(new Tensor(new Float64Array(3), [3]), "badShape", [x], () => [f64([1, 2])]);
    assert.throws(() => y.sum().backward(), /backward of 'badShape': gradient for input 0 has shape \[2\] but the input has \[3\]/);
  });
});

describe("deep graphs", () => {
  test("a chain of 10000 sequential ops backpropagates without stack overflow", () => {
    const x = f64([1, 2]).requireGrad();
    let y = x;
    for (let i = 0; i < 10000; i++) y = i % 2 === 0 ? y.add(1) : y.mul(1);
    y.sum().backward();
    assert.deepEqual(x.grad!.toArray(), [1, 1]);
  });

  test("a wide fan-in (one leaf used 2000 times) accumulates every contribution", () => {
    const x = f64([2]).requireGrad();
    let acc = x.mul(0);
    for (let i = 0; i < 2000; i++) acc = acc.add(x.mul(1));
    acc.sum().backward();
    assert.deepEqual(x.grad!.toArray(), [2000]);
  });
});

describe("memory: no global registry keeps tensors alive", () => {
  test("after backward, intermediates are collectable even while the loss is still referenced", async () => {
    const gc = getGc();
    const x = f64([1, 2, 3]).requireGrad();
    let h: Tensor | null = x.exp().mul(2);
    const ref = new WeakRef(h);
    const loss = h.tanh().sum();
    h = null;
    loss.backward();
    await collect(gc);
    assert.equal(ref.deref(), undefined, "intermediate tensor still reachable after backward");
    assert.equal(loss.node!.inputs.length, 0);
  });

  test("a dropped graph is collectable without any backward", async () => {
    const gc = getGc();
    const x = f64([1, 2, 3]).requireGrad();
    let loss: Tensor | null = x.exp().mul(2).sum();
    const ref = new WeakRef(loss);
    loss = null;
    await collect(gc);
    assert.equal(ref.deref(), undefined);
  });

  test("300 forward/backward iterations of a small MLP do not grow the heap", async () => {
    const gc = getGc();
    const rng = new Random(5);
    // sized so that keeping even one [32,256] f32 activation per iteration (32 KB × 200 = 6.4 MB) would fail
    const w1 = randn([64, 256], rng, { std: 0.1 }).requireGrad();
    const w2 = randn([256, 4], rng, { std: 0.1 }).requireGrad();
    const input = randn([32, 64], rng);
    const step = (): void => {
      const h = matmul(input, w1).tanh();
      const loss = matmul(h, w2).square().mean();
      loss.backward();
      noGrad(() => {
        for (const w of [w1, w2]) {
          const g = w.grad!.data;
          for (let i = 0; i < g.length; i++) w.data[i] -= 0.01 * g[i]!;
          w.zeroGrad();
        }
      });
    };
    // typed-array storage lives outside the JS heap (arrayBuffers), so both are counted
    const used = (): number => {
      const m = process.memoryUsage();
      return m.heapUsed + m.arrayBuffers;
    };
    let at100 = 0;
    for (let i = 1; i <= 300; i++) {
      step();
      if (i === 100) {
        await collect(gc);
        at100 = used();
      }
    }
    await collect(gc);
    const growth = used() - at100;
    assert.ok(growth < 3 * 1024 * 1024, `heap + array buffers grew by ${(growth / 1048576).toFixed(2)} MB between iterations 100 and 300`);
  });
});

describe("gradcheck", () => {
  /** y = x², recorded with the given backward rule */
  const squareWith = (rule: (g: Tensor, x: Tensor) => Tensor) => (x: Tensor): Tensor => {
    const y = new Tensor(Float64Array.from(x.values(), (v) => v * v), x.shape);
    return record(y, "customSquare", [x], (g) => [rule(g, x)]);
  };

  test("a correct custom backward passes and the report counts every element", () => {
    const report = gradcheck(squareWith((g, x) => g.mul(x).mul(2)), [leaf([3, 4], 2)]);
    assert.equal(report.checked, 12);
    assert.ok(report.maxAbsError < 1e-6);
  });

  test("a deliberately wrong backward throws GradcheckError naming the element", () => {
    assert.throws(
      () => gradcheck(squareWith((g, x) => g.mul(x)), [leaf([3, 4], 3)]), // missing factor 2
      (e: Error) => e instanceof GradcheckError && e.name === "GradcheckError" && /input 0 \[3,4\], element 0: analytic .* vs numerical/.test(e.message),
    );
    // a rule that is right except on one element
    const offByOne = (g: Tensor, x: Tensor): Tensor => {
      const r = g.mul(x).mul(2);
      const d = Float64Array.from(r.values());
      d[5] += 1e-3;
      return new Tensor(d, r.shape);
    };
    assert.throws(() => gradcheck(squareWith(offByOne), [leaf([3, 4], 4)]), /element 5/);
  });

  test("a missing gradient (backward returns null) is caught", () => {
    const dropGrad = (x: Tensor): Tensor => record(new Tensor(Float64Array.from(x.values()), x.shape), "noGradRule", [x], () => [null]);
    assert.throws(() => gradcheck(dropGrad, [leaf([2], 5)]), GradcheckError);
  });

  test("multiple outputs that share an intermediate", () => {
    const report = gradcheck((t) => {
      const h = t.tanh();
      return [h.mul(2), h.sum(), t.exp()];
    }, [leaf([3], 6)]);
    assert.equal(report.checked, 3);
  });

  test("inputs that do not require grad are held constant; existing .grad is left untouched", () => {
    const x = leaf([3], 7);
    const c = randn([3], new Random(8), { dtype: "f64" });
    x.mul(c).sum().backward();
    const before = x.grad;
    const snapshot = before!.toArray();
    gradcheck((a, b) => a.mul(b), [x, c]);
    assert.equal(x.grad, before);
    assert.deepEqual(x.grad!.toArray(), snapshot);
  });

  test("rejects f32 inputs, non-leaf inputs, expanded views and calls with nothing to check", () => {
    const f32 = randn([3], new Random(9)).requireGrad();
    assert.throws(() => gradcheck((t) => t.exp(), [f32]), (e: Error) => e instanceof GradcheckError && /input 0 is f32; gradcheck needs f64/.test(e.message));
    const nonLeaf = leaf([3], 10).mul(2);
    assert.throws(() => gradcheck((t) => t.exp(), [nonLeaf]), /input 0 must be a leaf tensor/);
    const expanded = noGrad(() => expand(randn([1, 3], new Random(11), { dtype: "f64" }), [2, 3])).requireGrad();
    assert.throws(() => gradcheck((t) => t.exp(), [expanded]), /sharing storage/);
    assert.throws(() => gradcheck((t) => t.exp(), [randn([3], new Random(12), { dtype: "f64" })]), /no input requires grad/);
  });

  test("tolerances are options (a loose atol hides the off-by-factor rule on tiny inputs)", () => {
    const x = f64([1e-4, -2e-4]).requireGrad();
    // analytic g·x vs numerical 2·g·x differ by |g·x| ≈ 1e-4 here: accepted with atol 1e-2, rejected with atol 1e-9
    assert.throws(() => gradcheck(squareWith((g, t) => g.mul(t)), [x], { atol: 1e-9 }), GradcheckError);
    gradcheck(squareWith((g, t) => g.mul(t)), [x], { atol: 1e-2 });
  });
});

describe("sparse slice gradients", () => {
  test("slices, a shared upstream gradient (x + x) and dense uses of one input all accumulate correctly", () => {
    const x = randn([3, 6, 2], new Random(21), { dtype: "f64", requiresGrad: true });
    gradcheck(
      (t) => {
        const parts = [0, 1, 2, 3, 4, 5].map((i) => slice(t, 1, i, i + 1).mul(i + 1));
        const twice = add(t, t); // add's backward hands the same gradient tensor to both operands
        return concat(parts, 1).add(twice).add(slice(t, 1, 1, 5, 2).sum()).tanh();
      },
      [x],
    );
  });

  test("the upstream gradient given to backward is never written into", () => {
    const x = randn([4, 3], new Random(22), { dtype: "f64", requiresGrad: true });
    const y = add(slice(x, 0, 0, 2).mul(1), slice(x, 0, 2, 4));
    const seed = randn([2, 3], new Random(23), { dtype: "f64" });
    const before = seed.toArray();
    y.backward(seed);
    assert.deepEqual(seed.toArray(), before);
    assert.deepEqual(x.grad!.toArray(), [...before, ...before]);
  });
});
