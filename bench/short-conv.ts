/**
 * `node dist/bench/short-conv.js`: the delta layers' conv – SiLU – L2 norm branch (layers/delta_branch.ts),
 * forward + backward of convSiluNorm at the bench model's shape (B=64, T=256, C=128, W=4, bias, no state; q/k
 * with the norm over heads of 32, v without), f32, on the wasm backend inside a BufferArena (activations lent by the
 * wasm memory) with the branch's rows by the JS reference loops ("js rows", what the layer ran before the kernel
 * family) and by the wasm kernels, lent (used in place) and without the arena (staged per batch row).
 * Threads: SEQMIX_BENCH_THREADS (default 1).
 */
import { randn } from "../src/core/create.js";
import { BufferArena } from "../src/core/arena.js";
import { Random } from "../src/core/random.js";
import { createWasmKernels, jsKernels, withKernels, type Kernels } from "../src/kernels/index.js";
import { convSiluNorm } from "../src/layers/delta_branch.js";
import { printTable, timeMs } from "./timing.js";

const [B, T, C, W] = [64, 256, 128, 4];
const threads = Number(process.env.SEQMIX_BENCH_THREADS ?? 1);

function stepMs(kernels: Kernels, normWidth: number, arena: boolean): number {
  return withKernels(kernels, () => {
    const rng = new Random(1);
    const z0 = randn([B, T, C], rng, { dtype: "f32" }).requireGrad();
    const weight = randn([C, W], rng, { dtype: "f32", std: 0.5 }).requireGrad();
    const bias = randn([C], rng, { dtype: "f32", std: 0.1 }).requireGrad();
    const gy = randn([B, T, C], rng, { dtype: "f32" });
    const a = arena ? new BufferArena() : null;
    const body = (): void => {
      z0.grad = weight.grad = bias.grad = null;
      const y = convSiluNorm(z0.mul(1), { weight, bias, state: null }, normWidth);
      y.mul(gy).sum().backward();
    };
    return timeMs(() => (a ? a.run(body) : body()), { reps: 7 });
  });
}

const wasm = createWasmKernels({ threads });
if (!wasm) {
  console.log("short-conv: no wasm backend on this engine; skipped");
} else {
  const jsRows: Kernels = { ...wasm, shortConvForward: jsKernels.shortConvForward, shortConvBackward: jsKernels.shortConvBackward };
  const rows: string[][] = [];
  for (const normWidth of [32, 0]) {
    const js = stepMs(jsRows, normWidth, true);
    const staged = stepMs(wasm, normWidth, false);
    const lent = stepMs(wasm, normWidth, true);
    rows.push([`norm ${normWidth || "none"}`, js.toFixed(1), staged.toFixed(1), lent.toFixed(1), (js / lent).toFixed(2)]);
  }
  console.log(`convSiluNorm forward + backward (with z·1, y·gy, sum), ms, B=${B} T=${T} C=${C} W=${W}, threads ${threads}:`);
  printTable(["branch", "js rows, lent", "wasm staged", "wasm lent", "js / wasm lent"], rows);
}
