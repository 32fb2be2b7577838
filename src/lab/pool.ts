/**
 * Executes run specs on a pool of worker threads (or in this thread when `workers` is 0), handing each finished
 * record to `onRecord` as soon as it ends. A worker that dies takes only its current run with it: that run is
 * recorded as an error and a fresh worker takes the next one.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { executeRun, failedRecord, type RunProgress } from "./run.js";
import type { RunRecord } from "./record.js";
import type { RunSpec } from "./sweep.js";

export type WorkerRequest = { type: "run"; spec: RunSpec; kernelThreads: number };
export type WorkerReply = { type: "progress"; id: string; progress: RunProgress } | { type: "done"; record: RunRecord };

export interface PoolOptions {
  /** worker threads; 0 runs everything in this thread (one run at a time) */
  workers: number;
  /**
   * threads each worker's matmul kernels may use (default: the machine's processors shared out among the
   * workers, at least 1), so that workers × kernel threads does not oversubscribe the cores
   */
  kernelThreads?: number;
  onProgress?: (spec: RunSpec, progress: RunProgress) => void;
  onStart?: (spec: RunSpec) => void;
  /** called once per run, in completion order */
  onRecord: (record: RunRecord, spec: RunSpec) => void;
}

/** A record for a run whose worker died before it could report. */
export function crashedRecord(spec: RunSpec, message: string): RunRecord {
  return failedRecord(spec, "error", `worker thread failed: ${message}`);
}

export async function runPool(specs: readonly RunSpec[], options: PoolOptions): Promise<void> {
  if (!Number.isInteger(options.workers) || options.workers < 0) throw new RangeError(`lab: workers must be a non-negative integer, got ${options.workers}`);
  const queue = [...specs];
  if (options.workers === 0) {
    for (const spec of queue) {
      options.onStart?.(spec);
      options.onRecord(executeRun(spec, (p) => options.onProgress?.(spec, p)), spec);
      await new Promise((r) => setImmediate(r)); // let the event loop breathe (progress rendering, signals)
    }
    return;
  }
  const count = Math.min(options.workers, queue.length);
  const kernelThreads = options.kernelThreads ?? Math.max(1, Math.floor(availableParallelism() / count));
  const workerUrl = new URL("./worker.js", import.meta.url);
  await Promise.all(
    Array.from({ length: count }, async () => {
      while (queue.length > 0) {
        const worker = new Worker(workerUrl);
        try {
          // one worker serves runs until it dies or the queue is empty
          for (;;) {
            const spec = queue.shift();
            if (!spec) return;
            options.onStart?.(spec);
            const record = await runOnWorker(worker, spec, kernelThreads, options);
            options.onRecord(record, spec);
            if (record.status === "error" && record.error?.startsWith("worker thread failed")) break;
          }
        } finally {
          await worker.terminate();
        }
      }
    }),
  );
}

function runOnWorker(worker: Worker, spec: RunSpec, kernelThreads: number, options: PoolOptions): Promise<RunRecord> {
  return new Promise((resolve) => {
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    };
    const onMessage = (msg: WorkerReply) => {
      if (msg.type === "progress" && msg.id === spec.id) options.onProgress?.(spec, msg.progress);
      else if (msg.type === "done" && msg.record.id === spec.id) {
        cleanup();
        resolve(msg.record);
      }
    };
    const onError = (err: Error) => {
      cleanup();
      resolve(crashedRecord(spec, err.message));
    };
    const onExit = (code: number) => {
      cleanup();
      resolve(crashedRecord(spec, `exited with code ${code}`));
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    worker.postMessage({ type: "run", spec, kernelThreads } satisfies WorkerRequest);
  });
}
