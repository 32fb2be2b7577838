/**
 * The softmax-attention branch of the Titans layers (spec/mixers.md §10.3): attention of a range of queries over
 * a *prefix* that every query sees (the persistent memory tokens P, and in MAC the retrieved tokens) and a
 * causal *stream* of keys (the sliding window of MAG/MAL, the segment of MAC), possibly continuing a cache of
 * earlier stream positions. The `attention` op has no "prefix always visible + window" mask, so this is written
 * with the tensor core's differentiable ops, blocked over queries (cost O(T·(N_p + window + block)), never a
 * T×T matrix). The parallel form and the one-token step run this same function, so they agree to rounding.
 *
 * Parameters (fla Attention names; H heads of width m, no biases, no GQA):
 *   q_proj.weight [H·m, D], k_proj.weight [H·m, D], v_proj.weight [H·m, D], o_proj.weight [D, H·m]
 * Keys and values are packed as the `attention` op's KV cache: [B, N, H, 2m], keys then values on the last
 * axis. RoPE (rotate-half, spec §0.3) rotates queries and stream keys by their stream position; prefix keys are
 * not rotated (they have no position: they are in view of every query alike).
 */
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { tensor } from "../core/create.js";
import { concat, permute, reshape, slice, stack } from "../core/ops/shape.js";
import { Module } from "../nn/module.js";
import type { Linear } from "../nn/linear.js";
import { rope } from "../ops/rope/index.js";
import { normalLinear } from "./linear_base.js";
import type { LayerContext } from "./types.js";

/** Queries per block of the blocked attention. */
const QUERY_BLOCK = 64;

/**
 * Softmax attention of q [B,T,H,m] over `prefix` [B,P,H,2m] (visible to every query; may be null) and the
 * stream [B,N,H,2m], where query t sees the stream keys j ∈ visible(t) = [j0, j1) (a range whose ends do not
 * decrease with t). Scores are scaled by m^-1/2. Returns o [B,T,H,m].
 */
export function prefixStreamAttention(q: Tensor, prefix: Tensor | null, stream: Tensor, visible: (t: number) => readonly [number, number]): Tensor {
  const [, T, , m] = q.shape as [number, number, number, number];
  const scale = 1 / Math.sqrt(m);
  const keysOf = (kv: Tensor) => permute(slice(kv, 3, 0, m), [0, 2, 3, 1]); // [B,H,m,N]
  const valuesOf = (kv: Tensor) => permute(slice(kv, 3, m), [0, 2, 1, 3]); // [B,H,N,m]
  const P = prefix?.shape[1] ?? 0;
  const pk = prefix && P > 0 ? keysOf(prefix) : null;
  const pv = prefix && P > 0 ? valuesOf(prefix) : null;
  const outs: Tensor[] = [];
  for (let t0 = 0; t0 < T; t0 += QUERY_BLOCK) {
    const t1 = Math.min(T, t0 + QUERY_BLOCK);
    const j0 = visible(t0)[0];
    const j1 = visible(t1 - 1)[1];
    const qb = permute(slice(q, 1, t0, t1), [0, 2, 1, 3]).mul(scale); // [B,H,c,m]
    const kvb = slice(stream, 1, j0, j1);
    // the mask goes on the exponent before the softmax (spec §0.4 rule 2): −∞ outside each query's range
    const mask = new Array<number>((t1 - t0) * (j1 - j0)).fill(-Infinity);
    for (let t = t0; t < t1; t++) {
      const [a, b] = visible(t);
      for (let j = a; j < b; j++) mask[(t - t0) * (j1 - j0) + (j - j0)] = 0;
    }
    const scores = [qb.matmul(keysOf(kvb)).add(tensor(mask, [t1 - t0, j1 - j0], { dtype: q.dtype }))];
    if (pk) scores.unshift(qb.matmul(pk));
    const p = concat(scores, -1).softmax(-1);
    let o = slice(p, -1, P).matmul(valuesOf(kvb));
    if (pv) o = o.add(slice(p, -1, 0, P).matmul(pv));
    outs.push(permute(o, [0, 2, 1, 3]));
  }
  return outs.length === 1 ? outs[0]! : concat(outs, 1);
}

/** Interleaves two packed streams of equal length: [a_0, b_0, a_1, b_1, …] along the time axis. */
export function interleave(a: Tensor, b: Tensor): Tensor {
  const [B, T, ...rest] = a.shape as number[];
  return reshape(stack([a, b], 2), [B!, 2 * T!, ...rest]);
}

export interface TitansAttentionDims {
  numHeads: number;
  headDim: number;
  rope: boolean;
  ropeTheta: number;
}

/** q/k/v/o projections and RoPE around prefixStreamAttention. */
export class TitansAttention extends Module {
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly o_proj: Linear;

  constructor(readonly dModel: number, readonly dims: TitansAttentionDims, context: LayerContext, outputStd: number) {
    super();
    const lin = normalLinear(context);
    const inner = dims.numHeads * dims.headDim;
    this.q_proj = this.module("q_proj", lin(dModel, inner, context.initStd));
    this.k_proj = this.module("k_proj", lin(dModel, inner, context.initStd));
    this.v_proj = this.module("v_proj", lin(dModel, inner, context.initStd));
    this.o_proj = this.module("o_proj", lin(inner, dModel, outputStd));
  }

  get dtype(): DType {
    return this.q_proj.weight.dtype;
  }

  /** floats of one packed key/value position */
  get kvWidth(): number {
    return this.dims.numHeads * 2 * this.dims.headDim;
  }

  private heads(z: Tensor): Tensor {
    const [B, T] = z.shape as [number, number];
    return reshape(z, [B, T, this.dims.numHeads, this.dims.headDim]);
  }

  private rotate(z: Tensor, offset: number | null): Tensor {
    return this.dims.rope && offset !== null ? rope(z, { offset, base: this.dims.ropeTheta }) : z;
  }

  /** x [B,T,D] → packed keys/values [B,T,H,2m], keys rotated from position `offset` (null: no rotation, a prefix) */
  kv(x: Tensor, offset: number | null): Tensor {
    return concat([this.rotate(this.heads(this.k_proj.forward(x)), offset), this.heads(this.v_proj.forward(x))], 3);
  }

  /** x [B,T,D] → queries [B,T,H,m] rotated from position `offset` */
  queries(x: Tensor, offset: number): Tensor {
    return this.rotate(this.heads(this.q_proj.forward(x)), offset);
  }

  /** prefixStreamAttention, heads merged, o_proj: [B,T,D] */
  attend(q: Tensor, prefix: Tensor | null, stream: Tensor, visible: (t: number) => readonly [number, number]): Tensor {
    const o = prefixStreamAttention(q, prefix, stream, visible);
    const [B, T] = q.shape as [number, number];
    return this.o_proj.forward(reshape(o, [B, T, this.dims.numHeads * this.dims.headDim]));
  }
}
