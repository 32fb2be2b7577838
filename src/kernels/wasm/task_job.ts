/**
 * A task call in shared memory: the descriptor the calling thread writes and every thread reads, and the
 * copies of the call's buffers. Layout at byte `base` (all 16-byte aligned):
 *
 *   descriptor  int32 words: [0] next unit to claim (Atomics.add), [1] units, [2] args, [3] buffers,
 *               [4] name length, [5] byte address of the error areas, [6] workers, [8..72) the name's
 *               char codes; then the args as f64; then per buffer (type 0 = f32, 1 = f64, byte address, length)
 *   errors      per worker: a length word and up to 255 char codes of the message it failed with
 *   buffers     each copied in before the call; outputs copied back after it. A buffer that already lives in
 *               the shared memory (lent by the runtime) is used where it is, without copies, unless it overlaps
 *               another of the call's buffers.
 */
import { findTask, type TaskBody } from "../task_registry.js";
import type { FloatArray } from "../types.js";
import { alignUp } from "./runtime.js";

const MAX_NAME = 64;
const ERROR_INTS = 256;
const NAME = 8;
const ARGS = NAME + MAX_NAME; // word 72: byte 288, 8-aligned for the f64 args

const align16 = (bytes: number): number => alignUp(bytes, 16);

export interface TaskCall {
  name: string;
  units: number;
  args: readonly number[];
  /** inputs then outputs */
  buffers: readonly FloatArray[];
  /** worker threads taking part (besides the calling thread) */
  workers: number;
}

export interface StagedCall {
  descriptor: number;
  /** per buffer: it lives in the shared memory already and is used in place (no copies) */
  inPlace: boolean[];
  /** byte address of the workers' error areas */
  errors: number;
  /** byte address of each buffer's copy */
  at: number[];
  /** first byte after the call's memory */
  end: number;
}

/**
 * Where a call goes in memory from byte `base` on. `addressOf` gives a buffer's byte address when it is a view
 * of the shared memory (else −1).
 */
export function layoutCall(base: number, call: TaskCall, addressOf: (b: FloatArray) => number = () => -1): StagedCall {
  if (call.name.length > MAX_NAME) throw new Error(`task name "${call.name}" is longer than ${MAX_NAME} characters`);
  const descriptor = align16(base);
  const tableWords = ARGS + 2 * call.args.length;
  const errors = align16(descriptor + 4 * (tableWords + 3 * call.buffers.length));
  let end = align16(errors + 4 * ERROR_INTS * call.workers);
  const own = call.buffers.map(addressOf);
  const overlaps = (i: number): boolean =>
    call.buffers.some((b, j) => j !== i && own[j]! >= 0 && own[j]! < own[i]! + call.buffers[i]!.byteLength && own[i]! < own[j]! + b.byteLength);
  const inPlace = own.map((a, i) => a >= 0 && !overlaps(i));
  const at: number[] = [];
  call.buffers.forEach((b, i) => {
    if (inPlace[i]) {
      at.push(own[i]!);
      return;
    }
    at.push(end);
    end = align16(end + b.byteLength);
  });
  return { descriptor, inPlace, errors, at, end };
}

/** Writes the descriptor and copies every buffer in. */
export function stageCall(memory: ArrayBufferLike, s: StagedCall, call: TaskCall): void {
  const w = s.descriptor >> 2;
  const i32 = new Int32Array(memory);
  i32[w] = 0;
  i32[w + 1] = call.units;
  i32[w + 2] = call.args.length;
  i32[w + 3] = call.buffers.length;
  i32[w + 4] = call.name.length;
  i32[w + 5] = s.errors;
  i32[w + 6] = call.workers;
  for (let c = 0; c < call.name.length; c++) i32[w + NAME + c] = call.name.charCodeAt(c);
  new Float64Array(memory, s.descriptor + 4 * ARGS, call.args.length).set(call.args);
  const table = w + ARGS + 2 * call.args.length;
  call.buffers.forEach((b, i) => {
    i32[table + 3 * i] = b instanceof Float64Array ? 1 : 0;
    i32[table + 3 * i + 1] = s.at[i]!;
    i32[table + 3 * i + 2] = b.length;
    if (!s.inPlace[i]) viewOf(memory, b instanceof Float64Array ? 1 : 0, s.at[i]!, b.length).set(b);
  });
}

/** Copies the outputs (buffers from `firstOutput` on) back into the caller's arrays. */
export function unstageCall(memory: ArrayBufferLike, s: StagedCall, call: TaskCall, firstOutput: number): void {
  for (let i = firstOutput; i < call.buffers.length; i++) {
    if (s.inPlace[i]) continue;
    const b = call.buffers[i]!;
    b.set(viewOf(memory, b instanceof Float64Array ? 1 : 0, s.at[i]!, b.length));
  }
}

function viewOf(memory: ArrayBufferLike, type: number, at: number, length: number): FloatArray {
  return type === 1 ? new Float64Array(memory, at, length) : new Float32Array(memory, at, length);
}

/** The task name a descriptor holds. */
export function taskName(memory: ArrayBufferLike, descriptor: number): string {
  const i32 = new Int32Array(memory);
  const w = descriptor >> 2;
  return String.fromCharCode(...i32.subarray(w + NAME, w + NAME + i32[w + 4]!));
}

/**
 * Runs this thread's share of a staged call: claims units from the shared counter until none is left.
 * `body` is the caller's own function; a worker finds it by name (an error if its modules do not define it).
 */
export function runShare(memory: ArrayBufferLike, descriptor: number, body?: TaskBody): void {
  const i32 = new Int32Array(memory);
  const w = descriptor >> 2;
  const fn = body ?? findTask(taskName(memory, descriptor));
  if (!fn) throw new Error(`task "${taskName(memory, descriptor)}" is not registered in the worker (is its module listed in src/kernels/wasm/task_modules.ts?)`);
  const units = i32[w + 1]!;
  const nArgs = i32[w + 2]!;
  const nBufs = i32[w + 3]!;
  const args = Array.from(new Float64Array(memory, descriptor + 4 * ARGS, nArgs));
  const table = w + ARGS + 2 * nArgs;
  const buffers: FloatArray[] = [];
  for (let i = 0; i < nBufs; i++) buffers.push(viewOf(memory, i32[table + 3 * i]!, i32[table + 3 * i + 1]!, i32[table + 3 * i + 2]!));
  fn(buffers, args, () => {
    const u = Atomics.add(i32, w, 1);
    return u < units ? u : -1;
  });
}

/** Records why worker `slot` failed (its message, cut to 255 characters). */
export function writeError(memory: ArrayBufferLike, descriptor: number, slot: number, message: string): void {
  const i32 = new Int32Array(memory);
  const w = descriptor >> 2;
  if (slot >= i32[w + 6]!) return;
  const at = (i32[w + 5]! >> 2) + slot * ERROR_INTS;
  const n = Math.min(message.length, ERROR_INTS - 1);
  i32[at] = n;
  for (let c = 0; c < n; c++) i32[at + 1 + c] = message.charCodeAt(c);
}

export function readError(memory: ArrayBufferLike, descriptor: number, slot: number): string {
  const i32 = new Int32Array(memory);
  const at = (i32[(descriptor >> 2) + 5]! >> 2) + slot * ERROR_INTS;
  return String.fromCharCode(...i32.subarray(at + 1, at + 1 + i32[at]!));
}
