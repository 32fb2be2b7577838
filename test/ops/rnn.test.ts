/**
 * lstm and gru (PyTorch nn.LSTM / nn.GRU equations, spec/mixers.md §9): the three forms agree (outputs, final
 * state, every input gradient incl. w_hh, b_hh and initial_state), pieces with carried state equal the whole,
 * the fused kernel's hand-written BPTT passes gradcheck, f32 tracks f64, the spec's worked check (T = 1 LSTM
 * from the zero state), literal values computed independently from PyTorch's equations (a scalar Python loop,
 * see the comments), and readable errors.
 *
 * Tolerances (absolute, scaled by max(1, max|reference|) as in harness.assertClose):
 *   f64 form agreement and splits: 1e-10 (outputs, states) and 1e-9 (gradients)
 *   gradcheck (f64, central differences): atol 1e-6, rtol 1e-5
 *   f32 chunk form against f64: 1e-4
 *   worked check and literal values: 1e-14
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { rand, randn, tensor, zeros } from "../../src/core/create.js";
import { Random } from "../../src/core/random.js";
import type { Tensor } from "../../src/core/tensor.js";
import type { DType } from "../../src/core/dtype.js";
import { getOp, runOp } from "../../src/ops/index.js";
import { lstm } from "../../src/ops/lstm/index.js";
import { gru } from "../../src/ops/gru/index.js";
import type { AnyOp, OpMode } from "../../src/ops/types.js";
import { assertClose, castInputs, checkForms, checkGradcheck, checkSplit, runBackward, type Inputs, type OpCase } from "./harness.js";

const TOL = 1e-10;
const GRAD_TOL = 1e-9;
const LIT = 1e-14;

interface Sizes {
  B: number;
  T: number;
  H: number;
}

/** Random f64 inputs for `op` (gates_x ~ N(0,1), w_hh and b_hh ~ N(0, 0.5²), initial_state ~ N(0,1)). */
function makeInputs(op: AnyOp, s: Sizes, withState: boolean, seed = 11, dtype: DType = "f64"): Inputs {
  const rng = new Random(seed);
  const gates = op === lstm ? 4 : 3;
  const out: Inputs = {
    gates_x: randn([s.B, s.T, gates * s.H], rng, { dtype }),
    w_hh: randn([gates * s.H, s.H], rng, { dtype, std: 0.5 }),
  };
  if (op === gru) out.b_hh = randn([3 * s.H], rng, { dtype, std: 0.5 });
  if (withState) out.initial_state = randn(op === lstm ? [s.B, 2, s.H] : [s.B, s.H], rng, { dtype });
  return out;
}

function oddCase(op: AnyOp, s: Sizes, withState: boolean, options: Record<string, unknown> = { chunkSize: 16 }): OpCase {
  const values = makeInputs(op, s, withState);
  return { op, make: () => values, options, tol: TOL, gradTol: GRAD_TOL };
}

// B = 2 runs the products' one-row remainder path, B = 5 their four-row blocks plus a remainder
const ODD: Sizes = { B: 2, T: 45, H: 7 };
const ODD5: Sizes = { B: 5, T: 23, H: 6 };

for (const op of [lstm, gru]) {
  describe(`${op.name}: naive = chunk = recurrent (f64)`, () => {
    test("B=2 T=45 H=7, zero initial state", () => checkForms(oddCase(op, ODD, false)));
    test("B=2 T=45 H=7, with initial_state", () => checkForms(oddCase(op, ODD, true)));
    test("B=5 T=23 H=6, with initial_state", () => checkForms(oddCase(op, ODD5, true)));
    test("T = 1, B = 1, H = 1", () => checkForms(oddCase(op, { B: 1, T: 1, H: 1 }, true)));
    test("chunkSize has no effect (1 and 4096 give the same result)", () => {
      const a = runOp(op, makeInputs(op, ODD, true), "chunk", { chunkSize: 1, outputFinalState: true });
      const b = runOp(op, makeInputs(op, ODD, true), "chunk", { chunkSize: 4096, outputFinalState: true });
      assertClose("o", a.o, b.o, 0);
      assertClose("final state", a.finalState!, b.finalState!, 0);
    });
  });

  describe(`${op.name}: two pieces with the carried state equal the whole (f64)`, () => {
    for (const split of [1, 16, 44]) {
      test(`B=2 T=45 H=7, with initial_state, split at ${split}`, () => checkSplit(oddCase(op, ODD, true), split));
    }
    test("zero initial state, split at 20, naive pieces too", () => {
      checkSplit(oddCase(op, ODD, false), 20, [["chunk", "chunk"], ["naive", "recurrent"], ["recurrent", "naive"]]);
    });
  });

  describe(`${op.name}: gradcheck of the fused kernel (f64)`, () => {
    const tiny = (s: Sizes, withState: boolean): OpCase => {
      const values = makeInputs(op, s, withState, 5);
      return { op, make: () => values, options: { chunkSize: 3 }, tol: TOL };
    };
    test("B=1 T=7 H=2 with initial_state", () => checkGradcheck(tiny({ B: 1, T: 7, H: 2 }, true), "chunk", { atol: 1e-6, rtol: 1e-5 }));
    test("B=5 T=4 H=2 with initial_state (blocked products)", () => checkGradcheck(tiny({ B: 5, T: 4, H: 2 }, true), "chunk", { atol: 1e-6, rtol: 1e-5 }));
    test("B=2 T=5 H=3 from the zero state", () => checkGradcheck(tiny({ B: 2, T: 5, H: 3 }, false), "chunk", { atol: 1e-6, rtol: 1e-5 }));
  });

  describe(`${op.name}: f32 against f64`, () => {
    test("chunk form, B=5 T=23 H=6 with initial_state: outputs, state and gradients within 1e-4", () => {
      const values = makeInputs(op, ODD5, true);
      const ref = runBackward(op, values, "chunk");
      const got = runBackward(op, castInputs(values, "f32"), "chunk");
      assert.equal(got.o.dtype, "f32");
      assert.equal(got.grads.w_hh!.dtype, "f32");
      const f64 = (t: Tensor) => t.to("f64");
      assertClose("f32 o", f64(got.o), ref.o, 1e-4);
      assertClose("f32 final state", f64(got.finalState), ref.finalState, 1e-4);
      for (const k of Object.keys(values)) assertClose(`f32 d${k}`, f64(got.grads[k]!), ref.grads[k]!, 1e-4);
    });
  });

  describe(`${op.name}: registry, stateSize, example`, () => {
    test("registered under its name", () => assert.equal(getOp(op.name), op));
    test("stateSize is constant in T", () => {
      const H = 7;
      const shapes: Record<string, number[]> = op === lstm ? { gates_x: [2, 45, 28], w_hh: [28, 7] } : { gates_x: [2, 45, 21], w_hh: [21, 7], b_hh: [21] };
      const want = op === lstm ? 2 * H : H;
      assert.equal(op.stateSize(shapes, { outputFinalState: false, chunkSize: 64 }, 1), want);
      assert.equal(op.stateSize(shapes, { outputFinalState: false, chunkSize: 64 }, 100000), want);
    });
    test("example inputs run in every form", () => {
      const ex = op.example(new Random(0), "f64", { B: 2, T: 5, H: 1, K: 3 });
      const a = runOp(op, ex, "naive");
      const b = runOp(op, ex, "chunk");
      assert.deepEqual([...a.o.shape], [2, 5, 3]);
      assertClose("example chunk vs naive", b.o, a.o, TOL);
    });
  });
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const MODES: OpMode[] = ["naive", "chunk", "recurrent"];

describe("lstm: spec §9 worked check (T = 1 from the zero state: c₁ = σ(i)⊙tanh(g), h₁ = σ(o)⊙tanh(c₁))", () => {
  // B=1, H=2; pre-activations i = (0.5, −0.3), f = (0.8, 0.1), g = (−0.2, 0.4), o = (1.0, −0.6); w_hh is
  // irrelevant at h₀ = 0 (random here), and so is f (c₀ = 0)
  const gx = tensor([0.5, -0.3, 0.8, 0.1, -0.2, 0.4, 1.0, -0.6], [1, 1, 8], { dtype: "f64" });
  const w = rand([8, 2], new Random(1), { dtype: "f64", low: -1, high: 1 });
  const c1 = [sigmoid(0.5) * Math.tanh(-0.2), sigmoid(-0.3) * Math.tanh(0.4)];
  const h1 = [sigmoid(1.0) * Math.tanh(c1[0]!), sigmoid(-0.6) * Math.tanh(c1[1]!)];
  // the same numbers from a scalar Python loop of PyTorch's equations (repr of f64)
  const literalH = [-0.08936728691237457, 0.056799751252492224];
  const literalC = [-0.12285810982294564, 0.16169012411735548];
  for (const mode of MODES) {
    test(mode, () => {
      const r = runOp(lstm, { gates_x: gx, w_hh: w }, mode, { outputFinalState: true });
      assertClose("h₁ (closed form)", r.o, tensor(h1, [1, 1, 2], { dtype: "f64" }), LIT);
      assertClose("h₁ (literal)", r.o, tensor(literalH, [1, 1, 2], { dtype: "f64" }), LIT);
      assertClose("state (h₁, c₁)", r.finalState!, tensor([...literalH, ...literalC], [1, 2, 2], { dtype: "f64" }), LIT);
    });
  }
});

describe("literal values from PyTorch's equations (B=1, T=3, H=2, from a given state)", () => {
  // Computed by a scalar Python loop (math.exp / math.tanh) of the nn.LSTM / nn.GRU equations, written
  // independently of this library; printed with repr.
  const gx8 = [
    [0.3, -0.1, 0.7, -0.4, 0.2, 0.9, -0.5, 0.6],
    [-0.8, 0.4, 0.1, 0.5, -0.3, -0.7, 0.2, 0.1],
    [0.6, 0.2, -0.9, 0.3, 0.8, -0.2, 0.4, -0.5],
  ];
  const w8 = [[0.2, -0.1], [0.4, 0.3], [-0.5, 0.1], [0.3, -0.2], [0.1, 0.6], [-0.3, -0.4], [0.5, 0.2], [-0.1, 0.7]];
  const f64 = (v: number[][] | number[], shape: number[]) => tensor(v.flat(), shape, { dtype: "f64" });
  for (const mode of MODES) {
    test(`lstm, ${mode}`, () => {
      const r = runOp(lstm, { gates_x: f64(gx8, [1, 3, 8]), w_hh: f64(w8, [8, 2]), initial_state: f64([0.25, -0.5, 0.75, -0.1], [1, 2, 2]) }, mode, { outputFinalState: true });
      const hs = [0.1542647865632075, 0.16839015033144905, 0.09190501124429326, -0.12149854971879828, 0.2565874504320851, -0.08009746509197238];
      assertClose("h", r.o, f64(hs, [1, 3, 2]), LIT);
      assertClose("state", r.finalState!, f64([0.2565874504320851, -0.08009746509197238, 0.453655272749269, -0.22913380422435853], [1, 2, 2]), LIT);
    });
    test(`gru, ${mode}`, () => {
      const gx6 = gx8.map((row) => row.slice(0, 6));
      const inputs = { gates_x: f64(gx6, [1, 3, 6]), w_hh: f64(w8.slice(0, 6), [6, 2]), b_hh: f64([0.05, -0.15, 0.25, -0.35, 0.45, -0.05], [6]) };
      const r = runOp(gru, { ...inputs, initial_state: f64([0.25, -0.5], [1, 2]) }, mode, { outputFinalState: true });
      const hs = [0.2650065136360995, 0.28804792230877463, 0.1101240670175885, -0.1592981267187094, 0.5602608252346747, -0.1828989060534857];
      assertClose("h", r.o, f64(hs, [1, 3, 2]), LIT);
      assertClose("state", r.finalState!, f64(hs.slice(4), [1, 2]), LIT);
      // T = 1 from zero: h₁ = (1 − z) ⊙ n with r = σ(gx_r + b_hr), z = σ(gx_z + b_hz), n = tanh(gx_n + r ⊙ b_hn)
      const one = runOp(gru, { ...inputs, gates_x: f64(gx6[0]!, [1, 1, 6]) }, mode);
      assertClose("gru T=1", one.o, f64([0.12084658408857189, 0.47914062404045077], [1, 1, 2]), LIT);
    });
  }
});

describe("errors name the tensor, what was received and what was expected", () => {
  const rng = new Random(2);
  const gx = randn([2, 5, 12], rng, { dtype: "f64" });
  const w = randn([12, 3], rng, { dtype: "f64" });
  const cases: Array<[string, AnyOp, Record<string, Tensor>, unknown, RegExp]> = [
    ["lstm missing w_hh", lstm, { gates_x: gx }, {}, /lstm: missing input 'w_hh' \(expected shape \[4·H,H\]\)/],
    ["lstm gates_x not a multiple of 4", lstm, { gates_x: randn([2, 5, 10], rng, { dtype: "f64" }), w_hh: w }, {}, /lstm: gates_x must have shape \[B,T,4·H\].*multiple of 4, got \[2,5,10\]/],
    ["lstm gates_x rank", lstm, { gates_x: randn([2, 12], rng, { dtype: "f64" }), w_hh: w }, {}, /lstm: gates_x must have/],
    ["lstm w_hh shape", lstm, { gates_x: gx, w_hh: randn([12, 4], rng, { dtype: "f64" }) }, {}, /lstm: w_hh must have shape \[12,3\] \(\[4·H,H\] with H = 3 from gates_x\), got \[12,4\]/],
    ["lstm initial_state shape", lstm, { gates_x: gx, w_hh: w, initial_state: zeros([2, 3], { dtype: "f64" }) }, {}, /lstm: initial_state must have shape \[2,2,3\].*got \[2,3\]/],
    ["lstm unknown option", lstm, { gates_x: gx, w_hh: w }, { forgetBias: 1 }, /lstm: unknown option\(s\) 'forgetBias'/],
    ["lstm bad chunkSize", lstm, { gates_x: gx, w_hh: w }, { chunkSize: 0 }, /lstm: option 'chunkSize'/],
    ["lstm dtype mismatch", lstm, { gates_x: gx, w_hh: w.to("f32") }, {}, /lstm: .* all inputs must share one dtype/],
    ["gru missing b_hh", gru, { gates_x: randn([2, 5, 9], rng, { dtype: "f64" }), w_hh: randn([9, 3], rng, { dtype: "f64" }) }, {}, /gru: missing input 'b_hh' \(expected shape \[3·H\]\)/],
    ["gru gates_x not a multiple of 3", gru, { gates_x: randn([2, 5, 8], rng, { dtype: "f64" }), w_hh: w, b_hh: zeros([9], { dtype: "f64" }) }, {}, /gru: gates_x must have shape \[B,T,3·H\].*multiple of 3, got \[2,5,8\]/],
    ["gru b_hh shape", gru, { gates_x: gx, w_hh: randn([12, 4], rng, { dtype: "f64" }), b_hh: zeros([9], { dtype: "f64" }) }, {}, /gru: b_hh must have shape \[12\] \(\[3·H\] with H = 4 from gates_x\), got \[9\]/],
    ["gru initial_state shape", gru, { gates_x: gx, w_hh: randn([12, 4], rng, { dtype: "f64" }), b_hh: zeros([12], { dtype: "f64" }), initial_state: zeros([2, 2, 4], { dtype: "f64" }) }, {}, /gru: initial_state must have shape \[2,4\].*got \[2,2,4\]/],
    ["gru unexpected input", gru, { gates_x: gx, w_hh: randn([12, 4], rng, { dtype: "f64" }), b_hh: zeros([12], { dtype: "f64" }), b_ih: zeros([12], { dtype: "f64" }) }, {}, /gru: unexpected input 'b_ih'/],
  ];
  for (const [what, op, inputs, options, message] of cases) {
    test(what, () => {
      for (const mode of MODES) assert.throws(() => runOp(op, inputs, mode, options), message);
    });
  }
});
