/**
 * selective_scan (Mamba-1 S6, spec/mixers.md §8.1): the three forms agree (outputs, final state, every input
 * gradient), pieces with carried state equal the whole, the chunk form's backward passes gradcheck, f32 tracks
 * f64, strong decay over long sequences stays finite and exact, the spec's worked check, and readable errors.
 *
 * Tolerances (absolute, scaled by max(1, max|reference|) as in harness.assertClose):
 *   f64 form agreement and splits: 1e-10 (outputs, states) and 1e-9 (gradients)
 *   gradcheck (f64, central differences, eps 1e-6): atol 1e-6, rtol 1e-5
 *   f32 chunk form against f64: 1e-4
 *   worked check against literal numbers: 1e-12
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { rand, randn, tensor } from "../../src/core/create.js";
import { Random } from "../../src/core/random.js";
import type { Tensor } from "../../src/core/tensor.js";
import type { DType } from "../../src/core/dtype.js";
import { getOp, runOp } from "../../src/ops/index.js";
import { selectiveScan, selectiveScanRecurrent } from "../../src/ops/selective_scan/index.js";
import type { OpMode } from "../../src/ops/types.js";
import { assertClose, castInputs, checkForms, checkGradcheck, checkSplit, maxAbs, runBackward, type Inputs, type OpCase } from "./harness.js";

const op = selectiveScan;
const TOL = 1e-10;
const GRAD_TOL = 1e-9;

interface Sizes {
  B: number;
  T: number;
  D: number;
  N: number;
}

/** Which optional inputs a case carries. */
interface Extras {
  Dskip?: boolean;
  z?: boolean;
  delta_bias?: boolean;
  initial_state?: boolean;
  /** delta as a raw pre-softplus value (may be negative) rather than a step size */
  raw?: boolean;
}

/** Random inputs of the given sizes, in f64, from a fixed seed. */
function makeInputs(s: Sizes, extras: Extras, seed = 11): Inputs {
  const rng = new Random(seed);
  const dtype: DType = "f64";
  const A = rand([s.D, s.N], rng, { dtype, low: 0.3, high: 2 }).mul(-1);
  const out: Inputs = {
    u: randn([s.B, s.T, s.D], rng, { dtype }),
    delta: extras.raw ? randn([s.B, s.T, s.D], rng, { dtype }) : rand([s.B, s.T, s.D], rng, { dtype, low: 0.02, high: 0.6 }),
    A: A.detach(),
    Bm: randn([s.B, s.T, s.N], rng, { dtype }),
    Cm: randn([s.B, s.T, s.N], rng, { dtype }),
  };
  if (extras.Dskip) out.Dskip = randn([s.D], rng, { dtype });
  if (extras.z) out.z = randn([s.B, s.T, s.D], rng, { dtype });
  if (extras.delta_bias) out.delta_bias = randn([s.D], rng, { dtype, std: 0.5 });
  if (extras.initial_state) out.initial_state = randn([s.B, s.D, s.N], rng, { dtype });
  return out;
}

const ODD: Sizes = { B: 2, T: 45, D: 13, N: 7 };
const ALL: Extras = { Dskip: true, z: true, delta_bias: true, initial_state: true, raw: true };

const CASES: Array<{ what: string; extras: Extras; options: Record<string, unknown> }> = [
  { what: "required inputs only", extras: {}, options: {} },
  { what: "deltaSoftplus with delta_bias", extras: { delta_bias: true, raw: true }, options: { deltaSoftplus: true } },
  { what: "deltaSoftplus without delta_bias", extras: { raw: true }, options: { deltaSoftplus: true } },
  { what: "delta_bias without softplus", extras: { delta_bias: true }, options: {} },
  { what: "Dskip", extras: { Dskip: true }, options: {} },
  { what: "z gate", extras: { z: true }, options: {} },
  { what: "initial_state", extras: { initial_state: true }, options: {} },
  { what: "every optional input, softplus", extras: ALL, options: { deltaSoftplus: true } },
];

function oddCase(extras: Extras, options: Record<string, unknown>, chunkSize: number, sizes = ODD): OpCase {
  const values = makeInputs(sizes, extras);
  return { op, make: () => values, options: { ...options, chunkSize }, tol: TOL, gradTol: GRAD_TOL };
}

describe("selective_scan: naive = chunk = recurrent (f64, B=2 T=45 D=13 N=7)", () => {
  for (const c of CASES) {
    test(`${c.what}, chunkSize 16`, () => checkForms(oddCase(c.extras, c.options, 16)));
  }
  for (const chunkSize of [1, 7, 45, 64]) {
    test(`every optional input, chunkSize ${chunkSize}`, () => checkForms(oddCase(ALL, { deltaSoftplus: true }, chunkSize)));
  }
  test("T = 1 and B = 1 (one step, one sequence)", () => {
    checkForms(oddCase(ALL, { deltaSoftplus: true }, 16, { B: 1, T: 1, D: 5, N: 3 }));
  });
});

describe("selective_scan: two pieces with the carried state equal the whole (f64)", () => {
  for (const split of [16, 23, 44]) {
    test(`every optional input, chunkSize 16, split at ${split}`, () => checkSplit(oddCase(ALL, { deltaSoftplus: true }, 16), split));
  }
  test("required inputs only, split at 20, naive pieces too", () => {
    checkSplit(oddCase({}, {}, 16), 20, [["chunk", "chunk"], ["naive", "recurrent"], ["recurrent", "naive"]]);
  });
});

describe("selective_scan: gradcheck of the chunk form (f64, B=1 T=7 D=2 N=3, chunkSize 3)", () => {
  const tiny: Sizes = { B: 1, T: 7, D: 2, N: 3 };
  const tinyCase = (extras: Extras, options: Record<string, unknown>): OpCase => {
    const values = makeInputs(tiny, extras, 5);
    return { op, make: () => values, options: { ...options, chunkSize: 3 }, tol: TOL };
  };
  test("every optional input, softplus", () => checkGradcheck(tinyCase(ALL, { deltaSoftplus: true }), "chunk", { atol: 1e-6, rtol: 1e-5 }));
  test("required inputs only, no softplus", () => checkGradcheck(tinyCase({}, {}), "chunk", { atol: 1e-6, rtol: 1e-5 }));
  test("z and initial_state with delta_bias, no softplus", () => {
    checkGradcheck(tinyCase({ z: true, initial_state: true, delta_bias: true }, {}), "chunk", { atol: 1e-6, rtol: 1e-5 });
  });
});

/** Runs one form with gradients of Σ o⊙w + Σ final⊙w' and returns outputs and input gradients. */
const withGrads = (values: Inputs, mode: OpMode, options: Record<string, unknown>) => runBackward(op, values, mode, options);
const toF32 = (values: Inputs) => castInputs(values, "f32");

describe("selective_scan: f32 against f64", () => {
  test("chunk form, every optional input, softplus, chunkSize 16: outputs, state and gradients within 1e-4", () => {
    const values = makeInputs(ODD, ALL);
    const options = { deltaSoftplus: true, chunkSize: 16 };
    const ref = withGrads(values, "chunk", options);
    const got = withGrads(toF32(values), "chunk", options);
    assert.equal(got.o.dtype, "f32");
    assert.equal(got.grads.A!.dtype, "f32");
    const f64 = (t: Tensor) => t.to("f64");
    assertClose("f32 o", f64(got.o), ref.o, 1e-4);
    assertClose("f32 final state", f64(got.finalState), ref.finalState, 1e-4);
    for (const k of Object.keys(values)) assertClose(`f32 d${k}`, f64(got.grads[k]!), ref.grads[k]!, 1e-4);
  });
});

describe("selective_scan: strong decay over long sequences", () => {
  /** Δ·A ≈ −5 per step (A ∈ −[4,6], Δ ∈ [0.8,1.2]), T = 2048, a large initial state. */
  function strong(T: number, scale: number): Inputs {
    const rng = new Random(21);
    const dtype: DType = "f64";
    const B = 1;
    const D = 4;
    const N = 4;
    return {
      u: randn([B, T, D], rng, { dtype }),
      delta: rand([B, T, D], rng, { dtype, low: 0.8, high: 1.2 }),
      A: rand([D, N], rng, { dtype, low: 4 * scale, high: 6 * scale }).mul(-1).detach(),
      Bm: randn([B, T, N], rng, { dtype }),
      Cm: randn([B, T, N], rng, { dtype }),
      Dskip: randn([D], rng, { dtype }),
      initial_state: randn([B, D, N], rng, { dtype, std: 1e3 }),
    };
  }
  const finite = (what: string, t: Tensor) => assert.ok(Number.isFinite(maxAbs(t.values())), `${what} has NaN or Inf`);

  for (const [label, scale] of [["Δ·A ≈ −5", 1], ["Δ·A ≈ −1000 (decays underflow to 0)", 200]] as const) {
    test(`${label} per step, T = 2048: chunk (chunkSize 64) = recurrent in f64, outputs and gradients finite`, () => {
      const values = strong(2048, scale);
      const options = { chunkSize: 64 };
      const chunk = withGrads(values, "chunk", options);
      const rec = withGrads(values, "recurrent", options);
      finite("chunk o", chunk.o);
      finite("chunk final state", chunk.finalState);
      assertClose("strong decay o", chunk.o, rec.o, TOL);
      assertClose("strong decay final state", chunk.finalState, rec.finalState, TOL);
      for (const k of Object.keys(values)) {
        finite(`chunk d${k}`, chunk.grads[k]!);
        assertClose(`strong decay d${k}`, chunk.grads[k]!, rec.grads[k]!, GRAD_TOL);
      }
    });
  }
});

describe("selective_scan: worked checks (spec §8.1)", () => {
  const f64 = (v: number[], shape: number[]) => tensor(v, shape, { dtype: "f64" });
  const close = (what: string, got: ArrayLike<number>, want: number[]) => {
    assert.equal(got.length, want.length, what);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-12, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  };

  test("spec example: one channel, N = 2, T = 2 → y = (3, 0.709675), h_2 = (0.854837, −0.1)", () => {
    // A = (−1,−2), D = 1, Δ = (0.5, 0.1), x = (2, −1), B_1 = (1,0), B_2 = (0.5,1), C_1 = (1,1), C_2 = (2,0)
    // h_1 = 0.5·2·(1,0) = (1,0);  y_1 = 1 + 1·2 = 3
    // h_2 = (e^{−0.1}·1 − 0.1·0.5, −0.1·1) = (0.854837418…, −0.1);  y_2 = 2·0.854837418… − 1 = 0.709674836…
    const inputs = {
      u: f64([2, -1], [1, 2, 1]),
      delta: f64([0.5, 0.1], [1, 2, 1]),
      A: f64([-1, -2], [1, 2]),
      Bm: f64([1, 0, 0.5, 1], [1, 2, 2]),
      Cm: f64([1, 1, 2, 0], [1, 2, 2]),
      Dskip: f64([1], [1]),
    };
    for (const mode of ["naive", "chunk", "recurrent"] as const) {
      const r = runOp(op, inputs, mode, { outputFinalState: true, chunkSize: 1 });
      close(`${mode} y`, r.o.values(), [3, 0.709674836071919]);
      close(`${mode} h_2`, r.finalState!.values(), [0.8548374180359595, -0.1]);
      assert.equal(Math.round(r.o.values()[1]! * 1e6) / 1e6, 0.709675);
    }
  });

  test("T = 1 closed form with every option: o = (Σ_n C[n](e^{ΔA[n]}h0[n] + Δ·u·B[n]) + D·u)·SiLU(z)", () => {
    // delta = 0.3, delta_bias = 0.2 → Δ = softplus(0.5) = 0.9740769841801067; u = 2; A = (−1,−2);
    // B = (1, −0.5); C = (0.5, −2); h0 = (0.4, −0.3); D = 0.5; z = 1
    // h_1 = (e^{−Δ}·0.4 + 2Δ, e^{−2Δ}·(−0.3) − Δ) = (2.0991702358794715, −1.0168380711590719)
    // y_1 = 0.5·h_1[0] − 2·h_1[1] + 0.5·2 = 4.0832612602578795;  o = y_1·σ(1) = 2.985103173099088
    const inputs = {
      u: f64([2], [1, 1, 1]),
      delta: f64([0.3], [1, 1, 1]),
      A: f64([-1, -2], [1, 2]),
      Bm: f64([1, -0.5], [1, 1, 2]),
      Cm: f64([0.5, -2], [1, 1, 2]),
      Dskip: f64([0.5], [1]),
      z: f64([1], [1, 1, 1]),
      delta_bias: f64([0.2], [1]),
      initial_state: f64([0.4, -0.3], [1, 1, 2]),
    };
    for (const mode of ["naive", "chunk", "recurrent"] as const) {
      const r = runOp(op, inputs, mode, { outputFinalState: true, deltaSoftplus: true });
      close(`${mode} o`, r.o.values(), [2.985103173099088]);
      close(`${mode} h_1`, r.finalState!.values(), [2.0991702358794715, -1.0168380711590719]);
    }
  });
});

describe("selective_scan: contract", () => {
  test("registered; state [B,D,N] of D·N floats per sequence, whatever T", () => {
    assert.equal(getOp("selective_scan"), op);
    assert.equal(op.stateShape, "[B,D,N]");
    assert.equal(op.stateSize({ A: [13, 7] }, op.options.parse({}), 1), 91);
    assert.equal(op.stateSize({ A: [13, 7] }, op.options.parse({}), 100_000), 91);
    const values = makeInputs(ODD, {});
    const state = op.recurrent.init(values, op.options.parse({}));
    assert.deepEqual([...state.shape], [2, 13, 7]);
    assert.equal(state.dtype, "f64");
  });

  test("example inputs run in every form (D = H·V, N = K)", () => {
    const ex = op.example(new Random(0), "f64", { B: 1, T: 5, H: 2, K: 3, V: 2 });
    assert.deepEqual([...ex.u!.shape], [1, 5, 4]);
    assert.deepEqual([...ex.A!.shape], [4, 3]);
    assert.ok(Math.max(...ex.A!.toArray()) < 0, "example A is negative");
    const ref = runOp(op, ex, "naive", { outputFinalState: true, deltaSoftplus: true, chunkSize: 2 });
    for (const mode of ["chunk", "recurrent"] as const) {
      const r = runOp(op, ex, mode, { outputFinalState: true, deltaSoftplus: true, chunkSize: 2 });
      assertClose(`example ${mode} o`, r.o, ref.o, TOL);
      assertClose(`example ${mode} state`, r.finalState!, ref.finalState!, TOL);
    }
  });

  test("without outputFinalState only o is returned; no graph is kept without gradients", () => {
    const values = makeInputs(ODD, ALL);
    const r = runOp(op, values, "chunk", {});
    assert.equal(r.finalState, undefined);
    assert.equal(r.o.requiresGrad, false);
  });
});

describe("selective_scan: errors name the tensor or option, what was expected and what came", () => {
  const values = makeInputs(ODD, ALL);
  const fails = (inputs: Record<string, Tensor | undefined>, pattern: RegExp, options: Record<string, unknown> = {}) => {
    assert.throws(() => runOp(op, inputs, "chunk", options), (e: Error) => {
      assert.equal(e.name, "OpError");
      assert.match(e.message, pattern);
      return true;
    });
  };
  const without = (name: string) => {
    const copy: Record<string, Tensor> = { ...values };
    delete copy[name];
    return copy;
  };
  const rng = new Random(9);
  const bad = (shape: number[]) => randn(shape, rng, { dtype: "f64" });

  test("missing inputs", () => {
    fails(without("Bm"), /^selective_scan: missing input 'Bm' \(expected shape \[B,T,N\]\)$/);
    fails(without("A"), /missing input 'A' \(expected shape \[D,N\]\)/);
    fails(without("u"), /missing input 'u'/);
  });

  test("wrong shapes", () => {
    fails({ ...values, u: bad([2, 45]) }, /selective_scan: u must have 3 dimensions \[B,T,D\], got \[2,45\]/);
    fails({ ...values, delta: bad([2, 45, 12]) }, /selective_scan: delta must have shape \[2,45,13\] like u, got \[2,45,12\]/);
    fails({ ...values, A: bad([12, 7]) }, /selective_scan: A must have shape \[13,\*\] \(\[D,N\] with D = 13 from u\), got \[12,7\]/);
    fails({ ...values, A: bad([13]) }, /A must have 2 dimensions \[D,N\], got \[13\]/);
    fails({ ...values, Bm: bad([2, 45, 8]) }, /Bm must have shape \[2,45,7\] \(\[B,T,N\] with B = 2, T = 45 from u and N = 7 from A\), got \[2,45,8\]/);
    fails({ ...values, Cm: bad([2, 44, 7]) }, /Cm must have shape \[2,45,7\] .*got \[2,44,7\]/);
    fails({ ...values, Dskip: bad([7]) }, /Dskip must have shape \[13\] \(\[D\] with D = 13 from u\), got \[7\]/);
    fails({ ...values, delta_bias: bad([1, 13]) }, /delta_bias must have shape \[13\] .*got \[1,13\]/);
    fails({ ...values, z: bad([2, 45, 7]) }, /z must have shape \[2,45,13\] like u, got \[2,45,7\]/);
    fails({ ...values, initial_state: bad([2, 7, 13]) }, /initial_state must have shape \[2,13,7\] \(the state \[B,D,N\].*got \[2,7,13\]/);
  });

  test("A must be ≤ 0 (e.g. A_log passed instead of A = −exp(A_log))", () => {
    const A = values.A!.clone();
    A.data[2 * 7 + 3] = 0.5;
    fails({ ...values, A }, /selective_scan: A must be real and ≤ 0 .* got A\[2,3\] = 0\.5/);
    const nan = values.A!.clone();
    nan.data[0] = NaN;
    fails({ ...values, A: nan }, /got A\[0,0\] = NaN/);
  });

  test("mixed dtypes and unknown inputs", () => {
    fails({ ...values, Bm: values.Bm!.to("f32") }, /Bm is f32 but u is f64/);
    fails({ ...values, B: values.Bm }, /unexpected input 'B'; the op takes u, delta, A, Bm, Cm, Dskip\?, z\?, delta_bias\?, initial_state\?/);
  });

  test("bad options", () => {
    fails(values, /selective_scan: option 'chunkSize'/, { chunkSize: 0 });
    fails(values, /selective_scan: option 'deltaSoftplus'/, { deltaSoftplus: "yes" });
    fails(values, /option 'deltaBias': delta_bias is an input tensor \[D\] named 'delta_bias', not an option/, { deltaBias: 0.5 });
    fails(values, /unknown option\(s\) 'delta_softplus'/, { delta_softplus: true });
  });
});

describe("selective_scan: the decoding step (no gradients) runs the scan kernel and equals the autodiff step", () => {
  for (const [dtype, tol] of [["f64", 1e-12], ["f32", 2e-5]] as const) {
    test(`${dtype}: outputs and states over 5 steps, every optional input, softplus (tolerance ${tol} × max(1, largest entry))`, () => {
      const [B, D, N] = [3, 6, 5];
      const rng = new Random(7);
      const r = (shape: number[], scale = 1) => randn(shape, rng, { dtype }).mul(scale);
      const fixed = { A: r([D, N]).abs().neg(), Dskip: r([D]), delta_bias: r([D], 0.3) };
      const options = { outputFinalState: true, chunkSize: 16, deltaSoftplus: true };
      let fast = selectiveScanRecurrent.init({ u: r([B, 1, D]), A: fixed.A }, options);
      let slow = fast;
      for (let t = 0; t < 5; t++) {
        const stepInputs = { ...fixed, u: r([B, D]), delta: r([B, D]), z: r([B, D]), Bm: r([B, N]), Cm: r([B, N]) };
        const a = selectiveScanRecurrent.step(fast, stepInputs, options);
        // requiring a gradient keeps the tensor-op (autodiff) path
        const withGrad = Object.fromEntries(Object.entries(stepInputs).map(([k, v]) => [k, v.detach().requireGrad()]));
        const b = selectiveScanRecurrent.step(slow.detach().requireGrad(), withGrad, options);
        assertClose(`${dtype} step ${t} o`, a.o, b.o.detach(), tol);
        assertClose(`${dtype} step ${t} state`, a.state, b.state.detach(), tol);
        fast = a.state;
        slow = b.state.detach();
      }
    });
  }
});
