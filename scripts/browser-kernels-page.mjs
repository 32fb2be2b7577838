// The checks `scripts/browser-kernels.mjs` runs inside the browser page: the wasm matmul against the JS kernel
// on odd shapes and layouts, on one thread and split over a Web Worker, within the documented f32 bound
// |Δ| ≤ (k+2)·2⁻²³·(|C₀| + Σ|a·b|) (src/kernels/types.ts). Plain JavaScript: it runs as served, unbundled.

/** A small deterministic generator (the page must not depend on anything but the kernels module). */
function filler(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

function problem(m, n, k, transA, transB, accumulate, seed) {
  const next = filler(seed);
  const a = Float32Array.from({ length: m * k + 3 }, next);
  const b = Float32Array.from({ length: k * n + 5 }, next);
  const c0 = Float32Array.from({ length: m * n + 2 }, accumulate ? next : () => 0);
  return {
    m, n, k, a, aOffset: 3, aRowStride: transA ? 1 : k, aColStride: transA ? m : 1,
    b, bOffset: 5, bRowStride: transB ? 1 : n, bColStride: transB ? k : 1,
    c0, cOffset: 2, accumulate,
  };
}

/** Largest violation of the bound (≤ 1 passes) of `fast` against the JS kernel on one problem. */
function compare(kernels, reference, p) {
  const run = (kern) => {
    const c = p.c0.slice();
    kern.matmul({ ...p, c });
    return c;
  };
  const got = run(kernels);
  const want = run(reference);
  let worst = 0;
  for (let i = 0; i < p.m; i++) {
    for (let j = 0; j < p.n; j++) {
      let mag = p.accumulate ? Math.abs(p.c0[p.cOffset + i * p.n + j]) : 0;
      for (let q = 0; q < p.k; q++) {
        mag += Math.abs(p.a[p.aOffset + i * p.aRowStride + q * p.aColStride] * p.b[p.bOffset + q * p.bRowStride + j * p.bColStride]);
      }
      const at = p.cOffset + i * p.n + j;
      const bound = (p.k + 2) * 2 ** -23 * mag + 1e-30;
      const err = Math.abs(got[at] - want[at]);
      worst = Math.max(worst, Number.isNaN(err) ? Infinity : err / bound);
    }
  }
  return worst;
}

const SHAPES = [[1, 64, 96], [7, 13, 29], [33, 65, 17], [96, 96, 96], [127, 61, 130], [200, 130, 257]];

function sweep(kernels, reference, label, shapes) {
  const failures = [];
  let cases = 0;
  let seed = 1;
  for (const [m, n, k] of shapes) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      for (const accumulate of [false, true]) {
        const worst = compare(kernels, reference, problem(m, n, k, transA, transB, accumulate, seed++));
        cases++;
        if (!(worst <= 1)) failures.push(`${label} ${m}×${n}×${k} transA=${transA} transB=${transB} accumulate=${accumulate}: ${worst.toFixed(2)}× the bound`);
      }
    }
  }
  return { cases, failures };
}

export async function checks(k) {
  const out = {
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    backend: k.getKernels().name,
    simd128: k.hasSimd128,
    relaxedSimd: k.hasRelaxedSimd,
    failures: [],
  };
  if (!out.backend.startsWith("wasm")) out.failures.push(`backend is ${out.backend}, expected the wasm kernels`);
  k.setThreads(1);
  const one = sweep(k.getKernels(), k.jsKernels, "1 thread", SHAPES);
  out.cases1 = one.cases;
  out.failures.push(...one.failures);

  // Two threads: products of ≥ 96³ are split once the worker has started (in the background).
  k.setThreads(2);
  const big = problem(256, 256, 256, false, false, false, 99);
  const t0 = performance.now();
  while (k.getKernels().workersReady < 1 && performance.now() - t0 < 30000) {
    k.getKernels().matmul({ ...big, c: new Float32Array(big.c0.length) });
    await new Promise((r) => setTimeout(r, 50));
  }
  out.workersReady = k.getKernels().workersReady;
  out.workerStartMs = Math.round(performance.now() - t0);
  if (out.workersReady < 1) out.failures.push("no Web Worker became ready within 30 s");
  const two = sweep(k.getKernels(), k.jsKernels, "2 threads", [[96, 96, 96], [200, 130, 257], [130, 200, 257]]);
  out.cases2 = two.cases;
  out.failures.push(...two.failures);

  // Speed, for the record (GFLOP/s of a 512³ product, best of 6).
  const p = problem(512, 512, 512, false, false, false, 7); // after a warm-up: browsers tier wasm up from a baseline compiler
  const c = new Float32Array(p.c0.length);
  const gflops = {};
  for (const threads of [1, 2]) {
    k.setThreads(threads);
    let best = Infinity;
    for (let r = 0; r < 6; r++) {
      const s = performance.now();
      k.getKernels().matmul({ ...p, c });
      best = Math.min(best, performance.now() - s);
    }
    gflops[`${threads}T`] = +(2 * 512 ** 3 / best / 1e6).toFixed(1);
  }
  out.gflops512 = gflops;
  out.ok = out.failures.length === 0;
  return out;
}
