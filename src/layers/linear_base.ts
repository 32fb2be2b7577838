/**
 * What the `linear_attn`, `based`, `retnet` and `gla` layers share (spec/mixers.md §0.2, §3–§6): fla's gated
 * output norm, the grouped-query head repeat, the width/head checks with errors that name the config field,
 * the optional q/k/v short convolutions, and the plumbing of a layer state { recurrent: the op's state, plus
 * whatever else the layer carries (conv FIFOs, a RoPE position) } around a linear-recurrence op's chunk form
 * (forward) and recurrent step (step). Each layer file documents its own parameters and their fla names.
 */
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { silu } from "../core/ops/elementwise.js";
import { rmsNorm } from "../core/ops/nn.js";
import { expand, reshape, squeeze, unsqueeze } from "../core/ops/shape.js";
import { zeros } from "../core/create.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { ShortConv } from "../nn/shortconv.js";
import { constant } from "../nn/init.js";
import { parseOptions } from "../ops/options.js";
import { runOp } from "../ops/run.js";
import type { AnyOp } from "../ops/types.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";

/**
 * fla's FusedRMSNormGated with the swish gate (norm, then gate; spec §0.2): y = RMSNorm(x) ⊙ weight ⊙ SiLU(g)
 * over the last axis (one head), a learned scale `weight` [m] initialised to 1, no bias.
 */
export class FusedRMSNormGated extends Module {
  readonly weight: Tensor;

  constructor(readonly dim: number, readonly eps: number, options: { dtype: DType }) {
    super();
    this.weight = this.param("weight", constant([dim], 1, options.dtype));
  }

  forward(x: Tensor, g: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps).mul(silu(g));
  }
}

/** "layers[i] (type)", the prefix the registry gives config errors; construction errors use it too. */
export function where(type: string, context: Pick<LayerContext, "layerIdx">): string {
  return `layers[${context.layerIdx}] (${type})`;
}

/**
 * round(dModel·expand) when that is a positive integer (fla asserts the same), else an error naming `field`.
 */
export function expandedWidth(type: string, context: Pick<LayerContext, "dModel" | "layerIdx">, field: string, expand: number): number {
  const w = context.dModel * expand;
  const r = Math.round(w);
  if (Math.abs(w - r) > 1e-9 * Math.max(1, w) || r < 1) {
    throw new Error(`${where(type, context)}: dModel·${field} = ${context.dModel}·${expand} = ${w} must be a positive integer width`);
  }
  return r;
}

/**
 * The head count: the configured one, which must divide every width (error naming numHeads and the width's
 * field), or fla's default when it divides them all, else 1.
 */
export function resolveHeads(
  type: string,
  context: Pick<LayerContext, "layerIdx">,
  configured: number | null,
  flaDefault: number,
  widths: ReadonlyArray<readonly [field: string, width: number]>,
): number {
  if (configured === null) return widths.every(([, w]) => w % flaDefault === 0) ? flaDefault : 1;
  for (const [field, w] of widths) {
    if (w % configured !== 0) {
      throw new Error(`${where(type, context)}: numHeads=${configured} must divide the ${field} width ${w} (each head gets an equal share)`);
    }
  }
  return configured;
}

/** numKvHeads (default numHeads) must divide numHeads: an error naming both. */
export function resolveKvHeads(type: string, context: Pick<LayerContext, "layerIdx">, numHeads: number, configured: number | null): number {
  const kv = configured ?? numHeads;
  if (numHeads % kv !== 0) {
    throw new Error(`${where(type, context)}: numKvHeads=${kv} must divide numHeads=${numHeads} (grouped-query: each kv head serves numHeads/numKvHeads query heads)`);
  }
  return kv;
}

/**
 * Grouped-query repeat over the head axis (second to last): [..., Hkv, d] → [..., Hkv·G, d], kv head j serving
 * query heads j·G … j·G+G−1 (fla's `repeat(x, '... (h d) -> ... (h g) d')`, spec §0.2 ⌊h/G⌋).
 */
export function repeatHeads(x: Tensor, groups: number): Tensor {
  if (groups === 1) return x;
  const shape = x.shape;
  const lead = shape.slice(0, -2);
  const [hkv, d] = shape.slice(-2) as [number, number];
  const e = expand(unsqueeze(x, -2), [...lead, hkv, groups, d]);
  return reshape(e, [...lead, hkv * groups, d]);
}

/** The tensors one range of tokens gives the op, and the non-op state entries after that range. */
export interface Prepared {
  /** op inputs: per-step ones with the time axis ([B,T,…]), the others whole (e.g. gamma) */
  readonly inputs: Record<string, Tensor>;
  /** the state entries other than `recurrent` after these tokens (conv FIFOs, position) */
  readonly carry: Record<string, Tensor>;
}

/**
 * A mixer around one linear-recurrence op: forward = the op's chunk form (continuing from state.recurrent),
 * step = the op's recurrent step (O(1) in T). Subclasses build the op inputs and the readout.
 */
export abstract class LinearMixerBase extends MixerLayer {
  protected abstract readonly op: AnyOp;
  /** options of the op besides outputFinalState (scale, normalize, eps, chunkSize) */
  protected abstract opOptions(): Record<string, unknown>;
  /** x [B,T,D] (continuing from `prev`, the state before x) → the op inputs and the carried entries after x */
  protected abstract prepare(x: Tensor, prev: LayerState | null): Prepared;
  /** o [..., H, V] (the op output) and the layer input x [..., D] → y [..., D] */
  protected abstract readout(o: Tensor, x: Tensor): Tensor;
  /** shapes of every state tensor for `batch` sequences, `recurrent` (the op's state) included */
  protected abstract stateShapes(batch: number): Record<string, number[]>;

  private stepOptionsCache: unknown = null;

  /** the dtype of the layer's parameters (and of its state) */
  protected abstract get dtype(): DType;

  private get stepOptions(): unknown {
    this.stepOptionsCache ??= parseOptions(this.op.name, this.op.options, this.opOptions());
    return this.stepOptionsCache;
  }

  initState(batch: number): LayerState {
    const out: Record<string, Tensor> = {};
    for (const [key, shape] of Object.entries(this.stateShapes(batch))) out[key] = zeros(shape, { dtype: this.dtype });
    return out;
  }

  /** Every tensor of `stateShapes` is present with its shape; errors name the tensor. */
  protected checkState(state: LayerState, batch: number): void {
    for (const [key, want] of Object.entries(this.stateShapes(batch))) {
      const t = state[key];
      if (t === undefined || t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new RangeError(`${this.type}: state.${key} must have shape [${want.join(",")}] (from initState or forward), got ${t ? `[${t.shape.join(",")}]` : "nothing"}`);
      }
    }
  }

  protected checkInput(x: Tensor, rank: 2 | 3): void {
    const ok = x.ndim === rank && x.shape[rank - 1] === this.dModel;
    if (!ok) throw new RangeError(`${this.type}: x must have shape ${rank === 3 ? "[B,T," : "[B,"}${this.dModel}], got [${x.shape.join(",")}]`);
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    this.checkInput(x, 3);
    const prev = options.state ?? null;
    if (prev) this.checkState(prev, x.shape[0]!);
    const outputState = options.outputState ?? false;
    const { inputs, carry } = this.prepare(x, prev);
    const r = runOp(this.op, { ...inputs, ...(prev ? { initial_state: prev.recurrent! } : {}) }, "chunk", {
      ...this.opOptions(),
      outputFinalState: outputState,
    });
    const y = this.readout(r.o, x);
    return outputState ? { y, state: { ...carry, recurrent: r.finalState! } } : { y };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    this.checkInput(x, 2);
    this.checkState(state, x.shape[0]!);
    const { inputs, carry } = this.prepare(unsqueeze(x, 1), state);
    const at: Record<string, Tensor> = {};
    for (const spec of this.op.inputs) {
      const t = inputs[spec.name];
      if (t !== undefined) at[spec.name] = spec.perStep ? squeeze(t, 1) : t;
    }
    const r = this.op.recurrent.step(state.recurrent!, at, this.stepOptions);
    return { y: this.readout(r.o, x), state: { ...carry, recurrent: r.state } };
  }

  /** the floats of every state tensor, per sequence (constant in T) */
  stateSize(_tokens?: number): number {
    return Object.values(this.stateShapes(1)).reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
  }
}

/**
 * Builds `proj` → optional short conv (SiLU) for each branch of x [B,T,D]: returns the outputs [B,T,C] and the
 * conv FIFOs after x (continuing from prev[key]).
 */
export function projectWithConvs(
  x: Tensor,
  prev: LayerState | null,
  branches: ReadonlyArray<{ proj: Linear; conv: ShortConv | null; key: string }>,
): { outs: Tensor[]; convState: Record<string, Tensor> } {
  const convState: Record<string, Tensor> = {};
  const outs = branches.map(({ proj, conv, key }) => {
    const z = proj.forward(x);
    if (!conv) return z;
    const r = conv.forward(z, prev?.[key] ?? null);
    convState[key] = r.state;
    return r.y;
  });
  return { outs, convState };
}
