/**
 * `npm run bench:matmul`: GFLOP/s of the active backend's matmul next to the naive triple loop, in one run.
 *
 * Each measurement: warm-up, then timed batches of enough calls to last ≥ 0.3 s; the median batch rate of
 * several batches is reported. Slow cases (one call > 1 s, i.e. the naive loop at 1024) use fewer batches
 * of one call each, to keep the whole run under about a minute. The fast result is also checked against
 * the naive one (max error relative to Σ|a·b|).
 */
import { cpus } from "node:os";
import { getKernels } from "../src/kernels/index.js";
import { matmulNaive } from "../src/kernels/js/naive.js";
import type { FloatArray, MatmulArgs } from "../src/kernels/types.js";

const MIN_BATCH_SECONDS = 0.3;

interface Case {
  m: number;
  n: number;
  k: number;
  dtype: "f32" | "f64";
}

/** Uniform values in [-1, 1) from a small LCG (deterministic data; no Math.random). */
function fill(arr: FloatArray, seed: number): FloatArray {
  let s = seed >>> 0;
  for (let i = 0; i < arr.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    arr[i] = s / 2 ** 31 - 1;
  }
  return arr;
}

function makeArgs(cs: Case): MatmulArgs<FloatArray> {
  const Ctor = cs.dtype === "f64" ? Float64Array : Float32Array;
  return {
    m: cs.m, n: cs.n, k: cs.k,
    a: fill(new Ctor(cs.m * cs.k), 1), aOffset: 0, aRowStride: cs.k, aColStride: 1,
    b: fill(new Ctor(cs.k * cs.n), 2), bOffset: 0, bRowStride: cs.n, bColStride: 1,
    c: new Ctor(cs.m * cs.n), cOffset: 0,
    accumulate: false,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** GFLOP/s of `run` (2·m·n·k flops per call). */
function measure(run: () => void, flops: number): number {
  let t = performance.now();
  run(); // warm-up (compiles, grows scratch buffers)
  const once = (performance.now() - t) / 1000;
  if (once < 0.05) for (let i = 0; i < 3; i++) run(); // more warm-up while it is cheap
  const slow = once > 1;
  const calls = slow ? 1 : Math.max(1, Math.ceil(MIN_BATCH_SECONDS / Math.max(once, 1e-6)));
  const batches = slow ? 2 : 5;
  const rates: number[] = [];
  for (let r = 0; r < batches; r++) {
    t = performance.now();
    for (let i = 0; i < calls; i++) run();
    const seconds = (performance.now() - t) / 1000;
    rates.push((flops * calls) / seconds / 1e9);
  }
  return median(rates);
}

/** max |fast − naive| / max Σ_p |a·b| (an upper bound scale of each entry's rounding error). */
function relativeError(args: MatmulArgs<FloatArray>, fast: FloatArray, naive: FloatArray): number {
  let scale = 0;
  for (let i = 0; i < args.m; i += Math.max(1, args.m >> 3)) {
    for (let j = 0; j < args.n; j += Math.max(1, args.n >> 3)) {
      let s = 0;
      for (let p = 0; p < args.k; p++) s += Math.abs(args.a[i * args.k + p]! * args.b[p * args.n + j]!);
      scale = Math.max(scale, s);
    }
  }
  let err = 0;
  for (let q = 0; q < fast.length; q++) err = Math.max(err, Math.abs(fast[q]! - naive[q]!));
  return err / scale;
}

function main(): void {
  const kernels = getKernels();
  const cases: Case[] = [
    ...[64, 128, 256, 512, 1024].map((s): Case => ({ m: s, n: s, k: s, dtype: "f32" })),
    { m: 4096, n: 128, k: 128, dtype: "f32" },
    { m: 512, n: 512, k: 512, dtype: "f64" },
  ];
  console.log(`seqmix matmul bench: backend "${kernels.name}", node ${process.version}, ${cpus()[0]?.model ?? "unknown cpu"}`);
  console.log(`(GFLOP/s = 2·m·n·k / time; median of timed batches of ≥ ${MIN_BATCH_SECONDS} s after warm-up)\n`);
  const header = ["m×k @ k×n", "dtype", "fast GFLOP/s", "naive GFLOP/s", "fast/naive", "rel. err"];
  const widths = [22, 6, 13, 14, 11, 9];
  const row = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" ");
  console.log(row(header));
  console.log(widths.map((w) => "-".repeat(w)).join(" "));
  const start = performance.now();
  for (const cs of cases) {
    const args = makeArgs(cs);
    const flops = 2 * cs.m * cs.n * cs.k;
    const fastC = args.c;
    const naiveArgs = { ...args, c: args.c.slice() };
    const fastRun = cs.dtype === "f64"
      ? () => kernels.matmulF64(args as MatmulArgs<Float64Array>)
      : () => kernels.matmul(args as MatmulArgs<Float32Array>);
    const fast = measure(fastRun, flops);
    const naive = measure(() => matmulNaive(naiveArgs), flops);
    const err = relativeError(args, fastC, naiveArgs.c);
    console.log(row([
      `${cs.m}×${cs.k} @ ${cs.k}×${cs.n}`,
      cs.dtype,
      fast.toFixed(2),
      naive.toFixed(2),
      `${(fast / naive).toFixed(1)}×`,
      err.toExponential(1),
    ]));
  }
  console.log(`\ntotal ${((performance.now() - start) / 1000).toFixed(1)} s`);
}

main();
