/**
 * Staging for the kernels' drivers: a bump allocator of 16-byte-aligned f32 areas in a wasm memory, the copies
 * of strided rows into rows padded to a vector multiple and back, and `RowStaging`, which places each row operand
 * of a call in place (when it lives in the memory) or in a dense staging area.
 */
import { copyRowsJs } from "../js/copy_rows.js";
import type { FloatArray, StridedRows } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";

/**
 * `rows` rows of `width` floats (row r at src[offset + r·stride]) into [rows][ld] at heap[to…] (a float index);
 * each row's padding [width, ld) is zeroed.
 */
export function stageRows(src: FloatArray, offset: number, stride: number, width: number, rows: number, heap: Float32Array, to: number, ld: number): void {
  copyRowsJs({ src, srcOffset: offset, srcStride: stride, dst: heap, dstOffset: to, dstStride: ld, rows, cols: width });
  if (ld > width) for (let r = 0, t = to; r < rows; r++, t += ld) for (let d = width; d < ld; d++) heap[t + d] = 0;
}

/** The inverse of `stageRows`: [rows][ld] at heap[from…] into the rows of dst (the padding is dropped). */
export function unstageRows(heap: Float32Array, from: number, ld: number, dst: FloatArray, offset: number, stride: number, width: number, rows: number): void {
  copyRowsJs({ src: heap, srcOffset: from, srcStride: ld, dst, dstOffset: offset, dstStride: stride, rows, cols: width });
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

/** Where a row operand is for one kernel call: the byte address of its row 0 and its row distance in bytes. */
export interface PlacedRows {
  at: number;
  stride: number;
}

/** How a kernel uses a row operand: read, written, or both (staged in, out, or both). */
export type RowUse = "in" | "out" | "inout";

/**
 * The row operands of one f32 kernel call, for kernels that take any row width and stride: an operand that lives
 * in the runtime's memory (`addressOf` ≥ 0: the arena's buffers, lent scratch) is used in place with its own
 * stride; any other gets a dense staging area from `heapBase` on, copied in before the call (`stageIn`) when
 * read and out after it (`stageOut`) when written.
 */
export class RowStaging extends Layout {
  private readonly staged: Array<{ at: number; rows: number; width: number; src: StridedRows; use: RowUse }> = [];

  constructor(private readonly rt: WasmRuntime) {
    super(rt.heapBase);
  }

  /** Starts a call's placement (staging from the current `heapBase`). */
  reset(): void {
    this.end = alignUp(this.rt.heapBase, 16);
    this.staged.length = 0;
  }

  /** `rows` rows of `width` floats of x, in place or staged. */
  place(x: StridedRows, rows: number, width: number, use: RowUse): PlacedRows {
    const own = this.rt.addressOf(x.data);
    if (own >= 0) return { at: own + 4 * x.offset, stride: 4 * x.stride };
    const at = this.take(rows * width);
    this.staged.push({ at, rows, width, src: x, use });
    return { at, stride: 4 * width };
  }

  /** Copies the staged operands that the kernel reads into their areas (after `rt.reserve(this.end)`). */
  stageIn(): void {
    const heap = this.rt.f32;
    for (const p of this.staged) {
      if (p.use !== "out") stageRows(p.src.data as Float32Array, p.src.offset, p.src.stride, p.width, p.rows, heap, p.at >> 2, p.width);
    }
  }

  /** Copies the staged operands that the kernel wrote back to their arrays. */
  stageOut(): void {
    const heap = this.rt.f32;
    for (const p of this.staged) {
      if (p.use !== "in") unstageRows(heap, p.at >> 2, p.width, p.src.data, p.src.offset, p.src.stride, p.width, p.rows);
    }
  }
}
