/**
 * Bench section "attention" (`npm run bench:ops -- attention`), f32:
 *  1. training forms, B=8, H=4, K=V=32, causal: forward and forward+backward time of the tiled chunk form next to
 *     the naive form (per-query softmax with autodiff) for attention, and of aaren's scan next to its naive
 *     quadratic form, at T = 128, 512, 2048;
 *  2. decoding: time per token of the recurrent step and the state carried, after a prefix of T = 1k, 4k, 16k
 *     tokens, for full attention (KV cache of T positions), attention with a 256-token window, and aaren.
 * Each figure is the median of several timed runs after a warm-up run (a run over 3 s is timed once), and the
 * naive forms are skipped where one run would exceed ~60 s. The whole section takes about two minutes.
 */
import { Random } from "../src/core/random.js";
import { randn } from "../src/core/create.js";
import { noGrad } from "../src/core/autograd.js";
import type { Tensor } from "../src/core/tensor.js";
import { timeMs } from "./timing.js";
import { attention } from "../src/ops/attention/index.js";
import { aaren } from "../src/ops/aaren/index.js";
import { runOp, inputsAt } from "../src/ops/run.js";
import type { AnyOp, OpMode } from "../src/ops/types.js";

const B = 8;
const H = 4;
const K = 32;
const V = 32;

function inputsFor(op: AnyOp, T: number, requireGrad: boolean): Record<string, Tensor> {
  const rng = new Random(T);
  const x = op.example(rng, "f32", { B, T, H, K, V });
  // full multi-head attention (Hkv = H) rather than the example's grouped heads
  if (op.name === "attention") {
    x.k = randn([B, T, H, K], rng);
    x.v = randn([B, T, H, V], rng);
  }
  if (requireGrad) for (const t of Object.values(x)) t.requireGrad();
  return x;
}

function forwardMs(op: AnyOp, mode: OpMode, T: number, options: Record<string, unknown>): number {
  const x = inputsFor(op, T, false);
  return timeMs(() => noGrad(() => runOp(op, x, mode, options)));
}

function trainMs(op: AnyOp, mode: OpMode, T: number, options: Record<string, unknown>): number {
  const x = inputsFor(op, T, true);
  const dO = randn([B, T, H, V], new Random(1));
  return timeMs(() => {
    for (const t of Object.values(x)) t.zeroGrad();
    runOp(op, x, mode, options).o.mul(dO).sum().backward();
  });
}

const fmt = (ms: number | null): string => (ms === null ? "skipped" : ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));
const pad = (cells: string[], widths: number[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");

function trainingTable(): void {
  console.log(`\ntraining forms, f32, B=${B}, H=${H}, K=V=${K}, causal; milliseconds (median)`);
  const widths = [22, 6, 10, 12, 10, 12, 9, 9];
  console.log(pad(["op", "T", "chunk fwd", "chunk f+b", "naive fwd", "naive f+b", "fwd ×", "f+b ×"], widths));
  const cases: Array<[string, AnyOp, Record<string, unknown>]> = [
    ["attention (tile 64)", attention, { chunkSize: 64 }],
    ["attention window 256", attention, { chunkSize: 64, window: 256 }],
    ["aaren (chunk 64)", aaren, { chunkSize: 64 }],
  ];
  for (const [label, op, options] of cases) {
    let naiveTooSlow = false;
    for (const T of [128, 512, 2048]) {
      const cf = forwardMs(op, "chunk", T, options);
      const cb = trainMs(op, "chunk", T, options);
      let nf: number | null = null;
      let nb: number | null = null;
      if (!naiveTooSlow) {
        nf = forwardMs(op, "naive", T, options);
        nb = trainMs(op, "naive", T, options);
        // the naive forms are O(T²) with per-step overhead: a 4× longer T costs ≥ 4×, often 16×
        if (nb * 16 > 60_000) naiveTooSlow = true;
      }
      const ratio = (a: number | null, b: number) => (a === null ? "-" : `${(a / b).toFixed(1)}×`);
      console.log(pad([label, String(T), fmt(cf), fmt(cb), fmt(nf), fmt(nb), ratio(nf, cf), ratio(nb, cb)], widths));
    }
  }
  console.log("(× = naive time / chunk time; 'skipped': the naive run would take over ~60 s)");
}

/** A state after `tokens` tokens: a random KV cache for attention, the scanned state of random inputs for aaren. */
function prefilled(op: AnyOp, tokens: number, options: Record<string, unknown>): Tensor {
  const rng = new Random(tokens + 17);
  if (op.name === "attention") {
    const window = (options.window as number | undefined) ?? Infinity;
    return randn([B, Math.min(tokens, window), H, K + V], rng);
  }
  const x = op.example(rng, "f32", { B, T: tokens, H, K, V });
  return noGrad(() => runOp(op, x, "chunk", { ...options, outputFinalState: true }).finalState!);
}

function decodeTable(): void {
  console.log(`\ndecoding (recurrent step), f32, B=${B}, H=${H}, K=V=${K}: time per token and state carried after T tokens`);
  const widths = [22, 7, 12, 16, 14];
  console.log(pad(["op", "T", "ms / token", "state floats/seq", "state bytes"], widths));
  const steps = 20;
  const cases: Array<[string, AnyOp, Record<string, unknown>]> = [
    ["attention full", attention, {}],
    ["attention window 256", attention, { window: 256 }],
    ["aaren", aaren, {}],
  ];
  for (const [label, op, options] of cases) {
    for (const T of [1024, 4096, 16384]) {
      const parsed = op.options.parse(options);
      const rng = new Random(5);
      const x = op.example(rng, "f32", { B, T: steps, H, K, V });
      if (op.name === "attention") {
        x.k = randn([B, steps, H, K], rng);
        x.v = randn([B, steps, H, V], rng);
      }
      const start = prefilled(op, T, options);
      const perStep = Array.from({ length: steps }, (_, t) => inputsAt(op, x, t));
      const run = () =>
        noGrad(() => {
          let state = start;
          for (let t = 0; t < steps; t++) state = op.recurrent.step(state, perStep[t]!, parsed).state;
        });
      const ms = timeMs(run, { reps: 5, budgetMs: 10_000 }) / steps;
      const shapes = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, t.shape]));
      const floats = op.stateSize(shapes, parsed, T);
      console.log(pad([label, String(T), fmt(ms), String(floats), `${((floats * B * 4) / 1024).toFixed(0)} KiB`], widths));
    }
  }
  console.log(`(state bytes: the whole batch of ${B} sequences in f32; state floats per sequence = op.stateSize)`);
}

export async function run(): Promise<void> {
  trainingTable();
  decodeTable();
}
