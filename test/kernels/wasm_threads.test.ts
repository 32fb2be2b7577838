/**
 * The wasm matmul split over worker threads against the JS kernel (same tolerance as wasm_matmul.test.ts:
 * (k + 2)·2⁻²³·(|C₀| + Σ|a·b|) per entry), for products split by rows and by columns, with uneven
 * parts; and the pool's life cycle: workers start in the background, and never keep a process alive.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createWasmKernels, getThreads, hasSimd128, setThreads, type WasmKernels } from "../../src/kernels/index.js";
import { matmulFast } from "../../src/kernels/js/matmul.js";
import { compareMatmul, LAYOUTS, type MatmulFn } from "./matmul_cases.js";

const tolerance = (k: number): number => (k + 2) * 2 ** -23;
const canThread = hasSimd128 && typeof SharedArrayBuffer === "function";

/** A product big enough to be split (≥ 96³), to make the pool start its workers. */
function warm(kernels: WasmKernels): void {
  const n = 128;
  const x = new Float32Array(n * n);
  kernels.matmul({ m: n, n, k: n, a: x, aOffset: 0, aRowStride: n, aColStride: 1, b: x, bOffset: 0, bRowStride: n, bColStride: 1, c: new Float32Array(n * n), cOffset: 0, accumulate: false });
}

async function readyKernels(threads: number): Promise<WasmKernels> {
  const kernels = createWasmKernels({ threads })!;
  warm(kernels);
  for (let i = 0; i < 1200 && kernels.workersReady < threads - 1; i++) await new Promise((r) => setTimeout(r, 25));
  assert.equal(kernels.workersReady, threads - 1, "workers did not report ready within 30 s");
  return kernels;
}

test("wasm matmul with worker threads matches the JS kernel (split by rows and by columns)", { skip: !canThread }, async () => {
  for (const threads of [2, 3]) {
    const kernels = await readyKernels(threads);
    let seed = 7;
    // [m, k, n]: m ≥ n splits rows, m < n splits columns; odd sizes give uneven parts and partial tiles.
    for (const [m, k, n] of [[301, 97, 130], [99, 130, 257], [1027, 33, 37], [45, 300, 900]] as const) {
      for (const [aLayout, bLayout] of LAYOUTS) {
        for (const accumulate of [false, true]) {
          compareMatmul({ m, k, n, dtype: "f32", aLayout, bLayout, accumulate }, seed++, kernels.matmul as MatmulFn, matmulFast as MatmulFn, tolerance);
        }
      }
    }
  }
});

test("threads option, setThreads and SEQMIX_THREADS validate their value", { skip: !hasSimd128 }, () => {
  assert.throws(() => createWasmKernels({ threads: 0 }), /threads must be a positive integer, got 0/);
  assert.throws(() => setThreads(1.5), /threads must be a positive integer/);
  const before = getThreads();
  setThreads(1);
  assert.equal(getThreads(), 1);
  setThreads(before);
  const kernels = createWasmKernels({ threads: 1 })!;
  warm(kernels);
  assert.equal(kernels.workersReady, 0, "one thread never starts a worker");
});

test("a process that used worker threads exits by itself", { skip: !canThread }, () => {
  const kernelsUrl = new URL("../../src/kernels/index.js", import.meta.url).href;
  const script = `
    import { getKernels, setThreads } from ${JSON.stringify(kernelsUrl)};
    setThreads(2);
    const n = 200, x = new Float32Array(n * n).fill(1);
    const args = { m: n, n, k: n, a: x, aOffset: 0, aRowStride: n, aColStride: 1, b: x, bOffset: 0, bRowStride: n, bColStride: 1, c: new Float32Array(n * n), cOffset: 0, accumulate: false };
    getKernels().matmul(args);
    const wait = () => getKernels().workersReady >= 1 ? (getKernels().matmul(args), console.log("ok", args.c[0])) : setTimeout(wait, 20);
    wait();
  `;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30000, cwd: fileURLToPath(new URL(".", import.meta.url)) });
  assert.equal(run.error, undefined, `child did not exit by itself: ${run.error?.message}`);
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), "ok 200");
});

test("SEQMIX_THREADS picks the default thread count; a bad value is an error", { skip: !hasSimd128 }, () => {
  const kernelsUrl = new URL("../../src/kernels/index.js", import.meta.url).href;
  const script = `import { getThreads } from ${JSON.stringify(kernelsUrl)}; console.log(getThreads());`;
  const good = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env, SEQMIX_THREADS: "3" } });
  assert.equal(good.stdout.trim(), "3", good.stderr);
  const bad = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: { ...process.env, SEQMIX_THREADS: "two" } });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /SEQMIX_THREADS must be a positive integer, got "two"/);
});

test("workers start inside a synchronous loop that never yields to the event loop (as a training loop)", { skip: !canThread }, () => {
  const kernels = createWasmKernels({ threads: 2 })!;
  const n = 128;
  const x = new Float32Array(n * n).fill(1);
  const args = { m: n, n, k: n, a: x, aOffset: 0, aRowStride: n, aColStride: 1, b: x, bOffset: 0, bRowStride: n, bColStride: 1, c: new Float32Array(n * n), cOffset: 0, accumulate: false };
  const t0 = performance.now();
  while (kernels.workersReady < 1 && performance.now() - t0 < 30000) kernels.matmul(args); // no await anywhere
  assert.equal(kernels.workersReady, 1, "the worker did not become ready within 30 s of synchronous work");
  assert.ok(args.c.every((v) => v === n));
});
