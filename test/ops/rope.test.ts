/**
 * RoPE (spec/mixers.md §0.3, rotate-half). Tolerances: hand-computed values 1e-12 (f64); gradcheck atol 1e-8,
 * rtol 1e-6 (the map is linear, so central differences are exact up to rounding); identities 1e-12.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn, tensor } from "../../src/core/create.js";
import { gradcheck } from "../../src/core/gradcheck.js";
import { slice } from "../../src/core/ops/shape.js";
import { rope } from "../../src/ops/rope/index.js";
import { assertClose } from "./harness.js";

const f64 = { dtype: "f64" as const };

test("rope values match a hand computation (D=4, base 100: θ = 1, 0.1)", () => {
  // position 0 is the identity; position 1 rotates the pairs (z0, z2) by 1 rad and (z1, z3) by 0.1 rad
  const x = tensor([[[[9, 8, 7, 6]], [[1, 2, 3, 4]]]], undefined, f64);
  const y = rope(x, { base: 100 });
  const expected = tensor([[[[9, 8, 7, 6]], [[-1.9841106485555495, 1.590674663968739, 2.4623779024123156, 4.17968349440576]]]], undefined, f64);
  assertClose("rope", y, expected, 1e-12);
  // offset 2: the second row is at position 3; rotaryDim 2 rotates only (z0, z1) with θ0 = 1, z2, z3 pass through
  const z = rope(tensor([[[[1, 3, 5, 6]]]], undefined, f64), { offset: 3, rotaryDim: 2 });
  assertClose("rope rotaryDim 2, offset 3", z, tensor([[[[-1.413352520780047, -2.828857481741469, 5, 6]]]], undefined, f64), 1e-12);
  // f32 in, f32 out
  assert.equal(rope(x.to("f32"), { base: 100 }).dtype, "f32");
});

test("rope gradcheck (f64; atol 1e-8, rtol 1e-6)", () => {
  const x = randn([2, 5, 3, 6], new Random(1), f64).requireGrad();
  gradcheck((t) => rope(t, { offset: 4 }), [x], { atol: 1e-8, rtol: 1e-6 });
  gradcheck((t) => rope(t, { rotaryDim: 4, base: 50 }), [x], { atol: 1e-8, rtol: 1e-6 });
});

test("rope of a slice at offset s equals the slice of rope (tol 1e-12)", () => {
  const x = randn([2, 11, 3, 8], new Random(2), f64);
  const whole = rope(x);
  for (const s of [1, 4, 10]) assertClose(`offset ${s}`, rope(slice(x, 1, s), { offset: s }), slice(whole, 1, s), 1e-12);
});

test("rope: q·k depends only on the relative position, and norms are kept (tol 1e-12)", () => {
  const rng = new Random(3);
  const q = randn([1, 1, 1, 16], rng, f64);
  const k = randn([1, 1, 1, 16], rng, f64);
  const score = (pq: number, pk: number) => rope(q, { offset: pq }).mul(rope(k, { offset: pk })).sum().item();
  for (const [a, b, shift] of [[5, 2, 100], [7, 7, 31], [3, 9, 1000]] as const) {
    const s1 = score(a, b);
    const s2 = score(a + shift, b + shift);
    assert.ok(Math.abs(s1 - s2) <= 1e-12 * Math.max(1, Math.abs(s1)), `score(${a},${b}) = ${s1} vs score(${a + shift},${b + shift}) = ${s2}`);
  }
  assert.ok(Math.abs(score(5, 2) - score(2, 5)) > 1e-6, "rotation depends on the sign of p_q − p_k");
  const norm = (t: typeof q) => Math.sqrt(t.mul(t).sum().item());
  assert.ok(Math.abs(norm(rope(q, { offset: 12345 })) - norm(q)) <= 1e-12 * norm(q));
});

test("rope errors name the option", () => {
  const x = randn([1, 2, 1, 6], new Random(4), f64);
  assert.throws(() => rope(randn([2, 6], new Random(0))), /rope: x must have 4 dimensions \[B,T,H,D\], got \[2,6\]/);
  assert.throws(() => rope(x, { rotaryDim: 5 }), /rope: option 'rotaryDim' must be an even integer in \[2, D=6\], got 5/);
  assert.throws(() => rope(x, { rotaryDim: 8 }), /option 'rotaryDim'.*got 8/);
  assert.throws(() => rope(x, { offset: -1 }), /rope: option 'offset' must be a non-negative integer, got -1/);
  assert.throws(() => rope(x, { base: 0 }), /rope: option 'base' must be a positive number, got 0/);
});
