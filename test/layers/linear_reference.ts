/**
 * Scalar (plain-array) building blocks of the reference equations for the linear_attn, based, retnet, gla and
 * mamba layer tests, independent of the library's tensor code. The generic checks are in checks.ts.
 */
import type { Tensor } from "../../src/core/tensor.js";

// ---- scalar building blocks (plain arrays, independent of the library's tensor code) ----

export type Params = Map<string, Tensor>;

export function arr(p: Params, name: string): Float64Array | Float32Array | undefined {
  return p.get(name)?.values() as Float64Array | undefined;
}

/** x W^T + b for W [out, in] stored row-major */
export function affine(p: Params, name: string, x: readonly number[]): number[] {
  const W = arr(p, `${name}.weight`)!;
  const b = arr(p, `${name}.bias`);
  const n = x.length;
  const out = W.length / n;
  return Array.from({ length: out }, (_, j) => {
    let s = b ? b[j]! : 0;
    for (let d = 0; d < n; d++) s += x[d]! * W[j * n + d]!;
    return s;
  });
}

export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
export const silu = (z: number) => z * sigmoid(z);
export const logsigmoid = (z: number) => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));

/** split a flat vector into n heads of width m (head-major) */
export function heads(flat: readonly number[], n: number): number[][] {
  const m = flat.length / n;
  return Array.from({ length: n }, (_, h) => flat.slice(h * m, (h + 1) * m));
}

/** kv head of query head h with G query heads per kv head */
export const kvOf = (h: number, G: number) => Math.floor(h / G);

/** causal depthwise conv (kernel W, weight [C,1,W], optional bias) then SiLU, over a sequence [T][C] */
export function convSilu(p: Params, name: string, zs: number[][]): number[][] {
  const w = arr(p, `${name}.weight`);
  if (!w) return zs;
  const b = arr(p, `${name}.bias`);
  const C = zs[0]!.length;
  const W = w.length / C;
  return zs.map((_, t) =>
    zs[t]!.map((__, c) => {
      let acc = b ? b[c]! : 0;
      for (let j = 0; j < W; j++) {
        const u = t - W + 1 + j;
        if (u >= 0) acc += w[c * W + j]! * zs[u]![c]!;
      }
      return silu(acc);
    }),
  );
}

/** z / sqrt(mean z² + eps) ⊙ weight */
export function rmsnormVec(z: readonly number[], weight: ArrayLike<number>, eps: number): number[] {
  const r = 1 / Math.sqrt(z.reduce((s, v) => s + v * v, 0) / z.length + eps);
  return z.map((v, i) => v * r * weight[i]!);
}

/** rotate-half RoPE of one head vector at absolute position pos */
export function ropeVec(z: readonly number[], pos: number, theta: number): number[] {
  const m = z.length;
  const half = m / 2;
  const out = z.slice();
  for (let i = 0; i < half; i++) {
    const a = pos * Math.pow(theta, (-2 * i) / m);
    out[i] = z[i]! * Math.cos(a) - z[i + half]! * Math.sin(a);
    out[i + half] = z[i + half]! * Math.cos(a) + z[i]! * Math.sin(a);
  }
  return out;
}

export const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);
