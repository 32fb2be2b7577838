/**
 * `Kernels.softmaxTileForward` / `softmaxTileBackward` on the wasm backend: f32 tiles run the SIMD kernels of
 * softmax_tile_code.ts, f64 tiles (and any call that does not fit in the module's memory) the JS loops.
 *
 * A tile that lives in this module's memory (lent by the runtime: the attention op keeps its score tiles there, so
 * the products that write and read them use them in place too) with a multiple of 4 columns is worked on where it
 * is; any other tile is copied into rows padded to a multiple of 4 above `heapBase` and back (16 KiB per 64×64
 * tile). The row statistics go in and out through a small [rows][4] f32 area: the forward's m, ℓ stay in the
 * caller's f64 arrays (m is always an f32 value here, so it round-trips exactly; ℓ·corr + ΣP is added in f64),
 * and the rescale of the output rows by corr is done here in JS (an f32 product rounded once, as SIMD's).
 */
import { softmaxTileBackwardJs, softmaxTileForwardJs } from "../js/softmax_tile.js";
import type { SoftmaxTileBackwardArgs, SoftmaxTileForwardArgs } from "../types.js";
import { alignUp, type WasmRuntime } from "./runtime.js";
import { stageRows, unstageRows } from "./layout.js";

/** Where a tile is worked on: byte address and row length (a multiple of 4), and whether it was copied there. */
interface Placed {
  at: number;
  ld: number;
  staged: boolean;
}

export class WasmSoftmaxTile {
  constructor(private readonly rt: WasmRuntime) {}

  /** In place when it can be, else the address `to` (with ld = cols rounded up to 4), copying the tile in. */
  private place(tile: Float32Array, rows: number, cols: number, to: number): Placed {
    const own = this.rt.addressOf(tile);
    if (own >= 0 && cols % 4 === 0 && own % 16 === 0) return { at: own, ld: cols, staged: false };
    const ld = alignUp(cols, 4);
    stageRows(tile, 0, cols, cols, rows, this.rt.f32, to >> 2, ld);
    return { at: to, ld, staged: true };
  }

  private unplace(t: Placed, tile: Float32Array, rows: number, cols: number): void {
    if (t.staged) unstageRows(this.rt.f32, t.at >> 2, t.ld, tile, 0, cols, cols, rows);
  }

  /** Staging addresses from heapBase: the stats area, then `tiles` padded tiles; false when out of memory. */
  private layout(rows: number, cols: number, tiles: number): number[] | null {
    const stats = alignUp(this.rt.heapBase, 16);
    const bytes = 4 * rows * alignUp(cols, 4);
    const at = [stats];
    for (let i = 0, next = stats + 16 * rows; i < tiles; i++, next += bytes) at.push(next);
    return this.rt.reserve(at[tiles]! + bytes) ? at : null;
  }

  forward(p: SoftmaxTileForwardArgs): void {
    const { rows, cols, tile, o } = p;
    if (!(tile instanceof Float32Array) || !(o instanceof Float32Array) || rows === 0 || cols === 0) return softmaxTileForwardJs(p);
    const at = this.layout(rows, cols, 1);
    if (!at) return softmaxTileForwardJs(p);
    const [stats, tileTo] = at as [number, number];
    const t = this.place(tile, rows, cols, tileTo);
    const heap = this.rt.f32;
    const { m, l, oOffset, V } = p;
    const s = stats >> 2;
    for (let r = 0; r < rows; r++) heap[s + 4 * r] = m[r]!;
    this.rt.softmaxTile.smTileForward(t.at, stats, rows, t.ld, bound(p.lo, rows, cols), bound(p.hi, rows, cols), cols, p.scale);
    this.unplace(t, tile, rows, cols);
    for (let r = 0, q = s; r < rows; r++, q += 4) {
      const corr = heap[q + 1]!;
      l[r] = l[r]! * corr + heap[q + 2]!;
      m[r] = heap[q]!;
      if (corr !== 1) {
        const o0 = oOffset + r * V;
        for (let c = 0; c < V; c++) o[o0 + c] *= corr;
      }
    }
  }

  backward(p: SoftmaxTileBackwardArgs): void {
    const { rows, cols, p: P, ds } = p;
    if (!(P instanceof Float32Array) || !(ds instanceof Float32Array) || rows === 0 || cols === 0) return softmaxTileBackwardJs(p);
    const at = this.layout(rows, cols, 2);
    if (!at) return softmaxTileBackwardJs(p);
    const [stats, pTo, dsTo] = at as [number, number, number];
    const tp = this.place(P, rows, cols, pTo);
    const td = this.place(ds, rows, cols, dsTo);
    // (both have ld = cols rounded up to 4: in place needs cols % 4 = 0)
    this.runBackward(p, stats, tp, td);
  }

  private runBackward(p: SoftmaxTileBackwardArgs, stats: number, tp: Placed, td: Placed): void {
    const { rows, cols, lse, lseOffset, D } = p;
    const heap = this.rt.f32;
    const s = stats >> 2;
    for (let r = 0; r < rows; r++) {
      heap[s + 4 * r] = lse[lseOffset + r]!;
      heap[s + 4 * r + 1] = D[r]!;
    }
    this.rt.softmaxTile.smTileBackward(tp.at, td.at, stats, rows, tp.ld, bound(p.lo, rows, cols), bound(p.hi, rows, cols), cols, p.scale);
    this.unplace(tp, p.p as Float32Array, rows, cols);
    this.unplace(td, p.ds as Float32Array, rows, cols);
  }
}

/** A band edge clamped to [−rows, cols] (same visible columns, and an i32 even for ±∞). */
function bound(x: number, rows: number, cols: number): number {
  return Math.max(-rows, Math.min(cols, x));
}
