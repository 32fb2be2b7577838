/** Small helpers for the task tests. */
import { Random } from "../../src/core/random.js";
import { parseTaskConfig, type Task, type TaskBatch, type TokenBatch } from "../../src/tasks/index.js";

export const IGNORE = -100;

/** Parses `overrides` and generates `batchSize` examples from `new Random(seed)`. */
export function gen<C>(task: Task<C>, overrides: Record<string, unknown>, batchSize: number, seed = 1): { config: C; batch: TaskBatch } {
  const config = parseTaskConfig(task, overrides);
  return { config, batch: task.generate(config, new Random(seed), batchSize) };
}

export function tokens(batch: TaskBatch): TokenBatch {
  if (batch.kind !== "tokens") throw new Error("expected a token batch");
  return batch;
}

/** Example b's inputs and targets as plain arrays. */
export function example(batch: TokenBatch, b: number): { x: number[]; y: number[] } {
  const T = batch.shape[1];
  return {
    x: Array.from(batch.inputs.subarray(b * T, (b + 1) * T)),
    y: Array.from(batch.targets.subarray(b * T, (b + 1) * T)),
  };
}

/** Positions whose target is scored. */
export function scored(y: number[]): number[] {
  const out: number[] = [];
  y.forEach((v, t) => {
    if (v !== IGNORE) out.push(t);
  });
  return out;
}
