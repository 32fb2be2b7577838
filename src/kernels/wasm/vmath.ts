/**
 * `Kernels.map` on the wasm backend: all-f32 calls run the SIMD maps of vmath_code.ts, the rest (f64, mixed
 * dtypes) the JS loops. Operands that all live in the module's memory (lent by the runtime) are used in place;
 * otherwise they are staged through it in blocks of BLOCK elements, so the copies stay in cache: copy a block of each input in, run the map over it (padded to a multiple of 4;
 * the padding lanes compute on stale values and are never copied out), copy each output block back.
 */
import { checkMapArgs, mapJs } from "../js/maps.js";
import type { ElementwiseMap, Operand } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";
import { VMATH_EXPORT } from "./vmath_code.js";

/** Elements per staged block: 16 KiB per operand, so a 4-operand map works within 64 KiB. */
const BLOCK = 4096;

export class WasmMaps {
  constructor(private readonly rt: WasmRuntime) {}

  map(name: ElementwiseMap, inputs: readonly Operand[], outputs: ReadonlyArray<Operand | null>, n: number): void {
    checkMapArgs(name, inputs, outputs, n);
    const f32 = (o: Operand | null): boolean => o === null || o.data instanceof Float32Array;
    if (!inputs.every(f32) || !outputs.every(f32)) {
      mapJs(name, inputs, outputs, n);
      return;
    }
    const fn = this.rt.vmath[VMATH_EXPORT[name]];
    // Operands that all live in this memory (lent by the runtime) are used in place for whole vectors.
    const all = [...inputs, ...outputs];
    const direct = all.every((o) => o !== null && this.rt.addressOf(o.data) >= 0);
    let start = 0;
    if (direct) {
      start = n & ~3;
      if (start > 0) fn(...all.map((o) => this.rt.addressOf(o!.data) + 4 * o!.offset), start);
      if (start === n) return;
    }
    const operands = all.length;
    const base = alignUp(this.rt.heapBase, 16);
    if (!this.rt.reserve(base + 4 * BLOCK * operands)) {
      mapJs(name, inputs.map((o) => ({ data: o.data, offset: o.offset + start })), outputs.map((o) => o && { data: o.data, offset: o.offset + start }), n - start);
      return;
    }
    const heap = this.rt.f32;
    const at = Array.from({ length: operands }, (_, i) => base + 4 * BLOCK * i);
    for (; start < n; start += BLOCK) {
      const len = Math.min(BLOCK, n - start);
      inputs.forEach((o, i) => heap.set(o.data.subarray(o.offset + start, o.offset + start + len), at[i]! >> 2));
      fn(...at, (len + 3) & ~3);
      outputs.forEach((o, i) => {
        if (o === null) return;
        const from = at[inputs.length + i]! >> 2;
        o.data.set(heap.subarray(from, from + len), o.offset + start);
      });
    }
  }
}
