/**
 * What the `deltanet` and `gated_deltanet` layers share (spec/mixers.md §7.1): the q/k/v branches (projection,
 * optional short conv with SiLU, else a plain SiLU), the per-head L2 normalisation of q and k, the write
 * strength β, the per-head output norm (gated or not), o_proj, the config switches they have in common, and the
 * op inputs / readout around the `delta_rule` / `gated_delta_rule` op (the state plumbing, forward = chunk form
 * and step = recurrent form, is LinearMixerBase's). Each layer file adds its own config, defaults and (for the
 * gated layer) the decay parameters; see `delta_net.ts` and `gated_deltanet.ts` for the parameter mappings to fla.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { reshape } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { ShortConv } from "../nn/shortconv.js";
import { constant } from "../nn/init.js";
import type { LayerContext, LayerState } from "./types.js";
import { FusedRMSNormGated as GatedRMSNorm, LinearMixerBase, type Prepared } from "./linear_base.js";
import { convSiluNorm, convTail, type BranchConv } from "./delta_branch.js";

/** ε inside the per-head L2 norm of q and k, as fla's l2norm (spec §0.2: z / sqrt(Σz² + 1e-6)). */
export const L2_EPS = 1e-6;

/** z / sqrt(Σ z² + 1e-6) over the last axis (differentiable). */
export function l2normalize(z: Tensor): Tensor {
  return z.mul(z.square().sum(-1, true).add(L2_EPS).rsqrt());
}

/** fla's FusedRMSNormGated (norm then gate, spec §0.2), shared with the linear-attention layers. */
export { FusedRMSNormGated as GatedRMSNorm, where } from "./linear_base.js";

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

export abstract class DeltaLayerBase extends LinearMixerBase {
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

  private convs(): Array<[string, ShortConv]> {
    const out: Array<[string, ShortConv]> = [];
    if (this.q_conv1d) out.push(["conv_q", this.q_conv1d]);
    if (this.k_conv1d) out.push(["conv_k", this.k_conv1d]);
    if (this.v_conv1d) out.push(["conv_v", this.v_conv1d]);
    return out;
  }

  protected get dtype(): DType {
    return this.q_proj.weight.dtype;
  }

  protected opOptions(): Record<string, unknown> {
    return { chunkSize: this.chunkSize };
  }

  /** conv_q, conv_k, conv_v [B, W−1, C] (with useShortConv) and recurrent [B, H, K, V] */
  protected stateShapes(batch: number): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const [key, c] of this.convs()) out[key] = [batch, c.kernelSize - 1, c.channels];
    out.recurrent = [batch, this.numHeads, this.headKDim, this.headVDim];
    return out;
  }

  /**
   * x [B,T,D] → the op inputs over T and the conv FIFOs after x (continuing from `prev`, the state before x).
   * Branches: proj → short conv + SiLU (or SiLU alone without the conv) → head split; q, k L2-normalised per head.
   */
  protected prepare(x: Tensor, prev: LayerState | null): Prepared {
    const [B, T] = x.shape as [number, number];
    const H = this.numHeads;
    const carry: Record<string, Tensor> = {};
    // proj → conv + SiLU (+ per-head L2 norm for q and k) as one fused op (delta_branch.ts) → head split
    const branch = (proj: Linear, conv: ShortConv | null, key: string, width: number, normalize: boolean): Tensor => {
      const z = proj.forward(x);
      let spec: BranchConv | null = null;
      if (conv) {
        const state = prev?.[key] ?? null;
        spec = { weight: reshape(conv.weight, [conv.channels, conv.kernelSize]), bias: conv.bias, state };
        carry[key] = convTail(z, state, conv.kernelSize);
      }
      return reshape(convSiluNorm(z, spec, normalize ? width : 0), [B, T, H, width]);
    };
    const q = branch(this.q_proj, this.q_conv1d, "conv_q", this.headKDim, true);
    const k = branch(this.k_proj, this.k_conv1d, "conv_k", this.headKDim, true);
    const v = branch(this.v_proj, this.v_conv1d, "conv_v", this.headVDim, false);
    let beta: Tensor;
    if (this.b_proj) {
      beta = this.b_proj.forward(x).sigmoid();
      if (this.allowNegEigval) beta = beta.mul(2);
    } else {
      beta = constant([B, T, H], this.allowNegEigval ? 2 : 1, x.dtype);
    }
    const g = this.decay(x);
    return { inputs: { q, k, v, beta, ...(g ? { g } : {}) }, carry };
  }

  /** o [..., H, V] and the layer input x [..., D] → y [..., D]: per-head (gated) RMSNorm, merge heads, o_proj. */
  protected readout(o: Tensor, x: Tensor): Tensor {
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
}

/**
 * The zod fields every delta-rule layer's config ends with (fla names in the comments), in this order; only the
 * default of useGate differs between the layers.
 */
export function deltaSwitchFields(defaults: { useGate: boolean }) {
  return {
    /** output gate: g_proj and the gated RMSNorm (fla use_gate) */
    useGate: z.boolean().default(defaults.useGate),
    /** causal depthwise conv + SiLU on q, k, v (fla use_short_conv) */
    useShortConv: z.boolean().default(true),
    /** its kernel width (fla conv_size) */
    convSize: z.number().int().min(1).default(4),
    /** conv biases (fla conv_bias) */
    convBias: z.boolean().default(false),
    /** β ← 2β ∈ (0,2): negative eigenvalues of the transition (fla allow_neg_eigval) */
    allowNegEigval: z.boolean().default(false),
    /** ε of o_norm (fla norm_eps) */
    normEps: z.number().positive().default(1e-5),
    /** chunk length of the op's chunk form in forward */
    chunkSize: z.number().int().min(1).max(4096).default(64),
  };
}

/** The config switches every delta-rule layer passes through to its dims unchanged. */
export type DeltaSwitches = Pick<DeltaLayerDims, "useGate" | "useShortConv" | "convSize" | "convBias" | "allowNegEigval" | "normEps" | "chunkSize">;

/** The dims of a delta-rule layer: its resolved heads and widths, β on or off, and the config's switches. */
export function deltaDims(numHeads: number, headKDim: number, headVDim: number, useBeta: boolean, config: DeltaSwitches): DeltaLayerDims {
  return {
    numHeads,
    headKDim,
    headVDim,
    useBeta,
    useGate: config.useGate,
    useShortConv: config.useShortConv,
    convSize: config.convSize,
    convBias: config.convBias,
    allowNegEigval: config.allowNegEigval,
    normEps: config.normEps,
    chunkSize: config.chunkSize,
  };
}
