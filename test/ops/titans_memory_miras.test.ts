/**
 * titans_memory with the Miras options (spec/mixers.md §11, src/ops/titans_memory/miras.ts): the attentional
 * biases lp and huber and the retentions lq and kl, alone and as Moneta (lp + lq), Yaad (huber + l2) and
 * Memora (l2 + kl, no momentum). naive(C) = chunk(C) for C = 1, 4, 5, T and chunk(1) = recurrent on outputs,
 * final states and every gradient; gradchecks; the reductions to Titans (p = 2, q = 2, δ large); worked checks
 * of the ℓ1 branch of Huber, the lq scale and the kl read; errors.
 *
 * Tolerances (absolute, scaled by max(1, max|reference|)): forms and reductions 1e-10 (measured ≤ 1e-12);
 * gradcheck (f64, central differences) atol 1e-7, rtol 1e-6; worked checks 1e-12.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { full, tensor, zeros } from "../../src/core/create.js";
import type { Tensor } from "../../src/core/tensor.js";
import { slice } from "../../src/core/ops/shape.js";
import { runOp } from "../../src/ops/index.js";
import { titansMemory } from "../../src/ops/titans_memory/index.js";
import { SMOOTH_EPS } from "../../src/ops/titans_memory/miras.js";
import type { ExampleSizes } from "../../src/ops/types.js";
import { assertClose, checkGradcheck } from "./harness.js";
import { checkAllForms, makeInputs, ODD, opCase, TINY } from "./titans_memory_cases.js";

const MONETA = { bias: "lp", p: 3, retention: "lq", q: 4 };
const YAAD = { bias: "huber", retention: "l2" };
const MEMORA = { bias: "l2", retention: "kl" };

describe("titans_memory, Miras options", () => {
  test("lp bias (p = 3 and p = 1.5): all forms agree, linear and MLP (tol 1e-10)", () => {
    checkAllForms({ memory: { bias: "lp", p: 3 } });
    checkAllForms({ seed: 42, memory: { bias: "lp", p: 1.5 } });
    checkAllForms({ seed: 43, memory: { bias: "lp", p: 3, depth: 2, expansion: 2 } });
  });

  test("huber bias with a per-token δ: all forms agree, δ gets its gradient (tol 1e-10)", () => {
    checkAllForms({ seed: 44, memory: { bias: "huber" } });
    checkAllForms({ seed: 45, memory: { bias: "huber", depth: 2, expansion: 2 } });
  });

  test("lq retention (q = 4, q = 3): all forms agree, from weights and from a state (tol 1e-10)", () => {
    checkAllForms({ seed: 46, memory: { retention: "lq", q: 4 } });
    checkAllForms({ seed: 47, memory: { retention: "lq", q: 3, depth: 2, expansion: 2 }, start: "state" });
  });

  test("kl retention (klScale 2): all forms agree, linear and MLP, lagged too (tol 1e-10)", () => {
    checkAllForms({ seed: 48, memory: { retention: "kl", klScale: 2 } });
    checkAllForms({ seed: 49, memory: { retention: "kl", depth: 2, expansion: 2, activation: "silu" }, start: "state" });
    checkAllForms({ seed: 50, memory: { retention: "kl", retrieve: "lagged" } });
  });

  test("Moneta (lp 3 + lq 4), Yaad (huber + l2), Memora (l2 + kl, no momentum) as MLP memories with residual LN: all forms agree (tol 1e-10)", () => {
    const sizes: ExampleSizes = { ...ODD, K: 4 };
    const mlp = { depth: 2, expansion: 2, residual: true };
    checkAllForms({ sizes, seed: 51, memory: { ...MONETA, ...mlp } });
    checkAllForms({ sizes, seed: 52, memory: { ...YAAD, ...mlp } });
    checkAllForms({ sizes, seed: 53, memory: { ...MEMORA, ...mlp }, momentum: [0, 0] });
  });

  test("gradcheck of the chunk form for each option (f64; B=1 T=5 H=2 K=3 V=2; atol 1e-7, rtol 1e-6)", () => {
    for (const memory of [{ bias: "lp", p: 3 }, { bias: "huber" }, { retention: "lq", q: 4 }, { retention: "kl" }, { ...MONETA, depth: 2, expansion: 2 }]) {
      checkGradcheck(opCase({ sizes: TINY, seed: 54, memory }, { chunkSize: 2 }), "chunk", { atol: 1e-7, rtol: 1e-6 });
    }
  });

  test("p = 2, q = 2 and a δ above every error reduce to Titans (o and final state, chunk and recurrent; tol 1e-12)", () => {
    const values = makeInputs({ seed: 55 });
    for (const mode of ["chunk", "recurrent"] as const) {
      const titans = runOp(titansMemory, values, mode, { chunkSize: mode === "chunk" ? 4 : 1, outputFinalState: true });
      for (const memory of [{ bias: "lp", p: 2 }, { retention: "lq", q: 2 }, { bias: "lp", p: 2, retention: "lq", q: 2 }, { bias: "huber" }]) {
        const extra = memory.bias === "huber" ? { delta: full(values.lr!.shape, 1e6, { dtype: "f64" }) } : {};
        const got = runOp(titansMemory, { ...values, ...extra }, mode, { ...memory, chunkSize: mode === "chunk" ? 4 : 1, outputFinalState: true });
        assertClose(`${mode} ${JSON.stringify(memory)} o`, got.o, titans.o, 1e-12);
        assertClose(`${mode} ${JSON.stringify(memory)} state`, got.finalState!, titans.finalState!, 1e-12);
      }
    }
  });

  test("worked checks, linear memory from A₀ = 0, T = 1 (tol 1e-12)", () => {
    const sizes = { B: 1, T: 1, H: 2, K: 3, V: 4 };
    const values = makeInputs({ sizes, seed: 56, start: "zero", lr: [0.05, 0.4] });
    const { q, k, v, lr } = values as Record<string, Tensor>;
    const qk = (h: number) => [0, 1, 2].reduce((s, j) => s + q!.get(0, 0, h, j) * k!.get(0, 0, h, j), 0);
    const expect = (f: (h: number, j: number) => number) => tensor(Array.from({ length: 8 }, (_, i) => f(i >> 2, i & 3)), [1, 1, 2, 4], { dtype: "f64" });
    // Moneta p = q = 2 (spec §11): y₁ = 2θ₁ (q₁·k₁) v₁
    const moneta = expect((h, j) => 2 * lr!.get(0, 0, h) * qk(h) * v!.get(0, 0, h, j));
    // Huber, δ below |e| = |v|: the ℓ1 branch, y₁ = 2θ₁δ₁ (q₁·k₁) sign(v₁)
    const delta = full([1, 1, 2], 1e-3, { dtype: "f64" });
    const huber = expect((h, j) => 2 * lr!.get(0, 0, h) * 1e-3 * qk(h) * Math.sign(v!.get(0, 0, h, j)));
    // kl, c = 2: W₀ = c/V, e = (c/V)(Σk) − v, A₁ = −θ·kᵀ·2e, y₁ = q₁ · c·softmax_rows(A₁)
    const c = 2;
    const kl = expect((h, j) => {
      const sk = [0, 1, 2].reduce((s, i) => s + k!.get(0, 0, h, i), 0);
      const e = (jj: number) => (c / 4) * sk - v!.get(0, 0, h, jj);
      let y = 0;
      for (let i = 0; i < 3; i++) {
        const row = [0, 1, 2, 3].map((jj) => -lr!.get(0, 0, h) * k!.get(0, 0, h, i) * 2 * e(jj));
        const z = row.reduce((s, a) => s + Math.exp(a), 0);
        y += q!.get(0, 0, h, i) * c * Math.exp(row[j]!) / z;
      }
      return y;
    });
    for (const mode of ["naive", "chunk", "recurrent"] as const) {
      assertClose(`${mode} moneta`, runOp(titansMemory, values, mode, { bias: "lp", p: 2, retention: "lq", q: 2 }).o, moneta, 1e-12);
      assertClose(`${mode} huber`, runOp(titansMemory, { ...values, delta }, mode, { bias: "huber" }).o, huber, 1e-12);
      assertClose(`${mode} kl`, runOp(titansMemory, values, mode, { retention: "kl", klScale: c }).o, kl, 1e-12);
    }
  });

  test("lq reads W = A/(Σ|A|^q + ε)^{(q−2)/q}: lagged retrieval at T = 1 is q₁·W from the initial state (tol 1e-12)", () => {
    const values = makeInputs({ sizes: { B: 1, T: 1, H: 1, K: 3, V: 2 }, seed: 57, start: "state" });
    const A = Array.from(slice(values.initial_state!, 2, 0, 1).values());
    const s = (A.reduce((acc, a) => acc + Math.abs(a) ** 4, 0) + SMOOTH_EPS) ** (2 / 4);
    const expected = [0, 1].map((j) => [0, 1, 2].reduce((acc, i) => acc + values.q!.get(0, 0, 0, i) * (A[i * 2 + j]! / s), 0));
    for (const mode of ["naive", "chunk", "recurrent"] as const) {
      const o = runOp(titansMemory, values, mode, { retention: "lq", q: 4, retrieve: "lagged" }).o;
      assertClose(`${mode} o`, o, tensor(expected, [1, 1, 1, 2], { dtype: "f64" }), 1e-12);
    }
  });

  test("errors: delta with and without the huber bias, bad δ, bad p and q", () => {
    const values = makeInputs({ sizes: { B: 2, T: 5, H: 3, K: 4, V: 3 }, seed: 58 });
    const run = (patch: Record<string, Tensor | undefined>, options: Record<string, unknown>) => () => runOp(titansMemory, { ...values, ...patch }, "chunk", options);
    assert.throws(run({}, { bias: "huber" }), /titans_memory: missing input 'delta' \(expected shape \[B,T,H\]\)/);
    assert.throws(run({ delta: zeros([2, 5, 3], { dtype: "f64" }) }, { bias: "huber" }), /delta \(the Huber threshold δ\) must be finite and > 0, got 0 at \[0,0,0\]/);
    assert.throws(run({ delta: full([2, 5], 1, { dtype: "f64" }) }, { bias: "huber" }), /delta must have shape \[2,5,3\]/);
    assert.throws(run({ delta: full([2, 5, 3], 1, { dtype: "f64" }) }, {}), /unexpected input 'delta'; the Huber threshold is used only with the option bias: "huber"/);
    assert.throws(run({}, { bias: "lp", p: 0.5 }), /titans_memory: option 'p'/);
    assert.throws(run({}, { retention: "lq", q: 0 }), /titans_memory: option 'q'/);
    assert.throws(run({}, { retention: "kl", klScale: 0 }), /titans_memory: option 'klScale'/);
    assert.throws(run({}, { bias: "l1" }), /titans_memory: option 'bias'/);
  });
});
