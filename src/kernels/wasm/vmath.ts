/**
 * `Kernels.map` on the wasm backend: all-f32 calls run the SIMD maps of vmath_code.ts, the rest (f64, mixed
 * dtypes) the JS loops. Operands that live in the module's memory (lent by the runtime) are used in place; the
 * others are staged through it in blocks of BLOCK elements, so the copies stay in cache: copy a block of each
 * such input in, run the map over it, copy each such output block back. The last block, when n is not a
 * multiple of 4, is staged for every operand and padded (the padding lanes compute on stale values and are
 * never copied out).
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
    // Operands that live in this memory (lent by the runtime) are used in place for whole vectors; the others
    // are staged in blocks. A last partial vector is staged for every operand (its padding lanes must not
    // touch memory past an operand's end).
    const all = [...inputs, ...outputs];
    const homes = all.map((o) => (o === null ? -1 : this.rt.addressOf(o.data)));
    const staged = homes.map((h) => h < 0); // an absent output has no home, so it counts as staged (never copied out)
    const whole = n & ~3;
    let start = 0;
    if (!staged.includes(true)) {
      if (whole > 0) fn(...all.map((o, i) => homes[i]! + 4 * o!.offset), whole);
      if (whole === n) return;
      start = whole;
    }
    const operands = all.length;
    const base = alignUp(this.rt.heapBase, 16);
    if (!this.rt.reserve(base + 4 * BLOCK * operands)) {
      mapJs(name, inputs.map((o) => ({ data: o.data, offset: o.offset + start })), outputs.map((o) => o && { data: o.data, offset: o.offset + start }), n - start);
      return;
    }
    const heap = this.rt.f32;
    const area = Array.from({ length: operands }, (_, i) => base + 4 * BLOCK * i);
    for (; start < n; start += BLOCK) {
      const len = Math.min(BLOCK, n - start);
      // whole vectors: in place where possible; a block with a partial vector is staged for every operand
      const stageAll = (len & 3) !== 0;
      const at = all.map((o, i) => (staged[i] || stageAll ? area[i]! : homes[i]! + 4 * (o!.offset + start)));
      inputs.forEach((o, i) => {
        if (staged[i] || stageAll) heap.set(o.data.subarray(o.offset + start, o.offset + start + len), area[i]! >> 2);
      });
      fn(...at, (len + 3) & ~3);
      outputs.forEach((o, j) => {
        const i = inputs.length + j;
        if (o === null || !(staged[i] || stageAll)) return;
        o.data.set(heap.subarray(area[i]! >> 2, (area[i]! >> 2) + len), o.offset + start);
      });
    }
  }
}
