/**
 * The worker-thread side of the sweep pool: receives run specs, executes them one at a time, posts progress
 * (throttled) and the finished record back. Runs are deterministic for their seed, so a run gives the same
 * record here as in the main thread.
 */
import { parentPort } from "node:worker_threads";
import { setThreads } from "../kernels/index.js";
import { executeRun } from "./run.js";
import type { WorkerReply, WorkerRequest } from "./pool.js";

const port = parentPort;
if (!port) throw new Error("lab/worker.js must be started as a worker thread");

const PROGRESS_INTERVAL_MS = 250;

port.on("message", (msg: WorkerRequest) => {
  if (msg.type !== "run") return;
  setThreads(msg.kernelThreads);
  let last = 0;
  const record = executeRun(msg.spec, (p) => {
    const now = Date.now();
    if (now - last < PROGRESS_INTERVAL_MS && p.step !== p.steps) return;
    last = now;
    port.postMessage({ type: "progress", id: msg.spec.id, progress: p } satisfies WorkerReply);
  });
  port.postMessage({ type: "done", record } satisfies WorkerReply);
});
