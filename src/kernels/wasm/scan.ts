/**
 * `Kernels.scanForward` / `scanBackward` on the wasm backend: f32 units run the SIMD block kernels of
 * scan_code.ts, f64 units (and any unit that does not fit in the module's memory) the JS loops.
 *
 * Per unit, the per-channel arrays (A in quads, bias, Dskip) and the running state (h forward, G backward) are
 * staged once; per time block of C steps, the block's rows are copied in, the kernel runs, and the results are
 * copied out — the block's staging is a few tens of KiB at the usual sizes, so it stays in cache. The unit's
 * channels are padded with zeros to a multiple of 4 (a padded channel has u = 0, so its state stays 0 and adds
 * nothing to the sums over channels). The backward's f32 block sums are added to the caller's f64 arrays after
 * each block (dBm, dCm: the four lanes summed in f64).
 */
import { scanBackwardJs, scanForwardJs } from "../js/scan.js";
import type { FloatArray, ScanBackwardArgs, ScanForwardArgs } from "../types.js";
import type { WasmRuntime } from "./runtime.js";
import { SCAN_FLAGS } from "./scan_code.js";
import { Layout, stageRows, unstageRows } from "./layout.js";



/** w channels × N entries, channel-major at src[s…] ([c][n]), into quads [Wq][N][4] at heap[to…] (padding untouched). */
function toQuads(src: FloatArray, s: number, w: number, N: number, heap: Float32Array, to: number): void {
  for (let c = 0; c < w; c++) {
    const base = to + ((c >> 2) * N << 2) + (c & 3);
    for (let n = 0; n < N; n++) heap[base + 4 * n] = src[s + c * N + n]!;
  }
}

/** The inverse of `toQuads`. */
function fromQuads(heap: Float32Array, from: number, w: number, N: number, dst: FloatArray, s: number): void {
  for (let c = 0; c < w; c++) {
    const base = from + ((c >> 2) * N << 2) + (c & 3);
    for (let n = 0; n < N; n++) dst[s + c * N + n] = heap[base + 4 * n]!;
  }
}

export class WasmScan {
  constructor(private readonly rt: WasmRuntime) {}

  forward(p: ScanForwardArgs): void {
    if (!(p.u instanceof Float32Array)) return scanForwardJs(p);
    const { T, D, N, C, b, c0, c1 } = p;
    const w = c1 - c0, Wq = Math.ceil(w / 4), Wp = 4 * Wq, span = Math.min(C, T);
    const m = new Layout(this.rt.heapBase);
    const quads = Wp * N, rows = span * Wp;
    const [bias, dskip, A, h, Bm, Cm] = [Wp, Wp, quads, quads, span * N, span * N].map((n) => m.take(n)) as number[];
    const [delta, u, z, dt, o, pre] = [0, 0, 0, 0, 0, 0].map(() => m.take(rows)) as number[];
    if (!this.rt.reserve(m.end)) return scanForwardJs(p);
    const heap = this.rt.f32;
    const f = (addr: number): number => addr >> 2;
    heap.fill(0, f(bias), f(m.end)); // zero padding: padded channels stay finite and zero
    if (p.bias) heap.set(p.bias.subarray(c0, c1), f(bias));
    if (p.Dskip) heap.set(p.Dskip.subarray(c0, c1), f(dskip));
    toQuads(p.A, c0 * N, w, N, heap, f(A));
    const DN = D * N, sBase = b * DN + c0 * N;
    if (p.h0) toQuads(p.h0, sBase, w, N, heap, f(h));
    const flags = (p.softplus ? SCAN_FLAGS.softplus : 0) | (p.z ? SCAN_FLAGS.z : 0) | (p.pre ? SCAN_FLAGS.pre : 0) | (p.Dskip ? SCAN_FLAGS.dskip : 0);
    const blocks = Math.ceil(T / C);
    for (let k = 0; k < blocks; k++) {
      if (p.checkpoints) fromQuads(heap, f(h), w, N, p.checkpoints, (b * blocks + k) * DN + c0 * N);
      const t0 = k * C, len = Math.min(T, t0 + C) - t0;
      const rowD = (b * T + t0) * D, rowN = (b * T + t0) * N;
      stageRows(p.delta, rowD + c0, D, w, len, heap, f(delta), Wp);
      stageRows(p.u, rowD + c0, D, w, len, heap, f(u), Wp);
      if (p.z) stageRows(p.z, rowD + c0, D, w, len, heap, f(z), Wp);
      heap.set(p.Bm.subarray(rowN, rowN + len * N), f(Bm));
      heap.set(p.Cm.subarray(rowN, rowN + len * N), f(Cm));
      this.rt.scan.scanForwardBlock(delta, u, z, bias, dskip, A, Bm, Cm, h, dt, o, pre, len, Wq, N, flags);
      unstageRows(heap, f(dt), Wp, p.dt, rowD + c0, D, w, len);
      unstageRows(heap, f(o), Wp, p.o, rowD + c0, D, w, len);
      if (p.pre) unstageRows(heap, f(pre), Wp, p.pre, rowD + c0, D, w, len);
    }
    fromQuads(heap, f(h), w, N, p.hT, sBase);
  }

  backward(p: ScanBackwardArgs): void {
    if (!(p.u instanceof Float32Array)) return scanBackwardJs(p);
    const { T, D, N, C, b, c0, c1 } = p;
    const w = c1 - c0, Wq = Math.ceil(w / 4), Wp = 4 * Wq, span = Math.min(C, T);
    const m = new Layout(this.rt.heapBase);
    const quads = Wp * N, rows = span * Wp, lanes = 4 * span * N;
    const [bias, dskip, dSkip, dBias, A, cp, G, dA] = [Wp, Wp, Wp, Wp, quads, quads, quads, quads].map((n) => m.take(n)) as number[];
    const [Bm, Cm, dB, dC, hs, as] = [span * N, span * N, lanes, lanes, 4 * (span + 1) * N, lanes].map((n) => m.take(n)) as number[];
    const [dt, u, dO, z, pre, delta, dU, dDelta, dZ] = new Array(9).fill(0).map(() => m.take(rows)) as number[];
    if (!this.rt.reserve(m.end)) return scanBackwardJs(p);
    const heap = this.rt.f32;
    const f = (addr: number): number => addr >> 2;
    heap.fill(0, f(bias), f(m.end));
    if (p.bias) heap.set(p.bias.subarray(c0, c1), f(bias));
    if (p.Dskip) heap.set(p.Dskip.subarray(c0, c1), f(dskip));
    toQuads(p.A, c0 * N, w, N, heap, f(A));
    const DN = D * N, sBase = b * DN + c0 * N;
    if (p.dHT) toQuads(p.dHT, sBase, w, N, heap, f(G));
    const flags = (p.softplus ? SCAN_FLAGS.softplus : 0) | (p.z && p.dZ && p.pre ? SCAN_FLAGS.z : 0) | (p.Dskip ? SCAN_FLAGS.dskip : 0);
    const blocks = Math.ceil(T / C);
    const { dBm, dCm, dA: dAp, dDskip, dBias: dBiasP, partOffset } = p;
    for (let k = blocks - 1; k >= 0; k--) {
      const t0 = k * C, len = Math.min(T, t0 + C) - t0;
      const rowD = (b * T + t0) * D, rowN = (b * T + t0) * N;
      toQuads(p.checkpoints, (b * blocks + k) * DN + c0 * N, w, N, heap, f(cp));
      stageRows(p.dt, rowD + c0, D, w, len, heap, f(dt), Wp);
      stageRows(p.u, rowD + c0, D, w, len, heap, f(u), Wp);
      stageRows(p.dO, rowD + c0, D, w, len, heap, f(dO), Wp);
      if (flags & SCAN_FLAGS.z) {
        stageRows(p.z!, rowD + c0, D, w, len, heap, f(z), Wp);
        stageRows(p.pre!, rowD + c0, D, w, len, heap, f(pre), Wp);
      }
      if (p.softplus) stageRows(p.delta, rowD + c0, D, w, len, heap, f(delta), Wp);
      heap.set(p.Bm.subarray(rowN, rowN + len * N), f(Bm));
      heap.set(p.Cm.subarray(rowN, rowN + len * N), f(Cm));
      // the block sums start from zero
      heap.fill(0, f(dSkip), f(dBias) + Wp);
      heap.fill(0, f(dA), f(dA) + quads);
      heap.fill(0, f(dB), f(dB) + 4 * len * N);
      heap.fill(0, f(dC), f(dC) + 4 * len * N);
      this.rt.scan.scanBackwardBlock(dt, u, dO, z, pre, delta, bias, dskip, A, Bm, Cm, cp, G, hs, as, dU, dDelta, dZ, dA, dB, dC, dSkip, dBias, len, Wq, N, flags);
      unstageRows(heap, f(dU), Wp, p.dU, rowD + c0, D, w, len);
      unstageRows(heap, f(dDelta), Wp, p.dDelta, rowD + c0, D, w, len);
      if (flags & SCAN_FLAGS.z) unstageRows(heap, f(dZ), Wp, p.dZ!, rowD + c0, D, w, len);
      // add the block sums to the f64 partials
      for (let i = 0, lb = f(dB), lc = f(dC), to = partOffset + t0 * N; i < len * N; i++, lb += 4, lc += 4) {
        dBm[to + i] += heap[lb]! + heap[lb + 1]! + heap[lb + 2]! + heap[lb + 3]!;
        dCm[to + i] += heap[lc]! + heap[lc + 1]! + heap[lc + 2]! + heap[lc + 3]!;
      }
      for (let c = 0; c < w; c++) {
        const qa = f(dA) + ((c >> 2) * N << 2) + (c & 3);
        const to = sBase + c * N;
        for (let n = 0; n < N; n++) dAp[to + n] += heap[qa + 4 * n]!;
        if (p.Dskip) dDskip[b * D + c0 + c] += heap[f(dSkip) + c]!;
        dBiasP[b * D + c0 + c] += heap[f(dBias) + c]!;
      }
    }
    fromQuads(heap, f(G), w, N, p.dH0, sBase);
  }
}
