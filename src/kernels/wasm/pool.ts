/**
 * A persistent pool of kernel workers over the runtime's shared memory. Workers are started lazily, in the
 * background, the first time a product or a task is large enough to split; until a worker reports READY the
 * main thread simply does its share of the work itself, so no call ever waits for a worker to start.
 * `run(jobs)` posts GEMM jobs[1..] to ready workers, runs jobs[0] on the calling thread and waits for the
 * rest; `runTask` does the same for a task staged in memory (task_job.ts). Waiting spins on the DONE words,
 * then sleeps where the thread may block. While a job is out the pool is `busy`: a product computed on the
 * calling thread meanwhile (inside its share of a task) stays on that thread.
 */
import { CANCELLED, DONE, FAILED, GO, MAX_WORKERS, POSTED, READY, SEQ, STATE, TASKS, field, writeJob, writeTaskJob } from "./control.js";
import { nodeProcess, nodeWorkerThreads } from "./features.js";
import { runGemm, type GemmJob } from "./gemm.js";
import type { WasmRuntime } from "./runtime.js";
import type { WorkerInit } from "./worker.js";

/** Polls of a DONE word before sleeping on it. */
const SPIN = 100000;
/** Whether this thread may block in Atomics.wait (a browser's main thread may not). */
const canBlock = nodeProcess !== undefined || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined";

/** How a dispatched job went: the workers that failed, and whether the calling thread's share threw. */
export interface Dispatched {
  failed: number[];
  threw: boolean;
  error: unknown;
}

export class WorkerPool {
  private readonly ctl: Int32Array;
  private started = 0;
  private starting: Promise<void> | undefined;
  /** A job is out: the workers are taken. */
  busy = false;

  constructor(private readonly rt: WasmRuntime) {
    this.ctl = new Int32Array(rt.memory.buffer, 0, 1024);
  }

  /**
   * Workers, among the READY ones, that can also run tasks (slots 0 .. tasksReady−1): a worker that could not
   * load the task modules (e.g. an unbundled browser page, where the ops' bare imports do not resolve) still
   * takes GEMM jobs.
   */
  get tasksReady(): number {
    const ready = this.ready;
    let n = 0;
    while (n < ready && Atomics.load(this.ctl, field(n, TASKS)) === 1) n++;
    return n;
  }

  /** Workers that have reported READY (slots 0 .. ready−1). */
  get ready(): number {
    let n = 0;
    while (n < this.started && Atomics.load(this.ctl, field(n, READY)) === 1) n++;
    return n;
  }

  /** Starts workers in the background until there are `count` (capped at MAX_WORKERS). */
  grow(count: number): void {
    const want = Math.min(count, MAX_WORKERS);
    if (this.started >= want || this.starting) return;
    if (nodeWorkerThreads) {
      // synchronously: the caller may be a loop that never yields to the event loop
      try { this.spawnNode(nodeWorkerThreads.Worker, want); } catch { /* the main thread works alone */ }
      return;
    }
    this.starting = this.spawn(want).finally(() => { this.starting = undefined; });
    this.starting.catch(() => {}); // a failed start leaves the pool smaller; the main thread still works
  }

  private spawnNode(Worker: typeof import("node:worker_threads").Worker, want: number): void {
    const handle = this.rt.handle;
    const url = new URL("./worker.js", import.meta.url);
    // The parent's flags minus --input-type, which a worker started from `node -e` would reject.
    const execArgv = (nodeProcess?.execArgv ?? []).filter((a) => !a.startsWith("--input-type"));
    while (this.started < want) {
      const init: WorkerInit = { ...handle, slot: this.started };
      const w = new Worker(url, { workerData: init, execArgv });
      w.unref(); // never keeps the process alive; it dies with it
      const ready = field(init.slot, READY);
      w.on("error", () => {}); // a worker that fails to start stays un-READY; the main thread works alone
      w.on("exit", () => Atomics.store(this.ctl, ready, 0)); // no more jobs for a worker that has gone
      this.started++;
    }
  }

  /** Browser: module Web Workers, handed the runtime by message. */
  private async spawn(want: number): Promise<void> {
    const handle = this.rt.handle;
    {
      const WebWorker = (globalThis as unknown as { Worker: new (url: URL, options: { type: "module" }) => { postMessage(m: unknown): void } }).Worker;
      while (this.started < want) {
        // Written out in full so that bundlers recognise the worker entry point and emit it.
        const w = new WebWorker(new URL("./worker.js", import.meta.url), { type: "module" });
        w.postMessage({ ...handle, slot: this.started } satisfies WorkerInit);
        this.started++;
      }
    }
  }

  /** Runs jobs[0] here and jobs[1..] on workers 0..; needs jobs.length − 1 ≤ ready. */
  run(jobs: GemmJob[]): void {
    const gemm = this.rt.gemm;
    const out = this.dispatch(jobs.length - 1, (w) => writeJob(this.ctl, w, jobs[w + 1]!), () => runGemm(gemm, jobs[0]!), (w) => runGemm(gemm, jobs[w + 1]!));
    if (out.threw) throw out.error;
    if (out.failed.length > 0) throw new Error("wasm kernels: a worker failed while computing a matmul slice");
  }

  /**
   * Posts the task staged at `descriptor` to workers 0..workers−1, runs `own` (this thread's share, which
   * claims units until none is left) and waits for the workers that started, also when `own` throws: what
   * failed where is returned, never thrown.
   */
  runTask(descriptor: number, workers: number, own: () => void): Dispatched {
    return this.dispatch(workers, (w) => writeTaskJob(this.ctl, w, descriptor), own, () => {});
  }

  /**
   * Posts a job to workers 0..workers−1 (`write` fills slot w), runs `own`, then for each worker either takes
   * its job back if it has not started (and runs `takeBack(w)` here) or waits for it to finish.
   */
  private dispatch(workers: number, write: (slot: number) => void, own: () => void, takeBack: (slot: number) => void): Dispatched {
    const ctl = this.ctl;
    const posted: number[] = [];
    let threw = false;
    let error: unknown;
    this.busy = true;
    try {
      for (let w = 0; w < workers; w++) {
        write(w);
        const seq = (Atomics.load(ctl, field(w, GO)) + 1) | 0;
        Atomics.store(ctl, field(w, SEQ), seq);
        Atomics.store(ctl, field(w, STATE), POSTED);
        Atomics.store(ctl, field(w, GO), seq);
        posted.push(seq);
        Atomics.notify(ctl, field(w, GO));
      }
      own();
    } catch (e) {
      threw = true;
      error = e;
    }
    const started: number[] = [];
    for (let w = 0; w < posted.length; w++) {
      if (Atomics.compareExchange(ctl, field(w, STATE), POSTED, CANCELLED) !== POSTED) {
        started.push(posted[w]!);
        continue;
      }
      started.push(-1);
      if (threw) continue;
      try {
        takeBack(w);
      } catch (e) {
        threw = true;
        error = e;
      }
    }
    const failed = this.waitFor(started);
    this.busy = false;
    return { failed, threw, error };
  }

  /** Waits until each worker w has finished job posted[w] (−1: none); the workers that failed or died meanwhile. */
  private waitFor(posted: number[]): number[] {
    const ctl = this.ctl;
    const failed: number[] = [];
    for (let w = 0; w < posted.length; w++) {
      if (posted[w]! < 0) continue;
      const done = field(w, DONE);
      let spins = 0;
      for (;;) {
        const seen = Atomics.load(ctl, done);
        if (seen === posted[w]) break;
        if (++spins > SPIN) {
          if (Atomics.load(ctl, field(w, READY)) !== 1) { // the worker has exited: its job will never finish
            Atomics.store(ctl, field(w, FAILED), 1);
            break;
          }
          if (canBlock) Atomics.wait(ctl, done, seen, 10);
        }
      }
      if (Atomics.exchange(ctl, field(w, FAILED), 0) !== 0) failed.push(w);
    }
    return failed;
  }
}
