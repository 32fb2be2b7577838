/**
 * `npm run bench:ops -- titans`: titans_memory (spec/mixers.md §10) in f32 at B=1, H=4, K=V=64.
 *  1. the chunk form (chunkSize 64) against the token-by-token form (recurrent, autodiff through every step) for
 *     T = 512 … 8192, forward and forward+backward (one training step of the op), for the linear memory and a
 *     depth-2 MLP (expansion 2, GELU); the fitted exponent of time against T (1 = linear);
 *  2. the effect of the chunk size on the chunk form's forward+backward at T = 2048 (linear and MLP).
 * The token-by-token form costs the same per token at every T (its µs/token column), so it stops at T = 4096 for
 * the linear memory and T = 1024 for the MLP (beyond, one fwd+bwd takes minutes).
 */
import { fitExponent, printTable, timeMs } from "./timing.js";
import { randn } from "../src/core/create.js";
import { noGrad } from "../src/core/autograd.js";
import { Random } from "../src/core/random.js";
import type { Tensor } from "../src/core/tensor.js";
import { getKernels } from "../src/kernels/index.js";
import { runOp } from "../src/ops/run.js";
import type { OpMode } from "../src/ops/types.js";
import { titansMemory } from "../src/ops/titans_memory/index.js";
import { layerDims } from "../src/ops/titans_memory/memory.js";

const [B, H, K, V] = [1, 4, 64, 64];
const TS = [512, 1024, 2048, 4096, 8192];
const CHUNKS = [8, 16, 32, 64, 128, 256];

interface Memory {
  label: string;
  options: Record<string, unknown>;
  /** longest T for the token-by-token form */
  recurrentMaxT: number;
}
const MEMORIES: Memory[] = [
  { label: "linear", options: {}, recurrentMaxT: 4096 },
  { label: "MLP depth 2, E=2, GELU", options: { depth: 2, expansion: 2 }, recurrentMaxT: 1024 },
];

function inputs(memory: Memory, T: number): Record<string, Tensor> {
  const rng = new Random(1);
  const x = titansMemory.example(rng, "f32", { B, T, H, K, V });
  const depth = (memory.options.depth as number | undefined) ?? 1;
  const dims = layerDims(K, V, depth, (memory.options.expansion as number | undefined) ?? 4);
  for (let l = 0; l < depth; l++) x[`w${l + 1}`] = randn([H, dims[l]!, dims[l + 1]!], rng, { std: 1 / Math.sqrt(dims[l]!) });
  x.lr = x.lr!.mul(0.1); // θ ∈ [0.005, 0.05]: stable for the MLP
  return x;
}

function forward(x: Record<string, Tensor>, mode: OpMode, options: Record<string, unknown>): () => void {
  return () => void noGrad(() => runOp(titansMemory, x, mode, options));
}

function forwardBackward(x: Record<string, Tensor>, mode: OpMode, options: Record<string, unknown>): () => void {
  const dO = randn(x.v!.shape, new Random(2));
  return () => {
    const leaves = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, t.clone().requireGrad()]));
    runOp(titansMemory, leaves, mode, options).o.backward(dO);
  };
}

const ms = (x: number | undefined): string => (x === undefined ? "—" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
const times = { budgetMs: 4000, slowMs: 2000 };

function chunkAgainstTokens(memory: Memory): void {
  const rows: string[][] = [];
  const fb: number[] = [];
  const options = { ...memory.options, chunkSize: 64 };
  forwardBackward(inputs(memory, 128), "chunk", options)(); // warm-up
  for (const T of TS) {
    const x = inputs(memory, T);
    const cf = timeMs(forward(x, "chunk", options), times);
    const cfb = timeMs(forwardBackward(x, "chunk", options), times);
    fb.push(cfb);
    const tokens = T <= memory.recurrentMaxT;
    const rf = tokens ? timeMs(forward(x, "recurrent", options), times) : undefined;
    const rfb = tokens ? timeMs(forwardBackward(x, "recurrent", options), times) : undefined;
    const perToken = rfb === undefined ? "—" : ((rfb * 1000) / T).toFixed(0);
    rows.push([String(T), ms(cf), ms(cfb), ms(rf), ms(rfb), perToken, rf === undefined ? "—" : `${(rf / cf).toFixed(1)}× / ${(rfb! / cfb).toFixed(1)}×`]);
  }
  console.log(`\ntitans_memory, ${memory.label} (B=${B}, H=${H}, K=V=${K}, f32, chunkSize 64, kernels: ${getKernels().name})`);
  printTable(["T", "chunk fwd", "chunk fwd+bwd", "token fwd", "token fwd+bwd", "token µs/tok (fwd+bwd)", "token/chunk"], rows);
  console.log(`fitted exponent of chunk fwd+bwd time vs T: ${fitExponent(TS, fb).toFixed(3)} (1 = linear)`);
}

function chunkSizes(): void {
  const T = 2048;
  const rows = CHUNKS.map((C) => [String(C), ...MEMORIES.map((m) => ms(timeMs(forwardBackward(inputs(m, T), "chunk", { ...m.options, chunkSize: C }), times)))]);
  console.log(`\nchunk size against chunk fwd+bwd time, T = ${T} (B=${B}, H=${H}, K=V=${K}, f32):`);
  printTable(["chunkSize", ...MEMORIES.map((m) => m.label)], rows);
}

export async function run(): Promise<void> {
  const started = performance.now();
  for (const memory of MEMORIES) chunkAgainstTokens(memory);
  chunkSizes();
  console.log(`(titans section: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

// run directly: node dist/bench/ops-titans.js
if (import.meta.url === `file://${process.argv[1]}`) await run();
