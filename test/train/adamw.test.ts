import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { tensor } from "../../src/core/create.js";
import { Tensor } from "../../src/core/tensor.js";
import { AdamW, decayGroups, type AdamWStateDict } from "../../src/train/adamw.js";
import { NonFiniteGradError } from "../../src/train/finite.js";

const f64 = (values: number[], shape?: number[]): Tensor => tensor(values, shape, { dtype: "f64", requiresGrad: true });
const f32 = (values: number[], shape?: number[]): Tensor => tensor(values, shape, { dtype: "f32", requiresGrad: true });
const setGrad = (p: Tensor, values: number[]): void => {
  p.grad = tensor(values, undefined, { dtype: p.dtype });
};

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = ""): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)), `${what}[${i}]: got ${a}, expected ${e} (tol ${tol})`);
  }
}

interface Hyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  wd: number;
}

/**
 * The AdamW recurrence as written in the paper / PyTorch docs, with bias-corrected moments m̂ and v̂ spelled out
 * (the optimizer folds the corrections into a step size instead). Returns p after each step.
 */
function referenceAdamW(p0: number[], grads: number[][], h: Hyper): number[][] {
  const p = [...p0];
  const m = p0.map(() => 0);
  const v = p0.map(() => 0);
  const trajectory: number[][] = [];
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! - h.lr * h.wd * p[i]!;
      m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g[i]!;
      v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g[i]! ** 2;
      const mHat = m[i]! / (1 - h.beta1 ** t);
      const vHat = v[i]! / (1 - h.beta2 ** t);
      p[i] = p[i]! - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
    }
    trajectory.push([...p]);
  });
  return trajectory;
}

describe("AdamW update", () => {
  test("step 1 by hand: m̂ = g and √v̂ = |g|, so p1 = p0·(1 − lr·wd) − lr·g/(|g| + eps)", () => {
    // lr 0.1, wd 0.01, default betas and eps 1e-8:
    //   p = 1,   g = 0.5:  0.999  − 0.1·0.5/(0.5 + 1e-8)   = 0.999  − 0.099999998  = 0.899000002
    //   p = 0.5, g = −2:   0.4995 + 0.1·2/(2 + 1e-8)       = 0.4995 + 0.0999999995 = 0.5994999995
    // and in a group with weightDecay 0:
    //   p = 3,   g = 0.25: 3      − 0.1·0.25/(0.25 + 1e-8) = 3 − 0.099999996       = 2.900000004
    const a = f64([1, 0.5]);
    const b = f64([3]);
    const opt = new AdamW([{ params: [a] }, { params: [b], weightDecay: 0 }], { lr: 0.1, weightDecay: 0.01 });
    setGrad(a, [0.5, -2]);
    setGrad(b, [0.25]);
    opt.step();
    assertClose(a.data, [0.899000002, 0.5994999995], 1e-13, "a");
    assertClose(b.data, [2.900000004], 1e-13, "b");
    // the state after one step: m = (1 − β1)·g, v = (1 − β2)·g²
    const st = opt.getState(a)!;
    assert.equal(st.step, 1);
    assertClose(st.expAvg, [0.05, -0.2], 1e-15, "m");
    assertClose(st.expAvgSq, [0.00025, 0.004], 1e-15, "v");
  });

  test("three f64 steps match the reference, with decay, bias correction and a group without decay", () => {
    const h = { lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 1e-3, wd: 0.1 };
    // eps = 1e-3 is large enough that adding it before instead of after the bias correction of √v would fail.
    const gradsA = [[0.3, -1.2, 0.05], [-0.7, 0.4, 0.0], [0.2, 2.5, -0.01]];
    const gradsB = [[1.5, -0.25], [0.5, 0.75], [-2, 0.125]];
    const a = f64([0.4, -1.1, 2.0]);
    const b = f64([-0.3, 0.8]);
    const opt = new AdamW(
      [{ params: [a] }, { params: [b], weightDecay: 0 }],
      { lr: h.lr, betas: [h.beta1, h.beta2], eps: h.eps, weightDecay: h.wd },
    );
    const refA = referenceAdamW([0.4, -1.1, 2.0], gradsA, h);
    const refB = referenceAdamW([-0.3, 0.8], gradsB, { ...h, wd: 0 });
    for (let s = 0; s < 3; s++) {
      setGrad(a, gradsA[s]!);
      setGrad(b, gradsB[s]!);
      opt.step();
      assertClose(a.data, refA[s]!, 1e-14, `a after step ${s + 1}`);
      assertClose(b.data, refB[s]!, 1e-14, `b after step ${s + 1}`);
    }
    assert.equal(opt.getState(a)!.step, 3);
  });

  test("defaults are PyTorch's: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 0.01", () => {
    const p = f64([0.7, -0.2]);
    const opt = new AdamW([p]);
    assert.deepEqual(opt.group(0), { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, params: [p] });
    const grads = [[0.1, 0.2], [-0.3, 0.1], [0.05, -0.4]];
    const ref = referenceAdamW([0.7, -0.2], grads, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.01 });
    for (const g of grads) {
      setGrad(p, g);
      opt.step();
    }
    assertClose(p.data, ref[2]!, 1e-14, "p");
  });

  test("an f32 parameter stays f32, with f32 state, and follows the f64 reference to f32 precision", () => {
    const p = f32([0.4, -1.1, 2.0]);
    const storage = p.data;
    const opt = new AdamW([p], { lr: 0.05, weightDecay: 0.1 });
    const grads = [[0.3, -1.2, 0.05], [-0.7, 0.4, 0.0], [0.2, 2.5, -0.01]];
    for (const g of grads) {
      setGrad(p, g);
      opt.step();
    }
    assert.equal(p.dtype, "f32");
    assert.ok(p.data instanceof Float32Array);
    assert.equal(p.data, storage, "updated in place");
    assert.ok(opt.getState(p)!.expAvg instanceof Float32Array);
    assert.ok(opt.getState(p)!.expAvgSq instanceof Float32Array);
    const ref = referenceAdamW([0.4, -1.1, 2.0], grads, { lr: 0.05, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.1 });
    assertClose(p.data, ref[2]!, 1e-6, "p");
  });

  test("a parameter whose grad is null is untouched and its step count does not advance", () => {
    const a = f64([1, 2]);
    const frozen = f64([5, 6]);
    const h = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.01 };
    const opt = new AdamW([a, frozen], { lr: h.lr });
    // a has gradients at steps 1 and 3 only; it must see them as its steps 1 and 2.
    setGrad(a, [0.5, -0.5]);
    opt.step();
    a.grad = null;
    opt.step();
    setGrad(a, [0.25, 1]);
    opt.step();
    assert.deepEqual([...frozen.data], [5, 6]);
    assert.equal(opt.getState(frozen), undefined);
    assert.equal(opt.getState(a)!.step, 2);
    assertClose(a.data, referenceAdamW([1, 2], [[0.5, -0.5], [0.25, 1]], h)[1]!, 1e-14, "a");
  });

  test("the gradient may be a strided view and of another dtype", () => {
    const p = f64([1, 2, 3, 4], [2, 2]);
    const q = f64([1, 2, 3, 4], [2, 2]);
    const optP = new AdamW([p], { lr: 0.1 });
    const optQ = new AdamW([q], { lr: 0.1 });
    // the transpose of [[1,2],[3,4]] laid out column-major: logical [[1,3],[2,4]]
    p.grad = new Tensor(new Float32Array([1, 2, 3, 4]), [2, 2], [1, 2]);
    q.grad = tensor([[1, 3], [2, 4]], undefined, { dtype: "f64" });
    optP.step();
    optQ.step();
    assertClose(p.data, q.data, 1e-15, "p");
  });

  test("lr 0 leaves parameters unchanged (weight decay is multiplied by lr) but advances the state", () => {
    const p = f64([1, -2]);
    const opt = new AdamW([p], { lr: 0, weightDecay: 0.5 });
    setGrad(p, [3, 4]);
    opt.step();
    assert.deepEqual([...p.data], [1, -2]);
    assert.equal(opt.getState(p)!.step, 1);
  });
});

describe("AdamW groups and learning rates", () => {
  test("setLr sets every group, or one; getLr and group() read them", () => {
    const a = f64([1]);
    const b = f64([2]);
    const opt = new AdamW([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    assert.equal(opt.getLr(0), 0.1);
    assert.equal(opt.getLr(1), 0.5);
    opt.setLr(0.2, 1);
    assert.deepEqual([opt.getLr(0), opt.getLr(1)], [0.1, 0.2]);
    opt.setLr(0.3);
    assert.deepEqual([opt.getLr(0), opt.getLr(1)], [0.3, 0.3]);
    assert.throws(() => opt.setLr(-1), /setLr: lr must be a finite number >= 0, got -1/);
    assert.throws(() => opt.getLr(2), /param group 2 does not exist \(there are 2\)/);
    opt.setGroupOptions(1, { weightDecay: 0, betas: [0.5, 0.6] });
    assert.deepEqual(opt.group(1), { lr: 0.3, betas: [0.5, 0.6], eps: 1e-8, weightDecay: 0, params: [b] });
    assert.throws(() => opt.setGroupOptions(0, { eps: -1 }), /param group 0: eps must be a finite number >= 0, got -1/);
  });

  test("the group's lr is the one used", () => {
    const a = f64([1]);
    const b = f64([1]);
    const opt = new AdamW([{ params: [a], lr: 0.1 }, { params: [b], lr: 0.01 }], { weightDecay: 0 });
    setGrad(a, [1]);
    setGrad(b, [1]);
    opt.step();
    // step 1 moves by lr·g/(|g| + eps) ≈ lr
    assertClose(a.data, [0.9], 1e-7, "a");
    assertClose(b.data, [0.99], 1e-7, "b");
  });

  test("decayGroups exempts 1-D tensors by default, or what the predicate says", () => {
    const w = f64([1, 2, 3, 4], [2, 2]);
    const bias = f64([0, 0]);
    const emb = f64([1, 2, 3, 4], [2, 2]);
    const named: Array<[string, Tensor]> = [["proj.weight", w], ["proj.bias", bias], ["embeddings.weight", emb]];
    const groups = decayGroups(named, 0.1);
    assert.equal(groups.length, 2);
    assert.deepEqual(groups.map((g) => [[...g.params], g.weightDecay]), [[[w, emb], 0.1], [[bias], 0]]);
    const custom = decayGroups(named, 0.1, (name, p) => p.ndim < 2 || name.startsWith("embeddings."));
    assert.deepEqual(custom.map((g) => [[...g.params], g.weightDecay]), [[[w], 0.1], [[bias, emb], 0]]);
    const opt = new AdamW(custom, { lr: 0.1 });
    assert.equal(opt.group(1).weightDecay, 0);
    assert.deepEqual(decayGroups([["b", bias]], 0.1).map((g) => g.weightDecay), [0]);
  });

  test("zeroGrad drops every gradient", () => {
    const a = f64([1]);
    const b = f64([2]);
    const opt = new AdamW([{ params: [a] }, { params: [b] }]);
    setGrad(a, [1]);
    setGrad(b, [1]);
    opt.zeroGrad();
    assert.equal(a.grad, null);
    assert.equal(b.grad, null);
  });
});

describe("AdamW validation", () => {
  const p = () => f64([1, 2]);
  test("options: errors name the option and the value", () => {
    assert.throws(() => new AdamW([p()], { lr: -1 }), /AdamW: lr must be a finite number >= 0, got -1/);
    assert.throws(() => new AdamW([p()], { lr: NaN }), /lr must be a finite number >= 0, got NaN/);
    assert.throws(() => new AdamW([p()], { eps: -1e-8 }), /eps must be a finite number >= 0, got -1e-8/);
    assert.throws(() => new AdamW([p()], { weightDecay: -0.1 }), /weightDecay must be a finite number >= 0, got -0.1/);
    assert.throws(() => new AdamW([p()], { betas: [1, 0.999] }), /betas\[0\] must be in \[0, 1\), got 1/);
    assert.throws(() => new AdamW([p()], { betas: [0.9, -0.5] }), /betas\[1\] must be in \[0, 1\), got -0.5/);
    assert.throws(() => new AdamW([p()], { betas: [0.9] as never }), /betas must be a pair/);
    assert.throws(() => new AdamW([p()], { weight_decay: 0 } as never), /unknown option 'weight_decay'/);
    assert.throws(
      () => new AdamW([{ params: [p()] }, { params: [p()], weightDecay: -1 }]),
      /AdamW: param group 1: weightDecay must be a finite number >= 0, got -1/,
    );
    assert.throws(() => new AdamW([{ params: [p()], wd: 0 } as never]), /param group 0: unknown group option 'wd'/);
    // boundary values are accepted
    new AdamW([p()], { lr: 0, betas: [0, 0], eps: 0, weightDecay: 0 });
  });

  test("parameters: non-empty, leaves owning contiguous storage, each once", () => {
    assert.throws(() => new AdamW([]), /empty parameter list/);
    const view = new Tensor(new Float64Array(4), [2, 2], [1, 2]);
    assert.throws(() => new AdamW([view]), /parameter 0: .*must own contiguous storage/);
    const slice = new Tensor(new Float64Array(4), [2], [1], 2);
    assert.throws(() => new AdamW([slice]), /must own contiguous storage/);
    const a = p();
    assert.throws(() => new AdamW([{ params: [a] }, { params: [p(), a] }]), /param group 1, parameter 1 is the same tensor as param group 0, parameter 0/);
    const nonLeaf = p().mul(2);
    assert.throws(() => new AdamW([nonLeaf]), /can't optimize a non-leaf tensor/);
  });

  test("a gradient of the wrong shape is an error naming the parameter, before anything changes", () => {
    const a = p();
    const b = p();
    const opt = new AdamW([a, b], { lr: 0.1 });
    setGrad(a, [1, 1]);
    setGrad(b, [1, 1, 1]);
    assert.throws(() => opt.step(), /parameter 1 \(param group 0, index 1\) has a gradient of shape \[3\], expected \[2\]/);
    assert.deepEqual([...a.data], [1, 2]);
    assert.equal(opt.getState(a), undefined);
  });

  test("a NaN or Inf gradient is an error naming the parameter and element; nothing is updated", () => {
    const a = p();
    const b = f64([1, 2, 3, 4], [2, 2]);
    const opt = new AdamW([a, b], { lr: 0.1 });
    setGrad(a, [1, 1]);
    b.grad = tensor([[0, 1], [Infinity, 2]], undefined, { dtype: "f64" });
    assert.throws(() => opt.step(), (e: unknown) => {
      assert.ok(e instanceof NonFiniteGradError);
      assert.match(e.message, /AdamW\.step: non-finite gradient for parameter 1 \(param group 0, index 1\): grad\[1, 0\] = Infinity/);
      assert.equal(e.index, 2);
      return true;
    });
    assert.deepEqual([...a.data], [1, 2]);
    assert.deepEqual([...b.data], [1, 2, 3, 4]);
    assert.equal(opt.getState(a), undefined);
    // with the check off, the step goes ahead
    const c = p();
    const unchecked = new AdamW([c], { lr: 0.1, checkFinite: false });
    setGrad(c, [NaN, 1]);
    unchecked.step();
    assert.ok(Number.isNaN(c.data[0]));
  });
});

describe("AdamW state dict", () => {
  // Gradients of the loss Σ (p − target)², computed by hand: 2·(p − target).
  const target = [0.5, -0.25, 1.5];
  function fillGrads(params: Tensor[]): void {
    for (const p of params) {
      const g = Array.from(p.data, (x, i) => 2 * (x - target[i % target.length]!));
      p.grad = tensor(g, p.shape, { dtype: p.dtype });
    }
  }
  const makeParams = (): Tensor[] => [f64([1, 2, 3]), f32([-1, 0.5]), f64([4])];
  const makeOpt = (params: Tensor[], lr = 0.05): AdamW =>
    new AdamW([{ params: [params[0]!, params[1]!] }, { params: [params[2]!], weightDecay: 0 }], { lr, betas: [0.8, 0.9] });
  function run(opt: AdamW, params: Tensor[], steps: number, skipAt = -1): void {
    for (let s = 0; s < steps; s++) {
      fillGrads(params);
      if (s === skipAt) params[2]!.grad = null; // leave one parameter behind so step counts differ
      opt.step();
    }
  }

  for (const viaJson of [false, true]) {
    test(`save after 3 steps, load into a fresh optimizer, continue: the same trajectory as 6 steps${viaJson ? " (through JSON)" : ""}`, () => {
      const whole = makeParams();
      const wholeOpt = makeOpt(whole);
      run(wholeOpt, whole, 3, 1);
      wholeOpt.setLr(0.02, 0);
      run(wholeOpt, whole, 3);

      const first = makeParams();
      const firstOpt = makeOpt(first);
      run(firstOpt, first, 3, 1);
      firstOpt.setLr(0.02, 0);
      let sd: AdamWStateDict = firstOpt.stateDict();
      if (viaJson) {
        sd = JSON.parse(JSON.stringify(sd, (_, v: unknown) => (v instanceof Float32Array || v instanceof Float64Array ? Array.from(v) : v)));
      }
      // a restart: new tensors holding the saved parameter values, a new optimizer with other hyperparameters
      const resumed = first.map((p) => tensor(p.data.slice(), p.shape, { requiresGrad: true }));
      const resumedOpt = makeOpt(resumed, 0.5);
      resumedOpt.loadStateDict(sd);
      assert.equal(resumedOpt.getLr(0), 0.02);
      assert.equal(resumedOpt.getLr(1), 0.05);
      assert.equal(resumedOpt.getState(resumed[2]!)!.step, 2);
      assert.ok(resumedOpt.getState(resumed[1]!)!.expAvg instanceof Float32Array);
      run(resumedOpt, resumed, 3);

      for (let i = 0; i < whole.length; i++) assert.deepEqual([...resumed[i]!.data], [...whole[i]!.data], `parameter ${i}`);
    });
  }

  test("stateDict is a snapshot; state of a parameter never updated is null", () => {
    const params = makeParams();
    const opt = makeOpt(params);
    fillGrads(params);
    params[2]!.grad = null;
    opt.step();
    const sd = opt.stateDict();
    assert.equal(sd.format, "seqmix.AdamW");
    assert.deepEqual(sd.groups.map((g) => g.params), [[0, 1], [2]]);
    assert.equal(sd.state[2], null);
    assert.deepEqual(sd.state[1]!.shape, [2]);
    assert.equal(sd.state[1]!.dtype, "f32");
    const before = [...sd.state[0]!.expAvg];
    run(opt, params, 1);
    assert.deepEqual([...sd.state[0]!.expAvg], before);
    assert.equal(sd.state[0]!.step, 1);
  });

  test("loading a mismatched state dict fails naming the parameter, and changes nothing", () => {
    const params = makeParams();
    const opt = makeOpt(params);
    run(opt, params, 2);
    const sd = opt.stateDict();

    const other = [f64([1, 2, 3]), f32([-1, 0.5, 7]), f64([4])];
    const otherOpt = makeOpt(other, 0.5);
    assert.throws(() => otherOpt.loadStateDict(sd), /loadStateDict: parameter 1: the state dict has shape \[2\], the parameter has shape \[3\]/);
    assert.equal(otherOpt.getLr(0), 0.5, "hyperparameters untouched after a failed load");

    const reshaped = [f64([1, 2, 3], [3, 1]), f32([-1, 0.5]), f64([4])];
    assert.throws(() => makeOpt(reshaped).loadStateDict(sd), /parameter 0: the state dict has shape \[3\], the parameter has shape \[3,1\]/);

    const oneGroup = new AdamW(makeParams());
    assert.throws(() => oneGroup.loadStateDict(sd), /the state dict has 2 param groups, the optimizer has 1/);

    const short = structuredClone(sd);
    short.state[0]!.expAvgSq = new Float64Array(2);
    assert.throws(() => makeOpt(makeParams()).loadStateDict(short), /parameter 0: expAvgSq has 2 elements, the parameter of shape \[3\] has 3/);

    const badStep = structuredClone(sd);
    badStep.state[2]!.step = -1;
    assert.throws(() => makeOpt(makeParams()).loadStateDict(badStep), /parameter 2: step must be an integer >= 0, got -1/);

    const badLr = structuredClone(sd);
    badLr.groups[1]!.lr = -3;
    assert.throws(() => makeOpt(makeParams()).loadStateDict(badLr), /param group 1: lr must be a finite number >= 0, got -3/);

    assert.throws(() => makeOpt(makeParams()).loadStateDict({ ...sd, format: "torch" } as never), /expected format "seqmix.AdamW"/);
  });

  test("loaded state is copied, not shared with the state dict", () => {
    const params = makeParams();
    const opt = makeOpt(params);
    run(opt, params, 1);
    const sd = opt.stateDict();
    const again = makeOpt(makeParams());
    again.loadStateDict(sd);
    sd.state[0]!.expAvg.fill(99);
    assert.notEqual(again.getState(again.params[0]!)!.expAvg[0], 99);
  });
});
