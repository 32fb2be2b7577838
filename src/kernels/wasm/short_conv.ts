/**
 * `Kernels.shortConvForward` / `shortConvBackward` on the wasm backend: f32 batch rows run the SIMD kernels of
 * short_conv_code.ts, f64 rows (and any row that does not fit in the module's memory) the JS loops.
 *
 * A row's [T,C] arrays that already live in the module's memory (lent by the runtime: the arena's activations and
 * gradients) are used in place when C is a multiple of 4; the others are staged whole into [T][Cp] areas (C
 * padded to Cp = 4·⌈C/4⌉; padded lanes hold whatever was there — lanes never interact, and they are never copied
 * out). The small per-call arrays (weight transposed to [W][Cp], bias, state, rinv) are always staged. The
 * backward runs in blocks of ROW_BLOCK rows and adds each block's f32 sums of gw and gbias into the row's f64
 * partial sums.
 */
import { shortConvBackwardJs, shortConvForwardJs } from "../js/short_conv.js";
import type { FloatArray, ShortConvBackwardArgs, ShortConvForwardArgs, ShortConvRow } from "../types.js";
import type { WasmRuntime } from "./runtime.js";
import { SHORT_CONV_FLAGS } from "./short_conv_code.js";
import { Layout, stageRows, unstageRows } from "./layout.js";

/** Rows per block of the backward's f32 gw / gbias sums (the accuracy bound in short_conv_code.ts scales with it). */
export const ROW_BLOCK = 64;

/** A row array [T,C] of batch row b: in place (its byte address) or staged (an area to copy through). */
interface RowArea {
  addr: number;
  staged: boolean;
}

export class WasmShortConv {
  constructor(private readonly rt: WasmRuntime) {}

  /** Where row b of `x` goes: in place when it lives in this memory and rows need no padding, else a staging area. */
  private area(x: FloatArray, off: number, C: number, Cp: number, m: Layout, T: number): RowArea {
    const own = C === Cp ? this.rt.addressOf(x) : -1;
    if (own >= 0) return { addr: own + 4 * off, staged: false };
    return { addr: m.take(T * Cp), staged: true };
  }

  /** The per-call constants: weight transposed to [W][Cp], bias, state [P][Cp] (zeros where absent). */
  private stageConv(heap: Float32Array, wT: number, bias: number, state: number, p: ShortConvForwardArgs | ShortConvBackwardArgs, Cp: number, withBias: FloatArray | null): void {
    const { b, C, W } = p;
    const P = W - 1;
    const f = (addr: number): number => addr >> 2;
    heap.fill(0, f(wT), f(wT) + W * Cp);
    heap.fill(0, f(bias), f(bias) + Cp);
    heap.fill(0, f(state), f(state) + P * Cp);
    const w = p.weight!;
    for (let ch = 0; ch < C; ch++) for (let j = 0; j < W; j++) heap[f(wT) + j * Cp + ch] = w[ch * W + j]!;
    if (withBias) heap.set(withBias.subarray(0, C), f(bias));
    if (p.state) stageRows(p.state, b * P * C, C, C, P, heap, f(state), Cp);
  }

  /** A row's sizes, and the staging plan of the areas both directions use (the transposed weight, bias, state, rinv). */
  private plan(p: ShortConvRow) {
    const { b, T, C, normWidth } = p;
    const conv = p.weight !== null;
    const W = conv ? p.W : 1, P = W - 1;
    const Cq = Math.ceil(C / 4), Cp = 4 * Cq, off = b * T * C;
    const heads = normWidth > 0 ? C / normWidth : 0;
    const m = new Layout(this.rt.heapBase);
    const wT = m.take(W * Cp), bias = m.take(Cp), state = m.take(P * Cp), rinv = m.take(T * heads);
    const flags = (conv ? SHORT_CONV_FLAGS.conv : 0) | (heads > 0 ? SHORT_CONV_FLAGS.norm : 0) | (heads > 0 && normWidth % 4 === 0 ? SHORT_CONV_FLAGS.normVec : 0);
    return { b, T, C, normWidth, conv, W, P, Cq, Cp, off, heads, m, wT, bias, state, rinv, flags };
  }

  forward(p: ShortConvForwardArgs): void {
    if (!(p.z instanceof Float32Array)) return shortConvForwardJs(p);
    const { b, T, C, normWidth, conv, W, Cq, Cp, off, heads, m, wT, bias, state, rinv, flags } = this.plan(p);
    const z = this.area(p.z, off, C, Cp, m, T), a = this.area(p.a, off, C, Cp, m, T), sig = this.area(p.sig, off, C, Cp, m, T);
    const y = heads > 0 ? this.area(p.y!, off, C, Cp, m, T) : { addr: 0, staged: false };
    if (!this.rt.reserve(m.end)) return shortConvForwardJs(p);
    const heap = this.rt.f32;
    const f = (addr: number): number => addr >> 2;
    if (conv) this.stageConv(heap, wT, bias, state, p, Cp, p.bias);
    if (z.staged) stageRows(p.z, off, C, C, T, heap, f(z.addr), Cp);
    this.rt.shortConv.shortConvForwardRows(z.addr, state, wT, bias, a.addr, sig.addr, y.addr, rinv, T, Cq, W, normWidth, heads, flags);
    if (a.staged) unstageRows(heap, f(a.addr), Cp, p.a, off, C, C, T);
    if (sig.staged) unstageRows(heap, f(sig.addr), Cp, p.sig, off, C, C, T);
    if (heads > 0) {
      if (y.staged) unstageRows(heap, f(y.addr), Cp, p.y!, off, C, C, T);
      const to = b * T * heads;
      const rv = p.rinv!;
      for (let i = 0, from = f(rinv); i < T * heads; i++) rv[to + i] = heap[from + i]!;
    }
  }

  backward(p: ShortConvBackwardArgs): void {
    if (!(p.z instanceof Float32Array)) return shortConvBackwardJs(p);
    const { b, T, C, normWidth, conv, W, P, Cq, Cp, off, heads, m, wT, bias, state, rinv, flags } = this.plan(p);
    const gs = m.take(P * Cp), gw = m.take(W * Cp), gb = m.take(Cp);
    const g = this.area(p.gc, off, C, Cp, m, T), a = this.area(p.a, off, C, Cp, m, T), sig = this.area(p.sig, off, C, Cp, m, T);
    const none: RowArea = { addr: 0, staged: false };
    const z = conv ? this.area(p.z, off, C, Cp, m, T) : none;
    const gz = conv ? this.area(p.gz!, off, C, Cp, m, T) : none;
    if (!this.rt.reserve(m.end)) return shortConvBackwardJs(p);
    const heap = this.rt.f32;
    const f = (addr: number): number => addr >> 2;
    if (conv) this.stageConv(heap, wT, bias, state, p, Cp, null);
    if (g.staged) stageRows(p.gc, off, C, C, T, heap, f(g.addr), Cp);
    if (a.staged) stageRows(p.a, off, C, C, T, heap, f(a.addr), Cp);
    if (sig.staged) stageRows(p.sig, off, C, C, T, heap, f(sig.addr), Cp);
    if (z.staged) stageRows(p.z, off, C, C, T, heap, f(z.addr), Cp);
    if (heads > 0) {
      const from = b * T * heads;
      const rv = p.rinv!;
      for (let i = 0, to = f(rinv); i < T * heads; i++) heap[to + i] = rv[from + i]!;
    }
    const gwP = p.gw, gbP = p.gb;
    for (let t0 = 0; t0 < T; t0 += ROW_BLOCK) {
      const t1 = Math.min(T, t0 + ROW_BLOCK);
      if (conv) heap.fill(0, f(gw), f(gb) + Cp); // gw and gb are adjacent: the block sums start from zero
      this.rt.shortConv.shortConvBackwardRows(g.addr, a.addr, sig.addr, rinv, z.addr, state, wT, gz.addr, gs, gw, gb, t0, t1, T, Cq, W, normWidth, heads, flags);
      if (!conv) continue;
      const gwTo = b * C * W, gbTo = b * C;
      for (let ch = 0; ch < C; ch++) {
        for (let j = 0; j < W; j++) gwP![gwTo + ch * W + j] += heap[f(gw) + j * Cp + ch]!;
        gbP![gbTo + ch] += heap[f(gb) + ch]!;
      }
    }
    if (g.staged) unstageRows(heap, f(g.addr), Cp, p.gc, off, C, C, T);
    if (gz.staged) unstageRows(heap, f(gz.addr), Cp, p.gz!, off, C, C, T);
    if (conv && p.gs && P > 0) unstageRows(heap, f(gs), Cp, p.gs, b * P * C, C, C, P);
  }
}
