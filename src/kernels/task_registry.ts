/**
 * The registry of tasks: functions over numbered units of work (e.g. one (batch, head) pair each) that the
 * worker pool can run on several threads. A task is registered under a name when the module defining it is
 * loaded; workers load the same modules (wasm/task_modules.ts) and find the function by that name.
 * A leaf module: it imports nothing, so both the kernels and the ops can depend on it without a cycle.
 */
import type { FloatArray } from "./types.js";

/**
 * The work of one thread: claims units with `next()` (−1 when none is left) and computes each one.
 * `buffers` are the call's inputs then its outputs, in the order given to `runTask` (on the calling thread
 * alone, the caller's own arrays; with workers, views of shared memory holding copies of them); `args` are
 * the call's numeric arguments. Units may run on any thread in any order, so a unit must write only its own
 * part of the outputs, and what it computes must not depend on which other units ran where.
 */
export type TaskBody = (buffers: FloatArray[], args: readonly number[], next: () => number) => void;

const registry = new Map<string, TaskBody>();

/** Registers `body` under `name`; a name can only ever mean one function. */
export function registerTask(name: string, body: TaskBody): void {
  const known = registry.get(name);
  if (known !== undefined && known !== body) throw new Error(`task "${name}" is already registered with another function`);
  registry.set(name, body);
}

/** The function registered under `name`, or undefined. */
export function findTask(name: string): TaskBody | undefined {
  return registry.get(name);
}
