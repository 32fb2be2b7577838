/**
 * Bench section "rnn" (`npm run bench:ops -- rnn`), lstm and gru, f32, B=8, H=64 (hidden size):
 *  1. products: the per-step recurrent product h W_hhᵀ ([8,64]·[64,4H or 3H]) by the packed 4×3 loop the fused
 *     kernels use (rnn_common/products.ts) next to getKernels().matmul, in f32 and f64 — the measurement behind
 *     that choice;
 *  2. training forms at T = 256 and 1024: forward and forward+backward of the fused kernel ("chunk") next to the
 *     naive loop of tensor ops with autodiff;
 *  3. decoding: time per token of the op's recurrent step (tensor ops) at B = 1 and B = 8, and of the fused
 *     kernel called one token at a time, for comparison.
 * Each figure is the median of several timed runs after a warm-up run. The section takes well under a minute.
 */
import { Random } from "../src/core/random.js";
import { randn } from "../src/core/create.js";
import { noGrad } from "../src/core/autograd.js";
import { timeMs, type TimeOptions } from "./timing.js";
import type { Tensor } from "../src/core/tensor.js";
import { lstm } from "../src/ops/lstm/index.js";
import { gru } from "../src/ops/gru/index.js";
import { runOp } from "../src/ops/run.js";
import type { AnyOp, OpMode } from "../src/ops/types.js";
import { addProduct, addStateTimesWtKernel, packForward } from "../src/ops/rnn_common/products.js";

/** this section's budget per case: 4 s */
const timeBench = (fn: () => void, options: TimeOptions = {}): number => timeMs(fn, { budgetMs: 4000, ...options });

const B = 8;
const H = 64;

function fmt(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(1) : ms.toFixed(3);
}

function inputsFor(op: AnyOp, T: number, requireGrad: boolean, batch = B): Record<string, Tensor> {
  const x = op.example(new Random(T), "f32", { B: batch, T, H: 1, K: H });
  if (requireGrad) for (const t of Object.values(x)) t.requireGrad();
  return x;
}

function products(): void {
  console.log(`\n-- products: one step's h W_hhᵀ, [${B},${H}]·[${H},N], µs per call (median of 2000-call runs)`);
  console.log("N     dtype  packed 4x3  kernel  kernel/packed");
  for (const N of [4 * H, 3 * H]) {
    for (const dtype of ["f32", "f64"] as const) {
      const rng = new Random(N);
      const x = randn([B, H], rng, { dtype }).values();
      const w = randn([N, H], rng, { dtype }).values();
      const out = dtype === "f32" ? new Float32Array(B * N) : new Float64Array(B * N);
      const reps = 2000;
      // the fused kernels pack W_hh once per call and keep h and the sums in f64 whatever the dtype
      const packed = packForward(w, N, H);
      const x64 = Float64Array.from(x);
      const out64 = new Float64Array(B * N);
      const hand = timeBench(() => {
        for (let i = 0; i < reps; i++) addProduct(x64, 0, B, packed, out64, 0);
      }, { reps: 7 }) * (1000 / reps);
      const kern = timeBench(() => {
        for (let i = 0; i < reps; i++) addStateTimesWtKernel(x, 0, B, H, w, N, out, 0);
      }, { reps: 7 }) * (1000 / reps);
      console.log(`${String(N).padEnd(6)}${dtype.padEnd(7)}${hand.toFixed(1).padStart(10)}${kern.toFixed(1).padStart(8)}${(kern / hand).toFixed(2).padStart(14)}`);
    }
  }
}

function training(op: AnyOp): void {
  console.log(`\n-- ${op.name} training forms, B=${B}, H=${H}, f32: ms (median)`);
  console.log("T      chunk fwd  naive fwd  ratio   chunk f+b  naive f+b  ratio");
  for (const T of [256, 1024]) {
    const x = inputsFor(op, T, true);
    const fwd = (mode: OpMode) => timeBench(() => noGrad(() => runOp(op, x, mode, { outputFinalState: true })));
    const fb = (mode: OpMode) =>
      timeBench(() => {
        for (const t of Object.values(x)) t.grad = null;
        const r = runOp(op, x, mode, { outputFinalState: true });
        r.o.sum().add(r.finalState!.sum()).backward();
      }, { reps: 3 });
    const cf = fwd("chunk");
    const nf = fwd("naive");
    const cb = fb("chunk");
    const nb = fb("naive");
    console.log(
      `${String(T).padEnd(7)}${fmt(cf).padStart(9)}${fmt(nf).padStart(11)}${(nf / cf).toFixed(1).padStart(7)}x${fmt(cb).padStart(11)}${fmt(nb).padStart(11)}${(nb / cb).toFixed(1).padStart(7)}x`,
    );
  }
}

function decoding(op: AnyOp): void {
  console.log(`\n-- ${op.name} decoding: recurrent step, H=${H}, f32: µs per token (median), state floats per sequence`);
  console.log("B    step µs/token  fused T=1 µs/token  state");
  for (const batch of [1, B]) {
    const steps = 500;
    const x = inputsFor(op, 1, false, batch);
    const whole = Object.fromEntries(Object.entries(x).filter(([k]) => k !== "gates_x"));
    const gx = x.gates_x!.squeeze(1);
    const options = { outputFinalState: false, chunkSize: 64 };
    const us =
      timeBench(() =>
        noGrad(() => {
          let state = op.recurrent.init(x, options);
          for (let t = 0; t < steps; t++) state = op.recurrent.step(state, { ...whole, gates_x: gx }, options).state;
        }),
      ) * (1000 / steps);
    // for comparison: the fused kernel called with one token (T = 1) and the carried state
    const fused =
      timeBench(() =>
        noGrad(() => {
          let state = op.recurrent.init(x, options);
          for (let t = 0; t < steps; t++) state = op.chunk({ ...x, initial_state: state }, { outputFinalState: true, chunkSize: 64 }).finalState!;
        }),
      ) * (1000 / steps);
    const shapes = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, t.shape]));
    console.log(`${String(batch).padEnd(5)}${us.toFixed(1).padStart(13)}${fused.toFixed(1).padStart(20)}  ${op.stateSize(shapes, options, 1)}`);
  }
}

export async function run(): Promise<void> {
  products();
  for (const op of [lstm, gru]) {
    training(op);
    decoding(op);
  }
}

// run directly: node dist/bench/ops-rnn.js
if (import.meta.url === `file://${process.argv[1]}`) await run();
