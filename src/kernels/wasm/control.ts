/**
 * The control block shared by the main thread and the workers: at the start of the wasm memory, one slot
 * of 16 int32 per worker. A slot holds READY (set by the worker once it can take jobs), GO (a job counter the
 * main thread bumps to post a job), DONE (the worker copies GO there when the job is finished), FAILED, and
 * the job's fields. Main thread and workers meet only through Atomics on these words.
 */
import type { GemmJob } from "./gemm.js";

export const SLOT_INTS = 16;
/** Most workers the control block (CONTROL_BYTES in matmul.ts: 4096) has slots for. */
export const MAX_WORKERS = 4096 / (4 * SLOT_INTS);

export const READY = 0;
export const GO = 1;
export const DONE = 2;
export const FAILED = 3;
const JOB = 4; // 12 job fields follow

export function writeJob(ctl: Int32Array, slot: number, job: GemmJob): void {
  const q = slot * SLOT_INTS + JOB;
  ctl[q] = job.m; ctl[q + 1] = job.n; ctl[q + 2] = job.k;
  ctl[q + 3] = job.a; ctl[q + 4] = job.aRowStride; ctl[q + 5] = job.aColStride;
  ctl[q + 6] = job.b; ctl[q + 7] = job.bRowStride; ctl[q + 8] = job.bColStride;
  ctl[q + 9] = job.c; ctl[q + 10] = job.ldc;
  ctl[q + 11] = (job.accumulate ? 1 : 0) | (job.scratch << 1); // scratch is 16-byte aligned and < 2³⁰
}

export function readJob(ctl: Int32Array, slot: number): GemmJob {
  const q = slot * SLOT_INTS + JOB;
  return {
    m: ctl[q]!, n: ctl[q + 1]!, k: ctl[q + 2]!,
    a: ctl[q + 3]!, aRowStride: ctl[q + 4]!, aColStride: ctl[q + 5]!,
    b: ctl[q + 6]!, bRowStride: ctl[q + 7]!, bColStride: ctl[q + 8]!,
    c: ctl[q + 9]!, ldc: ctl[q + 10]!,
    accumulate: (ctl[q + 11]! & 1) === 1, scratch: ctl[q + 11]! >>> 1,
  };
}

/** Index of a field of `slot` in the control view. */
export const field = (slot: number, f: number): number => slot * SLOT_INTS + f;
