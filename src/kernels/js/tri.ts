/**
 * `Kernels.unitLowerInverse` in plain TypeScript (the reference, and the JS backend): the inverse of the unit
 * lower triangular I + A with A[r,c] = β_r·KK[r,c]·D[r,c] for c < r — the delta rule's T = (I + A)⁻¹
 * (ops/delta_common/engine.ts) — by forward substitution in f64: row r of (I + A)·T = I gives
 * T_r = e_r − Σ_{c<r} A[r,c]·T_c. Each entry is rounded once into `out`.
 */
import type { UnitLowerInverseArgs } from "../types.js";

/** The f64 rows of T while they are solved for (grown on demand; one per thread, as modules are). */
let scratch = new Float64Array(0);

/** Checks a call's size and array lengths (the messages name the argument). */
export function checkUnitLowerArgs(a: UnitLowerInverseArgs): void {
  const { L } = a;
  if (!Number.isInteger(L) || L < 0) throw new RangeError(`unitLowerInverse: L must be a non-negative integer, got ${L}`);
  const need = (label: string, length: number, offset: number, n: number): void => {
    if (!Number.isInteger(offset) || offset < 0 || offset + n > length) {
      throw new RangeError(`unitLowerInverse: ${label} needs elements [${offset}, ${offset + n}) but has ${length}`);
    }
  };
  need("kk", a.kk.length, a.kkOffset, L * L);
  need("beta", a.beta.length, a.betaOffset, L);
  if (a.d) need("d", a.d.length, 0, L * L);
  need("out", a.out.length, a.outOffset, L * L);
}

export function unitLowerInverseJs(a: UnitLowerInverseArgs): void {
  checkUnitLowerArgs(a);
  const { kk, kkOffset, beta, betaOffset, d, L, out, outOffset } = a;
  if (scratch.length < L * L) scratch = new Float64Array(L * L);
  const Tm = scratch;
  for (let r = 0; r < L; r++) {
    const row = r * L;
    Tm.fill(0, row, row + L);
    Tm[row + r] = 1;
    const br = beta[betaOffset + r]!;
    if (br !== 0) {
      for (let c = 0; c < r; c++) {
        const a = br * kk[kkOffset + row + c]! * (d ? d[row + c]! : 1);
        if (a === 0) continue;
        const crow = c * L;
        for (let j = 0; j <= c; j++) Tm[row + j] -= a * Tm[crow + j]!;
      }
    }
    for (let j = 0; j <= r; j++) out[outOffset + row + j] = Tm[row + j]!;
    for (let j = r + 1; j < L; j++) out[outOffset + row + j] = 0;
  }
}
