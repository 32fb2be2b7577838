/**
 * `npm run bench -- matmul`: f32 matmul GFLOP/s of seqmix's kernels at 1 and 2 threads next to
 * onnxruntime-node, tfjs-backend-wasm and numpy's BLAS (each skipped with a notice when not installed:
 * `npm run bench:peers`), with the ratios the targets are stated in.
 */
import { createWasmKernels, jsKernels, type Kernels, type MatmulArgs } from "../src/kernels/index.js";
import { callsPerSecond } from "./peers/load.js";
import { numpyMatmul, numpyPythons } from "./peers/numpy.js";
import { onnxMatmul } from "./peers/onnx.js";
import { tfjsMatmul } from "./peers/tfjs.js";
import { printTable } from "./timing.js";

type Shape = [number, number, number];
const SHAPES: Shape[] = [[64, 64, 64], [128, 128, 128], [256, 256, 256], [512, 512, 512], [1024, 1024, 1024], [4096, 128, 128]];
const label = ([m, n, k]: Shape) => (m === n && n === k ? `${m}³` : `[${m}×${k}]@[${k}×${n}]`);
const f = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(1));
const ratio = (x: number | undefined, y: number | undefined) => (x === undefined || y === undefined ? "–" : `${(x / y).toFixed(2)}×`);

async function seqmixMatmul(kernels: Kernels, [m, n, k]: Shape): Promise<number> {
  const args: MatmulArgs<Float32Array> = {
    m, n, k,
    a: new Float32Array(m * k).fill(0.5), aOffset: 0, aRowStride: k, aColStride: 1,
    b: new Float32Array(k * n).fill(0.25), bOffset: 0, bRowStride: n, bColStride: 1,
    c: new Float32Array(m * n), cOffset: 0, accumulate: false,
  };
  return (2 * m * n * k * (await callsPerSecond(() => kernels.matmul(args)))) / 1e9;
}

/** Waits (up to 5 s) until a threaded backend's workers are up, so the timings do not include their start. */
async function warmPool(kernels: ReturnType<typeof createWasmKernels>): Promise<void> {
  if (!kernels) return;
  await seqmixMatmul(kernels, [256, 256, 256]);
  for (let i = 0; i < 200 && kernels.workersReady < kernels.threads - 1; i++) await new Promise((r) => setTimeout(r, 25));
}

export async function run(): Promise<void> {
  const one = createWasmKernels({ threads: 1 });
  const two = createWasmKernels({ threads: 2 });
  await warmPool(two);
  const blas = numpyPythons().map((py) => [numpyMatmul(py, SHAPES, 1), numpyMatmul(py, SHAPES, 2)] as const);
  console.log(`backend ${one?.name ?? "js (no wasm SIMD)"}`);
  if (blas.length === 0) console.log("  (no python3 with numpy: the BLAS columns are skipped)");
  blas.forEach(([r], i) => console.log(`BLAS${i + 1}: numpy ${r?.numpy ?? "?"} with ${r?.blas ?? "?"}`));
  const rows: string[][] = [];
  const ratios: string[][] = [];
  for (const [i, shape] of SHAPES.entries()) {
    const [m, n, k] = shape;
    const js = await seqmixMatmul(jsKernels, shape);
    const w1 = one ? await seqmixMatmul(one, shape) : undefined;
    const w2 = two ? await seqmixMatmul(two, shape) : undefined;
    const tfjs = await tfjsMatmul(m, n, k);
    const ort1 = await onnxMatmul(m, n, k, 1);
    const ort2 = await onnxMatmul(m, n, k, 2);
    const b = blas.map(([r1, r2]) => [r1?.gflops[i], r2?.gflops[i]] as const);
    rows.push([label(shape), f(js), f(w1), f(w2), f(tfjs), `${f(ort1)} / ${f(ort2)}`, ...b.map(([b1, b2]) => `${f(b1)} / ${f(b2)}`)]);
    ratios.push([label(shape), ratio(w1, tfjs), ratio(w1, ort1), ratio(w2, ort2), ...b.flatMap(([b1, b2]) => [ratio(w1, b1), ratio(w2, b2)])]);
  }
  if (rows.some((r) => r[4] === "–")) console.log("  (tfjs-backend-wasm / onnxruntime-node not installed: `npm run bench:peers`)");
  console.log("\nGFLOP/s (median of 5 batches of ≥ 0.1 s):");
  printTable(["shape", "seqmix js", "seqmix wasm 1T", "seqmix wasm 2T", "tfjs-wasm", "onnxruntime 1T / 2T", ...blas.map((_, i) => `BLAS${i + 1} 1T / 2T`)], rows);
  console.log("\nratios (targets: ≥ 1.5× tfjs-wasm at every size; ≥ 0.5× BLAS at the same thread count for n ≥ 256):");
  printTable(["shape", "wasm 1T / tfjs", "1T / ort 1T", "2T / ort 2T", ...blas.flatMap((_, i) => [`1T / BLAS${i + 1} 1T`, `2T / BLAS${i + 1} 2T`])], ratios);
}
