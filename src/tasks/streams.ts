/**
 * Train and eval data with disjoint random streams, plus batch slicing/concatenation.
 *
 * Seeding: everything hangs off `new Random(seed)`. Training uses the child stream `fork("train")`, evaluation
 * `fork("eval")` — two different PCG32 streams (distinct increments derived by hashing the label), so no
 * train batch is generated from the random numbers of an eval example. (zoology instead gives train and test
 * disjoint integer seed ranges, [0, 2^31) and [2^31, 2^32); named forks give the same separation without
 * reserving ranges.) Identical *examples* can still occur in both when the task has few distinct sequences
 * (short parity strings); that is a property of the task, not of the seeding.
 *
 * Training batch `step` is generated from `fork("train").fork(step)`: a pure function of (task, config, seed,
 * step, batchSize), so any step can be regenerated, resumed, or produced by a worker thread without replaying
 * the stream. The eval set is n examples drawn in one go from `fork("eval")` and then cut into batches, so it
 * does not depend on the eval batch size.
 */
import { Random } from "../core/random.js";
import { parseTaskConfig, type RealBatch, type Task, type TaskBatch, type TokenBatch } from "./types.js";

function root(seed: number | bigint, purpose: "train" | "eval"): Random {
  return new Random(seed).fork(purpose);
}

/** Training batch number `step` (0-based). `config` may be partial; it is parsed (defaults filled) first. */
export function trainBatch<C>(task: Task<C>, config: unknown, seed: number | bigint, step: number, batchSize: number): TaskBatch {
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`trainBatch: step must be a non-negative integer, got ${step}`);
  const c = parseTaskConfig(task, config);
  return task.generate(c, root(seed, "train").fork(step), batchSize);
}

/** An endless iterator of fresh training batches (online generation), starting at `startStep`. */
export function* trainStream<C>(
  task: Task<C>,
  config: unknown,
  seed: number | bigint,
  batchSize: number,
  startStep = 0,
): Generator<TaskBatch, never, void> {
  const c = parseTaskConfig(task, config);
  const r = root(seed, "train");
  for (let step = startStep; ; step++) yield task.generate(c, r.fork(step), batchSize);
}

/** A fixed held-out set of `n` examples, cut into batches of at most `batchSize` (default: one batch). */
export function evalSet<C>(task: Task<C>, config: unknown, seed: number | bigint, n: number, batchSize = n): TaskBatch[] {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`evalSet: batchSize must be a positive integer, got ${batchSize}`);
  const c = parseTaskConfig(task, config);
  const all = task.generate(c, root(seed, "eval"), n);
  const out: TaskBatch[] = [];
  for (let start = 0; start < n; start += batchSize) out.push(sliceBatch(all, start, Math.min(n, start + batchSize)));
  return out;
}

function sliceMeta(meta: TaskBatch["meta"], B: number, start: number, end: number): TaskBatch["meta"] {
  if (meta === undefined) return undefined;
  const out: Record<string, number | string | Int32Array | Float32Array> = {};
  for (const [k, v] of Object.entries(meta)) {
    if (typeof v === "number" || typeof v === "string") out[k] = v;
    else {
      const per = v.length / B; // entries per example
      out[k] = v.slice(start * per, end * per);
    }
  }
  return out;
}

/** Examples [start, end) of a batch (copies, so the result can be transferred on its own). */
export function sliceBatch(batch: TaskBatch, start: number, end: number): TaskBatch {
  const [B, T] = batch.shape;
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start < end && end <= B)) {
    throw new RangeError(`sliceBatch: need 0 ≤ start < end ≤ ${B}, got ${start}, ${end}`);
  }
  const meta = sliceMeta(batch.meta, B, start, end);
  if (batch.kind === "tokens") {
    const out: TokenBatch = {
      kind: "tokens",
      inputs: batch.inputs.slice(start * T, end * T),
      targets: batch.targets.slice(start * T, end * T),
      shape: [end - start, T],
      ...(meta ? { meta } : {}),
    };
    return out;
  }
  const D = batch.inputDim;
  const out: RealBatch = {
    kind: "real",
    inputs: batch.inputs.slice(start * T * D, end * T * D),
    inputDim: D,
    targets: batch.targets.slice(start * T, end * T),
    mask: batch.mask.slice(start * T, end * T),
    shape: [end - start, T],
    ...(meta ? { meta } : {}),
  };
  return out;
}

function concatTyped<A extends Int32Array | Float32Array | Uint8Array>(parts: A[], make: (n: number) => A): A {
  const out = make(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p as never, o);
    o += p.length;
  }
  return out;
}

/** Stacks batches of the same kind and length T along the batch axis (meta arrays concatenated too). */
export function concatBatches(batches: readonly TaskBatch[]): TaskBatch {
  if (batches.length === 0) throw new RangeError("concatBatches: no batches");
  const first = batches[0]!;
  const T = first.shape[1];
  for (const b of batches) {
    if (b.kind !== first.kind || b.shape[1] !== T || (b.kind === "real" && first.kind === "real" && b.inputDim !== first.inputDim)) {
      throw new RangeError("concatBatches: batches differ in kind, length or input width");
    }
  }
  const B = batches.reduce((s, b) => s + b.shape[0], 0);
  let meta: Record<string, number | string | Int32Array | Float32Array> | undefined;
  if (first.meta) {
    meta = {};
    for (const [k, v] of Object.entries(first.meta)) {
      if (typeof v === "number" || typeof v === "string") meta[k] = v;
      else if (v instanceof Int32Array) meta[k] = concatTyped(batches.map((b) => b.meta![k] as Int32Array), (n) => new Int32Array(n));
      else meta[k] = concatTyped(batches.map((b) => b.meta![k] as Float32Array), (n) => new Float32Array(n));
    }
  }
  if (first.kind === "tokens") {
    const bs = batches as readonly TokenBatch[];
    return {
      kind: "tokens",
      inputs: concatTyped(bs.map((b) => b.inputs), (n) => new Int32Array(n)),
      targets: concatTyped(bs.map((b) => b.targets), (n) => new Int32Array(n)),
      shape: [B, T],
      ...(meta ? { meta } : {}),
    };
  }
  const rs = batches as readonly RealBatch[];
  return {
    kind: "real",
    inputs: concatTyped(rs.map((b) => b.inputs), (n) => new Float32Array(n)),
    inputDim: first.inputDim,
    targets: concatTyped(rs.map((b) => b.targets), (n) => new Float32Array(n)),
    mask: concatTyped(rs.map((b) => b.mask), (n) => new Uint8Array(n)),
    shape: [B, T],
    ...(meta ? { meta } : {}),
  };
}
