/**
 * A tiny task for tests and for measuring the hand-off (bench/task-handoff.ts): unit u sets
 * y[u] = 2·x[u] + u after `spin` iterations of busy work; with `fail` ≠ 0 every unit but unit 0 throws instead
 * (unit 0 still runs, so the thread that takes it stays busy while the others fail).
 */
import { defineTask } from "./parallel.js";

export const probeTask = defineTask("kernels.probe", (buffers, args, next) => {
  const [x, y] = buffers as [Float64Array, Float64Array];
  const [spin, fail] = args as [number, number];
  for (let u = next(); u >= 0; u = next()) {
    if (fail !== 0 && u !== 0) throw new RangeError(`probe failure at unit ${u}`);
    let acc = 0;
    for (let i = 0; i < spin; i++) acc += Math.sqrt(i + u);
    y[u] = 2 * x[u]! + u + (acc >= 0 ? 0 : 1);
  }
});
