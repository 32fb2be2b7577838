/**
 * The tiled attention's per-tile softmax loops in plain TypeScript (the reference, and the path for f64): the
 * loops of ops/attention/chunk.ts (where the tiling is described), one (query tile, key tile) pair per call.
 * Arithmetic in f64 (scale·s, the exponentials, the row sums), each stored entry rounded once to the arrays'
 * type; the row statistics m, ℓ stay f64.
 */
import type { SoftmaxTileBackwardArgs, SoftmaxTileForwardArgs } from "../types.js";

export function softmaxTileForwardJs(p: SoftmaxTileForwardArgs): void {
  const { rows, cols, scale, lo, hi, tile, m, l, o, oOffset, V } = p;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const a = Math.max(0, lo + r);
    const e = Math.min(cols, hi + r);
    if (a >= e) {
      tile.fill(0, row, row + cols);
      continue;
    }
    let mx = -Infinity;
    for (let c = a; c < e; c++) {
      const s = scale * tile[row + c]!;
      if (s > mx) mx = s;
    }
    const mOld = m[r]!;
    const mNew = mx > mOld ? mx : mOld;
    // rescale of what was summed so far; nothing was summed while m = −∞ (avoids −∞ − (−∞))
    const corr = mOld === -Infinity ? 0 : Math.exp(mOld - mNew);
    let sum = 0;
    for (let c = 0; c < cols; c++) {
      if (c < a || c >= e) {
        tile[row + c] = 0;
      } else {
        const pv = Math.exp(scale * tile[row + c]! - mNew);
        tile[row + c] = pv;
        sum += pv;
      }
    }
    l[r] = l[r]! * corr + sum;
    m[r] = mNew;
    if (corr !== 1) {
      const o0 = oOffset + r * V;
      for (let c = 0; c < V; c++) o[o0 + c] *= corr;
    }
  }
}

export function softmaxTileBackwardJs(q: SoftmaxTileBackwardArgs): void {
  const { rows, cols, scale, lo, hi, p: P, ds: dS, lse, lseOffset, D } = q;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const a = Math.max(0, lo + r);
    const e = Math.min(cols, hi + r);
    const L = lse[lseOffset + r]!;
    for (let c = 0; c < cols; c++) P[row + c] = c < a || c >= e ? 0 : Math.exp(scale * P[row + c]! - L);
  }
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const Dr = D[r]!;
    for (let c = 0; c < cols; c++) dS[row + c] = scale * P[row + c]! * (dS[row + c]! - Dr);
  }
}
