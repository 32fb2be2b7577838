/**
 * The row loops of RMSNorm (`Kernels.rmsNormRows` / `rmsNormBackwardRows`; the math is in nn.ts `rmsNorm`) in
 * plain TypeScript: the reference, and the path for f64 and mixed dtypes. Every sum and product is a JS number
 * (f64), each stored result rounded once.
 */
import type { FloatArray, RmsNormBackwardRowsArgs, RmsNormRowsArgs } from "../types.js";

/** Checks a call's rows, width and array lengths (the messages name the argument). */
export function checkRmsNormArgs(name: string, a: RmsNormRowsArgs | RmsNormBackwardRowsArgs): void {
  const { r0, r1, width } = a;
  if (!Number.isInteger(width) || width < 1) throw new RangeError(`${name}: width must be a positive integer, got ${width}`);
  if (!Number.isInteger(r0) || !Number.isInteger(r1) || r0 < 0 || r1 < r0) throw new RangeError(`${name}: rows [r0, r1) must satisfy 0 ≤ r0 ≤ r1, got [${r0}, ${r1})`);
  const need = (label: string, arr: { length: number } | null, n: number): void => {
    if (arr && arr.length < n) throw new RangeError(`${name}: ${label} must hold at least ${n} elements, got ${arr.length}`);
  };
  const rowsArrays: Array<[string, FloatArray]> = "g" in a ? [["x", a.x], ["g", a.g], ["dx", a.dx]] : [["x", a.x], ["out", a.out]];
  for (const [label, arr] of rowsArrays) need(label, arr, r1 * width);
  need("weight", a.weight, width);
  need("inv", a.inv, r1);
  if ("dw" in a) need("dw", a.dw, width);
}

/** out = x·r (·w) for rows [r0, r1), r = 1/√(mean x² + eps) kept in inv. */
export function rmsNormRowsJs(a: RmsNormRowsArgs): void {
  checkRmsNormArgs("rmsNormRows", a);
  const { x: xv, weight: wv, out, inv, r0, r1, width, eps } = a;
  for (let r = r0, base = r0 * width; r < r1; r++, base += width) {
    let ss = 0;
    for (let j = 0; j < width; j++) {
      const v = xv[base + j]!;
      ss += v * v;
    }
    const ir = 1 / Math.sqrt(ss / width + eps);
    inv[r] = ir;
    if (!wv) for (let j = 0; j < width; j++) out[base + j] = xv[base + j]! * ir;
    else for (let j = 0; j < width; j++) out[base + j] = xv[base + j]! * ir * wv[j]!;
  }
}

/**
 * dx = r·(u − x̂·mean(u ⊙ x̂)) with x̂ = x·r, u = g·w (or g) for rows [r0, r1); with a weight, dw += Σ_rows g·x̂.
 */
export function rmsNormBackwardRowsJs(a: RmsNormBackwardRowsArgs): void {
  checkRmsNormArgs("rmsNormBackwardRows", a);
  const { x: xv, g: gv, weight: wv, inv, dx, dw, r0, r1, width } = a;
  for (let r = r0, base = r0 * width; r < r1; r++, base += width) {
    const ir = inv[r]!;
    let dot = 0; // Σ_j u_j · x̂_j
    if (wv) {
      for (let j = 0; j < width; j++) {
        const gj = gv[base + j]!;
        const xh = xv[base + j]! * ir;
        dot += gj * wv[j]! * xh;
        if (dw) dw[j] += gj * xh;
      }
      dot /= width;
      for (let j = 0; j < width; j++) dx[base + j] = ir * (gv[base + j]! * wv[j]! - xv[base + j]! * ir * dot);
    } else {
      for (let j = 0; j < width; j++) dot += gv[base + j]! * (xv[base + j]! * ir);
      dot /= width;
      for (let j = 0; j < width; j++) dx[base + j] = ir * (gv[base + j]! - xv[base + j]! * ir * dot);
    }
  }
}
