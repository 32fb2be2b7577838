/**
 * The control block shared by the main thread and the workers: at the start of the wasm memory, one slot
 * of 32 int32 per worker. A slot holds READY (set by the worker once it can take jobs), TASKS (set once it knows the ops' tasks), GO (a job counter the
 * main thread bumps to post a job), SEQ (the posted job's number), DONE (the worker copies SEQ there when the job is finished), FAILED, KIND
 * (which sort of job: a GEMM slice or a task), STATE and the job's fields. Main thread and workers meet only
 * through Atomics on these words.
 *
 * STATE lets the main thread take back a job that no worker has started: it posts with STATE = POSTED; a
 * worker that wakes up claims the job by swapping POSTED → RUNNING, the main thread takes it back by swapping
 * POSTED → CANCELLED (and does the job itself, or nothing when its share already covered every unit). So a
 * worker that the OS has not scheduled yet never holds the caller up. A worker that loses the swap leaves
 * DONE alone: the main thread does not wait for a job it cancelled, and the next job is posted only after that.
 */
import type { GemmJob } from "./gemm.js";

export const SLOT_INTS = 32;
/** Bytes at the start of memory reserved for the control block. */
export const CONTROL_BYTES = 4096;
/** Most workers the control block has slots for. */
export const MAX_WORKERS = CONTROL_BYTES / (4 * SLOT_INTS);

export const READY = 0;
export const GO = 1;
export const DONE = 2;
export const FAILED = 3;
export const KIND = 4;
export const STATE = 5;
/** 1 once the worker has loaded the task modules (task_modules.ts); gemm jobs need only READY. */
export const TASKS = 6;
/**
 * The number the main thread gives a job (the value GO takes when it is posted), written before STATE =
 * POSTED. A worker that wins the swap reports this number in DONE: reading GO instead could see a job the
 * main thread posted, cancelled and re-posted in between, and report a number the main thread never waits
 * for (a deadlock, seen under load with many short tasks).
 */
export const SEQ = 7;
const JOB = 8; // the job's fields follow

/** Values of STATE. */
export const POSTED = 1;
export const RUNNING = 2;
export const CANCELLED = 3;

/** Values of KIND. */
export const KIND_GEMM = 0;
export const KIND_TASK = 1;

export function writeJob(ctl: Int32Array, slot: number, job: GemmJob): void {
  const q = slot * SLOT_INTS + JOB;
  ctl[slot * SLOT_INTS + KIND] = KIND_GEMM;
  ctl[q] = job.m; ctl[q + 1] = job.n; ctl[q + 2] = job.k;
  ctl[q + 3] = job.a; ctl[q + 4] = job.aRowStride; ctl[q + 5] = job.aColStride;
  ctl[q + 6] = job.b; ctl[q + 7] = job.bRowStride; ctl[q + 8] = job.bColStride;
  ctl[q + 9] = job.c; ctl[q + 10] = job.ldc;
  ctl[q + 11] = job.accumulate ? 1 : 0;
  ctl[q + 12] = job.scratch; // a byte address below 2³¹ (its own word: lent blocks put it above 2³⁰)
}

export function readJob(ctl: Int32Array, slot: number): GemmJob {
  const q = slot * SLOT_INTS + JOB;
  return {
    m: ctl[q]!, n: ctl[q + 1]!, k: ctl[q + 2]!,
    a: ctl[q + 3]!, aRowStride: ctl[q + 4]!, aColStride: ctl[q + 5]!,
    b: ctl[q + 6]!, bRowStride: ctl[q + 7]!, bColStride: ctl[q + 8]!,
    c: ctl[q + 9]!, ldc: ctl[q + 10]!,
    accumulate: ctl[q + 11]! === 1, scratch: ctl[q + 12]!,
  };
}

/** Posts a task: its descriptor's byte address (see tasks.ts). */
export function writeTaskJob(ctl: Int32Array, slot: number, descriptor: number): void {
  ctl[slot * SLOT_INTS + KIND] = KIND_TASK;
  ctl[slot * SLOT_INTS + JOB] = descriptor;
}

export function readTaskJob(ctl: Int32Array, slot: number): number {
  return ctl[slot * SLOT_INTS + JOB]!;
}

/** Index of a field of `slot` in the control view. */
export const field = (slot: number, f: number): number => slot * SLOT_INTS + f;
