/**
 * What the `deltanet` and `gated_deltanet` layers share (spec/mixers.md §7.1): the q/k/v branches (projection,
 * optional short conv with SiLU, else a plain SiLU), the per-head L2 normalisation of q and k, the write
 * strength β, the per-head output norm (gated or not), o_proj, and the plumbing of the layer state around the
 * `delta_rule` / `gated_delta_rule` op. Each layer file adds its own config, defaults and (for the gated layer)
 * the decay parameters; see `delta_net.ts` and `gated_deltanet.ts` for the parameter mappings to fla.
 */
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { silu } from "../core/ops/elementwise.js";
import { rmsNorm } from "../core/ops/nn.js";
import { reshape, squeeze, unsqueeze } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { ShortConv } from "../nn/shortconv.js";
import { constant } from "../nn/init.js";
import { zeros } from "../core/create.js";
import { parseOptions } from "../ops/options.js";
import { runOp } from "../ops/run.js";
import type { AnyOp } from "../ops/types.js";
import type { DeltaOptions } from "../ops/delta_common/shared.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";

/** ε inside the per-head L2 norm of q and k, as fla's l2norm (spec §0.2: z / sqrt(Σz² + 1e-6)). */
export const L2_EPS = 1e-6;

/** z / sqrt(Σ z² + 1e-6) over the last axis (differentiable). */
export function l2normalize(z: Tensor): Tensor {
  return z.mul(z.square().sum(-1, true).add(L2_EPS).rsqrt());
}

/**
 * fla's FusedRMSNormGated (norm then gate, spec §0.2): y = RMSNorm(x) ⊙ weight ⊙ SiLU(g) over the last axis,
 * one learned scale `weight` [m] (init 1), no bias.
 */
export class GatedRMSNorm extends Module {
  readonly weight: Tensor;

  constructor(readonly dim: number, readonly eps: number, options: { dtype: DType }) {
    super();
    this.weight = this.param("weight", constant([dim], 1, options.dtype));
  }

  forward(x: Tensor, g: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps).mul(silu(g));
  }
}

/** The resolved sizes and switches of a delta-rule layer (after defaults and checks). */
export interface DeltaLayerDims {
  /** heads H */
  numHeads: number;
  /** key width per head K */
  headKDim: number;
  /** value width per head V */
  headVDim: number;
  /** β = σ(b_proj x) (else β = 1 and no b_proj) */
  useBeta: boolean;
  /** output gate g_proj + gated RMSNorm (else a plain per-head RMSNorm) */
  useGate: boolean;
  useShortConv: boolean;
  convSize: number;
  convBias: boolean;
  /** β ← 2β ∈ (0,2) */
  allowNegEigval: boolean;
  normEps: number;
  /** chunk length of the op's chunk form in forward */
  chunkSize: number;
}

/** The tensors one token range produces before the op: [B,T,H,K] q, k; [B,T,H,V] v; [B,T,H] beta (and g). */
interface OpInputsT {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  beta: Tensor;
  g?: Tensor;
}

export abstract class DeltaLayerBase extends MixerLayer {
  readonly numHeads: number;
  readonly headKDim: number;
  readonly headVDim: number;
  readonly useBeta: boolean;
  readonly useGate: boolean;
  readonly allowNegEigval: boolean;
  readonly chunkSize: number;

  // registered by the subclass constructor through `build*` (so each layer keeps fla's registration order)
  q_proj!: Linear;
  k_proj!: Linear;
  v_proj!: Linear;
  b_proj: Linear | null = null;
  q_conv1d: ShortConv | null = null;
  k_conv1d: ShortConv | null = null;
  v_conv1d: ShortConv | null = null;
  g_proj: Linear | null = null;
  o_norm!: RMSNorm | GatedRMSNorm;
  o_proj!: Linear;

  protected abstract readonly op: AnyOp;
  private stepOptionsCache: DeltaOptions | null = null;

  constructor(readonly dModel: number, readonly dims: DeltaLayerDims, protected readonly context: LayerContext) {
    super();
    this.numHeads = dims.numHeads;
    this.headKDim = dims.headKDim;
    this.headVDim = dims.headVDim;
    this.useBeta = dims.useBeta;
    this.useGate = dims.useGate;
    this.allowNegEigval = dims.allowNegEigval;
    this.chunkSize = dims.chunkSize;
  }

  /** width of q and k (H·K) */
  get keyDim(): number {
    return this.numHeads * this.headKDim;
  }

  /** width of v and of the op output (H·V) */
  get valueDim(): number {
    return this.numHeads * this.headVDim;
  }

  /** A bias-free Linear with weights N(0, std) (spec §16). */
  protected linear(name: string, inF: number, outF: number, std: number): Linear {
    const { rng, dtype } = this.context;
    return this.module(name, new Linear(inF, outF, { rng, dtype, bias: false, init: "normal", std }));
  }

  /** q_proj, k_proj, v_proj: N(0, initStd). */
  protected buildQkv(): void {
    const { initStd } = this.context;
    this.q_proj = this.linear("q_proj", this.dModel, this.keyDim, initStd);
    this.k_proj = this.linear("k_proj", this.dModel, this.keyDim, initStd);
    this.v_proj = this.linear("v_proj", this.dModel, this.valueDim, initStd);
  }

  /** b_proj [H, D], N(0, initStd), when useBeta. */
  protected buildBeta(): void {
    if (this.useBeta) this.b_proj = this.linear("b_proj", this.dModel, this.numHeads, this.context.initStd);
  }

  /** q_conv1d, k_conv1d, v_conv1d (fla ShortConvolution, SiLU; PyTorch's Conv1d default init), when useShortConv. */
  protected buildConvs(): void {
    if (!this.dims.useShortConv) return;
    const { rng, dtype } = this.context;
    const conv = (name: string, channels: number) =>
      this.module(name, new ShortConv(channels, this.dims.convSize, { rng, dtype, bias: this.dims.convBias, activation: "silu" }));
    this.q_conv1d = conv("q_conv1d", this.keyDim);
    this.k_conv1d = conv("k_conv1d", this.keyDim);
    this.v_conv1d = conv("v_conv1d", this.valueDim);
  }

  /** g_proj (when useGate), o_norm, o_proj (N(0, initStd/√(2·nLayers)), spec §16). */
  protected buildOutput(): void {
    const { initStd, nLayers, dtype } = this.context;
    if (this.useGate) {
      this.g_proj = this.linear("g_proj", this.dModel, this.valueDim, initStd);
      this.o_norm = this.module("o_norm", new GatedRMSNorm(this.headVDim, this.dims.normEps, { dtype }));
    } else {
      this.o_norm = this.module("o_norm", new RMSNorm(this.headVDim, this.dims.normEps, { dtype }));
    }
    this.o_proj = this.linear("o_proj", this.valueDim, this.dModel, initStd / Math.sqrt(2 * nLayers));
  }

  /** The log decay g [B,T,H] for x [B,T,D] (gated layer only). */
  protected decay(_x: Tensor): Tensor | undefined {
    return undefined;
  }

  private get stepOptions(): DeltaOptions {
    this.stepOptionsCache ??= parseOptions(this.op.name, this.op.options, {}) as DeltaOptions;
    return this.stepOptionsCache;
  }

  private convs(): Array<[string, ShortConv]> {
    const out: Array<[string, ShortConv]> = [];
    if (this.q_conv1d) out.push(["conv_q", this.q_conv1d]);
    if (this.k_conv1d) out.push(["conv_k", this.k_conv1d]);
    if (this.v_conv1d) out.push(["conv_v", this.v_conv1d]);
    return out;
  }

  initState(batch: number): LayerState {
    const state: Record<string, Tensor> = {};
    for (const [key, c] of this.convs()) state[key] = c.initState(batch);
    state.recurrent = zeros([batch, this.numHeads, this.headKDim, this.headVDim], { dtype: this.q_proj.weight.dtype });
    return state;
  }

  /** Checks every tensor of a state for `batch` sequences. */
  private checkState(state: LayerState, batch: number): void {
    const wants: Array<[string, number[]]> = this.convs().map(([key, c]) => [key, [batch, c.kernelSize - 1, c.channels]]);
    wants.push(["recurrent", [batch, this.numHeads, this.headKDim, this.headVDim]]);
    for (const [key, want] of wants) {
      const t = state[key];
      if (t === undefined || t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
        throw new RangeError(`${this.type}: state.${key} must have shape [${want.join(",")}] (from initState or forward), got ${t ? `[${t.shape.join(",")}]` : "nothing"}`);
      }
    }
  }

  /**
   * x [B,T,D] → the op inputs over T and the conv FIFOs after x (continuing from `prev`, the state before x).
   * Branches: proj → short conv + SiLU (or SiLU alone without the conv) → head split; q, k L2-normalised per head.
   */
  private inputs(x: Tensor, prev: LayerState | null): { inputs: OpInputsT; convState: Record<string, Tensor> } {
    const [B, T] = x.shape as [number, number];
    const H = this.numHeads;
    const convState: Record<string, Tensor> = {};
    const branch = (proj: Linear, c: ShortConv | null, key: string, width: number): Tensor => {
      let z = proj.forward(x);
      if (c) {
        const r = c.forward(z, prev?.[key] ?? null);
        z = r.y;
        convState[key] = r.state;
      } else {
        z = silu(z);
      }
      return reshape(z, [B, T, H, width]);
    };
    const q = l2normalize(branch(this.q_proj, this.q_conv1d, "conv_q", this.headKDim));
    const k = l2normalize(branch(this.k_proj, this.k_conv1d, "conv_k", this.headKDim));
    const v = branch(this.v_proj, this.v_conv1d, "conv_v", this.headVDim);
    let beta: Tensor;
    if (this.b_proj) {
      beta = this.b_proj.forward(x).sigmoid();
      if (this.allowNegEigval) beta = beta.mul(2);
    } else {
      beta = constant([B, T, H], this.allowNegEigval ? 2 : 1, x.dtype);
    }
    const g = this.decay(x);
    return { inputs: { q, k, v, beta, ...(g ? { g } : {}) }, convState };
  }

  /** o [..., H, V] and the layer input x [..., D] → y [..., D]: per-head (gated) RMSNorm, merge heads, o_proj. */
  private readout(o: Tensor, x: Tensor): Tensor {
    const lead = x.shape.slice(0, -1);
    let n: Tensor;
    if (this.o_norm instanceof GatedRMSNorm) {
      const g = reshape(this.g_proj!.forward(x), [...lead, this.numHeads, this.headVDim]);
      n = this.o_norm.forward(o, g);
    } else {
      n = this.o_norm.forward(o);
    }
    return this.o_proj.forward(reshape(n, [...lead, this.valueDim]));
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    if (x.ndim !== 3 || x.shape[2] !== this.dModel) {
      throw new RangeError(`${this.type}: x must have shape [B,T,${this.dModel}], got [${x.shape.join(",")}]`);
    }
    const B = x.shape[0]!;
    const prev = options.state ?? null;
    if (prev) this.checkState(prev, B);
    const outputState = options.outputState ?? false;
    const { inputs, convState } = this.inputs(x, prev);
    const r = runOp(this.op, { ...inputs, ...(prev ? { initial_state: prev.recurrent! } : {}) }, "chunk", {
      outputFinalState: outputState,
      chunkSize: this.chunkSize,
    });
    const y = this.readout(r.o, x);
    return outputState ? { y, state: { ...convState, recurrent: r.finalState! } } : { y };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    if (x.ndim !== 2 || x.shape[1] !== this.dModel) {
      throw new RangeError(`${this.type}: x must have shape [B,${this.dModel}], got [${x.shape.join(",")}]`);
    }
    this.checkState(state, x.shape[0]!);
    const { inputs, convState } = this.inputs(unsqueeze(x, 1), state);
    const at: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(inputs)) at[name] = squeeze(t as Tensor, 1);
    const r = this.op.recurrent.step(state.recurrent!, at, this.stepOptions);
    return { y: this.readout(r.o, x), state: { ...convState, recurrent: r.state } };
  }

  /** H·K·V for the memory plus (W−1)·(2·H·K + H·V) for the conv FIFOs, whatever the number of tokens. */
  stateSize(): number {
    const convs = this.convs().reduce((n, [, c]) => n + (c.kernelSize - 1) * c.channels, 0);
    return this.numHeads * this.headKDim * this.headVDim + convs;
  }
}

/** "layers[i] (type)": the prefix of construction errors, as the registry's. */
export function where(type: string, context: Pick<LayerContext, "layerIdx">): string {
  return `layers[${context.layerIdx}] (${type})`;
}
