/** Floating-point element types of tensors. Index inputs (token ids, labels) are plain integer arrays, not tensors. */
import { activeArena } from "./arena.js";

export type DType = "f32" | "f64";
export type FloatArray = Float32Array | Float64Array;
export const DTYPES: readonly DType[] = ["f32", "f64"];

/** A zeroed array of `length` elements: lent by the active buffer arena inside `BufferArena.run`, else new. */
export function allocate(dtype: DType, length: number): FloatArray {
  const arena = activeArena();
  if (arena !== null) return arena.take(dtype, length);
  return dtype === "f64" ? new Float64Array(length) : new Float32Array(length);
}

/**
 * As `allocate`, but an arena's reused buffer keeps whatever it held: only for a result whose every element
 * the caller writes before anything reads it (a product's C, an elementwise map's output). Saves zeroing a
 * step's worth of large buffers (~1 GB for the bench model, ~70 ms).
 */
export function allocateForOverwrite(dtype: DType, length: number): FloatArray {
  const arena = activeArena();
  if (arena !== null) return arena.take(dtype, length, false);
  return dtype === "f64" ? new Float64Array(length) : new Float32Array(length);
}

export function dtypeOfArray(data: FloatArray): DType {
  return data instanceof Float64Array ? "f64" : "f32";
}

/** The result type of an op on two tensors: f64 if either is f64 (as PyTorch promotes float32 with float64). */
export function promoteTypes(a: DType, b: DType): DType {
  return a === "f64" || b === "f64" ? "f64" : "f32";
}

export function checkDType(value: unknown, argName: string): DType {
  if (value === "f32" || value === "f64") return value;
  throw new TypeError(`${argName} must be "f32" or "f64", got ${JSON.stringify(value)}`);
}
