/**
 * Seeded pseudo-random numbers that come out bit-identical on every machine and JS engine.
 *
 * Generator: PCG32 (O'Neill's "XSH-RR" output on a 64-bit LCG, the `pcg32_random_r` of pcg-c-basic).
 * The 64-bit state and increment are kept as two unsigned 32-bit halves and stepped with
 * 32-bit integer arithmetic (`Math.imul`, `>>>`, `|0`) plus a few additions of small integers
 * that are exact in f64, so no BigInt sits on the hot path.
 *
 * Seeding follows `pcg32_srandom_r(initstate, initseq)`: `new Random(seed)` uses the seed
 * (reduced to 64-bit two's complement) as `initstate` and the fixed sequence 54. Hence
 * `new Random(42)` reproduces the published pcg32-demo stream
 * (0xa15c02b7 0x7b47f409 0xba1d3330 …), which the tests check.
 *
 * Floating point: every value is produced with operations IEEE 754 specifies exactly
 * (+ − × ÷, sqrt, conversions). Normals come from the Marsaglia polar method, whose only
 * transcendental, the logarithm, is `deterministicLog` below (+ − × ÷ only), because
 * `Math.log`/`sin`/`cos`/`exp` are not required to be correctly rounded and do differ between
 * engines.
 */

// ---------------------------------------------------------------------------------------------
// Bit access to f64 (endianness detected once; typed-array aliasing is faster than a DataView).

const f64Buf = new Float64Array(1);
const u32Buf = new Uint32Array(f64Buf.buffer);
f64Buf[0] = 1; // 0x3ff00000_00000000: the high word is the non-zero one
const HI = u32Buf[1] === 0x3ff00000 ? 1 : 0;
const LO = 1 - HI;

function bitsToHex(x: number): string {
  f64Buf[0] = x;
  return hex32(u32Buf[HI]!) + hex32(u32Buf[LO]!);
}

function hexToBits(s: string): number {
  u32Buf[HI] = parseInt(s.slice(0, 8), 16);
  u32Buf[LO] = parseInt(s.slice(8, 16), 16);
  return f64Buf[0]!;
}

function hex32(x: number): string {
  return (x >>> 0).toString(16).padStart(8, "0");
}

// ---------------------------------------------------------------------------------------------
// Deterministic natural logarithm.

const TWO_POW_54 = 18014398509481984; // 2^54, used to lift subnormals into the normal range
const SQRT2_HI_WORD = 0x3ff6a09e; // high word of √2 = 0x3ff6a09e_667f3bcd

// ln 2 split so that k·LN2_HI is exact for every exponent k a double can have (|k| < 2^11):
// LN2_HI is ln 2 rounded to double with the low 32 mantissa bits cleared (bits 0x3fe62e42_00000000),
// LN2_LO = ln 2 − LN2_HI, rounded to double.
const LN2_HI = 0.6931467056274414;
const LN2_LO = 4.7493250390316726e-7;

// Series coefficients for 2·atanh(s) = 2s + s·(c1·z + c2·z² + …), z = s², c_k = 2/(2k+1).
// Each is a single correctly-rounded IEEE division, hence the same everywhere.
const C1 = 2 / 3;
const C2 = 2 / 5;
const C3 = 2 / 7;
const C4 = 2 / 9;
const C5 = 2 / 11;
const C6 = 2 / 13;
const C7 = 2 / 15;
const C8 = 2 / 17;
const C9 = 2 / 19;
const C10 = 2 / 21;
const C11 = 2 / 23;
const C12 = 2 / 25;

/**
 * Natural logarithm computed with + − × ÷ only, so the result is bit-identical on every
 * IEEE-754 engine (unlike `Math.log`, whose rounding is implementation-defined).
 * Accuracy: under 1 ulp (worst 0.83 ulp against a 50-digit reference over 300k samples), about
 * what V8's Math.log achieves; the two agree bit-for-bit on ~99% of inputs.
 *
 * Method: write x = m·2^k with m in [√½, √2); with f = m − 1 (exact) and s = f/(2+f),
 * ln m = 2·atanh(s) = 2s + s·R(s²) where R is the atanh series truncated after 12 terms
 * (|s| ≤ 0.1716, so the remainder is below 2^-60 relative). Using 2s = f − s·f = f − (h − s·h),
 * h = f²/2, the result is assembled as k·ln2 + f − (h − s·(h + R)): the exact term f dominates and
 * the rounded corrections are small next to it.
 */
export function deterministicLog(x: number): number {
  if (!(x > 0)) {
    if (x === 0) return -Infinity;
    return NaN; // negative or NaN
  }
  if (x === Infinity) return Infinity;

  let k = 0;
  f64Buf[0] = x;
  let hw = u32Buf[HI]!;
  if (hw < 0x00100000) {
    // subnormal: scale into the normal range (exact) and remember the shift
    f64Buf[0] = x * TWO_POW_54;
    hw = u32Buf[HI]!;
    k = -54;
  }
  k += (hw >>> 20) - 1023;
  // put the mantissa's exponent at 0 (m in [1, 2)), then fold [√2, 2) down to [√½, 1)
  let mantHi = (hw & 0x000fffff) | 0x3ff00000;
  if (mantHi > SQRT2_HI_WORD) {
    // m > √2 (to high-word resolution; m a hair above √2 stays unfolded, which only nudges |s|
    // from 0.17157 to 0.17158 and leaves the truncation error far below an ulp)
    mantHi = (hw & 0x000fffff) | 0x3fe00000;
    k += 1;
  }
  u32Buf[HI] = mantHi;
  const m = f64Buf[0]!;

  const f = m - 1; // exact (Sterbenz)
  const s = f / (2 + f);
  const z = s * s;
  // Horner evaluation of R = c1·z + c2·z² + … + c12·z¹²
  let p = C12;
  p = C11 + z * p;
  p = C10 + z * p;
  p = C9 + z * p;
  p = C8 + z * p;
  p = C7 + z * p;
  p = C6 + z * p;
  p = C5 + z * p;
  p = C4 + z * p;
  p = C3 + z * p;
  p = C2 + z * p;
  p = C1 + z * p;
  const r = z * p;
  const h = 0.5 * f * f;
  if (k === 0) return f - (h - s * (h + r));
  return k * LN2_HI - (h - (s * (h + r) + k * LN2_LO) - f);
}

// ---------------------------------------------------------------------------------------------
// PCG32 core helpers.

const TWO_32 = 4294967296;
// LCG multiplier 6364136223846793005 = 0x5851f42d_4c957f2d, as halves and the low half's 16-bit halves
const MUL_HI = 0x5851f42d;
const MUL_LO = 0x4c957f2d;
const MUL_LO_H = 0x4c95;
const MUL_LO_L = 0x7f2d;
const DEFAULT_SEQ = 54; // pcg32-demo's sequence; makes `new Random(42)` the published reference stream
const INV_2_53 = 1 / 9007199254740992;
const INV_2_31 = 1 / 2147483648;

/** A plain, JSON-able snapshot of a {@link Random}. Hex strings keep every bit exact. */
export interface RandomState {
  readonly algorithm: "pcg32";
  /** 64-bit LCG state, 16 hex digits. */
  readonly state: string;
  /** 64-bit LCG increment (odd), 16 hex digits. */
  readonly inc: string;
  /** Cached second value of the polar method (bits of the f64, 16 hex digits), or null. */
  readonly spareNormal: string | null;
}

/** Anything indexable and writable with a length: arrays and typed arrays. */
export interface MutableArrayLike<T> {
  readonly length: number;
  [index: number]: T;
}

/** Split a safe integer or bigint into the two 32-bit halves of its 64-bit two's complement. */
function toWords(value: number | bigint, name: string): [number, number] {
  if (typeof value === "bigint") {
    const u = BigInt.asUintN(64, value);
    return [Number(u >> 32n), Number(u & 0xffffffffn)];
  }
  if (typeof value !== "number") {
    throw new TypeError(`Random: ${name} must be a number or bigint, got ${typeof value}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw new RangeError(
      `Random: ${name} must be a safe integer (or a bigint), got ${String(value)}`,
    );
  }
  const hi = Math.floor(value / TWO_32); // in [-2^21, 2^21)
  const lo = value - hi * TWO_32; // in [0, 2^32), exact
  return [hi >>> 0, lo >>> 0];
}

/** Chris Wellons' "lowbias32" integer finalizer: a bijective 32-bit avalanche mix. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Hash a list of 32-bit words into 128 bits (four words). Not cryptographic; only for deriving streams. */
function hashWords(words: readonly number[]): [number, number, number, number] {
  let a = 0x243f6a88; // π fraction digits as arbitrary distinct starting lanes
  let b = 0x85a308d3;
  let c = 0x13198a2e;
  let d = 0x03707344;
  const absorb = (w: number): void => {
    a = mix32(a ^ w);
    b = mix32((b + a) | 0);
    c = mix32(c ^ b);
    d = mix32((d + c) | 0);
  };
  for (const w of words) absorb(w >>> 0);
  absorb(words.length);
  for (let i = 0; i < 2; i++) {
    a = mix32((a + d) | 0);
    b = mix32(b ^ a);
    c = mix32((c + b) | 0);
    d = mix32(d ^ c);
  }
  return [a, b, c, d];
}

function parseHex64(s: unknown, what: string): [number, number] {
  if (typeof s !== "string" || !/^[0-9a-fA-F]{16}$/.test(s)) {
    throw new TypeError(`Random.fromState: ${what} must be a 16-digit hex string`);
  }
  return [parseInt(s.slice(0, 8), 16) >>> 0, parseInt(s.slice(8, 16), 16) >>> 0];
}

// ---------------------------------------------------------------------------------------------

/**
 * Seeded PCG32 generator with cross-engine bit-identical outputs.
 *
 * ```ts
 * const rng = new Random(42);
 * rng.uniform();          // in [0, 1), 53 random bits
 * rng.normal(0, 0.02);    // Gaussian
 * const worker = rng.fork(`worker-${i}`); // independent, reproducible child stream
 * ```
 */
export class Random {
  // 64-bit state and increment as unsigned 32-bit halves
  private sHi = 0;
  private sLo = 0;
  private iHi = 0;
  private iLo = 1;
  private hasSpare = false;
  private spare = 0;

  /**
   * @param seed any safe integer (negative and 0 included) or bigint; taken modulo 2^64 as
   *   PCG32's `initstate`, with the sequence fixed at 54.
   */
  constructor(seed: number | bigint) {
    const [h, l] = toWords(seed, "seed");
    this.seedWith(h, l, 0, DEFAULT_SEQ);
  }

  /** `pcg32_srandom_r`: inc = 2·seq + 1; state = 0; step; state += initstate; step. */
  private seedWith(stateHi: number, stateLo: number, seqHi: number, seqLo: number): void {
    this.iHi = ((seqHi << 1) | (seqLo >>> 31)) >>> 0;
    this.iLo = ((seqLo << 1) | 1) >>> 0;
    this.sHi = 0;
    this.sLo = 0;
    this.nextUint32();
    const lo = this.sLo + stateLo;
    this.sLo = lo >>> 0;
    this.sHi = (this.sHi + stateHi + (lo >= TWO_32 ? 1 : 0)) >>> 0;
    this.nextUint32();
    this.hasSpare = false;
    this.spare = 0;
  }

  /** Next raw 32-bit output, an integer in [0, 2^32). */
  nextUint32(): number {
    const oh = this.sHi;
    const ol = this.sLo;

    // state = old * MUL + inc  (mod 2^64)
    // high word of the 64-bit product ol * MUL_LO, via 16-bit pieces (each partial product < 2^32)
    const a0 = ol & 0xffff;
    const a1 = ol >>> 16;
    const mid = a0 * MUL_LO_L + (a1 * MUL_LO_L + a0 * MUL_LO_H) * 65536; // < 2^50, exact
    const carryMul = (mid / TWO_32) | 0; // floor, since mid ≥ 0
    const prodHi = a1 * MUL_LO_H + carryMul;
    const lowSum = (Math.imul(ol, MUL_LO) >>> 0) + this.iLo;
    this.sLo = lowSum >>> 0;
    this.sHi =
      (prodHi + Math.imul(ol, MUL_HI) + Math.imul(oh, MUL_LO) + this.iHi + (lowSum >= TWO_32 ? 1 : 0)) >>>
      0;

    // output: xorshifted = ((old >> 18) ^ old) >> 27 (low 32 bits); rotate right by old >> 59
    const xHi = (oh >>> 18) ^ oh;
    const xLo = ((ol >>> 18) | (oh << 14)) ^ ol;
    const x = (xLo >>> 27) | (xHi << 5);
    const rot = oh >>> 27;
    return ((x >>> rot) | (x << (-rot & 31))) >>> 0;
  }

  /**
   * `uniform()`: a double in [0, 1) carrying 53 random bits (two raw draws).
   * `uniform(lo, hi)`: a double in [lo, hi) (requires finite lo < hi).
   */
  uniform(): number;
  uniform(lo: number, hi: number): number;
  uniform(lo?: number, hi?: number): number {
    if (lo === undefined && hi === undefined) {
      return ((this.nextUint32() >>> 5) * 67108864 + (this.nextUint32() >>> 6)) * INV_2_53;
    }
    const a = lo ?? NaN; // a lone bound is rejected here
    const b = hi ?? NaN;
    checkInterval(a, b, "uniform");
    let v = a + (b - a) * this.uniform();
    // rounding can land exactly on hi; redraw (deterministic, and vanishingly rare)
    while (v >= b) v = a + (b - a) * this.uniform();
    return v;
  }

  /** Gaussian with the given mean and standard deviation (Marsaglia polar method, deterministicLog). */
  normal(mean = 0, std = 1): number {
    if (mean === 0 && std === 1) return this.standardNormal();
    if (!Number.isFinite(mean) || !(std >= 0) || std === Infinity) {
      throw new RangeError(`Random.normal: need finite mean and finite std >= 0, got mean=${mean}, std=${std}`);
    }
    return mean + std * this.standardNormal();
  }

  private standardNormal(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let u: number;
    let v: number;
    let s: number;
    do {
      // (int32 + ½)·2^-31: exact, symmetric about 0, never 0, strictly inside (-1, 1)
      u = ((this.nextUint32() | 0) + 0.5) * INV_2_31;
      v = ((this.nextUint32() | 0) + 0.5) * INV_2_31;
      s = u * u + v * v;
    } while (s >= 1);
    const factor = Math.sqrt((-2 * deterministicLog(s)) / s);
    this.spare = v * factor;
    this.hasSpare = true;
    return u * factor;
  }

  /**
   * Uniform integer in [lo, hiExclusive), without modulo bias. lo must be a safe integer,
   * hiExclusive an integer ≤ 2^53, lo < hiExclusive, and the span at most 2^53. For spans ≤ 2^32 this is PCG's own bounded
   * draw (reject raw values below 2^32 mod span, then reduce).
   */
  integer(lo: number, hiExclusive: number): number {
    if (
      !Number.isSafeInteger(lo) ||
      !Number.isInteger(hiExclusive) ||
      hiExclusive > 9007199254740992 ||
      !(lo < hiExclusive)
    ) {
      throw new RangeError(
        `Random.integer: need safe integers lo < hiExclusive (hiExclusive may be 2^53), got ${lo}, ${hiExclusive}`,
      );
    }
    const span = hiExclusive - lo;
    // span is rounded when the true span exceeds 2^53; `hiExclusive - span` (exact) then misses lo
    if (span > 9007199254740992 || hiExclusive - span !== lo) {
      throw new RangeError(`Random.integer: span hiExclusive - lo must be at most 2^53, got ${lo}, ${hiExclusive}`);
    }
    return lo + this.below(span);
  }

  /** Uniform integer in [0, n) for 1 ≤ n ≤ 2^53 (n already validated). */
  private below(n: number): number {
    if (n <= TWO_32) {
      const threshold = TWO_32 % n;
      for (;;) {
        const r = this.nextUint32();
        if (r >= threshold) return r % n;
      }
    }
    // wide span: draw just enough bits (high word masked) and reject values ≥ n
    const hiSpan = Math.ceil(n / TWO_32); // values of the high word that can occur, ≤ 2^21
    let hiBits = 0;
    while (2 ** hiBits < hiSpan) hiBits++;
    const hiMask = 2 ** hiBits - 1;
    for (;;) {
      const h = this.nextUint32() & hiMask;
      const l = this.nextUint32();
      const r = h * TWO_32 + l;
      if (r < n) return r;
    }
  }

  /** Fisher–Yates shuffle in place (arrays or typed arrays); returns the same array. */
  shuffle<A extends MutableArrayLike<unknown>>(array: A): A {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = array[i];
      array[i] = array[j];
      array[j] = t;
    }
    return array;
  }

  /** A uniformly random permutation of 0 … n−1. */
  permutation(n: number): number[] {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`Random.permutation: n must be a non-negative safe integer, got ${n}`);
    }
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return this.shuffle(out);
  }

  /**
   * One element of `items`, uniformly, or with probability proportional to `weights`
   * (non-negative finite numbers, same length, positive sum) when given.
   */
  choice<T>(items: ArrayLike<T>, weights?: ArrayLike<number>): T {
    const n = items.length;
    if (n === 0) throw new RangeError("Random.choice: items is empty");
    if (weights === undefined) return items[this.below(n)]!;
    if (weights.length !== n) {
      throw new RangeError(`Random.choice: weights has length ${weights.length}, items has ${n}`);
    }
    let total = 0;
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      if (!(w >= 0) || w === Infinity) {
        throw new RangeError(`Random.choice: weights[${i}] must be finite and >= 0, got ${w}`);
      }
      total += w;
    }
    if (!(total > 0) || total === Infinity) {
      throw new RangeError(`Random.choice: weights must have a finite positive sum, got ${total}`);
    }
    const target = this.uniform() * total;
    let acc = 0;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const w = weights[i]!;
      if (w === 0) continue;
      last = i;
      acc += w;
      if (target < acc) return items[i]!;
    }
    return items[last]!; // rounding left target ≥ the running sum: take the last positive weight
  }

  /** true with probability p (p in [0, 1]). */
  bernoulli(p: number): boolean {
    if (!(p >= 0 && p <= 1)) {
      throw new RangeError(`Random.bernoulli: p must be in [0, 1], got ${p}`);
    }
    return this.uniform() < p;
  }

  /**
   * A child generator on its own PCG stream (distinct increment), derived deterministically.
   * - `fork(label)` (safe integer or string) is a pure function of this generator's current state
   *   and the label; the parent does not advance. Use it for named or indexed sub-streams
   *   (`fork("data")`, `fork(workerIndex)`): the order in which they are created does not matter.
   * - `fork()` without a label consumes two raw draws from the parent, so successive calls give
   *   different children.
   */
  fork(label?: number | string): Random {
    const words: number[] = [this.sHi, this.sLo, this.iHi, this.iLo];
    if (label === undefined) {
      words.push(0, this.nextUint32(), this.nextUint32());
    } else if (typeof label === "string") {
      words.push(2, label.length);
      for (let i = 0; i < label.length; i++) words.push(label.charCodeAt(i));
    } else if (typeof label === "number") {
      const [h, l] = toWords(label, "fork label");
      words.push(1, h, l);
    } else {
      throw new TypeError(`Random.fork: label must be a safe integer or a string, got ${typeof label}`);
    }
    const [a, b, c, d] = hashWords(words);
    const child = new Random(0);
    child.seedWith(a, b, c, d);
    return child;
  }

  /** Fill `out` with uniforms in [lo, hi) (default [0, 1)); the same values `uniform(lo, hi)` gives, stored in out's precision. */
  fillUniform<T extends Float32Array | Float64Array>(out: T, lo = 0, hi = 1): T {
    checkInterval(lo, hi, "fillUniform");
    const width = hi - lo;
    const isF32 = out instanceof Float32Array;
    for (let i = 0; i < out.length; i++) {
      let v: number;
      do {
        v = lo + width * (((this.nextUint32() >>> 5) * 67108864 + (this.nextUint32() >>> 6)) * INV_2_53);
        // f32 rounding can also reach hi: redraw in that case too
      } while (v >= hi || (isF32 && Math.fround(v) >= hi));
      out[i] = v;
    }
    return out;
  }

  /** Fill `out` with Gaussians (shares the polar-method spare with `normal`). */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, std = 1): T {
    if (!Number.isFinite(mean) || !(std >= 0) || std === Infinity) {
      throw new RangeError(`Random.fillNormal: need finite mean and finite std >= 0, got mean=${mean}, std=${std}`);
    }
    for (let i = 0; i < out.length; i++) out[i] = mean + std * this.standardNormal();
    return out;
  }

  /** An independent copy at the same position. */
  clone(): Random {
    return Random.fromState(this.state());
  }

  /** JSON-able snapshot; `Random.fromState(rng.state())` continues exactly where `rng` is. */
  state(): RandomState {
    return {
      algorithm: "pcg32",
      state: hex32(this.sHi) + hex32(this.sLo),
      inc: hex32(this.iHi) + hex32(this.iLo),
      spareNormal: this.hasSpare ? bitsToHex(this.spare) : null,
    };
  }

  /** Rebuild a generator from {@link Random.state} output (e.g. after JSON round-trip). */
  static fromState(s: RandomState): Random {
    if (typeof s !== "object" || s === null || s.algorithm !== "pcg32") {
      throw new TypeError('Random.fromState: expected an object with algorithm "pcg32"');
    }
    const [sh, sl] = parseHex64(s.state, "state");
    const [ih, il] = parseHex64(s.inc, "inc");
    if ((il & 1) === 0) throw new RangeError("Random.fromState: inc must be odd");
    const r = new Random(0);
    r.sHi = sh;
    r.sLo = sl;
    r.iHi = ih;
    r.iLo = il;
    if (s.spareNormal !== null && s.spareNormal !== undefined) {
      if (typeof s.spareNormal !== "string" || !/^[0-9a-fA-F]{16}$/.test(s.spareNormal)) {
        throw new TypeError("Random.fromState: spareNormal must be null or a 16-digit hex string");
      }
      r.hasSpare = true;
      r.spare = hexToBits(s.spareNormal);
    }
    return r;
  }
}

function checkInterval(lo: number, hi: number, where: string): void {
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi) || !Number.isFinite(hi - lo)) {
    throw new RangeError(`Random.${where}: need finite lo < hi with finite hi - lo, got lo=${lo}, hi=${hi}`);
  }
}
