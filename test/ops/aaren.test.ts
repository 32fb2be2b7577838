/**
 * aaren (spec/mixers.md §2). Tolerances, stated here and scaled by max(1, max|reference|) as in
 * harness.assertClose:
 *   f64 forms (naive = chunk = recurrent, outputs, final state, every input gradient): 1e-9
 *   splits (pieces with the carried state = whole, f64): 1e-9
 *   gradcheck of the chunk form (f64, central differences, eps 1e-6): atol 1e-6, rtol 1e-5
 *   f32 chunk against f64 chunk (outputs and gradients): 1e-4
 *   worked checks (literal numbers from the spec, 6 decimals): 1e-6
 *
 * The state (m, u, w) is redundant ((m+δ, u·e^−δ, w·e^−δ) is the same state) and every form treats m as a
 * constant in backward. So the gradcheck reads the final state through what it represents, (u·e^m, w·e^m), and
 * perturbs only u₀ and w₀ of the initial state (whose m₀ gradient is 0 by that convention).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { full, rand, randn, tensor } from "../../src/core/create.js";
import { gradcheck } from "../../src/core/gradcheck.js";
import { exp } from "../../src/core/ops/elementwise.js";
import { concat, slice } from "../../src/core/ops/shape.js";
import type { Tensor } from "../../src/core/tensor.js";
import { aaren } from "../../src/ops/aaren/index.js";
import { runOp } from "../../src/ops/run.js";
import { assertClose, castInputs, checkForms, checkSplit, leaves, maxAbs, type Inputs } from "./harness.js";

const TOL = 1e-9;

interface Sizes {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
}

type Init = "none" | "random" | "empty";

/** A valid state: m₀ ~ N(0,1), u₀ ∈ [0.5, 3), w₀ ~ N(0,1); or the explicit empty state (−∞, 0, 0). */
function initialState(s: Sizes, rng: Random, kind: Init, dtype: "f32" | "f64"): Tensor | undefined {
  if (kind === "none") return undefined;
  if (kind === "empty") return concat([full([s.B, s.H, 1], -Infinity, { dtype }), full([s.B, s.H, s.V + 1], 0, { dtype })], 2);
  return concat([randn([s.B, s.H, 1], rng, { dtype }), rand([s.B, s.H, 1], rng, { dtype, low: 0.5, high: 3 }), randn([s.B, s.H, s.V], rng, { dtype })], 2);
}

function maker(s: Sizes, seed: number, init: Init = "none", dtype: "f32" | "f64" = "f64"): () => Inputs {
  return () => {
    const rng = new Random(seed);
    const out: Inputs = {
      q: randn([s.H, s.K], rng, { dtype }),
      k: randn([s.B, s.T, s.H, s.K], rng, { dtype }),
      v: randn([s.B, s.T, s.H, s.V], rng, { dtype }),
    };
    const st = initialState(s, rng, init, dtype);
    if (st) out.initial_state = st;
    return out;
  };
}

const ODD: Sizes = { B: 2, T: 45, H: 3, K: 20, V: 12 };
const TINY: Sizes = { B: 1, T: 7, H: 2, K: 3, V: 2 };

const CASES: Array<{ label: string; options: Record<string, unknown> }> = [
  { label: "chunk 16", options: { chunkSize: 16 } },
  { label: "default chunk 64 > T", options: {} },
  { label: "chunk 1", options: { chunkSize: 1 } },
  { label: "scale 2.5 (sharp scores), chunk 7", options: { scale: 2.5, chunkSize: 7 } },
];

for (const c of CASES) {
  for (const init of ["none", "random", "empty"] as const) {
    test(`aaren forms agree (f64, tol ${TOL}): ${c.label}, initial_state ${init}`, () => {
      checkForms({ op: aaren, make: maker(ODD, 1, init), options: c.options, tol: TOL });
    });
  }
  test(`aaren split at 17 = whole (f64, tol ${TOL}): ${c.label}`, () => {
    checkSplit({ op: aaren, make: maker(ODD, 2), options: c.options, tol: TOL }, 17);
    checkSplit({ op: aaren, make: maker(ODD, 3, "random"), options: c.options, tol: TOL }, 30);
  });
}

test("aaren chunk gradcheck (f64, tiny: B=1 T=7 H=2 K=3 V=2, chunk 3; atol 1e-6, rtol 1e-5)", () => {
  for (const [seed, options] of [[4, { chunkSize: 3 }], [5, { chunkSize: 3, scale: 1.7 }]] as const) {
    const values = maker(TINY, seed, "random")();
    const init = values.initial_state!;
    const m0 = slice(init, 2, 0, 1).clone(); // held constant
    const uw0 = slice(init, 2, 1).clone().requireGrad();
    const ls = leaves({ q: values.q!, k: values.k!, v: values.v! });
    gradcheck(
      (qq: Tensor, kk: Tensor, vv: Tensor, uw: Tensor) => {
        const r = runOp(aaren, { q: qq, k: kk, v: vv, initial_state: concat([m0, uw], 2) }, "chunk", { ...options, outputFinalState: true });
        const st = r.finalState!;
        // what the final state represents: (u·e^m, w·e^m)
        const represented = slice(st, 2, 1).mul(exp(slice(st, 2, 0, 1)));
        return [r.o, represented];
      },
      [ls.q!, ls.k!, ls.v!, uw0],
      { atol: 1e-6, rtol: 1e-5 },
    );
  }
});

test("aaren f32 chunk matches f64 chunk (outputs and gradients, tol 1e-4)", () => {
  const values = maker(ODD, 6, "random")();
  const run = (inputs: Inputs) => {
    const ls = leaves(inputs);
    const out = runOp(aaren, ls, "chunk", { chunkSize: 16, outputFinalState: true });
    const rng = new Random(9);
    out.o.mul(randn(out.o.shape, rng, { dtype: out.o.dtype })).sum().backward();
    return { o: out.o, state: out.finalState!, grads: ls };
  };
  const f64 = run(values);
  const f32 = run(castInputs(values, "f32"));
  assert.equal(f32.o.dtype, "f32");
  assertClose("f32 vs f64: o", f32.o.to("f64"), f64.o, 1e-4);
  assertClose("f32 vs f64: final state", f32.state.to("f64"), f64.state, 1e-4);
  for (const name of Object.keys(values)) assertClose(`f32 vs f64: d${name}`, f32.grads[name]!.grad!.to("f64"), f64.grads[name]!.grad!, 1e-4);
});

test("aaren worked check (spec §2): T=1 gives o = v; q=(1,−1), τ=1 example outputs; m₀ gradient is 0", () => {
  const inputs = {
    q: tensor([[1, -1]], undefined, { dtype: "f64" }),
    k: tensor([[[[1, 0]], [[0, 1]], [[2, 1]]]], undefined, { dtype: "f64" }),
    v: tensor([[[[1, 0]], [[0, 1]], [[1, 1]]]], undefined, { dtype: "f64" }),
  };
  const expected = tensor([[[[1, 0]], [[0.880797, 0.119203]], [[0.936621, 0.531689]]]], undefined, { dtype: "f64" });
  for (const mode of ["naive", "chunk", "recurrent"] as const) {
    for (const chunkSize of [1, 2, 64]) {
      const r = runOp(aaren, inputs, mode, { scale: 1, chunkSize, outputFinalState: true });
      assertClose(`${mode} chunk ${chunkSize}: outputs`, r.o, expected, 1e-6);
      // scores (1, −1, 1): m = 1, u = 1 + e^−2 + 1, w = (1,0) + e^−2·(0,1) + (1,1)
      const e2 = Math.exp(-2);
      assertClose(`${mode}: final state`, r.finalState!, tensor([[[1, 2 + e2, 2, 1 + e2]]], undefined, { dtype: "f64" }), 1e-12);
    }
    const one = runOp(aaren, { q: inputs.q, k: slice(inputs.k, 1, 0, 1), v: tensor([[[[0.25, -3]]]], undefined, { dtype: "f64" }) }, mode, { scale: 1 });
    assertClose(`T=1 ${mode}`, one.o, tensor([[[[0.25, -3]]]], undefined, { dtype: "f64" }), 1e-12);
  }
  // m₀ takes no gradient (m is a constant in backward), in every form
  for (const mode of ["naive", "chunk", "recurrent"] as const) {
    const ls = leaves(maker(TINY, 7, "random")());
    runOp(aaren, ls, mode, { chunkSize: 3 }).o.sum().backward();
    assert.equal(maxAbs(slice(ls.initial_state!.grad!, 2, 0, 1).values()), 0, `${mode}: dm₀`);
    assert.ok(maxAbs(slice(ls.initial_state!.grad!, 2, 1).values()) > 0, `${mode}: du₀, dw₀`);
  }
});

test("aaren numerics: huge scores neither overflow nor give NaN; the empty state (−∞,0,0) gives zero gradients", () => {
  const values = maker(ODD, 8, "empty")();
  const big = { ...values, k: values.k!.mul(500) }; // scores of order 1e3–1e4
  const ref = runOp(aaren, big, "recurrent", { outputFinalState: true });
  const got = runOp(aaren, big, "chunk", { chunkSize: 16, outputFinalState: true });
  assert.ok(Number.isFinite(maxAbs(got.o.values())) && Number.isFinite(maxAbs(got.finalState!.values())));
  assertClose("huge scores: chunk vs recurrent o", got.o, ref.o, TOL);
  assertClose("huge scores: chunk vs recurrent state", got.finalState!, ref.finalState!, TOL);
  for (const mode of ["naive", "chunk", "recurrent"] as const) {
    const ls = leaves(values);
    runOp(aaren, ls, mode, { chunkSize: 16 }).o.sum().backward();
    const g = ls.initial_state!.grad!.values();
    assert.ok(g.every((x) => x === 0), `${mode}: gradient of an empty initial state is 0, not NaN`);
  }
});

test("aaren state size is H·(V+2), independent of T and K", () => {
  const opts = aaren.options.parse({});
  assert.equal(aaren.stateSize({ q: [4, 32], k: [8, 100, 4, 32], v: [8, 100, 4, 32] }, opts, 16384), 4 * 34);
  const st = runOp(aaren, maker(ODD, 9)(), "recurrent", { outputFinalState: true }).finalState!;
  assert.deepEqual([...st.shape], [2, 3, 14]);
});

test("aaren errors name the problem", () => {
  const good = maker(TINY, 10)();
  const throwsWith = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (e: Error) => {
    assert.match(e.message, pattern);
    return true;
  });
  throwsWith(() => runOp(aaren, { q: good.q, v: good.v }, "chunk"), /aaren: missing input 'k' \(expected shape \[B,T,H,K\]\)/);
  throwsWith(() => runOp(aaren, { ...good, q: randn([2, 4], new Random(0), { dtype: "f64" }) }, "chunk"), /aaren: q must have shape \[2,3\].*got \[2,4\]/);
  throwsWith(() => runOp(aaren, { ...good, q: randn([1, 7, 2, 3], new Random(0), { dtype: "f64" }) }, "chunk"), /aaren: q must have shape \[2,3\].*got \[1,7,2,3\]/);
  throwsWith(() => runOp(aaren, { ...good, v: randn([1, 7, 3, 2], new Random(0), { dtype: "f64" }) }, "recurrent"), /aaren: v must have shape \[1,7,2,\*\].*got \[1,7,3,2\]/);
  throwsWith(() => runOp(aaren, { ...good, initial_state: randn([1, 2, 3], new Random(0), { dtype: "f64" }) }, "chunk"), /aaren: initial_state must have shape \[1,2,4\].*got \[1,2,3\]/);
  throwsWith(() => runOp(aaren, good, "chunk", { scale: 0 }), /aaren: option 'scale'/);
  throwsWith(() => runOp(aaren, good, "chunk", { window: 3 }), /aaren: unknown option\(s\) 'window'/);
});
