/**
 * The fused q/k/v branch of the delta-rule layers (src/layers/delta_branch.ts): convSiluNorm equals the
 * composition it replaces (causalConv1d → silu → per-head L2 norm, as `l2normalize`) on outputs and on every
 * gradient (z, conv weight, bias, incoming state), with and without each part, on odd shapes, in f64 (tol 1e-12
 * relative to max |reference|; measured ≤ 1e-15), and its hand-written backward passes gradcheck (f64, central
 * differences, eps 1e-6, atol 1e-8, rtol 1e-6). convTail equals ShortConv's FIFO.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randn } from "../../src/core/create.js";
import { gradcheck } from "../../src/core/gradcheck.js";
import { Random } from "../../src/core/random.js";
import type { Tensor } from "../../src/core/tensor.js";
import { silu } from "../../src/core/ops/elementwise.js";
import { causalConv1d } from "../../src/core/ops/nn.js";
import { concat, reshape, slice } from "../../src/core/ops/shape.js";
import { l2normalize } from "../../src/layers/delta_base.js";
import { convSiluNorm, convTail, type BranchConv } from "../../src/layers/delta_branch.js";

const TOL = 1e-12;

/** The unfused composition: conv (or identity), SiLU, then the L2 norm per group of `width` channels. */
function reference(z: Tensor, conv: BranchConv | null, width: number): Tensor {
  const c = conv ? causalConv1d(z, conv.weight, conv.bias, conv.state) : z;
  const a = silu(c);
  if (width === 0) return a;
  const [B, T, C] = a.shape as [number, number, number];
  return reshape(l2normalize(reshape(a, [B, T, C / width, width])), [B, T, C]);
}

function maxAbs(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

function assertClose(what: string, a: Tensor, b: Tensor, tol: number): void {
  assert.deepEqual([...a.shape], [...b.shape], `${what}: shape`);
  const av = a.values();
  const bv = b.values();
  const scale = Math.max(1, maxAbs(bv));
  let worst = 0;
  for (let i = 0; i < av.length; i++) worst = Math.max(worst, Math.abs(av[i]! - bv[i]!));
  assert.ok(worst <= tol * scale, `${what}: max |fused − reference| = ${worst} > ${tol} · ${scale}`);
}

interface Case {
  B: number;
  T: number;
  C: number;
  W: number | null; // null: no conv
  bias: boolean;
  state: boolean;
  width: number; // 0: no norm
}

function inputs(c: Case, seed: number) {
  const rng = new Random(seed);
  const z = randn([c.B, c.T, c.C], rng, { dtype: "f64", std: 1.5 }).requireGrad();
  const weight = c.W === null ? null : randn([c.C, c.W], rng, { dtype: "f64", std: 0.7 }).requireGrad();
  const bias = c.W !== null && c.bias ? randn([c.C], rng, { dtype: "f64", std: 0.5 }).requireGrad() : null;
  const state = c.W !== null && c.state ? randn([c.B, c.W - 1, c.C], rng, { dtype: "f64" }).requireGrad() : null;
  const conv: BranchConv | null = weight ? { weight, bias, state } : null;
  const leaves = [z, ...(weight ? [weight] : []), ...(bias ? [bias] : []), ...(state ? [state] : [])];
  return { z, conv, leaves };
}

const CASES: Case[] = [
  { B: 2, T: 7, C: 12, W: 4, bias: false, state: false, width: 4 }, // the layers' default (q, k)
  { B: 3, T: 5, C: 15, W: 3, bias: true, state: true, width: 5 },
  { B: 2, T: 2, C: 6, W: 4, bias: true, state: true, width: 3 }, // T < W − 1: the state feeds every row
  { B: 1, T: 9, C: 10, W: 1, bias: true, state: false, width: 10 }, // a 1-tap conv (no state)
  { B: 2, T: 6, C: 9, W: 4, bias: false, state: true, width: 0 }, // v: conv + SiLU, no norm
  { B: 2, T: 5, C: 8, W: null, bias: false, state: false, width: 4 }, // no conv: SiLU + norm
  { B: 1, T: 4, C: 6, W: null, bias: false, state: false, width: 0 }, // SiLU alone
];

const label = (c: Case) => `B=${c.B} T=${c.T} C=${c.C} W=${c.W ?? "none"}${c.bias ? " bias" : ""}${c.state ? " state" : ""} norm=${c.width || "none"}`;

describe("convSiluNorm (fused delta-rule branch)", () => {
  for (const [i, c] of CASES.entries()) {
    test(`fused = causalConv1d → silu → l2normalize, outputs and every gradient (f64, tol 1e-12): ${label(c)}`, () => {
      const run = (f: typeof reference) => {
        const { z, conv, leaves } = inputs(c, 100 + i);
        const y = f(z, conv, c.width);
        const gy = randn(y.shape, new Random(200 + i), { dtype: "f64" });
        y.mul(gy).sum().backward();
        return { y, grads: leaves.map((t) => t.grad!) };
      };
      const fused = run(convSiluNorm);
      const ref = run(reference);
      assertClose("y", fused.y, ref.y, TOL);
      fused.grads.forEach((g, j) => assertClose(`grad of input ${j}`, g, ref.grads[j]!, TOL));
    });

    test(`gradcheck (f64, atol 1e-8, rtol 1e-6): ${label(c)}`, () => {
      const { conv, leaves } = inputs({ ...c, B: Math.min(c.B, 2), T: Math.min(c.T, 5) }, 300 + i);
      gradcheck((...xs: Tensor[]) => {
        const [z, ...rest] = xs;
        let spec: BranchConv | null = null;
        if (conv) {
          const w = rest.shift()!;
          const b = conv.bias ? rest.shift()! : null;
          const s = conv.state ? rest.shift()! : null;
          spec = { weight: w, bias: b, state: s };
        }
        return convSiluNorm(z!, spec, c.width);
      }, leaves, { atol: 1e-8, rtol: 1e-6 });
    });
  }

  test("convTail = the last W−1 rows of concat(state, z), as ShortConv keeps them (T ≥ W−1, T < W−1, no state)", () => {
    const rng = new Random(7);
    for (const [T, W, withState] of [[6, 4, true], [2, 4, true], [1, 3, false], [5, 1, true]] as const) {
      const z = randn([2, T, 5], rng, { dtype: "f64" });
      const state = withState ? randn([2, W - 1, 5], rng, { dtype: "f64" }) : null;
      const history = concat([state ?? randn([2, W - 1, 5], rng, { dtype: "f64" }).mul(0), z], 1);
      const want = slice(history, 1, history.shape[1]! - (W - 1));
      assertClose(`T=${T} W=${W}`, convTail(z, state, W).contiguous(), want.contiguous(), 0);
    }
  });
});
