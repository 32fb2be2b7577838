/**
 * Entry point of a kernel worker (worker_threads in Node, a module Web Worker in a browser). It receives the
 * compiled module, the shared memory and its slot, instantiates the kernels around that memory, marks itself
 * READY and then serves jobs forever: GEMM slices, and shares of tasks (task_job.ts). It spins briefly on its
 * GO word after each job (a hand-off costs ~5–15 µs that way instead of ~60 µs through a bare
 * `Atomics.wait`), then sleeps in `Atomics.wait`. It never returns to its event loop; the pool unrefs Node
 * workers, so they never keep a process alive.
 *
 * Tasks run here with this worker's own kernel backend (the same kind as the caller's, one thread, its own
 * memory), so products inside a task neither touch the shared memory's staging area nor start more workers.
 */
import { jsKernels } from "../js/index.js";
import { setKernels } from "../index.js";
import { DONE, FAILED, GO, KIND, KIND_TASK, POSTED, READY, RUNNING, SEQ, STATE, TASKS, field, readJob, readTaskJob } from "./control.js";
import { nodeProcess, importNode } from "./features.js";
import { runGemm } from "./gemm.js";
import { createWasmKernels } from "./index.js";
import { WasmRuntime, type RuntimeHandle } from "./runtime.js";
import { runShare, writeError } from "./task_job.js";

// The ops' tasks. Loaded dynamically: where they cannot be (an unbundled browser page cannot resolve the ops'
// bare imports such as "zod"), the worker still serves GEMM jobs and says it runs no tasks (TASKS = 0).
// Not awaited at the top level: a browser worker must set onmessage before its first message arrives.
const tasksLoaded: Promise<boolean> = import("./task_modules.js").then(() => true, () => false);

/** What the pool sends a worker when it starts. */
export interface WorkerInit extends RuntimeHandle {
  slot: number;
}

/** Polls of GO before sleeping (a poll is a few ns: tens of µs in all). */
const SPIN = 20000;

function serve(init: WorkerInit, tasks: boolean): never {
  const rt = new WasmRuntime(init.module, init.memory, init.fma);
  setKernels(createWasmKernels({ fma: init.fma, threads: 1 }) ?? jsKernels);
  const ctl = new Int32Array(init.memory.buffer, 0, 1024);
  const go = field(init.slot, GO);
  let seen = Atomics.load(ctl, go);
  Atomics.store(ctl, field(init.slot, TASKS), tasks ? 1 : 0);
  Atomics.store(ctl, field(init.slot, READY), 1);
  Atomics.notify(ctl, field(init.slot, READY));
  for (;;) {
    let spins = 0;
    while (Atomics.load(ctl, go) === seen) {
      if (++spins > SPIN) Atomics.wait(ctl, go, seen);
    }
    seen = Atomics.load(ctl, go);
    // Claim the job, unless the main thread has taken it back (control.ts); then nothing is owed for it.
    if (Atomics.compareExchange(ctl, field(init.slot, STATE), POSTED, RUNNING) !== POSTED) continue;
    seen = Atomics.load(ctl, field(init.slot, SEQ)); // the claimed job's number (control.ts SEQ), reported in DONE
    if (ctl[field(init.slot, KIND)] === KIND_TASK) {
      const memory = init.memory.buffer; // renewed: the memory may have grown since the last job
      const descriptor = readTaskJob(ctl, init.slot);
      try {
        runShare(memory, descriptor);
      } catch (e) {
        writeError(memory, descriptor, init.slot, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
        Atomics.store(ctl, field(init.slot, FAILED), 1);
      }
    } else {
      try {
        runGemm(rt.gemm, readJob(ctl, init.slot));
      } catch {
        Atomics.store(ctl, field(init.slot, FAILED), 1);
      }
    }
    Atomics.store(ctl, field(init.slot, DONE), seen);
    Atomics.notify(ctl, field(init.slot, DONE));
  }
}

if (nodeProcess) {
  const { workerData } = await importNode<typeof import("node:worker_threads")>("worker_threads");
  serve(workerData as WorkerInit, await tasksLoaded);
} else {
  const scope = globalThis as unknown as { onmessage: ((e: { data: WorkerInit }) => void) | null };
  scope.onmessage = (e) => {
    scope.onmessage = null;
    void tasksLoaded.then((tasks) => serve(e.data, tasks));
  };
}
