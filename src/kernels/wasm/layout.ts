/**
 * Staging for the kernels' drivers: a bump allocator of 16-byte-aligned f32 areas in a wasm memory, and the copies
 * of strided rows into rows padded to a vector multiple and back.
 */
import type { FloatArray } from "../types.js";
import { alignUp } from "./runtime.js";

/** Below this row width a plain loop beats `set(subarray(…))` per row. */
const SET_WIDTH = 16;

/**
 * `rows` rows of `width` floats (row r at src[offset + r·stride]) into [rows][ld] at heap[to…] (a float index);
 * each row's padding [width, ld) is zeroed.
 */
export function stageRows(src: FloatArray, offset: number, stride: number, width: number, rows: number, heap: Float32Array, to: number, ld: number): void {
  if (width === ld && stride === width) {
    heap.set(src.subarray(offset, offset + rows * width), to);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const s = offset + r * stride, t = to + r * ld;
    if (width >= SET_WIDTH) heap.set(src.subarray(s, s + width), t);
    else for (let d = 0; d < width; d++) heap[t + d] = src[s + d]!;
    for (let d = width; d < ld; d++) heap[t + d] = 0;
  }
}

/** The inverse of `stageRows`: [rows][ld] at heap[from…] into the rows of dst (the padding is dropped). */
export function unstageRows(heap: Float32Array, from: number, ld: number, dst: FloatArray, offset: number, stride: number, width: number, rows: number): void {
  if (width === ld && stride === width) {
    dst.set(heap.subarray(from, from + rows * width), offset);
    return;
  }
  for (let r = 0; r < rows; r++) {
    const f = from + r * ld, t = offset + r * stride;
    if (width >= SET_WIDTH) dst.set(heap.subarray(f, f + width), t);
    else for (let d = 0; d < width; d++) dst[t + d] = heap[f + d]!;
  }
}

export class Layout {
  end: number;
  constructor(base: number) {
    this.end = alignUp(base, 16);
  }
  /** The byte address of a new area of `floats` f32 values. */
  take(floats: number): number {
    const a = this.end;
    this.end += alignUp(4 * floats, 16);
    return a;
  }
}
