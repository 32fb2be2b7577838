/**
 * delta_rule and gated_delta_rule (spec/mixers.md §7): the three forms agree (outputs, final state, every
 * input gradient including initial_state), pieces with carried state equal the whole, the chunk form's
 * hand-written backward passes gradcheck, f32 tracks f64, negative eigenvalues (beta in (1,2)) and strong
 * decay over long sequences stay exact and finite, the spec's worked checks hold, and errors name the problem.
 * Keys (and queries) are L2-normalised, as the layers feed them.
 *
 * Tolerances (absolute, scaled by max(1, max|reference|) as in harness.assertClose):
 *   f64 form agreement and splits: 1e-10 on outputs, states and gradients (measured: ≤ 3e-15)
 *   gradcheck (f64, central differences, eps 1e-6): atol 1e-7, rtol 1e-6
 *   f32 chunk form against the f64 chunk form: 1e-5 (measured: ≤ 3e-7)
 *   strong decay (g ≈ −5, T = 2048), chunk against recurrent in f64: 1e-10
 *   worked check: 1e-12 against exact values; 5e-7 against the spec's 6-decimal literals
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { full, randn, tensor, zeros } from "../../src/core/create.js";
import { Random } from "../../src/core/random.js";
import type { Tensor } from "../../src/core/tensor.js";
import { getOp, runOp } from "../../src/ops/index.js";
import { deltaRule } from "../../src/ops/delta_rule/index.js";
import { gatedDeltaRule } from "../../src/ops/gated_delta_rule/index.js";
import { DELTA, deltaExample, GATED_DELTA, type DeltaVariant } from "../../src/ops/delta_common/shared.js";
import type { AnyOp, ExampleSizes, OpMode } from "../../src/ops/types.js";
import { assertClose, castInputs, checkForms, checkGradcheck, checkSplit, checkStepFastPath, exampleSetup, leaves, maxAbs, ODD, runBackward, type ExampleCase, type Inputs, type OpCase } from "./harness.js";

const TOL = 1e-10;
const MODES: readonly OpMode[] = ["naive", "chunk", "recurrent"];
const TINY: ExampleSizes = { B: 1, T: 7, H: 2, K: 3, V: 2 };

interface CaseOptions extends ExampleCase {
  /** beta range; default the sigmoid range [0.05, 0.95] */
  beta?: readonly [number, number];
  g?: readonly [number, number];
}

function makeInputs(variant: DeltaVariant, c: CaseOptions = {}): Inputs {
  const { s, rng, dtype } = exampleSetup(c);
  const out: Inputs = deltaExample(variant, rng, dtype, s, { ...(c.beta ? { beta: c.beta } : {}), ...(c.g ? { g: c.g } : {}) });
  if (c.initialState) out.initial_state = randn([s.B, s.H, s.K, s.V], rng, { dtype, std: 0.5 });
  return out;
}

function opCase(op: AnyOp, variant: DeltaVariant, c: CaseOptions, options: Record<string, unknown> = {}, tol = TOL): OpCase {
  const values = makeInputs(variant, c);
  return { op, make: () => values, options, tol };
}

const VARIANTS: ReadonlyArray<[AnyOp, DeltaVariant]> = [
  [deltaRule, DELTA],
  [gatedDeltaRule, GATED_DELTA],
];

for (const [op, variant] of VARIANTS) {
  describe(op.name, () => {
    test("is registered, with state [B,H,K,V] and stateSize H·K·V", () => {
      assert.equal(getOp(op.name), op);
      assert.match(op.stateShape, /^\[B,H,K,V\]/);
      assert.equal(op.stateSize({ q: [2, 45, 3, 20], k: [2, 45, 3, 20], v: [2, 45, 3, 12] }, op.options.parse({}), 1000), 3 * 20 * 12);
      const names = op.inputs.map((s) => s.name);
      assert.deepEqual(names, variant.gated ? ["q", "k", "v", "beta", "g", "initial_state"] : ["q", "k", "v", "beta", "initial_state"]);
    });

    test("naive = chunk = recurrent, f64, T=45, chunkSize 16, with initial_state (tol 1e-10)", () => {
      checkForms(opCase(op, variant, { initialState: true }, { chunkSize: 16 }));
    });

    test("naive = chunk = recurrent, default options (chunkSize 64 > T, scale K^-1/2), no initial_state (tol 1e-10)", () => {
      checkForms(opCase(op, variant, { seed: 12 }));
    });

    test("naive = chunk = recurrent, chunkSize 1 and scale 0.37 (tol 1e-10)", () => {
      checkForms(opCase(op, variant, { initialState: true, seed: 13 }, { chunkSize: 1, scale: 0.37 }));
    });

    test("negative eigenvalues: beta in (1,2), chunkSizes 16 and 7, naive = chunk = recurrent (tol 1e-10)", () => {
      checkForms(opCase(op, variant, { beta: [1.05, 1.95], initialState: true, seed: 14 }, { chunkSize: 16 }));
      checkForms(opCase(op, variant, { beta: [1.05, 1.95], seed: 15 }, { chunkSize: 7 }), ["naive", "chunk"]);
    });

    test("beta at the endpoints 0 and 2 is accepted and the forms agree (tol 1e-10)", () => {
      const values = makeInputs(variant, { initialState: true, seed: 16 });
      const b = values.beta!.values().slice();
      for (let i = 0; i < b.length; i++) b[i] = i % 3 === 0 ? 0 : i % 3 === 1 ? 2 : b[i]!;
      values.beta = tensor(b, values.beta!.shape, { dtype: "f64" });
      checkForms({ op, make: () => values, options: { chunkSize: 16 }, tol: TOL });
    });

    test("two pieces with carried state = whole (split inside a chunk and on a chunk boundary; tol 1e-10)", () => {
      const c = opCase(op, variant, { initialState: true, seed: 17 }, { chunkSize: 16 });
      checkSplit(c, 20);
      checkSplit(c, 32);
      checkSplit(c, 1, [["recurrent", "chunk"], ["naive", "chunk"]]);
    });

    test("gradcheck of the chunk form (f64; B=1, T=7, H=2, K=3, V=2, chunkSize 3; atol 1e-7, rtol 1e-6)", () => {
      for (const beta of [[0.05, 0.95], [1.05, 1.95]] as const) {
        const c = opCase(op, variant, { sizes: TINY, beta, initialState: true, seed: 18 }, { chunkSize: 3 });
        checkGradcheck(c, "chunk", { atol: 1e-7, rtol: 1e-6 });
      }
      // no initial_state; one chunk holding the whole sequence
      checkGradcheck(opCase(op, variant, { sizes: TINY, seed: 19 }, { chunkSize: 8 }), "chunk", { atol: 1e-7, rtol: 1e-6 });
    });

    test("f32 chunk form matches f64 on o, final state and every gradient (tol 1e-5)", () => {
      const values = makeInputs(variant, { initialState: true, beta: [0.05, 1.95], seed: 20 });
      const run = (vals: Inputs) => runBackward(op, vals, "chunk", { chunkSize: 16 });
      const r64 = run(values);
      const r32 = run(castInputs(values, "f32"));
      assert.equal(r32.out.o.dtype, "f32");
      assertClose("o f32 vs f64", r32.out.o.to("f64"), r64.out.o, 1e-5);
      assertClose("final state f32 vs f64", r32.out.finalState!.to("f64"), r64.out.finalState!, 1e-5);
      for (const name of Object.keys(values)) {
        assertClose(`d${name} f32 vs f64`, r32.inputs[name]!.grad!.to("f64"), r64.inputs[name]!.grad!, 1e-5);
      }
    });

    test("the step form's no-grad fast path equals its autodiff path (f64 and f32; tol 1e-12 and 1e-6)", () => {
      for (const dtype of ["f64", "f32"] as const) {
        const values = makeInputs(variant, { initialState: true, beta: [0.05, 1.95], seed: 24, dtype });
        checkStepFastPath(op, values, {}, dtype, dtype === "f64" ? 1e-12 : 1e-6);
      }
    });

    test("outputFinalState: false returns o only, equal to the o with the state", () => {
      const values = makeInputs(variant, { seed: 21 });
      for (const mode of MODES) {
        const without = runOp(op, values, mode, { chunkSize: 16 });
        const withState = runOp(op, values, mode, { chunkSize: 16, outputFinalState: true });
        assert.equal(without.finalState, undefined);
        assertClose(`${mode} o`, without.o, withState.o, 0);
      }
    });

    test("worked check T=1, S₀=0: o_1 = τ β_1 (q_1·k_1) v_1 in every form (tol 1e-12)", () => {
      const values = makeInputs(variant, { sizes: { B: 2, T: 1, H: 3, K: 5, V: 4 }, seed: 22 });
      const [B, , H, K] = values.q!.shape as [number, number, number, number];
      const V = 4;
      const tau = 1 / Math.sqrt(K);
      const expected = new Float64Array(B * H * V);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          let qk = 0;
          for (let j = 0; j < K; j++) qk += values.q!.get(b, 0, h, j) * values.k!.get(b, 0, h, j);
          for (let j = 0; j < V; j++) expected[(b * H + h) * V + j] = tau * values.beta!.get(b, 0, h) * qk * values.v!.get(b, 0, h, j);
        }
      }
      for (const mode of MODES) assertClose(`${mode} o`, runOp(op, values, mode).o, tensor(expected, [B, 1, H, V], { dtype: "f64" }), 1e-12);
    });

    test("worked check T=2 (spec §7.4 example; gated with g = log ½ per step) in every form, chunkSize 2 and 1", () => {
      const r = Math.SQRT1_2;
      const inputs: Inputs = {
        q: tensor([[[[1, 0]], [[0, 1]]]], [1, 2, 1, 2], { dtype: "f64" }),
        k: tensor([[[[1, 0]], [[r, r]]]], [1, 2, 1, 2], { dtype: "f64" }),
        v: tensor([[[[1, 2]], [[0, 1]]]], [1, 2, 1, 2], { dtype: "f64" }),
        beta: tensor([[[0.5], [1]]], [1, 2, 1], { dtype: "f64" }),
      };
      let o: number[];
      let S: number[];
      if (variant.gated) {
        inputs.g = full([1, 2, 1], Math.log(0.5), { dtype: "f64" });
        // u₂ = (0,1) − ½·k₂S₁ = (−√½/4, 1 − √½/2); S₂ = ½S₁ + k₂ᵀu₂
        o = [0.5, 1, -0.125, r - 0.25];
        S = [0.125, 0.25 + r, -0.125, r - 0.25];
      } else {
        // the spec's literals: o₁ = (0.5, 1), o₂ = (−0.25, 0.207107), S₂ = [[0.25, 1.207107], [−0.25, 0.207107]]
        for (const mode of MODES) {
          const res = runOp(op, inputs, mode, { scale: 1, chunkSize: 2, outputFinalState: true });
          assertClose(`${mode} o (spec literals)`, res.o, tensor([0.5, 1, -0.25, 0.207107], [1, 2, 1, 2], { dtype: "f64" }), 5e-7);
          assertClose(`${mode} S (spec literals)`, res.finalState!, tensor([0.25, 1.207107, -0.25, 0.207107], [1, 1, 2, 2], { dtype: "f64" }), 5e-7);
        }
        o = [0.5, 1, -0.25, r - 0.5];
        S = [0.25, 0.5 + r, -0.25, r - 0.5];
      }
      for (const mode of MODES) {
        for (const chunkSize of [2, 1]) {
          const res = runOp(op, inputs, mode, { scale: 1, chunkSize, outputFinalState: true });
          assertClose(`${mode} C=${chunkSize} o`, res.o, tensor(o, [1, 2, 1, 2], { dtype: "f64" }), 1e-12);
          assertClose(`${mode} C=${chunkSize} S`, res.finalState!, tensor(S, [1, 1, 2, 2], { dtype: "f64" }), 1e-12);
        }
      }
    });

    test("example() gives valid inputs with unit-norm keys", () => {
      const ex = op.example(new Random(5), "f32");
      const out = runOp(op, ex, "chunk", { outputFinalState: true });
      assert.deepEqual([...out.o.shape], [...ex.v!.shape]);
      const k = ex.k!.values();
      const K = ex.k!.shape[3]!;
      for (let i = 0; i < k.length; i += K) {
        let s = 0;
        for (let j = 0; j < K; j++) s += k[i + j]! ** 2;
        assert.ok(Math.abs(Math.sqrt(s) - 1) < 1e-5, `row ${i / K} of k has norm ${Math.sqrt(s)}`);
      }
    });

    test("errors name the tensor or option, the value received and the value expected", () => {
      const values = makeInputs(variant, { sizes: { B: 2, T: 5, H: 3, K: 4, V: 3 }, seed: 23 });
      const name = op.name;
      const bad = (patch: Inputs | Record<string, undefined>, re: RegExp, options?: Record<string, unknown>) =>
        assert.throws(() => runOp(op, { ...values, ...patch }, "chunk", options), re);
      bad({ beta: undefined }, new RegExp(`^OpError: ${name}: missing input 'beta' \\(expected shape \\[B,T,H\\]\\)`));
      bad({ k: zeros([2, 5, 3, 5], { dtype: "f64" }) }, new RegExp(`${name}: k must have shape \\[2,5,3,4\\] like q, got \\[2,5,3,5\\]`));
      bad({ v: zeros([2, 5, 2, 3], { dtype: "f64" }) }, /v must have shape \[2,5,3,\*\] .*got \[2,5,2,3\]/);
      bad({ beta: zeros([2, 5], { dtype: "f64" }) }, /beta must have shape \[2,5,3\] .*got \[2,5\]/);
      bad({ initial_state: zeros([2, 3, 3, 4], { dtype: "f64" }) }, /initial_state must have shape \[2,3,4,3\] .*got \[2,3,3,4\]/);
      bad({ beta: full([2, 5, 3], 2.5, { dtype: "f64" }) }, /beta must lie in \[0, 2\].*got 2\.5 at \[0,0,0\]/);
      bad({ beta: full([2, 5, 3], -0.1, { dtype: "f64" }) }, /beta must lie in \[0, 2\].*got -0\.1/);
      bad({ beta: full([2, 5, 3], NaN, { dtype: "f64" }) }, /beta must lie in \[0, 2\].*got NaN/);
      bad({ q: values.q!.to("f32") }, /k is f64 but q is f32; all inputs must share one dtype/);
      assert.throws(() => runOp(op, values, "chunk", { chunkSize: 0 }), new RegExp(`${name}: option 'chunkSize'`));
      assert.throws(() => runOp(op, values, "chunk", { scale: -1 }), new RegExp(`${name}: option 'scale'`));
      assert.throws(() => runOp(op, values, "chunk", { gate: true }), new RegExp(`${name}: unknown option\\(s\\) 'gate'`));
      if (variant.gated) {
        bad({ g: undefined }, /missing input 'g' \(expected shape \[B,T,H\]\)/);
        const g = values.g!.values().slice();
        g[7] = 0.25;
        bad({ g: tensor(g, [2, 5, 3], { dtype: "f64" }) }, /g is a log decay and must be finite and ≤ 0, got 0\.25 at \[0,2,1\]/);
        bad({ g: full([2, 5, 3], -Infinity, { dtype: "f64" }) }, /g is a log decay and must be finite and ≤ 0, got -Infinity/);
      } else {
        bad({ g: zeros([2, 5, 3], { dtype: "f64" }) }, /delta_rule: unexpected input 'g'/);
      }
    });
  });
}

describe("delta_rule special cases", () => {
  test("beta = 0 outputs zeros (S₀ = 0) and leaves a given initial state unchanged, o = τ q S₀", () => {
    const values = makeInputs(DELTA, { seed: 30 });
    values.beta = zeros(values.beta!.shape, { dtype: "f64" });
    for (const mode of MODES) {
      const res = runOp(deltaRule, values, mode, { chunkSize: 16, outputFinalState: true });
      assert.equal(maxAbs(res.o.values()), 0, `${mode}: o`);
      assert.equal(maxAbs(res.finalState!.values()), 0, `${mode}: state`);
    }
    const { B, T, H, K, V } = ODD;
    const S0 = randn([B, H, K, V], new Random(31), { dtype: "f64" });
    // o_t = τ q_t S₀ for every t: q [B,T,H,K] → [B,H,T,K] @ S₀ [B,H,K,V] → [B,H,T,V] → [B,T,H,V]
    const expected = values.q!.permute(0, 2, 1, 3).matmul(S0).permute(0, 2, 1, 3).mul(1 / Math.sqrt(K));
    for (const mode of MODES) {
      const res = runOp(deltaRule, { ...values, initial_state: S0 }, mode, { chunkSize: 16, outputFinalState: true });
      assertClose(`${mode}: o`, res.o, expected.contiguous(), 1e-12);
      assertClose(`${mode}: state`, res.finalState!, S0, 0);
    }
    assert.equal(T, 45);
  });

  test("gated_delta_rule with g = 0 equals delta_rule (outputs, state and gradients of the chunk form)", () => {
    const values = makeInputs(DELTA, { initialState: true, beta: [0.05, 1.95], seed: 32 });
    const run = (op: AnyOp, vals: Inputs, mode: OpMode) => {
      const inputs = leaves(vals);
      const out = runOp(op, inputs, mode, { chunkSize: 16, outputFinalState: true });
      const rng = new Random(4);
      out.o.mul(randn(out.o.shape, rng, { dtype: "f64" })).sum().add(out.finalState!.mul(randn(out.finalState!.shape, rng, { dtype: "f64" })).sum()).backward();
      return { out, inputs };
    };
    for (const mode of MODES) {
      const a = run(deltaRule, values, mode);
      const b = run(gatedDeltaRule, { ...values, g: zeros(values.beta!.shape, { dtype: "f64" }) }, mode);
      assertClose(`${mode} o`, b.out.o, a.out.o, 1e-13);
      assertClose(`${mode} state`, b.out.finalState!, a.out.finalState!, 1e-13);
      for (const name of Object.keys(values)) assertClose(`${mode} d${name}`, b.inputs[name]!.grad!, a.inputs[name]!.grad!, 1e-13);
    }
  });
});

describe("gated_delta_rule strong decay", () => {
  const sizes: ExampleSizes = { B: 1, T: 2048, H: 2, K: 8, V: 4 };

  test("g ≈ −5 per step, T = 2048: chunk = recurrent in f64 on o, state and every gradient (tol 1e-10), all finite", () => {
    const values = makeInputs(GATED_DELTA, { sizes, g: [-5.5, -4.5], beta: [0.05, 1.95], initialState: true, seed: 40 });
    checkForms({ op: gatedDeltaRule, make: () => values, options: { chunkSize: 64 }, tol: TOL }, ["recurrent", "chunk"]);
    const inputs = leaves(values);
    const out = runOp(gatedDeltaRule, inputs, "chunk", { outputFinalState: true });
    out.o.sum().add(out.finalState!.sum()).backward();
    for (const t of [out.o, out.finalState!, ...Object.values(inputs).map((x) => x.grad!)]) {
      assert.ok(t.values().every(Number.isFinite), "NaN or Inf in an output or gradient");
    }
  });

  test("f32 with g ≈ −5 (T = 2048) and with g = −200 stays finite and tracks f64 (tol 1e-5)", () => {
    for (const g of [[-5.5, -4.5], [-200, -199]] as const) {
      const values = makeInputs(GATED_DELTA, { sizes, g, initialState: true, seed: 41 });
      const f64 = runOp(gatedDeltaRule, values, "chunk", { outputFinalState: true });
      const inputs = leaves(castInputs(values, "f32"));
      const f32 = runOp(gatedDeltaRule, inputs, "chunk", { outputFinalState: true });
      f32.o.sum().add(f32.finalState!.sum()).backward();
      for (const t of [f32.o, f32.finalState!, ...Object.values(inputs).map((x) => x.grad!)] as Tensor[]) {
        assert.ok(t.values().every(Number.isFinite), `g ${g}: NaN or Inf in f32`);
      }
      assertClose(`g ${g}: o f32 vs f64`, f32.o.to("f64"), f64.o, 1e-5);
      assertClose(`g ${g}: state f32 vs f64`, f32.finalState!.to("f64"), f64.finalState!, 1e-5);
    }
  });
});
