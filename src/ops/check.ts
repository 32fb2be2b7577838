/** Input checks shared by the ops: presence, rank, shape and dtype, with messages that name the tensor. */
import type { Tensor } from "../core/tensor.js";
import { shapeString } from "../core/shape.js";
import { OpError } from "./options.js";
import type { OpInputs } from "./types.js";

export function required(op: string, inputs: OpInputs, name: string, shape: string): Tensor {
  const t = inputs[name];
  if (t === undefined) throw new OpError(`${op}: missing input '${name}' (expected shape ${shape})`);
  return t;
}

/**
 * Checks `t` against `expected` (a number, or undefined for "any") and explains with `like` where the numbers
 * come from: `gla: gk must have shape [2,45,4,20] like k, got [2,45,4]`.
 */
export function expectShape(op: string, name: string, t: Tensor, expected: ReadonlyArray<number | undefined>, like = ""): void {
  const ok = t.ndim === expected.length && expected.every((d, i) => d === undefined || d === t.shape[i]);
  if (!ok) {
    const want = `[${expected.map((d) => (d === undefined ? "*" : String(d))).join(",")}]`;
    throw new OpError(`${op}: ${name} must have shape ${want}${like ? ` ${like}` : ""}, got ${shapeString(t.shape)}`);
  }
}

export function expectRank(op: string, name: string, t: Tensor, rank: number, symbols: string): void {
  if (t.ndim !== rank) throw new OpError(`${op}: ${name} must have ${rank} dimensions ${symbols}, got ${shapeString(t.shape)}`);
}

/** All given tensors share one dtype (f32 or f64). */
export function expectSameDType(op: string, inputs: OpInputs): void {
  const entries = Object.entries(inputs).filter((e): e is [string, Tensor] => e[1] !== undefined);
  const first = entries[0];
  if (!first) return;
  for (const [name, t] of entries) {
    if (t.dtype !== first[1].dtype) throw new OpError(`${op}: ${name} is ${t.dtype} but ${first[0]} is ${first[1].dtype}; all inputs must share one dtype`);
  }
}
