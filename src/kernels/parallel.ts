/**
 * Splitting an op's independent units of work (its (batch, head) pairs, its channel blocks, …) over threads.
 *
 *   const fwd = defineTask("myop.forward", (buffers, args, next) => {
 *     const [x, y] = buffers as [Float32Array, Float32Array];
 *     const [T] = args;
 *     for (let u = next(); u >= 0; u = next()) { ...compute unit u: read x, write only unit u's part of y... }
 *   });
 *   runTask(fwd, { units: B * H, work: flops, args: [T], inputs: [x], outputs: [y] });
 *
 * `runTask` is synchronous. With one thread, without shared memory, for little work, or inside another
 * task, the body runs on the calling thread on the caller's own arrays. Otherwise the wasm backend copies
 * the buffers into its shared memory, the calling thread and the pool's workers run the same body on views
 * of those copies, claiming units one at a time, and the outputs are copied back. Outputs are copied in
 * too, so a task may accumulate into them. Because a unit's result depends only on the unit, results are
 * the same bit for bit with any number of threads. Inside a worker, matmuls run single-threaded on that
 * worker's own kernels (the same backend as the caller's).
 *
 * Workers find a task by its name: the module that calls `defineTask` must be listed in
 * `wasm/task_modules.ts` (a worker that does not know the name fails the call with an error saying so).
 * An error thrown by the body, on any thread, reaches the caller as an Error naming the task (and the worker,
 * if it was thrown in one), with the original error as its `cause` where it was thrown on the calling thread.
 */
import { getKernels } from "./index.js";
import { registerTask, type TaskBody } from "./task_registry.js";
import type { FloatArray } from "./types.js";
import type { WasmKernels } from "./wasm/index.js";

export type { TaskBody } from "./task_registry.js";

export interface Task {
  readonly name: string;
  readonly body: TaskBody;
}

export interface TaskSpec {
  /** units of work, numbered 0 … units − 1 */
  units: number;
  /** about how many floating-point operations the whole call does (decides whether threads gain) */
  work: number;
  /** numeric arguments (carried as f64) */
  args: readonly number[];
  /** arrays the body only reads */
  inputs: readonly FloatArray[];
  /** arrays the body writes (each unit its own part), after the inputs in the body's `buffers` */
  outputs: readonly FloatArray[];
  /**
   * The body does little work per element (a normalisation, a sum): copying its buffers into shared memory
   * would cost about what threads save, so it runs on several threads only when its buffers are already there
   * (f32 arrays lent by the backend, as the buffer arena's are) — those not in place may make up at most an
   * eighth of the call's bytes.
   */
  memoryBound?: boolean;
}

/** Registers `body` under `name` (unique across the library) and returns the task. */
export function defineTask(name: string, body: TaskBody): Task {
  registerTask(name, body);
  return { name, body };
}

/** Runs every unit of `task` (see the module comment), on the workers too when that gains. */
export function runTask(task: Task, spec: TaskSpec): void {
  if (!Number.isInteger(spec.units) || spec.units < 0) throw new RangeError(`runTask(${task.name}): units must be a non-negative integer, got ${spec.units}`);
  if (spec.units === 0) return;
  const runner = (getKernels() as Partial<WasmKernels>).tasks;
  if (runner?.run({ name: task.name, body: task.body, ...spec })) return;
  let u = 0;
  try {
    task.body([...spec.inputs, ...spec.outputs], spec.args, () => (u < spec.units ? u++ : -1));
  } catch (e) {
    throw taskError(task.name, e);
  }
}

/** The error a task's body threw on the calling thread, as an Error naming the task. */
export function taskError(name: string, e: unknown): Error {
  return new Error(`task "${name}" failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`, { cause: e });
}
