/**
 * `Kernels.unitLowerInverse` on the wasm backend: the f64 forward substitution of tri_code.ts on staged f64
 * copies of kk, β and d (an f32 kk widens exactly), the result rounded into `out` as the reference rounds it.
 * Falls back to the JS routine when the memory has no room.
 */
import { checkUnitLowerArgs, unitLowerInverseJs } from "../js/tri.js";
import type { UnitLowerInverseArgs } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";

export class WasmTri {
  constructor(private readonly rt: WasmRuntime) {}

  unitLowerInverse(a: UnitLowerInverseArgs): void {
    checkUnitLowerArgs(a);
    const { L } = a;
    if (L === 0) return;
    const LL = L * L;
    const kkAt = alignUp(this.rt.heapBase, 16);
    const dAt = kkAt + 8 * LL;
    const betaAt = dAt + (a.d ? 8 * LL : 0);
    const tAt = alignUp(betaAt + 8 * L, 16);
    if (!this.rt.reserve(tAt + 8 * LL)) return unitLowerInverseJs(a);
    const heap = new Float64Array(this.rt.f32.buffer);
    heap.set(a.kk.subarray(a.kkOffset, a.kkOffset + LL), kkAt >> 3);
    if (a.d) heap.set(a.d.subarray(0, LL), dAt >> 3);
    heap.set(a.beta.subarray(a.betaOffset, a.betaOffset + L), betaAt >> 3);
    this.rt.tri.triInverse(kkAt, betaAt, dAt, L, tAt, a.d ? 1 : 0);
    a.out.set(heap.subarray(tAt >> 3, (tAt >> 3) + LL), a.outOffset);
  }
}
