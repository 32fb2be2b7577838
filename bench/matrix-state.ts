/**
 * The bench procedure shared by the matrix-state ops (linear family and delta rules), in f32 at H=4, K=V=64,
 * chunkSize 64: the chunk form's forward and forward+backward for T = 256 … 16384 beside the naive loop (up to
 * T = 1024, where its graph — a [B,H,K,V] state per step, ~1–2 GB — still fits), the least-squares exponent of
 * chunk time against T (1 = linear), and the decode time per token of the step form.
 *
 * B = 8 up to T = 4096 and B = 1 at T = 16384 (B = 8 there would take ~40 s per forward+backward); the µs/tok
 * columns (time / (B·T)) and the exponent fit (on time per sequence, time / B) make the rows comparable.
 */
import { fitExponent, median, printTable, timeMs } from "./timing.js";
import { randn } from "../src/core/create.js";
import { noGrad } from "../src/core/autograd.js";
import { Random } from "../src/core/random.js";
import type { Tensor } from "../src/core/tensor.js";
import { getKernels } from "../src/kernels/index.js";
import { inputsAt, runOp } from "../src/ops/run.js";
import type { AnyOp, OpMode } from "../src/ops/types.js";

export const H = 4;
export const K = 64;
export const V = 64;
const CHUNK = 64;
const TS = [256, 1024, 4096, 16384];
const batchFor = (T: number): number => (T >= 16384 ? 1 : 8);
export const NAIVE_MAX_T = 1024;

const example = (op: AnyOp, B: number, T: number): Record<string, Tensor> => op.example(new Random(1), "f32", { B, T, H, K, V });

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

const ms = (x: number | undefined): string => (x === undefined ? "—" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
export const us = (x: number | undefined): string => (x === undefined ? "—" : x.toFixed(2));

/** The T-scaling table of one op (with the naive loop beside it when `withNaive`) and its fitted exponents. */
export function benchChunkScaling(op: AnyOp, withNaive: boolean): void {
  // warm-up (JIT, kernel scratch buffers)
  const warm = example(op, 2, 256);
  forward(op, warm, "chunk")();
  forwardBackward(op, warm, "chunk")();
  if (withNaive) forwardBackward(op, example(op, 1, 16), "naive")();

  const rows: string[][] = [];
  const fwdPerSeq: number[] = [];
  const fbPerSeq: number[] = [];
  for (const T of TS) {
    const B = batchFor(T);
    const x = example(op, B, T);
    const cf = timeMs(forward(op, x, "chunk"));
    const cfb = timeMs(forwardBackward(op, x, "chunk"));
    fwdPerSeq.push(cf / B);
    fbPerSeq.push(cfb / B);
    const naive = withNaive && T <= NAIVE_MAX_T;
    const nf = naive ? timeMs(forward(op, x, "naive")) : undefined;
    const nfb = naive ? timeMs(forwardBackward(op, x, "naive")) : undefined;
    const perTok = (t: number | undefined) => (t === undefined ? undefined : (t * 1000) / (B * T));
    rows.push([
      String(T), String(B),
      ms(cf), us(perTok(cf)), ms(cfb), us(perTok(cfb)),
      ms(nf), ms(nfb),
      nf === undefined ? "—" : `${(nf / cf).toFixed(1)}× / ${(nfb! / cfb).toFixed(1)}×`,
    ]);
  }
  console.log(`\n${op.name} (H=${H}, K=V=${V}, f32, chunkSize ${CHUNK}, kernels: ${getKernels().name})`);
  printTable(["T", "B", "chunk fwd", "µs/tok", "chunk fwd+bwd", "µs/tok", "naive fwd", "naive fwd+bwd", "naive/chunk"], rows);
  console.log(
    `fitted exponent of chunk time per sequence vs T: forward ${fitExponent(TS, fwdPerSeq).toFixed(3)}, forward+backward ${fitExponent(TS, fbPerSeq).toFixed(3)} (1 = linear)`,
  );
}

/** Median µs per step of the step form without gradients (one new token for each of the B sequences). */
export function decodeMicros(op: AnyOp, B: number): number {
  const steps = 64;
  const x = example(op, B, steps);
  const options = op.options.parse({});
  const perStep = Array.from({ length: steps }, (_, t) => {
    const at = inputsAt(op, x, t);
    return Object.fromEntries(Object.entries(at).map(([k, v]) => [k, v?.contiguous()]));
  });
  return noGrad(() => {
    let state = op.recurrent.init(x, options);
    for (let t = 0; t < 32; t++) state = op.recurrent.step(state, perStep[t % steps]!, options).state;
    const batches: number[] = [];
    for (let r = 0; r < 9; r++) {
      const t0 = performance.now();
      for (let t = 0; t < 32; t++) state = op.recurrent.step(state, perStep[t % steps]!, options).state;
      batches.push(((performance.now() - t0) * 1000) / 32);
    }
    return median(batches);
  });
}

/** The decode table for a list of ops at B = 1 and B = 8. */
export function decodeTable(ops: readonly AnyOp[]): void {
  console.log(`\ndecode, step form (H=${H}, K=V=${V}, f32), µs per step (one new token for each of the B sequences):`);
  printTable(["op", "B=1", "B=8"], ops.map((op) => [op.name, us(decodeMicros(op, 1)), us(decodeMicros(op, 8))]));
}
