/**
 * Error bounds for the wasm f32 softmax-tile kernels (softmax_tile.test.ts), per output entry, from the f64
 * reference's values (the derivation is in src/kernels/wasm/softmax_tile_code.ts). u = 2⁻²⁴ is f32's unit
 * roundoff: every f32 operation has relative error ≤ u, or absolute error ≤ 2⁻¹⁵⁰ where its result is subnormal
 * (added as HALF_SUB to the products below); exp is within 2 ulp ≤ 4u of its f32 argument's exp.
 *
 * - x = scale·s: the kernel gets scale rounded to f32 and rounds the product, |x̂ − x| ≤ 2u|x|.
 * - m' = max(m, max x) (a max moves by at most its inputs' errors): |m̂' − m'| ≤ 2u·X, X = max over the row's
 *   visible finite |x| (a score of −∞ gives P = 0 exactly on both sides).
 * - exp(y) with its argument off by δ and exp's own 4u: |ŷ − y| ≤ y·(expm1(δ) + 4u·e^δ) + 2⁻¹⁴⁸ (the last term:
 *   results in the subnormal range, where 2 ulp is absolute). P's argument fl(x̂ − m̂') is off by
 *   δ = 2u|x| + 2uX + u|x − m'|; corr's, fl(m − m̂'), by 2uX + u|m − m'|.
 * - ΣP: four f32 lanes of ≤ ⌈cols/4⌉ terms each, then two additions: ≤ (⌈cols/4⌉ + 2)·u·ΣP̂ beyond the P̂'s errors.
 * - ℓ' = ℓ·corr + ΣP in f64: ℓ·|ĉorr − corr| + |ΣP̂ − ΣP| (+ f64 roundings, 4·2⁻⁵³ relative).
 * - o·corr rounded to f32: |o|·|ĉorr − corr| + u·|o|·ĉorr.
 * - backward: L and D rounded to f32 (u|L|, u|D|); P's argument off by δ = 2u|x| + u|L| + u|x − L|;
 *   dS = fl(fl(scale·P)·fl(dP − D)) with a = scale·P, b = dP − D: |â − a| ≤ |scale|·(|P̂ − P| + 2u·P),
 *   |b̂ − b| ≤ u|D| + u|b| (+ u|D|·u), |dŜ − ab| ≤ |â − a|·|b̂| + |a|·|b̂ − b| + u|â·b̂| (+ HALF_SUB for â
 *   and for the product).
 * Every bound is taken 1 + 1e−5 larger (second-order terms in u).
 */
export const U = 2 ** -24;
const SLACK = 1 + 1e-5;
const TINY = 2 ** -148;
/** Half the smallest subnormal f32: the absolute error of a rounding into the subnormal range. */
const HALF_SUB = 2 ** -150;

/** Bound on |exp computed − y| for y = exp(exact argument) when the argument is off by at most δ. */
export function expBound(y: number, delta: number): number {
  return SLACK * (y * (Math.expm1(delta) + 4 * U * Math.exp(delta)) + TINY);
}

export interface ForwardRef {
  rows: number;
  cols: number;
  scale: number;
  /** the visible range of each row (a ≥ e: none) */
  range: (r: number) => [number, number];
  s: Float64Array;
  mIn: Float64Array;
  lIn: Float64Array;
  oIn: Float64Array;
  V: number;
  /** the reference's outputs */
  P: Float64Array;
  m: Float64Array;
  l: Float64Array;
  o: Float64Array;
}

export interface ForwardBounds {
  P: Float64Array;
  m: Float64Array;
  l: Float64Array;
  o: Float64Array;
}

export function forwardBounds(f: ForwardRef): ForwardBounds {
  const { rows, cols, scale, range, s, mIn, lIn, oIn, V, P, m } = f;
  const out: ForwardBounds = { P: new Float64Array(rows * cols), m: new Float64Array(rows), l: new Float64Array(rows), o: new Float64Array(rows * V) };
  const lanes = Math.ceil(cols / 4) + 2;
  for (let r = 0; r < rows; r++) {
    const [a, e] = range(r);
    if (a >= e) continue; // P = 0, m, ℓ, o unchanged: exact
    let X = 0;
    for (let c = a; c < e; c++) {
      const x = Math.abs(scale * s[r * cols + c]!);
      if (x !== Infinity) X = Math.max(X, x);
    }
    const mr = m[r]!;
    out.m[r] = SLACK * 2 * U * X;
    let errP = 0, sumP = 0;
    for (let c = a; c < e; c++) {
      const x = scale * s[r * cols + c]!;
      // a score of −∞ gives exactly 0 on both sides
      const b = x === -Infinity ? 0 : expBound(P[r * cols + c]!, 2 * U * Math.abs(x) + 2 * U * X + U * Math.abs(x - mr));
      out.P[r * cols + c] = b;
      errP += b;
      sumP += P[r * cols + c]!;
    }
    const mOld = mIn[r]!;
    const corr = mOld === -Infinity ? 0 : Math.exp(mOld - mr);
    const eCorr = mOld === -Infinity ? 0 : expBound(corr, 2 * U * X + U * Math.abs(mOld - mr));
    const eSum = errP + lanes * U * (sumP + errP);
    out.l[r] = SLACK * (lIn[r]! * eCorr + eSum + 4 * 2 ** -53 * f.l[r]!);
    for (let c = 0; c < V; c++) {
      const o = Math.abs(oIn[r * V + c]!);
      out.o[r * V + c] = SLACK * (o * eCorr + U * o * (corr + eCorr) + HALF_SUB);
    }
  }
  return out;
}

export interface BackwardRef {
  rows: number;
  cols: number;
  scale: number;
  range: (r: number) => [number, number];
  s: Float64Array;
  dP: Float64Array;
  L: Float64Array;
  D: Float64Array;
  /** the reference's outputs */
  P: Float64Array;
  dS: Float64Array;
}

export function backwardBounds(f: BackwardRef): { P: Float64Array; dS: Float64Array } {
  const { rows, cols, scale, range, s, dP, L, D, P } = f;
  const out = { P: new Float64Array(rows * cols), dS: new Float64Array(rows * cols) };
  const sc = Math.abs(scale);
  for (let r = 0; r < rows; r++) {
    const [a, e] = range(r);
    const Lr = L[r]!, Dr = D[r]!;
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const x = scale * s[i]!;
      const eP = c >= a && c < e && x !== -Infinity ? expBound(P[i]!, 2 * U * Math.abs(x) + U * Math.abs(Lr) + U * Math.abs(x - Lr)) : 0;
      out.P[i] = eP;
      const b = dP[i]! - Dr;
      const eb = U * Math.abs(Dr) + U * (Math.abs(b) + U * Math.abs(Dr));
      const ea = sc * (eP + 2 * U * P[i]!) + HALF_SUB;
      const aHat = sc * P[i]! + ea;
      const bHat = Math.abs(b) + eb;
      out.dS[i] = SLACK * (ea * bHat + sc * P[i]! * eb + U * aHat * bHat + HALF_SUB);
    }
  }
  return out;
}
