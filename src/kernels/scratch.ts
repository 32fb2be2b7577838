/**
 * Scratch arrays for one thread's share of a task, taken from the kernel backend where it lends memory: an f32
 * array the wasm backend lends lives in its memory, so the products and kernels that read and write it use it
 * in place, without staging copies. Otherwise (f64, nothing to lend) the array comes from `allocate`: the active
 * buffer arena's, which may itself be in the backend's memory, or a new one.
 */
import { allocate, type DType } from "../core/dtype.js";
import type { FloatArray, Kernels } from "./types.js";

/** Arrays lent by a backend through `borrowScratch` (to be given back with `returnScratch`). */
const lent = new WeakSet<FloatArray>();

/** A zeroed scratch array of n elements of `dtype`, lent by `kern` when it can. */
export function borrowScratch(kern: Kernels, dtype: DType, n: number): FloatArray {
  const block = dtype === "f32" ? kern.lend?.(n) : null;
  if (block) {
    lent.add(block);
    return block;
  }
  return allocate(dtype, n);
}

/** Gives back an array from `borrowScratch` to the backend that lent it (nothing for an ordinary array); it must not be used afterwards. */
export function returnScratch(kern: Kernels, array: FloatArray): void {
  if (lent.delete(array)) kern.release!(array as Float32Array);
}

/** The scratch arrays of one workspace, borrowed one by one (`borrowScratch`) and given back together. */
export class ScratchSet {
  private readonly arrays: FloatArray[] = [];

  constructor(private readonly kern: Kernels) {}

  /** A zeroed array of n elements of `dtype`, lent by the kernels when they can. */
  take(dtype: DType, n: number): FloatArray {
    const array = borrowScratch(this.kern, dtype, n);
    this.arrays.push(array);
    return array;
  }

  /**
   * Arrays of the given lengths (by name) as views of one borrowed block (one lend instead of many), each
   * starting on a 16-element (64-byte for f32) boundary of it.
   */
  takeBlock<Name extends string>(dtype: DType, lengths: Readonly<Record<Name, number>>): Record<Name, FloatArray> {
    const padded = (n: number): number => Math.ceil(n / 16) * 16;
    const names = Object.keys(lengths) as Name[];
    const block = this.take(dtype, names.reduce((sum, name) => sum + padded(lengths[name]), 0));
    const views = {} as Record<Name, FloatArray>;
    let at = 0;
    for (const name of names) {
      views[name] = block.subarray(at, at + lengths[name]);
      at += padded(lengths[name]);
    }
    return views;
  }

  /** Gives every array back; none may be used afterwards. */
  release(): void {
    for (const array of this.arrays.splice(0)) returnScratch(this.kern, array);
  }
}
