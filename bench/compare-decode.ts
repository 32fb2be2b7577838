/**
 * `npm run bench -- decode`: per op (B=1, H=4, K=V=64, f32), the step form's time per token after a context of
 * 1k, 4k, 16k and 64k tokens — flat in the context for the recurrent ops, growing for attention (its state is
 * the KV cache) — and the prefill time of the chunk form at each length with its fitted exponent in T.
 * Attention is prefilled up to 16k (quadratic: 64k would take minutes); at 64k its decode starts from a random
 * cache of that length, which costs the step the same.
 */
import { randn } from "../src/core/create.js";
import { noGrad } from "../src/core/autograd.js";
import { Random } from "../src/core/random.js";
import type { Tensor } from "../src/core/tensor.js";
import { attention } from "../src/ops/attention/index.js";
import { deltaRule } from "../src/ops/delta_rule/index.js";
import { gatedDeltaRule } from "../src/ops/gated_delta_rule/index.js";
import { gla } from "../src/ops/gla/index.js";
import { linearAttn } from "../src/ops/linear_attn/index.js";
import { inputsAt, runOp } from "../src/ops/run.js";
import { selectiveScan } from "../src/ops/selective_scan/index.js";
import { simpleGla } from "../src/ops/simple_gla/index.js";
import type { AnyOp } from "../src/ops/types.js";
import { fitExponent, median, printTable } from "./timing.js";

const [H, K, V] = [4, 64, 64];
const CONTEXTS = [1024, 4096, 16384, 65536];
const ATTENTION_PREFILL_MAX = 16384;
const OPS: AnyOp[] = [attention, linearAttn, simpleGla, gla, deltaRule, gatedDeltaRule, selectiveScan] as AnyOp[];

/** Prefills `context` tokens with the chunk form; returns its time and the final state. */
function prefill(op: AnyOp, context: number): { ms: number; state: Tensor } {
  const x = op.example(new Random(1), "f32", { B: 1, T: context, H, K, V });
  return noGrad(() => {
    const t0 = performance.now();
    const out = runOp(op, x, "chunk", { outputFinalState: true });
    return { ms: performance.now() - t0, state: out.finalState! };
  });
}

/** A random KV cache of `context` tokens in attention's state layout [B, S, Hkv, K+V]. */
function randomCache(context: number): Tensor {
  return randn([1, context, H / 2, K + V], new Random(3), { dtype: "f32" });
}

/** Median µs per token of the step form from `state` (8 batches of 16 steps after 128 warm-up steps). */
function decodeMicros(op: AnyOp, state: Tensor): number {
  const x = op.example(new Random(2), "f32", { B: 1, T: 16, H, K, V });
  const options = op.options.parse({});
  const steps = Array.from({ length: 16 }, (_, t) => Object.fromEntries(Object.entries(inputsAt(op, x, t)).map(([k, v]) => [k, v?.contiguous()])));
  return noGrad(() => {
    let s = state;
    for (let r = 0; r < 8; r++) for (const step of steps) s = op.recurrent.step(s, step, options).state; // JIT warm-up
    const batches: number[] = [];
    for (let r = 0; r < 8; r++) {
      s = state; // attention appends to its cache: each batch restarts from the context's state
      const t0 = performance.now();
      for (const step of steps) s = op.recurrent.step(s, step, options).state;
      batches.push(((performance.now() - t0) * 1000) / steps.length);
    }
    return median(batches);
  });
}

export async function run(): Promise<void> {
  const decodeRows: string[][] = [];
  const prefillRows: string[][] = [];
  for (const op of OPS) {
    const decode: string[] = [];
    const prefillMs: number[] = [];
    for (const context of CONTEXTS) {
      const canPrefill = op !== attention || context <= ATTENTION_PREFILL_MAX;
      const p = canPrefill ? prefill(op, context) : undefined;
      if (p) prefillMs.push(p.ms);
      decode.push(decodeMicros(op, p?.state ?? randomCache(context)).toFixed(1));
    }
    decodeRows.push([op.name, ...decode]);
    const ts = CONTEXTS.slice(0, prefillMs.length);
    prefillRows.push([op.name, ...CONTEXTS.map((_, i) => (prefillMs[i] === undefined ? "–" : prefillMs[i]!.toFixed(0))), fitExponent(ts, prefillMs).toFixed(2)]);
  }
  console.log(`\ndecode µs per token (B=1, H=${H}, K=V=${K}, f32) after a context of:`);
  printTable(["op", ...CONTEXTS.map((c) => `${c / 1024}k`)], decodeRows);
  console.log(`\nprefill ms of the chunk form (B=1) and the fitted exponent of time in T (1 = linear, 2 = quadratic):`);
  printTable(["op", ...CONTEXTS.map((c) => `${c / 1024}k`), "exponent"], prefillRows);
}
