/**
 * linear_attn (with and without normalize), retention, simple_gla and gla (spec/mixers.md §0.4, §3, §5, §6,
 * §8.2): the three forms agree (outputs, final state, every input gradient including initial_state and the
 * gates), pieces with carried state equal the whole, the chunk form's hand-written backward passes gradcheck
 * (also through the vector gate's pivoted sub-blocks), f32 tracks f64, strong decay over long sequences stays
 * exact and finite, the special cases reduce to each other, the spec's worked checks hold, and errors name the
 * problem.
 *
 * Tolerances (absolute, scaled by max(1, max|reference|) as in harness.assertClose):
 *   f64 form agreement and splits: 1e-10 on outputs, states and gradients (measured: ≤ 3e-15)
 *   gradcheck (f64, central differences, eps 1e-6): atol 1e-7, rtol 1e-6
 *   f32 chunk form against the f64 chunk form: 1e-4 (measured: ≤ 3e-7)
 *   strong decay (g ≈ −5, T = 2048), chunk against recurrent in f64: 1e-10 (measured: ≤ 2e-14); f32 against
 *   f64: 1e-4 (measured: ≤ 7e-6)
 *   special cases (gk = 0 / gamma = 1 vs linear_attn, simple_gla vs gla with g broadcast): 1e-12
 *   gla's engine with any sub-block size against one block per chunk (f64): 1e-10 (measured: ≤ 1e-14)
 *   worked checks: 1e-12 against exact values; 5e-7 against the spec's 6-decimal literals
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { full, ones, rand, randn, tensor, zeros } from "../../src/core/create.js";
import { concat } from "../../src/core/ops/shape.js";
import { Random } from "../../src/core/random.js";
import type { Tensor } from "../../src/core/tensor.js";
import { getOp, runOp } from "../../src/ops/index.js";
import { linearAttn } from "../../src/ops/linear_attn/index.js";
import { retention, retnetGammas } from "../../src/ops/retention/index.js";
import { simpleGla } from "../../src/ops/simple_gla/index.js";
import { gla } from "../../src/ops/gla/index.js";
import { decayExample } from "../../src/ops/decay_chunk/shared.js";
import { decayBackward, decayForward, type DecayProblem } from "../../src/ops/decay_chunk/engine.js";
import type { AnyOp, ExampleSizes, OpMode } from "../../src/ops/types.js";
import { assertClose, castInputs, checkForms, checkGradcheck, checkSplit, checkStepFastPath, exampleSetup, maxAbs, ODD, runBackward, type ExampleCase, type Inputs, type OpCase } from "./harness.js";

const TOL = 1e-10;
const MODES: readonly OpMode[] = ["naive", "chunk", "recurrent"];
const TINY: ExampleSizes = { B: 1, T: 7, H: 2, K: 3, V: 2 };
/** one chunk of 18 rows holds two sub-blocks (16 + 2), so the vector gate's pivot path is exercised */
const PIVOT: ExampleSizes = { B: 1, T: 37, H: 1, K: 2, V: 2 };
const GRADCHECK = { atol: 1e-7, rtol: 1e-6 };

type GateKind = "none" | "gamma" | "scalar" | "vector";

interface Variant {
  label: string;
  op: AnyOp;
  /** options that define the variant (normalize) */
  options: Record<string, unknown>;
  gate: GateKind;
  normalize?: boolean;
}

const VARIANTS: readonly Variant[] = [
  { label: "linear_attn", op: linearAttn, options: {}, gate: "none" },
  { label: "linear_attn normalize", op: linearAttn, options: { normalize: true }, gate: "none", normalize: true },
  { label: "retention", op: retention, options: {}, gate: "gamma" },
  { label: "simple_gla", op: simpleGla, options: {}, gate: "scalar" },
  { label: "gla", op: gla, options: {}, gate: "vector" },
];

interface CaseOptions extends ExampleCase {
  /** range of the log gates (default [−0.5, −0.01]) */
  range?: readonly [number, number];
}

function makeInputs(variant: Variant, c: CaseOptions = {}): Inputs {
  const { s, rng, dtype } = exampleSetup(c);
  const kind = variant.gate === "gamma" ? "none" : variant.gate;
  const out: Inputs = decayExample(rng, dtype, s, { kind, positive: variant.normalize === true, ...(c.range ? { range: c.range } : {}) });
  if (variant.gate === "gamma") out.gamma = rand([s.H], rng, { dtype, low: 0.5, high: 0.99 });
  if (c.initialState) {
    const S0 = randn([s.B, s.H, s.K, s.V], rng, { dtype, std: 0.5 });
    // with normalize the last column is a key sum of positive features: keep it positive
    out.initial_state = variant.normalize ? concat([S0, rand([s.B, s.H, s.K, 1], rng, { dtype, low: 0.5, high: 2 })], 3) : S0;
  }
  return out;
}

function opCase(variant: Variant, c: CaseOptions, options: Record<string, unknown> = {}, tol = TOL): OpCase {
  const values = makeInputs(variant, c);
  return { op: variant.op, make: () => values, options: { ...variant.options, ...options }, tol };
}

const allFinite = (t: Tensor): boolean => t.values().every(Number.isFinite);

for (const variant of VARIANTS) {
  const { op } = variant;
  describe(variant.label, () => {
    test("is registered, with its state layout, inputs and stateSize", () => {
      assert.equal(getOp(op.name), op);
      assert.match(op.stateShape, /^\[B,H,K,V\]/);
      const shapes = { q: [2, 45, 3, 20], k: [2, 45, 3, 20], v: [2, 45, 3, 12] };
      const extra = variant.normalize ? 1 : 0;
      assert.equal(op.stateSize(shapes, op.options.parse(variant.options), 1000), 3 * 20 * (12 + extra));
      const gateName = { none: [], gamma: ["gamma"], scalar: ["g"], vector: ["gk"] }[variant.gate];
      assert.deepEqual(op.inputs.map((s) => s.name), ["q", "k", "v", ...gateName, "initial_state"]);
    });

    test("naive = chunk = recurrent, f64, T=45, chunkSize 16, with initial_state (tol 1e-10)", () => {
      checkForms(opCase(variant, { initialState: true }, { chunkSize: 16 }));
    });

    test("naive = chunk = recurrent, default options (chunkSize 64 > T, scale K^-1/2), no initial_state (tol 1e-10)", () => {
      checkForms(opCase(variant, { seed: 12 }));
    });

    test("naive = chunk = recurrent, chunkSizes 1 and 40 (sub-blocks 16+16+8 and a 5-row tail), scale 0.37 (tol 1e-10)", () => {
      checkForms(opCase(variant, { initialState: true, seed: 13 }, { chunkSize: 1, scale: 0.37 }));
      checkForms(opCase(variant, { initialState: true, seed: 14, range: [-2, -0.5] }, { chunkSize: 40 }), ["naive", "chunk"]);
    });

    if (variant.normalize) {
      test("normalize with eps 0.5 (large enough to change o): naive = chunk = recurrent, splits (tol 1e-10)", () => {
        const c = opCase(variant, { initialState: true, seed: 15 }, { chunkSize: 16, eps: 0.5 });
        checkForms(c);
        checkSplit(c, 20);
        const values = c.make();
        const a = runOp(op, values, "chunk", { normalize: true, eps: 0.5 }).o;
        const b = runOp(op, values, "chunk", { normalize: true }).o;
        assert.ok(maxAbs(a.sub(b).values()) > 1e-3, "eps has no visible effect");
      });
    }

    test("two pieces with carried state = whole (split inside a chunk, on a chunk boundary, after one token; tol 1e-10)", () => {
      const c = opCase(variant, { initialState: true, seed: 17 }, { chunkSize: 16 });
      checkSplit(c, 20);
      checkSplit(c, 32);
      checkSplit(c, 1, [["recurrent", "chunk"], ["naive", "chunk"]]);
    });

    test("gradcheck of the chunk form (f64; B=1, T=7, H=2, K=3, V=2, chunkSize 3; and T=37, chunkSize 18 through the pivot path)", () => {
      checkGradcheck(opCase(variant, { sizes: TINY, initialState: true, seed: 18 }, { chunkSize: 3 }), "chunk", GRADCHECK);
      checkGradcheck(opCase(variant, { sizes: TINY, seed: 19, range: [-1.5, -0.2] }, { chunkSize: 8 }), "chunk", GRADCHECK);
      checkGradcheck(opCase(variant, { sizes: PIVOT, initialState: true, seed: 20, range: [-1, -0.05] }, { chunkSize: 18 }), "chunk", GRADCHECK);
    });

    test("f32 chunk form matches f64 on o, final state and every gradient (tol 1e-4)", () => {
      const values = makeInputs(variant, { initialState: true, seed: 21 });
      const options = { ...variant.options, chunkSize: 16 };
      const r64 = runBackward(op, values, "chunk", options);
      const r32 = runBackward(op, castInputs(values, "f32"), "chunk", options);
      assert.equal(r32.out.o.dtype, "f32");
      assertClose("o f32 vs f64", r32.out.o.to("f64"), r64.out.o, 1e-4);
      assertClose("final state f32 vs f64", r32.out.finalState!.to("f64"), r64.out.finalState!, 1e-4);
      for (const name of Object.keys(values)) {
        assert.equal(r32.inputs[name]!.grad!.dtype, "f32", `d${name} dtype`);
        assertClose(`d${name} f32 vs f64`, r32.inputs[name]!.grad!.to("f64"), r64.inputs[name]!.grad!, 1e-4);
      }
    });

    test("the step form's no-grad fast path equals its autodiff path (f64 and f32; tol 1e-12 and 1e-6)", () => {
      for (const dtype of ["f64", "f32"] as const) {
        const values = makeInputs(variant, { initialState: true, seed: 24, dtype });
        checkStepFastPath(op, values, variant.options, dtype, dtype === "f64" ? 1e-12 : 1e-6);
      }
    });

    test("outputFinalState: false returns o only, equal to the o with the state", () => {
      const values = makeInputs(variant, { seed: 25 });
      for (const mode of MODES) {
        const without = runOp(op, values, mode, { ...variant.options, chunkSize: 16 });
        const withState = runOp(op, values, mode, { ...variant.options, chunkSize: 16, outputFinalState: true });
        assert.equal(without.finalState, undefined);
        assertClose(`${mode} o`, without.o, withState.o, 0);
      }
    });

    test("worked check T=1, S₀=0 in every form: o_1 = τ (q_1·k_1) v_1, or v_1 normalised (tol 1e-12)", () => {
      const values = makeInputs(variant, { sizes: { B: 2, T: 1, H: 3, K: 5, V: 4 }, seed: 26 });
      const { B, H, K, V } = { B: 2, H: 3, K: 5, V: 4 };
      const tau = 1 / Math.sqrt(K);
      const expected = new Float64Array(B * H * V);
      for (let b = 0; b < B; b++) {
        for (let h = 0; h < H; h++) {
          let qk = 0;
          for (let j = 0; j < K; j++) qk += values.q!.get(b, 0, h, j) * values.k!.get(b, 0, h, j);
          // normalised: τ(q·k) v / (τ q·k + eps) = v up to eps (spec §3: o_1 = v_1 for any positive map)
          const w = variant.normalize ? (tau * qk) / (tau * qk + 1e-10) : tau * qk;
          for (let j = 0; j < V; j++) expected[(b * H + h) * V + j] = w * values.v!.get(b, 0, h, j);
        }
      }
      for (const mode of MODES) {
        assertClose(`${mode} o`, runOp(op, values, mode, variant.options).o, tensor(expected, [B, 1, H, V], { dtype: "f64" }), 1e-12);
      }
    });

    test("example() gives valid inputs the three forms accept", () => {
      const ex = op.example(new Random(5), "f32");
      for (const mode of MODES) {
        const out = runOp(op, ex, mode, { ...variant.options, outputFinalState: true });
        assert.deepEqual([...out.o.shape], [...ex.v!.shape]);
        assert.ok(allFinite(out.o));
      }
    });
  });
}

// -------------------------------------------------------------------------------------------------------------

describe("worked checks from the spec", () => {
  const f64 = { dtype: "f64" as const };
  const twoSteps = () => ({
    q: tensor([[[[1, 1]], [[1, 1]]]], [1, 2, 1, 2], f64), // q_1 is irrelevant to o_2
    k: tensor([[[[1, 1]], [[0, 1]]]], [1, 2, 1, 2], f64),
    v: tensor([[[[1]], [[2]]]], [1, 2, 1, 1], f64),
  });

  test("retention §5: γ = 0.9, τ = 1 → o_2 = 2 + 0.9·2 = 3.8 (every form, chunkSizes 1 and 2)", () => {
    const inputs = { ...twoSteps(), gamma: tensor([0.9], [1], f64) };
    for (const mode of MODES) {
      for (const chunkSize of [1, 2]) {
        const o = runOp(retention, inputs, mode, { scale: 1, chunkSize }).o;
        assertClose(`${mode} C=${chunkSize}`, o, tensor([2, 3.8], [1, 2, 1, 1], f64), 1e-12);
      }
    }
  });

  test("simple_gla with g = log 0.9 reproduces the retention example (o_2 = 3.8)", () => {
    const inputs = { ...twoSteps(), g: full([1, 2, 1], Math.log(0.9), f64) };
    for (const mode of MODES) assertClose(mode, runOp(simpleGla, inputs, mode, { scale: 1 }).o, tensor([2, 3.8], [1, 2, 1, 1], f64), 1e-12);
  });

  test("gla §6: o_1 = 2, S_2 = (2.1, 1)ᵀ, o_2 = 4.1 (every form, chunkSizes 1 and 2)", () => {
    const inputs = {
      q: tensor([1, 1, 1, 2], [1, 2, 1, 2], f64),
      k: tensor([1, 0, 0.5, 1], [1, 2, 1, 2], f64),
      v: tensor([2, 1], [1, 2, 1, 1], f64),
      gk: tensor([0.5, 0.9, 0.8, 0.1].map(Math.log), [1, 2, 1, 2], f64),
    };
    for (const mode of MODES) {
      for (const chunkSize of [1, 2]) {
        const r = runOp(gla, inputs, mode, { scale: 1, chunkSize, outputFinalState: true });
        assertClose(`${mode} C=${chunkSize} o`, r.o, tensor([2, 4.1], [1, 2, 1, 1], f64), 1e-12);
        assertClose(`${mode} C=${chunkSize} S`, r.finalState!, tensor([2.1, 1], [1, 1, 2, 1], f64), 1e-12);
      }
    }
  });

  test("linear_attn §3 normalised, T=2 by hand: o_2 = (q·k_1 v_1 + q·k_2 v_2) / (q·k_1 + q·k_2)", () => {
    const inputs = {
      q: tensor([1, 2, 0.5, 1.5], [1, 2, 1, 2], f64),
      k: tensor([1, 3, 2, 1], [1, 2, 1, 2], f64),
      v: tensor([4, 10], [1, 2, 1, 1], f64),
    };
    // q_2 = (0.5, 1.5): q·k_1 = 5, q·k_2 = 2.5 → o_2 = (20 + 25) / 7.5 = 6; o_1 = v_1 = 4
    for (const mode of MODES) {
      const r = runOp(linearAttn, inputs, mode, { normalize: true, eps: 1e-300, outputFinalState: true });
      assertClose(`${mode} o`, r.o, tensor([4, 6], [1, 2, 1, 1], f64), 1e-12);
      // state [S | z]: S = k_1ᵀ4 + k_2ᵀ10 = (24, 22), z = k_1 + k_2 = (3, 4)
      assertClose(`${mode} state`, r.finalState!, tensor([24, 3, 22, 4], [1, 1, 2, 2], f64), 1e-12);
    }
  });
});

describe("special cases", () => {
  const options = { chunkSize: 16 };
  const compare = (label: string, a: ReturnType<typeof runBackward>, b: ReturnType<typeof runBackward>, names: readonly string[]) => {
    assertClose(`${label} o`, b.out.o, a.out.o, 1e-12);
    assertClose(`${label} state`, b.out.finalState!, a.out.finalState!, 1e-12);
    for (const name of names) assertClose(`${label} d${name}`, b.inputs[name]!.grad!, a.inputs[name]!.grad!, 1e-12);
  };

  test("gla with gk = 0 and retention with gamma = 1 equal unnormalised linear_attn (o, state, gradients; every form)", () => {
    const values = makeInputs(VARIANTS[0]!, { initialState: true, seed: 50 });
    const { B, T, H, K } = ODD;
    for (const mode of MODES) {
      const base = runBackward(linearAttn, values, mode, options);
      compare(`gla ${mode}`, base, runBackward(gla, { ...values, gk: zeros([B, T, H, K], { dtype: "f64" }) }, mode, options), Object.keys(values));
      compare(`retention ${mode}`, base, runBackward(retention, { ...values, gamma: ones([H], { dtype: "f64" }) }, mode, options), Object.keys(values));
      compare(`simple_gla ${mode}`, base, runBackward(simpleGla, { ...values, g: zeros([B, T, H], { dtype: "f64" }) }, mode, options), Object.keys(values));
    }
  });

  test("simple_gla equals gla with its g broadcast over K (dg = Σ_d dgk); retention equals simple_gla with g = log γ", () => {
    const values = makeInputs(VARIANTS[3]!, { initialState: true, seed: 51 });
    const { B, T, H, K } = ODD;
    const gk = values.g!.unsqueeze(3).expand(B, T, H, K).contiguous();
    const gamma = tensor(retnetGammas(H), [H], { dtype: "f64" });
    const logGamma = gamma.log().reshape(1, 1, H).expand(B, T, H).contiguous();
    const rest = ["q", "k", "v", "initial_state"];
    const noG = Object.fromEntries(Object.entries(values).filter(([k]) => k !== "g"));
    for (const mode of MODES) {
      const a = runBackward(simpleGla, values, mode, options);
      const b = runBackward(gla, { ...noG, gk }, mode, options);
      compare(`gla vs simple_gla ${mode}`, a, b, rest);
      assertClose(`${mode} dg = Σ_d dgk`, b.inputs.gk!.grad!.sum(3), a.inputs.g!.grad!, 1e-12);
      const r = runBackward(retention, { ...noG, gamma }, mode, options);
      const s = runBackward(simpleGla, { ...noG, g: logGamma }, mode, options);
      compare(`retention vs simple_gla ${mode}`, s, r, rest);
    }
  });
});

describe("gla sub-blocks (the vector gate's pivoted matmuls and direct diagonal blocks)", () => {
  test("K = 32 (default sub-blocks of 8 rows): naive = chunk = recurrent, f64, chunkSizes 40 and 64, with initial_state (tol 1e-10)", () => {
    const sizes: ExampleSizes = { B: 2, T: 45, H: 2, K: 32, V: 3 };
    checkForms(opCase(VARIANTS[4]!, { sizes, initialState: true, seed: 40 }, { chunkSize: 40 }));
    checkForms(opCase(VARIANTS[4]!, { sizes, seed: 41, range: [-2, -0.5] }, { chunkSize: 64 }), ["naive", "chunk"]);
  });

  /** f64 engine call on odd sizes (B=2, T=37, H=3, K=5, V=4, C=20) with log gates in `range`. */
  const problem = (sub: number, range: readonly [number, number]): { p: DecayProblem; dO: Float64Array; dS: Float64Array } => {
    const [B, T, H, K, V, C] = [2, 37, 3, 5, 4, 20];
    const rng = new Random(42);
    const normal = (n: number) => Float64Array.from({ length: n }, () => rng.normal());
    const p: DecayProblem = {
      B, T, H, K, V, C, scale: 0.45, f64: true, gate: "vector", sub,
      q: normal(B * T * H * K), k: normal(B * T * H * K), v: normal(B * T * H * V),
      g: Float64Array.from({ length: B * T * H * K }, () => range[0] + (range[1] - range[0]) * rng.uniform()),
      s0: normal(B * H * K * V),
    };
    return { p, dO: normal(B * T * H * V), dS: normal(B * H * K * V) };
  };
  const run = (sub: number, range: readonly [number, number]) => {
    const { p, dO, dS } = problem(sub, range);
    const f = decayForward(p, true);
    const g = decayBackward(p, f.saved!, f.state, dO, dS);
    return { o: f.o, state: f.state, dq: g.dq, dk: g.dk, dv: g.dv, dg: g.dg!, ds0: g.ds0 };
  };

  for (const range of [[-0.5, -0.01], [-5.5, -4.5]] as const) {
    test(`sub-blocks of 1, 3, 7 and 8 rows equal one block per chunk (chunk 20, tail 17; g in [${range}]; f64 tol 1e-10), all finite`, () => {
      const whole = run(20, range);
      for (const sub of [1, 3, 7, 8]) {
        const r = run(sub, range);
        for (const [name, ref] of Object.entries(whole)) {
          const got = r[name as keyof typeof r];
          assert.ok(got.every(Number.isFinite), `sub ${sub}: ${name} not finite`);
          const shape = [ref.length];
          assertClose(`sub ${sub}: ${name}`, tensor(got, shape, { dtype: "f64" }), tensor(ref, shape, { dtype: "f64" }), TOL);
        }
      }
    });
  }
});

describe("strong decay", () => {
  const sizes: ExampleSizes = { B: 1, T: 2048, H: 2, K: 4, V: 3 };
  for (const variant of [VARIANTS[3]!, VARIANTS[4]!]) {
    test(`${variant.label}: g ≈ −5 per step, T = 2048: chunk = recurrent in f64 on o, state and every gradient (tol 1e-10), all finite`, () => {
      const values = makeInputs(variant, { sizes, range: [-5.5, -4.5], initialState: true, seed: 60 });
      checkForms({ op: variant.op, make: () => values, options: { chunkSize: 64 }, tol: TOL }, ["recurrent", "chunk"]);
      const { out, inputs } = runBackward(variant.op, values, "chunk", { chunkSize: 64 });
      for (const t of [out.o, out.finalState!, ...Object.values(inputs).map((x) => x.grad!)]) assert.ok(allFinite(t), "NaN or Inf");
    });

    test(`${variant.label}: f32 with g ≈ −5 and with g = −200 (T = 2048) stays finite and tracks f64 (tol 1e-4)`, () => {
      for (const range of [[-5.5, -4.5], [-200, -199]] as const) {
        const values = makeInputs(variant, { sizes, range, initialState: true, seed: 61 });
        const r64 = runBackward(variant.op, values, "chunk", { chunkSize: 64 });
        const r32 = runBackward(variant.op, castInputs(values, "f32"), "chunk", { chunkSize: 64 });
        for (const t of [r32.out.o, r32.out.finalState!, ...Object.values(r32.inputs).map((x) => x.grad!)]) assert.ok(allFinite(t), `g ${range}: NaN or Inf in f32`);
        assertClose(`g ${range}: o f32 vs f64`, r32.out.o.to("f64"), r64.out.o, 1e-4);
        assertClose(`g ${range}: state f32 vs f64`, r32.out.finalState!.to("f64"), r64.out.finalState!, 1e-4);
        for (const name of Object.keys(values)) {
          assertClose(`g ${range}: d${name} f32 vs f64`, r32.inputs[name]!.grad!.to("f64"), r64.inputs[name]!.grad!, 1e-4);
        }
      }
    });
  }

  test("retention with γ = 0.5 over T = 2048 (log γ · 64 per chunk) matches the step form (tol 1e-10)", () => {
    const values = makeInputs(VARIANTS[2]!, { sizes, initialState: true, seed: 62 });
    values.gamma = full([2], 0.5, { dtype: "f64" });
    checkForms({ op: retention, make: () => values, options: { chunkSize: 64 }, tol: TOL }, ["recurrent", "chunk"]);
  });
});

describe("errors name the tensor or option, the value received and the value expected", () => {
  const sizes: ExampleSizes = { B: 2, T: 5, H: 3, K: 4, V: 3 };
  const f64 = { dtype: "f64" as const };

  for (const variant of VARIANTS) {
    test(variant.label, () => {
      const { op } = variant;
      const name = op.name;
      const values = makeInputs(variant, { sizes, seed: 70 });
      const bad = (patch: Record<string, Tensor | undefined>, re: RegExp, options?: Record<string, unknown>) =>
        assert.throws(() => runOp(op, { ...values, ...patch }, "chunk", { ...variant.options, ...options }), re);
      bad({ v: undefined }, new RegExp(`^OpError: ${name}: missing input 'v' \\(expected shape \\[B,T,H,V\\]\\)`));
      bad({ k: zeros([2, 5, 3, 5], f64) }, new RegExp(`${name}: k must have shape \\[2,5,3,4\\] like q, got \\[2,5,3,5\\]`));
      bad({ q: zeros([2, 5, 3], f64) }, new RegExp(`${name}: q must have 4 dimensions \\[B,T,H,K\\], got \\[2,5,3\\]`));
      bad({ v: zeros([2, 5, 2, 3], f64) }, /v must have shape \[2,5,3,\*\] .*got \[2,5,2,3\]/);
      bad({ q: values.q!.to("f32") }, /is f64 but q is f32; all inputs must share one dtype/);
      const Vs = variant.normalize ? 4 : 3;
      bad({ initial_state: zeros([2, 3, 4, variant.normalize ? 3 : 4], f64) }, new RegExp(`initial_state must have shape \\[2,3,4,${Vs}\\] .*got \\[2,3,4,${variant.normalize ? 3 : 4}\\]`));
      bad({ beta: zeros([2, 5, 3], f64) }, new RegExp(`${name}: unexpected input 'beta'`));
      assert.throws(() => runOp(op, values, "chunk", { chunkSize: 0 }), new RegExp(`${name}: option 'chunkSize'`));
      assert.throws(() => runOp(op, values, "chunk", { scale: -1 }), new RegExp(`${name}: option 'scale'`));
      assert.throws(() => runOp(op, values, "chunk", { gate: true }), new RegExp(`${name}: unknown option\\(s\\) 'gate'`));
      if (variant.gate === "vector") {
        bad({ gk: undefined }, /gla: missing input 'gk' \(expected shape \[B,T,H,K\]\)/);
        bad({ gk: zeros([2, 5, 3], f64) }, /^OpError: gla: gk must have shape \[2,5,3,4\] like k, got \[2,5,3\]$/);
        const g = values.gk!.values().slice();
        g[13] = 0.5;
        bad({ gk: tensor(g, [2, 5, 3, 4], f64) }, /gla: gk is a log decay and must be finite and ≤ 0, got 0\.5 at \[0,1,0,1\]/);
        bad({ gk: full([2, 5, 3, 4], NaN, f64) }, /gk is a log decay and must be finite and ≤ 0, got NaN at \[0,0,0,0\]/);
      }
      if (variant.gate === "scalar") {
        bad({ g: undefined }, /simple_gla: missing input 'g' \(expected shape \[B,T,H\]\)/);
        bad({ g: zeros([2, 5, 3, 4], f64) }, /simple_gla: g must have shape \[2,5,3\] \(\[B,T,H\] of q\), got \[2,5,3,4\]/);
        const g = values.g!.values().slice();
        g[7] = 0.25;
        bad({ g: tensor(g, [2, 5, 3], f64) }, /g is a log decay and must be finite and ≤ 0, got 0\.25 at \[0,2,1\]/);
        bad({ g: full([2, 5, 3], -Infinity, f64) }, /g is a log decay and must be finite and ≤ 0, got -Infinity/);
      }
      if (variant.gate === "gamma") {
        bad({ gamma: undefined }, /retention: missing input 'gamma' \(expected shape \[H\]\)/);
        bad({ gamma: full([4], 0.9, f64) }, /retention: gamma must have shape \[3\] \(one decay per head of q\), got \[4\]/);
        bad({ gamma: tensor([0.9, 1.5, 0.9], [3], f64) }, /retention: gamma must lie in \(0, 1\] \(a decay per head\), got 1\.5 at \[1\]/);
        bad({ gamma: tensor([0.9, 0.9, 0], [3], f64) }, /gamma must lie in \(0, 1\].*got 0 at \[2\]/);
      }
      if (variant.gate === "none") {
        assert.throws(() => runOp(op, values, "chunk", { normalize: "yes" }), /linear_attn: option 'normalize'/);
        assert.throws(() => runOp(op, values, "chunk", { eps: 0 }), /linear_attn: option 'eps'/);
      }
    });
  }
});
