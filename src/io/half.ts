// Conversions between JS numbers and the 16-bit float formats used in weight files:
// IEEE 754 binary16 ("f16") and bfloat16 ("bf16").
//
// Encoding rounds the exact value of the input number to the nearest representable
// 16-bit value, ties to even. Because every f32 is exactly a JS number, this is the
// same as rounding an f32 to f16/bf16 directly; for f64 inputs there is no double
// rounding through f32. Overflow goes to ±Infinity, underflow to subnormals / ±0,
// and NaN encodes to the canonical quiet NaN (0x7e00 / 0x7fc0).

/** Parameters of a small binary float format with an implicit leading bit. */
interface MiniFloat {
  readonly mantBits: number;
  readonly bias: number;
  /** Biased exponent of Infinity/NaN (all ones). */
  readonly maxExp: number;
  readonly nanBits: number;
}

const F16: MiniFloat = { mantBits: 10, bias: 15, maxExp: 31, nanBits: 0x7e00 };
const BF16: MiniFloat = { mantBits: 7, bias: 127, maxExp: 255, nanBits: 0x7fc0 };

// Scratch view used to read the binary exponent of a double exactly.
const scratch = new DataView(new ArrayBuffer(8));

/** floor(log2(a)) for a positive normal double, read from its exponent field. */
function exponentOf(a: number): number {
  scratch.setFloat64(0, a, true);
  return ((scratch.getUint32(4, true) >>> 20) & 0x7ff) - 1023;
}

/** Round a non-negative number to an integer, ties to even. */
function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const d = q - f; // exact: q and f share an exponent range
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function encode(x: number, fmt: MiniFloat): number {
  if (Number.isNaN(x)) return fmt.nanBits;
  const signBit = x < 0 || Object.is(x, -0) ? 0x8000 : 0; // both formats: sign is bit 15
  const a = Math.abs(x);
  const expField = fmt.maxExp << fmt.mantBits; // bits of +Infinity
  if (a === Infinity) return signBit | expField;
  const minNormalExp = 1 - fmt.bias;
  // Subnormal step is 2^(minNormalExp - mantBits); every power of two used here is
  // an exact double, and a / 2^k is exact (no overflow or underflow for these formats).
  const e = a === 0 ? minNormalExp - 1 : exponentOf(a);
  if (e < minNormalExp) {
    // Subnormal (or zero). A result of 2^mantBits is the smallest normal, and its
    // bit pattern happens to be exactly that integer, so no special case is needed.
    const m = roundHalfEven(a / 2 ** (minNormalExp - fmt.mantBits));
    return signBit | m;
  }
  let m = roundHalfEven(a / 2 ** (e - fmt.mantBits)); // in [2^mantBits, 2^(mantBits+1)]
  let biased = e + fmt.bias;
  if (m === 2 ** (fmt.mantBits + 1)) {
    m >>>= 1;
    biased += 1;
  }
  if (biased >= fmt.maxExp) return signBit | expField;
  return signBit | (biased << fmt.mantBits) | (m - (1 << fmt.mantBits));
}

/** Encode a number as IEEE binary16 bits (0..0xffff), round-to-nearest-even. */
export function f32ToF16Bits(x: number): number {
  return encode(x, F16);
}

/** Encode a number as bfloat16 bits (0..0xffff), round-to-nearest-even. */
export function f32ToBf16Bits(x: number): number {
  return encode(x, BF16);
}

/** Decode IEEE binary16 bits (the low 16 bits of `h`) to a number (exactly representable as f32). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** Decode bfloat16 bits (the low 16 bits of `h`) to a number (exactly representable as f32). */
export function bf16BitsToF32(h: number): number {
  scratch.setUint32(0, (h & 0xffff) << 16, true);
  return scratch.getFloat32(0, true);
}
