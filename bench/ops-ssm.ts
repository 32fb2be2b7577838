/**
 * Bench section "ssm" (`npm run bench:ops -- ssm`): selective_scan (Mamba-1 S6).
 *
 * Sizes: B = 2, D = 128 channels, N = 16 state entries per channel — d_inner of a small Mamba (d_model 64,
 * expand 2) with the paper's N = 16; f32; deltaSoftplus with Dskip, z and delta_bias given (the full layer's
 * call). For T = 256 … 16384: the chunk form (blocked scan, hand-written backward) against the naive loop on
 * tensor ops, forward alone (no graph) and forward + backward, side by side; the exponent of time against T
 * fitted by least squares on log–log; and the decode time per token of the recurrent form's step.
 *
 * Each figure is the median of several timed runs after one warm-up run. The naive loop is skipped where its
 * time, extrapolated from the previous T with the exponent seen so far, would exceed ~30 s (its backward
 * grows faster than linearly: every per-step slice of an input gets a gradient the size of the whole input).
 */
import { fitExponent, median, timeMs } from "./timing.js";
import { noGrad } from "../src/core/autograd.js";
import { randn } from "../src/core/create.js";
import { Random } from "../src/core/random.js";
import type { Tensor } from "../src/core/tensor.js";
import { inputsAt, runOp } from "../src/ops/run.js";
import { selectiveScan } from "../src/ops/selective_scan/index.js";
import type { OpMode } from "../src/ops/types.js";

const B = 2;
const D = 128;
const N = 16;
const TS = [256, 1024, 4096, 16384];
const NAIVE_LIMIT_MS = 30_000;
const OPTIONS = { deltaSoftplus: true, chunkSize: 64 };

function inputsFor(T: number): Record<string, Tensor> {
  return selectiveScan.example(new Random(T), "f32", { B, T, H: D, K: N, V: 1 });
}

function forwardOnly(mode: OpMode, inputs: Record<string, Tensor>): () => void {
  return () => noGrad(() => void runOp(selectiveScan, inputs, mode, OPTIONS));
}

function forwardBackward(mode: OpMode, inputs: Record<string, Tensor>): () => void {
  const w = randn([B, inputs.u!.shape[1]!, D], new Random(1));
  return () => {
    const leaves = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.detach().requireGrad()]));
    runOp(selectiveScan, leaves, mode, OPTIONS).o.mul(w).sum().backward();
  };
}

/** Times the naive form unless the extrapolation from earlier points says it would take too long. */
function maybeNaive(points: Array<[number, number]>, T: number, make: () => () => void): number | string {
  const last = points[points.length - 1];
  if (last) {
    const slope = Math.max(1, points.length >= 2 ? fitExponent(points.map(([t]) => t), points.map(([, ms]) => ms)) : 1);
    const estimate = last[1] * (T / last[0]) ** slope;
    if (estimate > NAIVE_LIMIT_MS) return `skip (~${Math.round(estimate / 1000)} s)`;
  }
  const ms = timeMs(make());
  points.push([T, ms]);
  return ms;
}

const fmt = (v: number | string): string => (typeof v === "number" ? v.toFixed(v < 10 ? 2 : 1) : v);
const ratio = (naive: number | string, chunk: number): string => (typeof naive === "number" ? `${(naive / chunk).toFixed(1)}×` : "—");

export async function run(): Promise<void> {
  console.log(`selective_scan — B=${B}, D=${D}, N=${N}, f32, deltaSoftplus + Dskip + z + delta_bias, chunkSize ${OPTIONS.chunkSize}`);
  console.log("chunk = blocked scan on typed arrays with hand-written backward; naive = loop over time on tensor ops (autodiff)");
  const header = ["T", "chunk fwd ms", "naive fwd ms", "naive/chunk", "chunk fwd+bwd ms", "naive fwd+bwd ms", "naive/chunk", "chunk Mtok·ch/s fwd+bwd"];
  console.log(header.join("  "));
  const chunkF: Array<[number, number]> = [];
  const chunkFB: Array<[number, number]> = [];
  const naiveF: Array<[number, number]> = [];
  const naiveFB: Array<[number, number]> = [];
  for (const T of TS) {
    const inputs = inputsFor(T);
    const cf = timeMs(forwardOnly("chunk", inputs));
    const cfb = timeMs(forwardBackward("chunk", inputs));
    chunkF.push([T, cf]);
    chunkFB.push([T, cfb]);
    const nf = maybeNaive(naiveF, T, () => forwardOnly("naive", inputs));
    const nfb = maybeNaive(naiveFB, T, () => forwardBackward("naive", inputs));
    const row = [String(T), fmt(cf), fmt(nf), ratio(nf, cf), fmt(cfb), fmt(nfb), ratio(nfb, cfb), ((B * T * D) / (cfb * 1e3)).toFixed(2)];
    console.log(row.map((c, i) => c.padStart(header[i]!.length)).join("  "));
  }
  const e = (pts: Array<[number, number]>) => (pts.length >= 2 ? fitExponent(pts.map(([t]) => t), pts.map(([, ms]) => ms)).toFixed(2) : "n/a");
  console.log(
    `fitted exponent of time vs T: chunk fwd ${e(chunkF)}, chunk fwd+bwd ${e(chunkFB)}` +
      ` (linear = 1.00); naive fwd ${e(naiveF)}, naive fwd+bwd ${e(naiveFB)} (over the T it ran)`,
  );

  // decode: one recurrent step per token (tensor ops, no graph), for B = 1 and B = 2
  for (const b of [1, 2]) {
    const ex = selectiveScan.example(new Random(5), "f32", { B: b, T: 1, H: D, K: N, V: 1 });
    const options = selectiveScan.options.parse(OPTIONS);
    const step = inputsAt(selectiveScan, ex, 0);
    const perToken = noGrad(() => {
      let state = selectiveScan.recurrent.init(ex, options);
      for (let i = 0; i < 50; i++) state = selectiveScan.recurrent.step(state, step, options).state; // warm-up
      const samples: number[] = [];
      for (let r = 0; r < 5; r++) {
        const t0 = performance.now();
        for (let i = 0; i < 200; i++) state = selectiveScan.recurrent.step(state, step, options).state;
        samples.push((performance.now() - t0) / 200);
      }
      return median(samples);
    });
    console.log(`decode (recurrent step, B=${b}, D=${D}, N=${N}, state ${D * N} floats/sequence): ${(perToken * 1000).toFixed(1)} µs/token`);
  }
}

// run directly: node dist/bench/ops-ssm.js
if (import.meta.url === `file://${process.argv[1]}`) await run();
