/**
 * Special functions not in Math, accurate to about 1e-15 relative so that gradients built on them pass an f64
 * finite-difference check.
 */

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const INV_SQRT_PI = 0.5641895835477563;

/**
 * erf(x). For |x| < 3 the all-positive series erf(x) = 2/√π · e^{-x²} · Σ_n 2^n x^{2n+1} / (1·3·…·(2n+1))
 * (no cancellation); beyond, erfc(x) = e^{-x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))) by a continued
 * fraction evaluated from the tail.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 3) {
    const x2 = x * x;
    let term = x;
    let total = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      total += term;
      if (Math.abs(term) < 1e-17 * Math.abs(total)) break;
    }
    return TWO_OVER_SQRT_PI * Math.exp(-x2) * total;
  }
  const r = erfcLarge(ax);
  return x > 0 ? 1 - r : r - 1;
}

/** erfc(x) for x ≥ 3 by the continued fraction; relative error ~1e-16. */
function erfcLarge(x: number): number {
  if (x > 27) return 0;
  let tail = 0;
  for (let n = 60; n >= 1; n--) tail = n / 2 / (x + tail);
  return (INV_SQRT_PI * Math.exp(-x * x)) / (x + tail);
}

/** Standard normal CDF Φ(x) = (1 + erf(x/√2)) / 2. */
export function normalCdf(x: number): number {
  return 0.5 * (1 + erf(x * Math.SQRT1_2));
}

/** Standard normal density φ(x). */
export function normalPdf(x: number): number {
  return 0.3989422804014327 * Math.exp(-0.5 * x * x);
}

/** log(1 + e^x) without overflow or loss for large |x|. */
export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
