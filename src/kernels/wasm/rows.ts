/**
 * `Kernels.softmaxRows` on the wasm backend: f32 calls run vSoftmaxRows (rows_code.ts) over blocks of rows
 * staged in the module's memory, each row padded with −∞ to a multiple of 4; f64 and mixed calls run the JS
 * kernel. The log-sum-exp of a row is m + log s from the kernel's row maximum and sum (in f64), except for a
 * row whose maximum is ±∞ or NaN, which gets that maximum (the contract of `logSumExpRows`).
 * `Kernels.copyRows` runs copyRowsBytes when both arrays live in the module's memory (a JS `set` of a shared
 * memory's view costs ~70 ns per 64-float row), else the JS copy.
 */
import { checkCopyRowsArgs } from "../check.js";
import { copyRowsJs } from "../js/copy_rows.js";
import { checkSoftmaxArgs, softmaxRows as softmaxRowsJs } from "../js/rows.js";
import type { CopyRowsArgs, FloatArray } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";

/** Floats per staged block of rows (64 KiB of input), at least one row. */
const BLOCK = 16384;

export class WasmRows {
  constructor(private readonly rt: WasmRuntime) {}

  copyRows(args: CopyRowsArgs): void {
    const src = this.rt.addressOf(args.src);
    const dst = src < 0 ? -1 : this.rt.addressOf(args.dst);
    if (dst < 0) {
      copyRowsJs(args);
      return;
    }
    checkCopyRowsArgs(args);
    const size = args.src.BYTES_PER_ELEMENT;
    this.rt.rows.copyRowsBytes(
      src + size * args.srcOffset, size * args.srcStride, dst + size * args.dstOffset, size * args.dstStride, args.rows, size * args.cols,
    );
  }

  softmaxRows(x: FloatArray, out: FloatArray, rows: number, cols: number, logSumExp?: FloatArray): void {
    checkSoftmaxArgs(x, out, rows, cols, logSumExp);
    if (!(x instanceof Float32Array) || !(out instanceof Float32Array) || rows === 0 || cols === 0) {
      softmaxRowsJs(x, out, rows, cols, logSumExp);
      return;
    }
    const ld = (cols + 3) & ~3;
    const per = Math.max(1, Math.floor(BLOCK / ld));
    const base = alignUp(this.rt.heapBase, 16);
    const xAt = base;
    const outAt = xAt + 4 * per * ld;
    const statsAt = outAt + 4 * per * ld;
    if (!this.rt.reserve(statsAt + 8 * per)) {
      softmaxRowsJs(x, out, rows, cols, logSumExp);
      return;
    }
    const heap = this.rt.f32;
    if (ld > cols) for (let r = 0; r < per; r++) heap.fill(-Infinity, (xAt >> 2) + r * ld + cols, (xAt >> 2) + (r + 1) * ld);
    for (let r0 = 0; r0 < rows; r0 += per) {
      const n = Math.min(per, rows - r0);
      if (ld === cols) heap.set(x.subarray(r0 * cols, (r0 + n) * cols), xAt >> 2);
      else for (let r = 0; r < n; r++) heap.set(x.subarray((r0 + r) * cols, (r0 + r + 1) * cols), (xAt >> 2) + r * ld);
      this.rt.rows.vSoftmaxRows(xAt, outAt, statsAt, n, ld);
      if (ld === cols) out.set(heap.subarray(outAt >> 2, (outAt >> 2) + n * cols), r0 * cols);
      else for (let r = 0; r < n; r++) out.set(heap.subarray((outAt >> 2) + r * ld, (outAt >> 2) + r * ld + cols), (r0 + r) * cols);
      if (logSumExp) {
        for (let r = 0, st = statsAt >> 2; r < n; r++, st += 2) {
          const m = heap[st]!;
          logSumExp[r0 + r] = Number.isFinite(m) ? m + Math.log(heap[st + 1]!) : m;
        }
      }
    }
  }
}
