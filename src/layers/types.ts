/**
 * A mixer layer: x [B,T,D] → y [B,T,D], owning its projections, gates and norms around an op (design.md
 * "Layers and models"). The parallel form trains; `step` streams one token with the state it carries.
 * Both give the same numbers.
 */
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import type { Random } from "../core/random.js";
import { Module } from "../nn/module.js";

/** A layer's decode state: named tensors (e.g. the op's state and a short-convolution FIFO). */
export type LayerState = Readonly<Record<string, Tensor>>;

export interface LayerForwardOptions {
  /** continue from this state (the tokens before x) */
  state?: LayerState | null;
  /** also return the state after the last token of x */
  outputState?: boolean;
}

export abstract class MixerLayer extends Module {
  /** the layer type in configs and schedules, e.g. "gla" */
  abstract readonly type: string;
  abstract readonly dModel: number;
  /** parallel form: x [B,T,D] → y [B,T,D] (and the final state when asked) */
  abstract forward(x: Tensor, options?: LayerForwardOptions): { y: Tensor; state?: LayerState };
  /** one token: x [B,D] → y [B,D] */
  abstract step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState };
  /** the state before any token */
  abstract initState(batch: number): LayerState;
  /** floats per sequence carried between tokens after `tokens` tokens (grows for attention) */
  abstract stateSize(tokens: number): number;
}

/** What a layer factory receives besides its own config. */
export interface LayerContext {
  dModel: number;
  rng: Random;
  dtype: DType;
  /** this layer's index and the model depth (for depth-scaled init of output projections, spec §16) */
  layerIdx: number;
  nLayers: number;
  /** std of the N(0, std) init of linear weights (spec §16: 0.02) */
  initStd: number;
}
