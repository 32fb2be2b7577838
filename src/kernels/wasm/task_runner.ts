/**
 * Runs a task over the worker pool: stages the call in shared memory (task_job.ts), posts it to the ready
 * workers, runs the calling thread's share, waits, and copies the outputs back. Units are claimed one at a
 * time from a shared counter, so a late or slower thread simply takes fewer of them.
 */
import type { TaskSpec } from "../parallel.js";
import type { TaskBody } from "../task_registry.js";
import type { WorkerPool } from "./pool.js";
import type { WasmRuntime } from "./runtime.js";
import { layoutCall, readError, runShare, stageCall, unstageCall, type TaskCall } from "./task_job.js";

/**
 * Below this much work (≈ floating-point operations of the whole call) a task stays on the calling thread:
 * a hand-off costs ~10–60 µs (bench/task-handoff.ts), and staging copies every buffer twice.
 */
export const TASK_MIN_WORK = 1e6;

/** A task call: the task's name and body with its spec (../parallel.ts). */
export interface TaskRun extends TaskSpec {
  name: string;
  body: TaskBody;
}

export class WasmTaskRunner {
  /** Threads a task may use (the calling thread included). */
  threads = 1;
  /** Calls that went to the workers so far (for tests and benches). */
  threadedCalls = 0;

  constructor(private readonly rt: WasmRuntime, private readonly pool: WorkerPool | undefined) {}

  /**
   * Runs the task on several threads and returns true, or returns false (having done nothing) when it should
   * stay on the calling thread: one thread configured or ready, too little work, the workers already taken
   * (a task called from inside a task), a memory-bound task whose buffers would have to be copied, or no room
   * in the module's memory.
   */
  run(t: TaskRun): boolean {
    const pool = this.pool;
    if (this.threads < 2 || !pool || pool.busy || t.units < 2 || t.work < TASK_MIN_WORK) return false;
    pool.grow(this.threads - 1);
    const workers = Math.min(this.threads, 1 + pool.tasksReady, t.units) - 1;
    if (workers < 1) return false;
    const call: TaskCall = { name: t.name, units: t.units, args: t.args, buffers: [...t.inputs, ...t.outputs], workers };
    const staged = layoutCall(this.rt.heapBase, call, (b) => this.rt.addressOf(b));
    if (t.memoryBound) {
      const bytes = (inPlace: boolean): number => call.buffers.reduce((sum, b, i) => sum + (staged.inPlace[i] === inPlace ? b.byteLength : 0), 0);
      if (bytes(false) * 8 > bytes(false) + bytes(true)) return false;
    }
    if (!this.rt.reserve(staged.end)) return false;
    const memory = this.rt.memory.buffer;
    stageCall(memory, staged, call);
    this.threadedCalls++;
    const heapBase = this.rt.heapBase;
    this.rt.heapBase = staged.end;
    let out;
    try {
      out = pool.runTask(staged.descriptor, workers, () => runShare(memory, staged.descriptor, t.body));
    } finally {
      this.rt.heapBase = heapBase;
    }
    if (out.failed.length > 0) {
      const w = out.failed[0]!;
      throw new Error(`task "${t.name}" failed in worker ${w}: ${readError(memory, staged.descriptor, w) || "the worker exited"}`);
    }
    if (out.threw) throw new Error(`task "${t.name}" failed: ${describe(out.error)}`, { cause: out.error });
    unstageCall(memory, staged, call, t.inputs.length);
    return true;
  }
}

const describe = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));
