/** Options shared by the modules' constructors. */
import type { DType } from "../core/dtype.js";
import type { Random } from "../core/random.js";

export interface ModuleOptions {
  /** parameter dtype (default f32) */
  dtype?: DType;
  /** generator for the initial weights; required wherever a module has random initial values */
  rng: Random;
}

export function requirePositiveInt(owner: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${owner}: ${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function requirePositive(owner: string, name: string, value: unknown): number {
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new RangeError(`${owner}: ${name} must be a positive finite number, got ${JSON.stringify(value)}`);
  }
  return value;
}
