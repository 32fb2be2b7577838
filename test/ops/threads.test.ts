/**
 * The ops' tasks (kernels/parallel.ts) split over the worker pool give the same results, bit for bit, as on
 * one thread: outputs, final states and every input gradient, f32 and f64, on odd shapes (tiles and channel
 * blocks that do not divide the sizes, GQA, windows, a KV cache, an initial state). On one thread the ops are
 * checked against their naive references in attention.test.ts and ssm.test.ts; here the threaded path must
 * reproduce them exactly, and each call must actually have gone to the workers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { attentionInputs } from "./attention_inputs.js";
import { rand, randn } from "../../src/core/create.js";
import type { Tensor } from "../../src/core/tensor.js";
import { createWasmKernels, getKernels, hasSimd128, setKernels, type WasmKernels } from "../../src/kernels/index.js";
import { attention } from "../../src/ops/attention/index.js";
import { selectiveScan } from "../../src/ops/selective_scan/index.js";
import { deltaRule } from "../../src/ops/delta_rule/index.js";
import { gatedDeltaRule } from "../../src/ops/gated_delta_rule/index.js";
import { linearAttn } from "../../src/ops/linear_attn/index.js";
import { simpleGla } from "../../src/ops/simple_gla/index.js";
import { gla } from "../../src/ops/gla/index.js";
import { retention } from "../../src/ops/retention/index.js";
import { runOp } from "../../src/ops/run.js";
import type { AnyOp } from "../../src/ops/types.js";
import { leaves, runBackward, type Inputs } from "./harness.js";

const canThread = hasSimd128 && typeof SharedArrayBuffer === "function";

async function twoThreads(): Promise<WasmKernels> {
  const kernels = createWasmKernels({ threads: 2 })!;
  const n = 128;
  const x = new Float32Array(n * n);
  kernels.matmul({ m: n, n, k: n, a: x, aOffset: 0, aRowStride: n, aColStride: 1, b: x, bOffset: 0, bRowStride: n, bColStride: 1, c: new Float32Array(n * n), cOffset: 0, accumulate: false });
  for (let i = 0; i < 1200 && kernels.workersReady < 1; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(kernels.workersReady, 1, "the worker did not report ready within 30 s");
  return kernels;
}

/** Runs `check` with a ready 2-thread wasm backend as the active kernels, then restores the previous ones. */
async function withTwoThreads(check: (kernels: WasmKernels) => void): Promise<void> {
  const kernels = await twoThreads();
  const before = getKernels();
  setKernels(kernels);
  try {
    check(kernels);
  } finally {
    setKernels(before);
  }
}

function sameBits(what: string, a: Tensor, b: Tensor): void {
  const av = a.values();
  const bv = b.values();
  assert.equal(av.length, bv.length, `${what}: length`);
  for (let i = 0; i < av.length; i++) {
    if (!Object.is(av[i], bv[i])) assert.fail(`${what}: element ${i} differs (${av[i]} on one thread, ${bv[i]} on two)`);
  }
}

/** The chunk form without a final state output: o, and every input's gradient from Σ o ⊙ w. */
function runOutputOnly(op: AnyOp, values: Inputs, options: Record<string, unknown>) {
  const inputs = leaves(values);
  const out = runOp(op, inputs, "chunk", { ...options, outputFinalState: false });
  assert.equal(out.finalState, undefined);
  out.o.mul(randn(out.o.shape, new Random(3), { dtype: out.o.dtype })).sum().backward();
  const grads: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(inputs)) grads[k] = t.grad!;
  return { o: out.o, finalState: undefined, grads };
}

/**
 * Forward + backward at 1 and at 2 threads: identical bits. With gradients on o and on the final state, or,
 * with `outputFinalState: false` in the options, on o alone.
 */
function checkThreads(kernels: WasmKernels, label: string, op: AnyOp, values: Inputs, options: Record<string, unknown>): void {
  const run = () => (options.outputFinalState === false ? runOutputOnly(op, values, options) : runBackward(op, values, "chunk", options));
  kernels.threads = 1;
  const one = run();
  kernels.threads = 2;
  const before = kernels.tasks.threadedCalls;
  const two = run();
  assert.equal(kernels.tasks.threadedCalls - before, 2, `${label}: forward and backward should both have gone to the workers`);
  sameBits(`${label} o`, one.o, two.o);
  if (one.finalState && two.finalState) sameBits(`${label} final state`, one.finalState, two.finalState);
  for (const k of Object.keys(one.grads)) sameBits(`${label} d${k}`, one.grads[k]!, two.grads[k]!);
}

test("attention chunk: 1 thread = 2 threads, bit for bit (f32 and f64; GQA, window, cache, non-causal)", { skip: !canThread }, () => withTwoThreads((kernels) => {
  const base = { B: 2, T: 101, H: 4, Hkv: 2, K: 24, V: 20, S: 0 };
  for (const dtype of ["f32", "f64"] as const) {
    checkThreads(kernels, `${dtype} causal GQA tile 16`, attention, attentionInputs(base, 5, dtype), { chunkSize: 16 });
    checkThreads(kernels, `${dtype} MQA cache S=7 window 33`, attention, attentionInputs({ ...base, Hkv: 1, S: 7 }, 5, dtype), { chunkSize: 13, window: 33 });
    checkThreads(kernels, `${dtype} non-causal MHA`, attention, attentionInputs({ ...base, B: 1, H: 3, Hkv: 3 }, 5, dtype), { chunkSize: 32, causal: false });
  }
}));

function scanInputs(B: number, T: number, D: number, N: number, dtype: "f32" | "f64", initial: boolean): Inputs {
  const x = selectiveScan.example(new Random(9), dtype, { B, T, H: D, K: N, V: 1 });
  if (initial) x.initial_state = randn([B, D, N], new Random(10), { dtype });
  return x;
}

test("selective_scan chunk: 1 thread = 2 threads, bit for bit (f32 and f64; partial channel blocks, initial state)", { skip: !canThread }, () => withTwoThreads((kernels) => {
  for (const dtype of ["f32", "f64"] as const) {
    // D = 75: channel blocks 32, 32, 11; T = 150 with blocks of 16
    checkThreads(kernels, `${dtype} B=2 D=75 N=7`, selectiveScan, scanInputs(2, 150, 75, 7, dtype, true), { chunkSize: 16, deltaSoftplus: true });
    // B = 1, the gate and skip absent
    const bare = scanInputs(1, 130, 70, 9, dtype, false);
    delete bare.z;
    delete bare.Dskip;
    delete bare.delta_bias;
    bare.delta = rand(bare.delta!.shape as number[], new Random(3), { dtype, low: 0.05, high: 0.5 });
    checkThreads(kernels, `${dtype} B=1 D=70 N=9 bare`, selectiveScan, bare, { chunkSize: 64 });
  }
}));

test("delta_rule / gated_delta_rule chunk: 1 thread = 2 threads, bit for bit (f32 and f64; short last chunk, initial state)", { skip: !canThread }, () => withTwoThreads((kernels) => {
  for (const dtype of ["f32", "f64"] as const) {
    for (const op of [deltaRule, gatedDeltaRule] as AnyOp[]) {
      const values = op.example(new Random(8), dtype, { B: 2, T: 77, H: 3, K: 20, V: 12 }) as Inputs;
      values.initial_state = randn([2, 3, 20, 12], new Random(9), { dtype });
      checkThreads(kernels, `${op.name} ${dtype} chunk 16`, op, values, { chunkSize: 16 });
    }
  }
}));

/** Inputs of a decay-engine op (the op's own example), with an initial state [B,H,K,V+extra] when asked. */
function decayInputs(op: AnyOp, sizes: { B: number; T: number; H: number; K: number; V: number }, dtype: "f32" | "f64", initial: boolean, extra = 0): Inputs {
  const values = op.example(new Random(12), dtype, sizes) as Inputs;
  if (initial) values.initial_state = rand([sizes.B, sizes.H, sizes.K, sizes.V + extra], new Random(13), { dtype, low: 0.1, high: 1 });
  return values;
}

test("decay engine (linear_attn, retention, simple_gla, gla): 1 thread = 2 threads, bit for bit (f32 and f64; every mode)", { skip: !canThread }, () => withTwoThreads((kernels) => {
  // T = 101: chunks of 16 or 40 leave a short last chunk; gla's sub-blocks: 16 rows at K = 20 (C = 40: blocks
  // 16, 16, 8 and a last chunk of 21 = 16 + 5), 8 rows at K = 36 (C = 20: blocks 8, 8, 4)
  const sizes = { B: 2, T: 101, H: 3, K: 24, V: 20 };
  for (const dtype of ["f32", "f64"] as const) {
    for (const initial of [false, true]) {
      const tag = `${dtype}${initial ? " initial state" : ""}`;
      checkThreads(kernels, `linear_attn ${tag}`, linearAttn as AnyOp, decayInputs(linearAttn as AnyOp, sizes, dtype, initial), { chunkSize: 16 });
      checkThreads(kernels, `linear_attn normalize ${tag}`, linearAttn as AnyOp, decayInputs(linearAttn as AnyOp, sizes, dtype, initial, 1), { chunkSize: 16, normalize: true });
      checkThreads(kernels, `retention ${tag}`, retention as AnyOp, decayInputs(retention as AnyOp, sizes, dtype, initial), { chunkSize: 16 });
      checkThreads(kernels, `simple_gla ${tag}`, simpleGla as AnyOp, decayInputs(simpleGla as AnyOp, sizes, dtype, initial), { chunkSize: 16 });
      checkThreads(kernels, `gla K=20 chunk 40 ${tag}`, gla as AnyOp, decayInputs(gla as AnyOp, { ...sizes, K: 20 }, dtype, initial), { chunkSize: 40 });
      checkThreads(kernels, `gla K=36 chunk 20 ${tag}`, gla as AnyOp, decayInputs(gla as AnyOp, { ...sizes, K: 36 }, dtype, initial), { chunkSize: 20 });
    }
    // no final state output: the engine's final-state gradient is zero
    for (const op of [linearAttn, retention, simpleGla, gla] as AnyOp[]) {
      checkThreads(kernels, `${op.name} ${dtype} o only`, op, decayInputs(op, sizes, dtype, true), { chunkSize: 16, outputFinalState: false });
    }
  }
}));

test("decay engine: a decode-sized call (B = 1, T = 1) stays on the calling thread", { skip: !canThread }, () => withTwoThreads((kernels) => {
  kernels.threads = 2;
  for (const op of [linearAttn, retention, simpleGla, gla] as AnyOp[]) {
    const before = kernels.tasks.threadedCalls;
    runBackward(op, decayInputs(op, { B: 1, T: 1, H: 4, K: 64, V: 64 }, "f32", true), "chunk", { chunkSize: 64 });
    assert.equal(kernels.tasks.threadedCalls - before, 0, `${op.name}: a single token went to the workers`);
  }
}));
