/**
 * `node dist/bench/task-handoff.js`: what handing a task to the worker pool costs (src/kernels/parallel.ts).
 * Times `runTask` of the probe task (two units of busy work, spin iterations each) on one thread and on two
 * (forced past the work threshold), back to back: the difference at spin 0 is the hand-off (staging,
 * posting, waking the worker, waiting for it); the spin at which two threads win is the break-even.
 */
import { getKernels, setThreads, type WasmKernels } from "../src/kernels/index.js";
import { runTask } from "../src/kernels/parallel.js";
import { probeTask } from "../src/kernels/probe_task.js";
import { median } from "./timing.js";

function timeCall(spin: number, threads: number, reps: number): number {
  setThreads(threads);
  const x = new Float64Array(2);
  const y = new Float64Array(2);
  const spec = { units: 2, work: Infinity, args: [spin, 0], inputs: [x], outputs: [y] };
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) runTask(probeTask, spec);
    times.push((performance.now() - t0) / 20);
  }
  return median(times) * 1000;
}

export async function run(): Promise<void> {
  const kernels = getKernels() as Partial<WasmKernels>;
  if (!kernels.tasks) {
    console.log("task-handoff: the active backend has no worker pool; skipped");
    return;
  }
  setThreads(2);
  timeCall(1000, 2, 1);
  for (let i = 0; i < 400 && kernels.workersReady! < 1; i++) await new Promise((r) => setTimeout(r, 25));
  if (kernels.workersReady! < 1) {
    console.log("task-handoff: no worker became ready; skipped");
    return;
  }
  console.log("runTask(probe, 2 units), µs per call, median of 15×20 calls (unit ≈ spin × 1–2 ns):");
  console.log("spin     1 thread   2 threads   saved");
  for (const spin of [0, 1000, 4000, 16000, 64000, 256000]) {
    const one = timeCall(spin, 1, 15);
    const two = timeCall(spin, 2, 15);
    console.log(`${String(spin).padEnd(8)} ${one.toFixed(1).padStart(8)}   ${two.toFixed(1).padStart(9)}   ${(one - two).toFixed(1).padStart(6)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
