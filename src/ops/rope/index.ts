/**
 * RoPE, rotary position embedding (spec/mixers.md §0.3), "rotate-half" layout: within the first `rotaryDim`
 * entries of each head vector, entry i is paired with entry i + rotaryDim/2 and the pair is rotated by the angle
 * p·θ_i, θ_i = base^(−2i/rotaryDim), p = offset + t the absolute 0-based position. Entries past rotaryDim pass
 * through unchanged. Applied by layers to q and k (never v), after the head split. Not a registered op: a
 * differentiable function whose backward is the rotation by the opposite angle.
 */
import { allocate } from "../../core/dtype.js";
import { record } from "../../core/autograd.js";
import { shapeString } from "../../core/shape.js";
import { Tensor } from "../../core/tensor.js";
import type { FloatArray } from "../../kernels/types.js";
import { OpError } from "../options.js";

export interface RopeOptions {
  /** absolute position of x's first time step (default 0), e.g. the number of cached tokens when decoding */
  offset?: number;
  /** default 10000 */
  base?: number;
  /** leading entries of each head vector that are rotated (even, ≤ D; default D) */
  rotaryDim?: number;
}

/** cos and sin of p·θ_i for p = offset..offset+T−1, i < half: two [T, half] tables in f64. */
function angles(T: number, half: number, offset: number, base: number): { cos: Float64Array; sin: Float64Array } {
  const cos = new Float64Array(T * half);
  const sin = new Float64Array(T * half);
  for (let i = 0; i < half; i++) {
    const theta = Math.pow(base, -i / half); // base^(−2i/rotaryDim)
    for (let t = 0; t < T; t++) {
      const a = (offset + t) * theta;
      cos[t * half + i] = Math.cos(a);
      sin[t * half + i] = Math.sin(a);
    }
  }
  return { cos, sin };
}

/** Rotates every pair of src [B,T,H,D] (contiguous values) by sign·angle into a new array. */
function rotate(src: FloatArray, shape: readonly number[], half: number, cos: Float64Array, sin: Float64Array, sign: number): FloatArray {
  const [B, T, H, D] = shape as [number, number, number, number];
  const out = allocate(src instanceof Float64Array ? "f64" : "f32", src.length);
  out.set(src);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const tab = t * half;
      for (let h = 0; h < H; h++) {
        const base = ((b * T + t) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const c = cos[tab + i]!;
          const s = sign * sin[tab + i]!;
          const x1 = src[base + i]!;
          const x2 = src[base + i + half]!;
          out[base + i] = x1 * c - x2 * s;
          out[base + i + half] = x2 * c + x1 * s;
        }
      }
    }
  }
  return out;
}

/** x [B,T,H,D] → rotated x [B,T,H,D] (same dtype). */
export function rope(x: Tensor, options: RopeOptions = {}): Tensor {
  if (x.ndim !== 4) throw new OpError(`rope: x must have 4 dimensions [B,T,H,D], got ${shapeString(x.shape)}`);
  const D = x.shape[3]!;
  const offset = options.offset ?? 0;
  const base = options.base ?? 10000;
  const rotaryDim = options.rotaryDim ?? D;
  if (!Number.isInteger(offset) || offset < 0) throw new OpError(`rope: option 'offset' must be a non-negative integer, got ${offset}`);
  if (!Number.isFinite(base) || base <= 0) throw new OpError(`rope: option 'base' must be a positive number, got ${base}`);
  if (!Number.isInteger(rotaryDim) || rotaryDim < 2 || rotaryDim % 2 !== 0 || rotaryDim > D) {
    throw new OpError(`rope: option 'rotaryDim' must be an even integer in [2, D=${D}], got ${rotaryDim}`);
  }
  const half = rotaryDim / 2;
  const { cos, sin } = angles(x.shape[1]!, half, offset, base);
  const y = new Tensor(rotate(x.values(), x.shape, half, cos, sin, 1), x.shape);
  return record(y, "rope", [x], (g) => [new Tensor(rotate(g.values(), g.shape, half, cos, sin, -1), g.shape)]);
}
