/**
 * A persistent pool of kernel workers over the runtime's shared memory. Workers are started lazily, in the
 * background, the first time a product is large enough to split; until a worker reports READY the main
 * thread simply does its share of the work itself, so no call ever waits for a worker to start.
 * `run(jobs)` posts jobs[1..] to ready workers, runs jobs[0] on the calling thread and waits for the rest
 * (spinning on the DONE words, then sleeping where the thread may block).
 */
import { DONE, FAILED, GO, MAX_WORKERS, READY, field, writeJob } from "./control.js";
import { importNode, nodeProcess } from "./features.js";
import { runGemm, type GemmJob } from "./gemm.js";
import type { WasmRuntime } from "./runtime.js";
import type { WorkerInit } from "./worker.js";

/** Polls of a DONE word before sleeping on it. */
const SPIN = 100000;
/** Whether this thread may block in Atomics.wait (a browser's main thread may not). */
const canBlock = nodeProcess !== undefined || typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== "undefined";

export class WorkerPool {
  private readonly ctl: Int32Array;
  private started = 0;
  private starting: Promise<void> | undefined;

  constructor(private readonly rt: WasmRuntime) {
    this.ctl = new Int32Array(rt.memory.buffer, 0, 1024);
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
    this.starting = this.spawn(want).finally(() => { this.starting = undefined; });
    this.starting.catch(() => {}); // a failed start leaves the pool smaller; the main thread still works
  }

  private async spawn(want: number): Promise<void> {
    const handle = this.rt.handle;
    if (nodeProcess) {
      const url = new URL("./worker.js", import.meta.url);
      const { Worker } = await importNode<typeof import("node:worker_threads")>("worker_threads");
      while (this.started < want) {
        const init: WorkerInit = { ...handle, slot: this.started };
        // The parent's flags minus --input-type, which a worker started from `node -e` would reject.
        const execArgv = nodeProcess.execArgv.filter((a) => !a.startsWith("--input-type"));
        const w = new Worker(url, { workerData: init, execArgv });
        w.unref(); // never keeps the process alive; it dies with it
        const ready = field(init.slot, READY);
        w.on("error", () => {}); // a worker that fails to start stays un-READY; the main thread works alone
        w.on("exit", () => Atomics.store(this.ctl, ready, 0)); // no more jobs for a worker that has gone
        this.started++;
      }
    } else {
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
    const ctl = this.ctl;
    const posted: number[] = [];
    for (let w = 0; w + 1 < jobs.length; w++) {
      writeJob(ctl, w, jobs[w + 1]!);
      posted.push(Atomics.add(ctl, field(w, GO), 1) + 1);
      Atomics.notify(ctl, field(w, GO));
    }
    runGemm(this.rt.gemm, jobs[0]!);
    let failed = false;
    for (let w = 0; w < posted.length; w++) {
      const done = field(w, DONE);
      let spins = 0;
      for (;;) {
        const seen = Atomics.load(ctl, done);
        if (seen === posted[w]) break;
        if (++spins > SPIN && canBlock) Atomics.wait(ctl, done, seen, 10);
      }
      if (Atomics.exchange(ctl, field(w, FAILED), 0) !== 0) failed = true;
    }
    if (failed) throw new Error("wasm kernels: a worker failed while computing a matmul slice");
  }
}
