/** Small helpers shared by the task generators. */
import { deterministicLog, type Random } from "../core/random.js";
import { IGNORE_INDEX, type BatchMeta, type TokenBatch } from "./types.js";

/**
 * `k` distinct elements of `pool`, uniformly at random and in random order (partial Fisher–Yates on a
 * copy). Uses exactly k bounded draws.
 */
export function sampleDistinct(rng: Random, pool: ArrayLike<number>, k: number): number[] {
  const n = pool.length;
  if (k > n) throw new RangeError(`sampleDistinct: cannot draw ${k} distinct items from ${n}`);
  const a = Array.from(pool);
  for (let i = 0; i < k; i++) {
    const j = rng.integer(i, n);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  a.length = k;
  return a;
}

/** The integers lo, lo+1, …, hiExclusive−1. */
export function range(lo: number, hiExclusive: number): number[] {
  const out: number[] = [];
  for (let i = lo; i < hiExclusive; i++) out.push(i);
  return out;
}

// fdlibm's split of ln 2: LN2_HI has its low 32 mantissa bits clear, so k·LN2_HI is exact for |k| < 2^20
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;

/**
 * e^x from + − × ÷ only (range reduction by ln 2, then a degree-18 Taylor polynomial on |r| ≤ ln2/2), so it is
 * bit-identical on every engine, like the PRNG's `deterministicLog`. Relative error ~1e-16; used only to build
 * sampling weights, where reproducibility matters more than the last ulp.
 */
export function deterministicExp(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x > 709.7) return Infinity;
  if (x < -745) return 0;
  const k = Math.round(x / LN2_HI);
  const r = x - k * LN2_HI - k * LN2_LO;
  let p = 1;
  for (let i = 18; i >= 1; i--) p = 1 + (r / i) * p;
  // multiply by 2^k one factor of two at a time (each step exact unless it under/overflows; |k| ≤ 1075)
  if (k > 0) for (let i = 0; i < k; i++) p *= 2;
  else for (let i = 0; i < -k; i++) p *= 0.5;
  return p;
}

/** x^y for x > 0, reproducible across engines (see {@link deterministicExp}). */
export function deterministicPow(x: number, y: number): number {
  if (!(x > 0)) throw new RangeError(`deterministicPow: base must be > 0, got ${x}`);
  return deterministicExp(y * deterministicLog(x));
}

/** Allocates a token batch with every target ignored. */
export function emptyTokenBatch(batchSize: number, seqLen: number): { inputs: Int32Array; targets: Int32Array } {
  const inputs = new Int32Array(batchSize * seqLen);
  const targets = new Int32Array(batchSize * seqLen).fill(IGNORE_INDEX);
  return { inputs, targets };
}

export function tokenBatch(
  inputs: Int32Array,
  targets: Int32Array,
  batchSize: number,
  seqLen: number,
  meta?: BatchMeta,
): TokenBatch {
  return meta === undefined
    ? { kind: "tokens", inputs, targets, shape: [batchSize, seqLen] }
    : { kind: "tokens", inputs, targets, shape: [batchSize, seqLen], meta };
}

/** Zod refinement helper: adds a custom issue on `field`. */
export interface IssueSink {
  addIssue(issue: { code: "custom"; message: string; path: (string | number)[] }): void;
}
export function fieldIssue(ctx: IssueSink, field: string, message: string): void {
  ctx.addIssue({ code: "custom", message, path: [field] });
}
