/** Inputs of the titans_memory tests (titans_memory.test.ts, titans_memory_miras.test.ts), seeded and in f64. */
import { full, rand, randn } from "../../src/core/create.js";
import { Random } from "../../src/core/random.js";
import { titansMemory } from "../../src/ops/titans_memory/index.js";
import { layerDims, weightCount } from "../../src/ops/titans_memory/memory.js";
import { titansOptions } from "../../src/ops/titans_memory/shared.js";
import type { ExampleSizes } from "../../src/ops/types.js";
import { checkForms, type Inputs, type OpCase } from "./harness.js";

export const TOL = 1e-10;
/** B=2, T=13, H=3, K=5, V=4 */
export const ODD: ExampleSizes = { B: 2, T: 13, H: 3, K: 5, V: 4 };
/** for gradchecks: B=1, T=5, H=2, K=3, V=2 */
export const TINY: ExampleSizes = { B: 1, T: 5, H: 2, K: 3, V: 2 };

export interface Case {
  sizes?: ExampleSizes;
  seed?: number;
  /** op options of the memory (depth, expansion, activation, residual, retrieve, bias, p, retention, q, klScale) */
  memory?: Record<string, unknown>;
  /** start from: the weights w1…w_L (default), a random initial_state, or nothing (linear memory from 0) */
  start?: "weights" | "state" | "zero";
  /** inner learning-rate range; default [0.05, 0.5], [0.01, 0.1] for MLP memories and the lp bias (both diverge sooner) */
  lr?: readonly [number, number];
  /** momentum range; default [0, 0.9] */
  momentum?: readonly [number, number];
}

/**
 * q, k with rows of norm ≈ 1, v standard normal, gates uniform in their ranges (decay in [0, 0.3]), Huber
 * thresholds δ in [0.5, 3] around the typical ‖e‖ (so both branches occur), initial weights with std
 * 1/sqrt(fan-in) or an initial state with std 0.3.
 */
export function makeInputs(c: Case = {}): Inputs {
  const { B, T, H, K, V } = c.sizes ?? ODD;
  const rng = new Random(c.seed ?? 11);
  const options = titansOptions.parse(c.memory ?? {});
  const [lo, hi] = c.lr ?? (options.depth > 1 || options.bias === "lp" ? [0.01, 0.1] : [0.05, 0.5]);
  const [mlo, mhi] = c.momentum ?? [0, 0.9];
  const out: Inputs = {
    q: randn([B, T, H, K], rng, { dtype: "f64", std: 1 / Math.sqrt(K) }),
    k: randn([B, T, H, K], rng, { dtype: "f64", std: 1 / Math.sqrt(K) }),
    v: randn([B, T, H, V], rng, { dtype: "f64" }),
    lr: rand([B, T, H], rng, { dtype: "f64", low: lo, high: hi }),
    momentum: mhi > mlo ? rand([B, T, H], rng, { dtype: "f64", low: mlo, high: mhi }) : full([B, T, H], mlo, { dtype: "f64" }),
    decay: rand([B, T, H], rng, { dtype: "f64", low: 0, high: 0.3 }),
  };
  if (options.bias === "huber") out.delta = rand([B, T, H], rng, { dtype: "f64", low: 0.5, high: 3 });
  const dims = layerDims(K, V, options.depth, options.expansion);
  const start = c.start ?? "weights";
  if (start === "weights") {
    for (let l = 0; l < options.depth; l++) out[`w${l + 1}`] = randn([H, dims[l]!, dims[l + 1]!], rng, { dtype: "f64", std: 1 / Math.sqrt(dims[l]!) });
  } else if (start === "state") {
    out.initial_state = randn([B, H, 2, weightCount(dims)], rng, { dtype: "f64", std: 0.3 });
  }
  return out;
}

export function opCase(c: Case, options: Record<string, unknown> = {}, tol = TOL): OpCase {
  const values = makeInputs(c);
  return { op: titansMemory, make: () => values, options: { ...c.memory, ...options }, tol };
}

/** naive(C) = chunk(C) for C = 1, 4, 5, T, and chunk(1) = recurrent (outputs, final states, every gradient). */
export function checkAllForms(c: Case): void {
  const T = (c.sizes ?? ODD).T;
  for (const chunkSize of [1, 4, 5, T]) checkForms(opCase(c, { chunkSize }), ["naive", "chunk"]);
  checkForms(opCase(c, { chunkSize: 1 }), ["recurrent", "chunk"]);
}
