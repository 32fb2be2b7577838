/**
 * `Kernels.rmsNormRows` / `rmsNormBackwardRows` on the wasm backend: all-f32 calls run the f64x2 loops of
 * norm_code.ts, the rest the JS loops. Row arrays that live in the module's memory (the arena lends them) are
 * used in place; the others are staged in blocks of rows. inv and dw (f64) are always staged.
 */
import { checkRmsNormArgs, rmsNormBackwardRowsJs, rmsNormRowsJs } from "../js/norm.js";
import type { FloatArray, RmsNormBackwardRowsArgs, RmsNormRowsArgs } from "../types.js";
import type { WasmRuntime } from "./runtime.js";
import { Layout } from "./layout.js";

/** Floats per staged block of one row operand (64 KiB), at least one row. */
const BLOCK = 16384;

/** One row operand of a call: in place (its byte address) or staged (copied through `at`). */
interface RowOperand {
  data: Float32Array;
  /** byte address of element 0 when the array lives in the memory, else −1 */
  home: number;
  /** staging area (byte address) when not in place */
  at: number;
}

export class WasmNorm {
  constructor(private readonly rt: WasmRuntime) {}

  forward(a: RmsNormRowsArgs): void {
    const { x, weight, out } = a;
    if (!(x instanceof Float32Array) || !(out instanceof Float32Array) || (weight && !(weight instanceof Float32Array))) return rmsNormRowsJs(a);
    checkRmsNormArgs("rmsNormRows", a);
    const ok = this.run(a, [x, out], weight as Float32Array | null, null, (ops, wAt, invAt, _dwAt, n) =>
      this.rt.norm.rmsForwardRows(ops[0]!, wAt, ops[1]!, invAt, n, a.width, a.eps, weight ? 1 : 0));
    if (!ok) rmsNormRowsJs(a);
  }

  backward(a: RmsNormBackwardRowsArgs): void {
    const { x, g, weight, dx } = a;
    const f32 = (v: FloatArray | null): boolean => v === null || v instanceof Float32Array;
    if (!f32(x) || !f32(g) || !f32(dx) || !f32(weight)) return rmsNormBackwardRowsJs(a);
    checkRmsNormArgs("rmsNormBackwardRows", a);
    // the weighted loop always adds into a dw: a scratch one when the caller does not want it
    const dw = weight ? (a.dw ?? new Float64Array(a.width)) : null;
    const ok = this.run(a, [x as Float32Array, g as Float32Array, dx as Float32Array], weight as Float32Array | null, dw, (ops, wAt, invAt, dwAt, n) =>
      this.rt.norm.rmsBackwardRows(ops[0]!, ops[1]!, wAt, invAt, ops[2]!, dwAt, n, a.width, weight ? 1 : 0));
    if (!ok) rmsNormBackwardRowsJs(a);
  }

  /**
   * Runs `kernel` over the rows in blocks. `rows` are the row operands, the last one the output (written back
   * when staged); `kernel` gets each operand's byte address at the block's first row, the weight's, inv's (at
   * the block's first row), dw's, and the block's row count. False when the memory has no room (nothing done).
   */
  private run(
    a: RmsNormRowsArgs | RmsNormBackwardRowsArgs, rows: Float32Array[], weight: Float32Array | null, dw: Float64Array | null,
    kernel: (ops: number[], wAt: number, invAt: number, dwAt: number, n: number) => void,
  ): boolean {
    const { r0, r1, width, inv } = a;
    if (r1 === r0) return true;
    const per = Math.max(1, Math.floor(BLOCK / width));
    const span = Math.min(per, r1 - r0);
    // staging areas (f32 counts; an f64 value takes two)
    const layout = new Layout(this.rt.heapBase);
    const ops: RowOperand[] = rows.map((data) => {
      const home = this.rt.addressOf(data);
      return { data, home, at: home >= 0 ? -1 : layout.take(span * width) };
    });
    const wHome = weight ? this.rt.addressOf(weight) : -1;
    const wAt = weight ? (wHome >= 0 ? wHome : layout.take(width)) : 0;
    const invAt = layout.take(2 * span);
    const dwAt = dw ? layout.take(2 * width) : 0;
    if (!this.rt.reserve(layout.end)) return false;
    const heap = this.rt.f32;
    const heap64 = new Float64Array(heap.buffer, 0, heap.buffer.byteLength >> 3);
    if (weight && wHome < 0) heap.set(weight.subarray(0, width), wAt >> 2);
    if (dw) heap64.set(dw.subarray(0, width), dwAt >> 3);
    const backward = "g" in a;
    const output = ops[ops.length - 1]!;
    for (let b0 = r0; b0 < r1; b0 += per) {
      const n = Math.min(per, r1 - b0);
      const from = b0 * width, to = from + n * width;
      for (const op of ops) if (op.home < 0 && op !== output) heap.set(op.data.subarray(from, to), op.at >> 2);
      if (backward) heap64.set(inv.subarray(b0, b0 + n), invAt >> 3);
      kernel(ops.map((op) => (op.home >= 0 ? op.home + 4 * from : op.at)), wAt, invAt, dwAt, n);
      if (output.home < 0) output.data.set(heap.subarray(output.at >> 2, (output.at >> 2) + n * width), from);
      if (!backward) inv.set(heap64.subarray(invAt >> 3, (invAt >> 3) + n), b0);
    }
    if (dw) dw.set(heap64.subarray(dwAt >> 3, (dwAt >> 3) + width));
    return true;
  }
}
