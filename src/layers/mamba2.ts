/**
 * The `mamba2` mixer layer: Mamba-2, the state-space dual (SSD) layer (spec/mixers.md §8.2; arXiv 2405.21060)
 * around the `simple_gla` op. Per token, with E = d_inner = dModel·expand, P = headdim, H = E/P heads,
 * G = ngroups, N = dState, and head h reading group ⌊h·G/H⌋:
 *
 *   [z, xBC, dt] = u W_inᵀ (+ b_in)           widths E, E + 2GN, H   (in_proj output order [z, x, B, C, dt])
 *   xBC = SiLU(CausalDepthwiseConv_W(xBC) + b_conv);  split into x (H×P), B (G×N), C (G×N)
 *   Δ_t = softplus(dt_t + dt_bias) ∈ R^H;   A_h = −exp(A_log_h)
 *   per head h:  S_t = exp(Δ_t[h]·A_h)·S_{t−1} + B_tᵀ (Δ_t[h]·x_t[h])         S ∈ R^{N×P}
 *                y_t[h] = C_t S_t + D_h·x_t[h]
 *   y ← RMSNorm_groups(y ⊙ SiLU(z)) ⊙ norm.weight   (gate-then-norm, spec §0.2; over each of the G groups of E/G
 *       channels);  out = y W_outᵀ (+ b_out)
 *
 * SSD on the simple_gla op (spec §0.4 with a scalar gate per head; the op computes S_t = exp(g_t) S_{t−1} +
 * k_tᵀ v_t, o_t = scale · q_t S_t with a key-major state [N = K, P = V]):
 *   q = C (the group's C_t, repeated over its H/G heads) [B,T,H,N]
 *   k = B (likewise)                                      [B,T,H,N]
 *   v = Δ·x: the head's inputs scaled by its step size      [B,T,H,P]
 *   g = Δ·A_h ≤ 0, the per-head log decay                   [B,T,H]
 *   scale = 1 (SSD has no K^-1/2)
 * Δ therefore enters twice (decay exp(ΔA) and input scale ΔB̄x, mamba's ZOH-for-A / Euler-for-B discretisation);
 * the skip D·x is added outside the op, to the op output, before the gated norm.
 *
 * Parameters, one to one with state-spaces/mamba `mamba_ssm/modules/mamba2.py: Mamba2` (and `mamba2_simple.py:
 * Mamba2Simple`; fla `fla/layers/mamba2.py` uses the same names), in PyTorch's state-dict order. Inside a
 * LanguageModel they are model.layers.{i}.attn.<name>:
 *
 *   ours = reference name   shape                    init
 *   dt_bias                 [H]                      softplus⁻¹(dt), dt = exp(U(log dtMin, log dtMax)) floored at dtInitFloor
 *   A_log                   [H]                      log(U(aInitRange)) (A_init_range, default [1, 16])
 *   D                       [H] ([E] with dHasHdim)   1
 *   in_proj.weight          [2E + 2GN + H, dModel]   N(0, initStd)
 *   in_proj.bias            [2E + 2GN + H]           0                        only with bias (mamba `bias`, default off)
 *   conv1d.weight           [E + 2GN, 1, W]          U(±1/√W) (PyTorch default), or U(±convInit) (mamba conv_init)
 *   conv1d.bias             [E + 2GN]                U(±1/√W)                 convBias (mamba `conv_bias`, default on)
 *   norm.weight             [E]                      1                        rmsnorm (mamba `rmsnorm`, default on)
 *   out_proj.weight         [dModel, E]              N(0, initStd/√(2·nLayers))  (spec §16)
 *   out_proj.bias           [dModel]                 0                        only with bias
 *
 * Config ↔ mamba: dState ↔ d_state, headdim ↔ headdim, expand ↔ expand, ngroups ↔ ngroups, dConv ↔ d_conv,
 * convBias ↔ conv_bias, bias ↔ bias, convInit ↔ conv_init, aInitRange ↔ A_init_range, dtMin/dtMax/dtInitFloor ↔
 * dt_min/dt_max/dt_init_floor, dHasHdim ↔ D_has_hdim, rmsnorm ↔ rmsnorm (off: y ⊙ SiLU(z), no norm), normBeforeGate
 * ↔ norm_before_gate (on: RMSNorm(y) ⊙ weight ⊙ SiLU(z)), normEps ↔ the norm's eps (1e-5), chunkSize ↔ chunk_size
 * (the op's chunk length; 64 here, 256 in mamba). Defaults follow spec §8.2: headdim 64, dState 64 (mamba2.py has
 * 64/128, mamba2_simple.py 128/64). Init differences: mamba leaves in_proj at PyTorch's default and rescales
 * out_proj at the model level; we use the spec §16 normal init for both (dt_bias, A_log, D are mamba's).
 * Not supported: d_ssm (a partial SSM with a gated-MLP remainder), dt_limit (Δ clamping; default (0, ∞) = off),
 * learnable_init_states, activation other than SiLU, seq_idx / cu_seqlens (packed sequences), the fused kernels.
 *
 * State per sequence: { conv [B, W−1, E + 2GN]: the last W−1 pre-conv xBC inputs (mamba keeps the last W in a
 * [B, E + 2GN, W] buffer), ssm [B, H, N, P]: the op's key-major S (the transpose of mamba's ssm_state
 * [B, H, P, N]) }: H·N·P + (W−1)(E + 2GN) floats, whatever the length (spec §17).
 */
import { z } from "zod";
import type { DType } from "../core/dtype.js";
import type { Tensor } from "../core/tensor.js";
import { zeros } from "../core/create.js";
import { rmsNorm, swiglu } from "../core/ops/nn.js";
import { reshape, slice, squeeze, unsqueeze } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { ShortConv } from "../nn/shortconv.js";
import { constant, uniform } from "../nn/init.js";
import { parseOptions } from "../ops/options.js";
import { runOp } from "../ops/run.js";
import { simpleGla } from "../ops/simple_gla/index.js";
import type { DecayOptions } from "../ops/decay_chunk/shared.js";
import type { LayerDefinition } from "./registry.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";
import { checkDtRange, checkStateEntry, dtRangeFields, innerWidth, inverseSoftplusDt, layerWhere, normalLinear } from "./mamba.js";

export const mamba2Config = z
  .object({
    /** state entries N per head (mamba d_state) */
    dState: z.number().int().min(1).default(64),
    /** head width P; H = d_inner / P heads (mamba headdim) */
    headdim: z.number().int().min(1).default(64),
    /** d_inner = dModel·expand (mamba expand) */
    expand: z.number().positive().default(2),
    /** groups G of B and C (like kv heads in GQA); must divide the head count (mamba ngroups) */
    ngroups: z.number().int().min(1).default(1),
    /** kernel width of the causal depthwise conv over xBC (mamba d_conv) */
    dConv: z.number().int().min(1).default(4),
    /** bias on conv1d (mamba conv_bias) */
    convBias: z.boolean().default(true),
    /** biases on in_proj and out_proj (mamba bias) */
    bias: z.boolean().default(false),
    /** conv1d.weight ~ U(±convInit) instead of PyTorch's default (mamba conv_init) */
    convInit: z.number().positive().nullable().default(null),
    /** A = −U(lo, hi) at init (mamba A_init_range); 0 < lo ≤ hi */
    aInitRange: z.tuple([z.number().positive(), z.number().positive()]).default([1, 16]),
    ...dtRangeFields,
    /** one skip weight per channel (D [d_inner]) instead of per head (mamba D_has_hdim) */
    dHasHdim: z.boolean().default(false),
    /** the gated RMSNorm before out_proj; off: y ⊙ SiLU(z) (mamba rmsnorm) */
    rmsnorm: z.boolean().default(true),
    /** norm-then-gate instead of Mamba-2's gate-then-norm (mamba norm_before_gate) */
    normBeforeGate: z.boolean().default(false),
    /** ε of that norm */
    normEps: z.number().positive().default(1e-5),
    /** chunk length of the simple_gla chunk form in forward (mamba chunk_size) */
    chunkSize: z.number().int().min(1).max(4096).default(64),
  })
  .strict();

export type Mamba2LayerConfig = z.output<typeof mamba2Config>;

/**
 * mamba's RMSNormGated (`mamba_ssm/ops/triton/layernorm_gated.py`) with group_size = E/G: a learned `weight` [E]
 * (init 1), no bias; gate-then-norm y = RMSNorm_g(y ⊙ SiLU(z)) ⊙ weight, or norm-then-gate
 * RMSNorm_g(y) ⊙ weight ⊙ SiLU(z), each group of E/G channels normalised on its own.
 */
export class GroupedGatedRMSNorm extends Module {
  readonly weight: Tensor;

  constructor(readonly dim: number, readonly groups: number, readonly eps: number, readonly normBeforeGate: boolean, dtype: DType) {
    super();
    this.weight = this.param("weight", constant([dim], 1, dtype));
  }

  private norm(y: Tensor): Tensor {
    if (this.groups === 1) return rmsNorm(y, this.weight, this.eps);
    const lead = y.shape.slice(0, -1);
    const n = rmsNorm(reshape(y, [...lead, this.groups, this.dim / this.groups]), null, this.eps);
    return reshape(n, [...lead, this.dim]).mul(this.weight);
  }

  /** y, z [..., E] */
  forward(y: Tensor, z: Tensor): Tensor {
    return this.normBeforeGate ? swiglu(z, this.norm(y)) : this.norm(swiglu(z, y));
  }
}

/** [..., G, N] → [..., G·r, N], group j serving heads j·r … j·r + r − 1 (mamba's head h → group h // (H/G)). */
function repeatGroups(x: Tensor, r: number): Tensor {
  if (r === 1) return x;
  const lead = x.shape.slice(0, -2);
  const [g, n] = x.shape.slice(-2) as [number, number];
  return reshape(unsqueeze(x, -2).expand(...lead, g, r, n), [...lead, g * r, n]);
}

export class Mamba2Layer extends MixerLayer {
  readonly type = "mamba2";
  /** E = d_inner */
  readonly dInner: number;
  /** H */
  readonly nheads: number;
  /** P */
  readonly headdim: number;
  /** G */
  readonly ngroups: number;
  /** N */
  readonly dState: number;
  readonly dt_bias: Tensor;
  readonly A_log: Tensor;
  readonly D: Tensor;
  readonly in_proj: Linear;
  readonly conv1d: ShortConv;
  readonly norm: GroupedGatedRMSNorm | null;
  readonly out_proj: Linear;
  private readonly stepOptions: DecayOptions;

  constructor(readonly dModel: number, readonly config: Mamba2LayerConfig, context: LayerContext) {
    super();
    const where = layerWhere("mamba2", context);
    const E = innerWidth("mamba2", context, config.expand);
    const P = config.headdim;
    if (E % P !== 0) {
      throw new Error(`${where}: headdim=${P} must divide d_inner = dModel·expand = ${context.dModel}·${config.expand} = ${E} (heads = d_inner/headdim)`);
    }
    const H = E / P;
    const G = config.ngroups;
    if (H % G !== 0) throw new Error(`${where}: ngroups=${G} must divide the head count ${H} (= d_inner ${E} / headdim ${P})`);
    checkDtRange("mamba2", context, config.dtMin, config.dtMax);
    const [aLo, aHi] = config.aInitRange;
    if (aLo > aHi) throw new Error(`${where}: aInitRange [${aLo}, ${aHi}] must have low ≤ high`);
    const N = config.dState;
    this.dInner = E;
    this.nheads = H;
    this.headdim = P;
    this.ngroups = G;
    this.dState = N;
    const { rng, dtype, initStd, nLayers } = context;

    this.dt_bias = this.param("dt_bias", inverseSoftplusDt(H, config.dtMin, config.dtMax, config.dtInitFloor, rng, dtype));
    const aLog = uniform([H], aLo, aHi, rng, dtype);
    for (let h = 0; h < H; h++) aLog.data[h] = Math.log(aLog.data[h]!);
    this.A_log = this.param("A_log", aLog);
    this.D = this.param("D", constant([config.dHasHdim ? E : H], 1, dtype));
    this.in_proj = this.module("in_proj", normalLinear(dModel, 2 * E + 2 * G * N + H, initStd, config.bias, rng, dtype));
    const conv = new ShortConv(E + 2 * G * N, config.dConv, { rng, dtype, bias: config.convBias, activation: "silu" });
    if (config.convInit !== null) conv.weight.data.set(uniform(conv.weight.shape, -config.convInit, config.convInit, rng, dtype).data);
    this.conv1d = this.module("conv1d", conv);
    this.norm = config.rmsnorm ? this.module("norm", new GroupedGatedRMSNorm(E, G, config.normEps, config.normBeforeGate, dtype)) : null;
    this.out_proj = this.module("out_proj", normalLinear(E, dModel, initStd / Math.sqrt(2 * nLayers), config.bias, rng, dtype));
    this.stepOptions = parseOptions(simpleGla.name, simpleGla.options, { scale: 1, chunkSize: config.chunkSize });
  }

  private get dtype(): DType {
    return this.A_log.dtype;
  }

  private stateShapes(batch: number): Record<string, number[]> {
    return {
      conv: [batch, this.config.dConv - 1, this.dInner + 2 * this.ngroups * this.dState],
      ssm: [batch, this.nheads, this.dState, this.headdim],
    };
  }

  initState(batch: number): LayerState {
    const out: Record<string, Tensor> = {};
    for (const [key, shape] of Object.entries(this.stateShapes(batch))) out[key] = zeros(shape, { dtype: this.dtype });
    return out;
  }

  /** H·N·P + (W−1)(E + 2GN) floats per sequence, constant in the number of tokens. */
  stateSize(_tokens?: number): number {
    return this.nheads * this.dState * this.headdim + (this.config.dConv - 1) * (this.dInner + 2 * this.ngroups * this.dState);
  }

  private checkState(state: LayerState, batch: number): void {
    for (const [key, want] of Object.entries(this.stateShapes(batch))) checkStateEntry(this.type, state, key, want);
  }

  private checkInput(x: Tensor, rank: 2 | 3): void {
    if (x.ndim !== rank || x.shape[rank - 1] !== this.dModel) {
      throw new RangeError(`mamba2: x must have shape ${rank === 3 ? "[B,T," : "[B,"}${this.dModel}], got [${x.shape.join(",")}]`);
    }
  }

  /** Δ = softplus(dt + dt_bias) [B,T,H] from the raw dt slice of in_proj. */
  stepSize(dt: Tensor): Tensor {
    return dt.add(this.dt_bias).softplus();
  }

  /**
   * u [B,T,D] → the simple_gla inputs (q = C, k = B, v = Δ·x, g = Δ·A), the gate z [B,T,E] and the conv output x
   * [B,T,H,P] (for the skip term), and the conv FIFO after these tokens (continuing from `convState`).
   */
  private prepare(u: Tensor, convState: Tensor | null): { inputs: Record<string, Tensor>; z: Tensor; x: Tensor; conv: Tensor } {
    const [B, T] = u.shape as [number, number];
    const { dInner: E, nheads: H, headdim: P, ngroups: G, dState: N } = this;
    const zxbcdt = this.in_proj.forward(u);
    const z = slice(zxbcdt, 2, 0, E);
    const c = this.conv1d.forward(slice(zxbcdt, 2, E, 2 * E + 2 * G * N), convState);
    const dt = slice(zxbcdt, 2, 2 * E + 2 * G * N);
    const x = reshape(slice(c.y, 2, 0, E), [B, T, H, P]);
    const Bm = repeatGroups(reshape(slice(c.y, 2, E, E + G * N), [B, T, G, N]), H / G);
    const Cm = repeatGroups(reshape(slice(c.y, 2, E + G * N, E + 2 * G * N), [B, T, G, N]), H / G);
    const delta = this.stepSize(dt);
    const A = this.A_log.exp().neg();
    return {
      inputs: { q: Cm, k: Bm, v: x.mul(unsqueeze(delta, 3)), g: delta.mul(A) },
      z,
      x,
      conv: c.state,
    };
  }

  /** o [..., H, P] (the op output), x [..., H, P], z [..., E] → y [..., D]: skip, gated norm, out_proj. */
  private readout(o: Tensor, x: Tensor, z: Tensor): Tensor {
    const { nheads: H, headdim: P, dInner: E } = this;
    const D = reshape(this.D, this.config.dHasHdim ? [H, P] : [H, 1]);
    const y = reshape(o.add(x.mul(D)), [...o.shape.slice(0, -2), E]);
    return this.out_proj.forward(this.norm ? this.norm.forward(y, z) : swiglu(z, y));
  }

  forward(u: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    this.checkInput(u, 3);
    const prev = options.state ?? null;
    if (prev) this.checkState(prev, u.shape[0]!);
    const outputState = options.outputState ?? false;
    const { inputs, z, x, conv } = this.prepare(u, prev ? prev.conv! : null);
    const r = runOp(simpleGla, { ...inputs, ...(prev ? { initial_state: prev.ssm! } : {}) }, "chunk", {
      scale: 1,
      chunkSize: this.config.chunkSize,
      outputFinalState: outputState,
    });
    const y = this.readout(r.o, x, z);
    return outputState ? { y, state: { conv, ssm: r.finalState! } } : { y };
  }

  step(u: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    this.checkInput(u, 2);
    this.checkState(state, u.shape[0]!);
    const { inputs, z, x, conv } = this.prepare(unsqueeze(u, 1), state.conv!);
    const at: Record<string, Tensor> = {};
    for (const spec of simpleGla.inputs) {
      const t = inputs[spec.name];
      if (t !== undefined) at[spec.name] = spec.perStep ? squeeze(t, 1) : t;
    }
    const r = simpleGla.recurrent.step(state.ssm!, at, this.stepOptions);
    return { y: this.readout(r.o, squeeze(x, 1), squeeze(z, 1)), state: { conv, ssm: r.state } };
  }
}

export const mamba2Layer: LayerDefinition<Mamba2LayerConfig> = {
  type: "mamba2",
  summary: "Mamba-2 SSD (state-spaces/mamba Mamba2): in_proj → short conv over xBC → scalar-decay-per-head SSM (simple_gla) + D skip → gated RMSNorm → out_proj",
  config: mamba2Config as unknown as z.ZodType<Mamba2LayerConfig, unknown>,
  smallConfig: { dState: 4, headdim: 4, ngroups: 2, dConv: 3, chunkSize: 4 },
  create: (config, context) => new Mamba2Layer(context.dModel, config, context),
};
