/**
 * `npm run bench:ops -- delta`: delta_rule and gated_delta_rule (spec/mixers.md §7) in f32 at H=4, K=V=64,
 * chunkSize 64: the chunk form's forward and forward+backward for T = 256 … 16384 beside the naive loop (where
 * it takes under ~30 s and fits in memory), the fitted exponent of time against T for the chunk form, and the
 * decode time per token of the step form.
 *
 * B = 8 up to T = 4096 and B = 1 at T = 16384 (B = 8 there would take ~40 s per forward+backward); the
 * per-token columns (time / (B·T)) and the exponent fit (on time per sequence, time / B) make them comparable.
 * Each figure is the median of up to 5 timed runs after a warm-up, fewer for long runs, so the whole section
 * stays under ~3 minutes.
 */
import { fitExponent, median, printTable, timeMs } from "./timing.js";
import { randn } from "../src/core/create.js";
import { noGrad } from "../src/core/autograd.js";
import { Random } from "../src/core/random.js";
import type { Tensor } from "../src/core/tensor.js";
import { getKernels } from "../src/kernels/index.js";
import { deltaRule } from "../src/ops/delta_rule/index.js";
import { gatedDeltaRule } from "../src/ops/gated_delta_rule/index.js";
import { inputsAt, runOp } from "../src/ops/run.js";
import type { AnyOp, OpMode } from "../src/ops/types.js";

const H = 4;
const K = 64;
const V = 64;
const CHUNK = 64;
const TS = [256, 1024, 4096, 16384];
const batchFor = (T: number): number => (T >= 16384 ? 1 : 8);
/** the naive loop keeps a [B,H,K,V] state per step in its graph: ~2 GB at T = 1024, so it stops there */
const NAIVE_MAX_T = 1024;

function inputs(op: AnyOp, B: number, T: number): Record<string, Tensor> {
  return op.example(new Random(1), "f32", { B, T, H, K, V });
}

function forward(op: AnyOp, x: Record<string, Tensor>, mode: OpMode): () => void {
  return () => void noGrad(() => runOp(op, x, mode, { chunkSize: CHUNK }));
}

function forwardBackward(op: AnyOp, x: Record<string, Tensor>, mode: OpMode): () => void {
  const dO = randn(x.v!.shape, new Random(2));
  return () => {
    const leaves = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, t.clone().requireGrad()]));
    runOp(op, leaves, mode, { chunkSize: CHUNK }).o.backward(dO);
  };
}

const fmtMs = (ms: number | undefined): string => (ms === undefined ? "—" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const fmtUs = (us: number | undefined): string => (us === undefined ? "—" : `${us.toFixed(2)}`);

function benchOp(op: AnyOp, withNaive: boolean): void {
  // warm-up (JIT, kernel scratch buffers)
  const warm = inputs(op, 2, 256);
  forward(op, warm, "chunk")();
  forwardBackward(op, warm, "chunk")();
  if (withNaive) forward(op, inputs(op, 1, 16), "naive")();

  const rows: string[][] = [];
  const fwdPerSeq: number[] = [];
  const fbPerSeq: number[] = [];
  for (const T of TS) {
    const B = batchFor(T);
    const x = inputs(op, B, T);
    const cf = timeMs(forward(op, x, "chunk"));
    const cfb = timeMs(forwardBackward(op, x, "chunk"));
    fwdPerSeq.push(cf / B);
    fbPerSeq.push(cfb / B);
    let nf: number | undefined;
    let nfb: number | undefined;
    if (withNaive && T <= NAIVE_MAX_T) {
      nf = timeMs(forward(op, x, "naive"));
      nfb = timeMs(forwardBackward(op, x, "naive"));
    }
    const perTok = (ms: number | undefined) => (ms === undefined ? undefined : (ms * 1000) / (B * T));
    rows.push([
      String(T), String(B),
      fmtMs(cf), fmtUs(perTok(cf)), fmtMs(cfb), fmtUs(perTok(cfb)),
      fmtMs(nf), fmtMs(nfb),
      nf === undefined ? "—" : `${(nf / cf).toFixed(1)}× / ${(nfb! / cfb).toFixed(1)}×`,
    ]);
  }
  console.log(`\n${op.name} (H=${H}, K=V=${V}, f32, chunkSize ${CHUNK}, kernels: ${getKernels().name})`);
  printTable(["T", "B", "chunk fwd", "µs/tok", "chunk fwd+bwd", "µs/tok", "naive fwd", "naive fwd+bwd", "naive/chunk"], rows);
  console.log(
    `fitted exponent of chunk time per sequence vs T: forward ${fitExponent(TS, fwdPerSeq).toFixed(3)}, forward+backward ${fitExponent(TS, fbPerSeq).toFixed(3)} (1 = linear)`,
  );
}

/** Median µs per token of the step form (no grad), over 256 steps after 32 warm-up steps. */
function decode(op: AnyOp, B: number): number {
  const steps = 64;
  const x = inputs(op, B, steps);
  const options = op.options.parse({});
  const perStep = Array.from({ length: steps }, (_, t) => {
    const at = inputsAt(op, x, t);
    return Object.fromEntries(Object.entries(at).map(([k, v]) => [k, v?.contiguous()]));
  });
  return noGrad(() => {
    let state = op.recurrent.init(x, options);
    for (let t = 0; t < 32; t++) state = op.recurrent.step(state, perStep[t % steps]!, options).state;
    const batches: number[] = [];
    for (let r = 0; r < 8; r++) {
      const t0 = performance.now();
      for (let t = 0; t < 32; t++) state = op.recurrent.step(state, perStep[t % steps]!, options).state;
      batches.push(((performance.now() - t0) * 1000) / 32);
    }
    return median(batches);
  });
}

export async function run(): Promise<void> {
  const started = performance.now();
  benchOp(gatedDeltaRule, true);
  benchOp(deltaRule, false);
  console.log(`(naive loop: gated_delta_rule only, T ≤ ${NAIVE_MAX_T}; delta_rule's is the same loop without the decay)`);
  console.log(`\ndecode, step form (H=${H}, K=V=${V}, f32), µs per step (one new token for each of the B sequences):`);
  const rows = [deltaRule, gatedDeltaRule].map((op) => [op.name, ...[1, 8].map((B) => fmtUs(decode(op, B)))]);
  printTable(["op", "B=1", "B=8"], rows);
  console.log(`(delta section: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

// run directly: node dist/bench/ops-delta.js
if (import.meta.url === `file://${process.argv[1]}`) await run();
