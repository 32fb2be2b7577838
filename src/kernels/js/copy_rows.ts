/**
 * `Kernels.copyRows` in JS: rows that are adjacent on both sides as one `set`; otherwise rows of 16 or more with
 * `set` (a memcpy; measured ~2× faster than a loop at 64), shorter ones with plain loops (a typed-array view per
 * row costs more than a short copy). One loop per array type, so that each loop's element accesses stay
 * monomorphic. The wasm drivers' staging (wasm/layout.ts) copies its rows with it too.
 */
import { checkCopyRowsArgs } from "../check.js";
import type { CopyRowsArgs } from "../types.js";

/** Rows at least this long are copied with `set`. */
const SET_MIN = 16;

export function copyRowsJs(args: CopyRowsArgs): void {
  checkCopyRowsArgs(args);
  const { src, dst, rows, cols } = args;
  if (args.srcStride === cols && args.dstStride === cols) {
    dst.set(src.subarray(args.srcOffset, args.srcOffset + rows * cols), args.dstOffset);
    return;
  }
  if (src instanceof Float32Array) copy32(src, dst as Float32Array, args);
  else copy64(src, dst as Float64Array, args);
}

function copy32(src: Float32Array, dst: Float32Array, a: CopyRowsArgs): void {
  const { rows, cols, srcStride, dstStride } = a;
  for (let r = 0, from = a.srcOffset, to = a.dstOffset; r < rows; r++, from += srcStride, to += dstStride) {
    if (cols >= SET_MIN) dst.set(src.subarray(from, from + cols), to);
    else for (let j = 0; j < cols; j++) dst[to + j] = src[from + j]!;
  }
}

function copy64(src: Float64Array, dst: Float64Array, a: CopyRowsArgs): void {
  const { rows, cols, srcStride, dstStride } = a;
  for (let r = 0, from = a.srcOffset, to = a.dstOffset; r < rows; r++, from += srcStride, to += dstStride) {
    if (cols >= SET_MIN) dst.set(src.subarray(from, from + cols), to);
    else for (let j = 0; j < cols; j++) dst[to + j] = src[from + j]!;
  }
}
