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
import type { AnyOp } from "../../src/ops/types.js";
import { runBackward, type Inputs } from "./harness.js";

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

/** Forward + backward (with gradients on o and on the final state) at 1 and at 2 threads: identical bits. */
function checkThreads(kernels: WasmKernels, label: string, op: AnyOp, values: Inputs, options: Record<string, unknown>): void {
  kernels.threads = 1;
  const one = runBackward(op, values, "chunk", options);
  kernels.threads = 2;
  const before = kernels.tasks.threadedCalls;
  const two = runBackward(op, values, "chunk", options);
  assert.equal(kernels.tasks.threadedCalls - before, 2, `${label}: forward and backward should both have gone to the workers`);
  sameBits(`${label} o`, one.o, two.o);
  sameBits(`${label} final state`, one.finalState, two.finalState);
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
