/**
 * Segment products of a gate sequence, the decay weights of the chunked Titans memory (spec/mixers.md §10.2):
 *
 *   L[…, t, i] = Π_{l=i+1}^{t} x[…, l]   for i ≤ t (the empty product L[t, t] = 1),   0 for i > t.
 *
 * Computed as running products, row by row, in f64: O(n²) per row, no logarithms and no division. The spec
 * suggests exp of masked differences of cumulative log sums; running products give the same numbers without
 * the cancellation of large cumulative sums, and they stay exact when a gate is 0 (no momentum, η = 0, or a
 * full reset, 1 − α = 0), where log-space differences would be −∞ − (−∞). Nothing is ever divided.
 *
 * Backward, for one row i: dx_l = Σ_{t ≥ l} dL[t, i] · L[l−1, i] · Π_{m=l+1}^{t} x_m  (l > i), computed with the
 * reverse recursion R_l = dL[l, i] + x_{l+1}·R_{l+1}, so dx_l += L[l−1, i]·R_l: also O(n²) and division-free.
 */
import { allocate } from "../../core/dtype.js";
import { record } from "../../core/autograd.js";
import { Tensor } from "../../core/tensor.js";

/** x [..., n] → L [..., n, n] as above (lower triangular, unit diagonal). */
export function segmentProducts(x: Tensor): Tensor {
  const n = x.shape[x.ndim - 1]!;
  const rows = x.size / n;
  const xv = x.values();
  const out = allocate(x.dtype, rows * n * n);
  for (let r = 0; r < rows; r++) {
    const xo = r * n;
    const lo = r * n * n;
    for (let i = 0; i < n; i++) {
      let p = 1;
      out[lo + i * n + i] = 1;
      for (let t = i + 1; t < n; t++) {
        p *= xv[xo + t]!;
        out[lo + t * n + i] = p;
      }
    }
  }
  const L = new Tensor(out, [...x.shape, n]);
  return record(L, "segmentProducts", [x], (g) => {
    const gv = g.values();
    const dx = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++) {
      const xo = r * n;
      const lo = r * n * n;
      for (let i = 0; i < n; i++) {
        let R = 0;
        for (let l = n - 1; l > i; l--) {
          R = gv[lo + l * n + i]! + (l + 1 < n ? xv[xo + l + 1]! * R : 0);
          dx[xo + l] += out[lo + (l - 1) * n + i]! * R;
        }
      }
    }
    return [new Tensor(dx, x.shape).to(x.dtype)];
  });
}
