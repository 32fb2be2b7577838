/**
 * Buffers the wasm backend lends from its shared memory (`Kernels.lend`): the kernels use them in place —
 * matmul operands (C written in place for whole tiles, its last m mod 4 rows and n mod 8 columns staged), the
 * elementwise maps, task buffers — and every result must be the same, bit for bit, as with ordinary arrays,
 * with nothing outside C's elements touched. The buffer arena borrows its f32 buffers there and gives them
 * back on clear.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BufferArena } from "../../src/core/arena.js";
import { allocate } from "../../src/core/dtype.js";
import { rmsNorm, swiglu } from "../../src/core/ops/nn.js";
import { exp, sigmoid, silu } from "../../src/core/ops/elementwise.js";
import { tensor } from "../../src/core/create.js";
import { convSiluNorm } from "../../src/layers/delta_branch.js";
import { createWasmKernels, getKernels, setKernels, type Kernels, type MatmulArgs } from "../../src/kernels/index.js";
import { runTask } from "../../src/kernels/parallel.js";
import { probeTask } from "../../src/kernels/probe_task.js";
import { makeRng } from "./matmul_cases.js";

const wasm = createWasmKernels({ threads: 1 });
const canLend = wasm?.lend?.(4) != null;
const SENTINEL = 7.25;

/** A lent array holding `values` (or all SENTINEL), at least `length` long. */
function lent(k: Kernels, length: number, values?: Float32Array): Float32Array {
  const a = k.lend!(length)!;
  assert.ok(a instanceof Float32Array && a.length === length);
  if (values) a.set(values);
  else a.fill(SENTINEL);
  return a;
}

function randomArray(n: number, seed: number): Float32Array {
  const rng = makeRng(seed);
  return Float32Array.from({ length: n }, () => rng());
}

test("lend: zeroed arrays in the wasm memory; a released block is lent again", { skip: !canLend }, () => {
  const k = createWasmKernels({ threads: 1 })!;
  const a = k.lend!(1000)!;
  assert.equal(a.length, 1000);
  assert.ok(a.every((v) => v === 0));
  assert.ok(a.buffer instanceof SharedArrayBuffer);
  a.fill(3);
  const offset = a.byteOffset;
  k.release!(a);
  const b = k.lend!(1000)!;
  assert.equal(b.byteOffset, offset, "the released block is reused for the same size");
  assert.ok(b.every((v) => v === 0), "a reused block is zeroed");
  const c = k.lend!(1000)!;
  assert.notEqual(c.byteOffset, b.byteOffset);
  k.release!(b);
  k.release!(c);
  const d = k.lend!(3000)!;
  assert.equal(d.byteOffset, offset, "with nothing lent, the lent region starts afresh (any size)");
  assert.throws(() => k.release!(new Float32Array(4)), /not lent by this runtime/);
});

/** (m, k, n, transposed A, transposed B, accumulate) */
const CASES: Array<[number, number, number, boolean, boolean, boolean]> = [
  [64, 32, 48, false, false, false],
  [67, 33, 45, false, true, true], // m mod 4 = 3, n mod 8 = 5
  [5, 17, 9, true, false, false],
  [3, 40, 20, false, false, true], // fewer rows than a strip: all staged
  [50, 20, 7, true, true, false], // n < 8: all staged
  [130, 64, 64, false, false, true],
];

for (const [m, k, n, ta, tb, accumulate] of CASES) {
  test(`matmul with lent operands equals ordinary arrays bit for bit: ${m}×${k}·${k}×${n}${ta ? " Aᵀ" : ""}${tb ? " Bᵀ" : ""}${accumulate ? " +=" : ""}`, { skip: !canLend }, () => {
    const kern = createWasmKernels({ threads: 1 })!;
    const A = randomArray(m * k + 3, m);
    const B = randomArray(k * n + 5, n);
    const C0 = randomArray(m * n, k);
    const base = (a: Float32Array, b: Float32Array, c: Float32Array, cOffset: number): MatmulArgs<Float32Array> => ({
      m, n, k,
      a, aOffset: 3, aRowStride: ta ? 1 : k, aColStride: ta ? m : 1,
      b, bOffset: 5, bRowStride: tb ? 1 : n, bColStride: tb ? k : 1,
      c, cOffset, accumulate,
    });
    const plainC = C0.slice();
    kern.matmul(base(A, B, plainC, 0));
    // C inside a larger lent block, with sentinels on both sides (a whole tile row past the end included)
    const pad = 4 * n + 11;
    const big = lent(kern, pad + m * n + pad);
    big.set(C0, pad);
    kern.matmul(base(lent(kern, A.length, A), lent(kern, B.length, B), big, pad));
    assert.deepEqual(big.subarray(pad, pad + m * n), plainC);
    assert.ok(big.subarray(0, pad).every((v) => v === SENTINEL), "nothing before C is touched");
    assert.ok(big.subarray(pad + m * n).every((v) => v === SENTINEL), "nothing after C is touched");
  });
}

test("maps with lent operands equal ordinary arrays bit for bit (any n, any offset)", { skip: !canLend }, () => {
  const kern = createWasmKernels({ threads: 1 })!;
  for (const n of [1, 3, 4, 7, 4096 + 5]) {
    const x = randomArray(n + 2, n).map((v) => 6 * v);
    const g = randomArray(n + 2, n + 1);
    for (const name of ["sigmoid", "softplus", "logsigmoid"] as const) {
      const plain = new Float32Array(n);
      kern.map(name, [{ data: x, offset: 2 }], [{ data: plain, offset: 0 }], n);
      const out = lent(kern, n + 1);
      kern.map(name, [{ data: lent(kern, n + 2, x), offset: 2 }], [{ data: out, offset: 1 }], n);
      assert.deepEqual(out.subarray(1), plain, `${name} n=${n}`);
      assert.equal(out[0], SENTINEL);
    }
    const plain = [new Float32Array(n), new Float32Array(n)];
    kern.map("swiglu", [{ data: x, offset: 1 }, { data: g, offset: 2 }], plain.map((data) => ({ data, offset: 0 })), n);
    const outs = [lent(kern, n), lent(kern, n)];
    kern.map("swiglu", [{ data: lent(kern, n + 2, x), offset: 1 }, { data: lent(kern, n + 2, g), offset: 2 }], outs.map((data) => ({ data, offset: 0 })), n);
    assert.deepEqual(outs, plain, `swiglu n=${n}`);
  }
});

test("the buffer arena borrows f32 buffers from the backend and gives them back on clear", { skip: !canLend }, () => {
  const before = getKernels();
  const kern = createWasmKernels({ threads: 1 })!;
  setKernels(kern);
  try {
    const arena = new BufferArena({ minLength: 0 });
    let first = 0;
    arena.run(() => {
      const a = allocate("f32", 5000) as Float32Array;
      assert.ok(a.buffer instanceof SharedArrayBuffer, "an f32 arena buffer lives in the wasm memory");
      first = a.byteOffset;
      a.fill(5);
      const d = allocate("f64", 100);
      assert.ok(!(d.buffer instanceof SharedArrayBuffer), "f64 buffers are ordinary arrays");
    });
    arena.run(() => {
      const again = allocate("f32", 5000) as Float32Array;
      assert.equal(again.byteOffset, first, "the arena reuses its buffer");
      assert.ok(again.every((v) => v === 0), "zeroed for its next scope");
    });
    arena.clear();
    const again = kern.lend!(5000)!;
    assert.equal(again.byteOffset, first, "clear gave the block back to the backend");
  } finally {
    setKernels(before);
  }
});

test("on two threads, a product and a task on lent buffers use them in place and give the one-thread results", { skip: !canLend }, async () => {
  const before = getKernels();
  const kern = createWasmKernels({ threads: 2 })!;
  setKernels(kern);
  try {
    const x = lent(kern, 300, Float32Array.from({ length: 300 }, (_, i) => Math.sin(i)));
    const y = lent(kern, 300);
    for (let i = 0; i < 1200 && kern.workersReady < 1; i++) {
      runTask(probeTask, { units: 300, work: Infinity, args: [10, 0], inputs: [x], outputs: [y] }); // starts the worker
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(kern.workersReady, 1, "the worker did not report ready within 30 s");
    y.fill(SENTINEL);
    const calls = kern.tasks.threadedCalls;
    runTask(probeTask, { units: 300, work: Infinity, args: [2000, 0], inputs: [x], outputs: [y] });
    assert.equal(kern.tasks.threadedCalls, calls + 1, "the task ran on both threads");
    y.forEach((v, u) => assert.equal(v, Math.fround(2 * x[u]! + u), `unit ${u}`));
    const [m, k, n] = [256, 96, 136];
    const A = randomArray(m * k, 1);
    const B = randomArray(k * n, 2);
    const args = (a: Float32Array, b: Float32Array, c: Float32Array): MatmulArgs<Float32Array> => ({
      m, n, k, a, aOffset: 0, aRowStride: k, aColStride: 1, b, bOffset: 0, bRowStride: n, bColStride: 1, c, cOffset: 0, accumulate: false,
    });
    const one = new Float32Array(m * n);
    kern.threads = 1;
    kern.matmul(args(A, B, one));
    kern.threads = 2;
    const C = lent(kern, m * n);
    kern.matmul(args(lent(kern, m * k, A), lent(kern, k * n, B), C));
    assert.deepEqual(C, one);
  } finally {
    setKernels(before);
  }
});

/**
 * Runs `step` (inside a fresh buffer arena, so its activations are lent) at 1 and at 2 threads of one wasm
 * backend with its worker ready; returns what it returned each time and how many task calls went threaded.
 */
async function atOneAndTwoThreads<T>(step: () => T): Promise<{ one: T; two: T; threaded: [number, number] }> {
  const before = getKernels();
  const kern = createWasmKernels({ threads: 2 })!;
  setKernels(kern);
  try {
    for (let i = 0; i < 1200 && kern.workersReady < 1; i++) {
      runTask(probeTask, { units: 2, work: Infinity, args: [10, 0], inputs: [new Float64Array(2)], outputs: [new Float64Array(2)] });
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(kern.workersReady, 1, "the worker did not report ready within 30 s");
    const run = (threads: number): [T, number] => {
      kern.threads = threads;
      const calls = kern.tasks.threadedCalls;
      const arena = new BufferArena();
      const out = arena.run(step);
      arena.clear();
      return [out, kern.tasks.threadedCalls - calls];
    };
    const [one, t1] = run(1);
    const [two, t2] = run(2);
    return { one, two, threaded: [t1, t2] };
  } finally {
    setKernels(before);
  }
}

test("rmsNorm on arena buffers runs on two threads and equals one thread bit for bit", { skip: !canLend }, async () => {
  const [rows, width] = [4000, 96]; // enough work to thread (TASK_MIN_WORK)
  const x0 = tensor(randomArray(rows * width, 5), [rows, width], { requiresGrad: true });
  const w = tensor(randomArray(width, 6), [width], { requiresGrad: true });
  const { one, two, threaded } = await atOneAndTwoThreads(() => {
    x0.grad = w.grad = null;
    const x = x0.mul(1); // an activation: its buffer is the arena's, lent by the backend
    const y = rmsNorm(x, w);
    y.mul(y).sum().backward();
    return [y.values().slice(), x0.grad!.values().slice(), w.grad!.values().slice()];
  });
  assert.equal(threaded[0], 0);
  assert.ok(threaded[1] >= 2, `forward and backward ran on both threads (threaded calls: ${threaded[1]})`);
  assert.deepEqual(two, one);
});

test("the delta layers' conv–SiLU–norm branch on arena buffers runs on two threads and equals one thread bit for bit", { skip: !canLend }, async () => {
  const [B, T, C, W] = [6, 300, 64, 4];
  const z0 = tensor(randomArray(B * T * C, 7), [B, T, C], { requiresGrad: true });
  const weight = tensor(randomArray(C * W, 8), [C, W], { requiresGrad: true });
  const bias = tensor(randomArray(C, 9), [C], { requiresGrad: true });
  const state = tensor(randomArray(B * (W - 1) * C, 10), [B, W - 1, C], { requiresGrad: true });
  for (const normWidth of [0, 16]) {
    const { one, two, threaded } = await atOneAndTwoThreads(() => {
      for (const t of [z0, weight, bias, state]) t.grad = null;
      const y = convSiluNorm(z0.mul(1), { weight, bias, state }, normWidth);
      y.mul(y).sum().backward();
      return [y.values().slice(), ...[z0, weight, bias, state].map((t) => t.grad!.values().slice())];
    });
    assert.ok(threaded[1] >= 2, `normWidth ${normWidth}: forward and backward ran on both threads (threaded calls: ${threaded[1]})`);
    assert.deepEqual(two, one, `normWidth ${normWidth}`);
  }
});

test("when lent blocks fill the memory, lend returns null and products still run in wasm (staged above, near the top)", { skip: !canLend }, () => {
  const kern = createWasmKernels({ threads: 1 })!;
  const block = 64 * 1024 * 1024 / 4; // 64 MiB
  let blocks = 0;
  while (kern.lend!(block) !== null) blocks++;
  assert.ok(blocks >= 16 && blocks <= 32, `lent ${blocks} blocks of 64 MiB before refusing (the maximum is 2 GiB, less headroom for staging)`);
  // a staged product now sits above ~1.5 GiB: its addresses must stay valid (no int32 wrap-around)
  const [m, k, n] = [300, 200, 100];
  const A = randomArray(m * k, 11);
  const B = randomArray(k * n, 12);
  const args = (c: Float32Array): MatmulArgs<Float32Array> => ({ m, n, k, a: A, aOffset: 0, aRowStride: k, aColStride: 1, b: B, bOffset: 0, bRowStride: n, bColStride: 1, c, cOffset: 0, accumulate: false });
  const got = new Float32Array(m * n);
  kern.matmul(args(got));
  const fresh = new Float32Array(m * n);
  createWasmKernels({ threads: 1 })!.matmul(args(fresh));
  assert.deepEqual(got, fresh, "the same bits as the wasm kernel on an empty memory (the JS kernel rounds differently)");
});

test("large flat add / sub / mul / div on arena buffers run on two threads and equal one thread bit for bit", { skip: !canLend }, async () => {
  const n = (1 << 20) + 12345; // above the split threshold, not a whole number of blocks
  const x0 = tensor(randomArray(n, 13), [n], { requiresGrad: true });
  const y0 = tensor(randomArray(n, 14).map((v) => v + 2), [n], { requiresGrad: true });
  const { one, two, threaded } = await atOneAndTwoThreads(() => {
    x0.grad = y0.grad = null;
    const x = x0.mul(1);
    const y = y0.mul(1);
    const z = x.add(y).mul(x).sub(y).div(y);
    z.sum().backward();
    return [z.values().slice(), x0.grad!.values().slice(), y0.grad!.values().slice()];
  });
  assert.equal(threaded[0], 0);
  assert.ok(threaded[1] >= 4, `the four ops ran on both threads (threaded calls: ${threaded[1]})`);
  assert.deepEqual(two, one);
});

test("large elementwise maps (σ, SiLU, exp, SwiGLU and their gradients) on arena buffers run on two threads and equal one thread bit for bit", { skip: !canLend }, async () => {
  const n = (1 << 18) + 4099; // above the split threshold, not a whole number of blocks, not a multiple of 4
  const a0 = tensor(randomArray(n, 21).map((v) => 8 * v - 4), [n], { requiresGrad: true });
  const u0 = tensor(randomArray(n, 22), [n], { requiresGrad: true });
  const { one, two, threaded } = await atOneAndTwoThreads(() => {
    a0.grad = u0.grad = null;
    const a = a0.mul(1);
    const u = u0.mul(1);
    const z = swiglu(a, u).add(sigmoid(a)).add(silu(u)).add(exp(u));
    z.mul(z).sum().backward(); // (not z.sum(): its broadcast gradient is not an arena buffer)
    return [z.values().slice(), a0.grad!.values().slice(), u0.grad!.values().slice()];
  });
  assert.equal(threaded[0], 0);
  // forward: swiglu, σ, SiLU, exp; backward: the SwiGLU and SiLU gradient maps
  assert.ok(threaded[1] >= 6, `the maps ran on both threads (threaded calls: ${threaded[1]})`);
  assert.deepEqual(two, one);
});
