/**
 * The `titans_lmm` mixer layer: Titans' neural long-term memory on its own (spec/mixers.md §10.1–10.2; arXiv
 * 2501.00663 "LMM") around the `titans_memory` op. It is also the memory branch of `titans_mac`, `titans_mag` and
 * `titans_mal`. Per token and head (the paper's q/k/v path, spec §10.1):
 *
 *   q = l2n(SiLU(Conv(x W_Q))),  k = l2n(SiLU(Conv(x W_K))),  v = SiLU(Conv(x W_V))     (SiLU alone without convs)
 *   θ = θ_max·σ(x w_θ + c_θ),  η = σ(x w_η + c_η),  α = σ(x w_α + c_α)                 (data-dependent, per token and head)
 *   S_t = η_t S_{t−1} − θ_t ∇ℓ(W; k_t, v_t),  W_t = (1 − α_t) W_{t−1} + S_t,  o_t = M(q_t; W_t)   (the op; ∇ at the chunk's start W)
 *   y = concat_h(RMSNorm(o)) W_oᵀ                                                         (titans-pytorch multihead_rmsnorm, combine_heads)
 *
 * The memory M is the op's: linear (memoryDepth 1, M(k) = kW) or an MLP of depth L with hidden width
 * memoryExpansion·K, optionally M(k) = k + LN(MLP(k)) (memoryResidual). Every sequence starts from learned
 * weights W₀ (spec §10.1 "meta-learned initial weights") and zero momentum. The Miras options (spec §11) pass
 * through to the op: `bias` (l2 | lp with biasP | huber with δ = softplus(x w_δ + c_δ) per token and head) and
 * `retention` (l2 | lq with retentionQ | kl with klScale); `momentum: false` drops the η gate (η = 0). The
 * presets moneta, yaad and memora (miras.ts) are this layer with other defaults.
 *
 * Chunks are part of the model (spec §10.2): the gradients of a chunk's tokens are all taken at the chunk's
 * starting weights, and chunks start every chunkSize tokens from the first token the memory sees. The step form
 * reproduces this exactly: the state keeps the memory at the last chunk boundary and the op inputs of the tokens
 * since (fewer than chunkSize), and each step runs the op's chunk form over those tokens and the new one from
 * that boundary; when a chunk is complete it is committed to the memory and the buffer empties. A forward
 * continued from a state does the same, so any split of a sequence gives the same numbers. chunkSize 1 is the
 * token-by-token rule (the buffer stays empty).
 *
 * Parameters (registration order; q/k/v and convs named as fla's linear-attention layers, the gates as
 * titans-pytorch's NeuralMemory):
 *
 *   q_proj.weight            [H·K, D]
 *   k_proj.weight            [H·K, D]
 *   v_proj.weight            [H·K, D]
 *   {q,k,v}_conv1d.weight    [H·K, 1, W]   useShortConv (W = convSize), biases [H·K] with convBias
 *   to_adaptive_step.{weight,bias}  [H, D], [H]   θ (bias init 0: θ = θ_max/2)
 *   to_momentum.{weight,bias}       [H, D], [H]   η (bias init 0: η = 1/2), with momentum (default on)
 *   to_decay_factor.{weight,bias}   [H, D], [H]   α (bias init −4: α ≈ 0.018)
 *   to_delta.{weight,bias}          [H, D], [H]   δ of the huber bias only (bias init 1: δ ≈ 1.31)
 *   memory_w1 … memory_wL    [H, in, out]  W₀ per layer (titans-pytorch memory_model_parameters), widths
 *                                          [K, memoryExpansion·K, …, K]; init 0 for a linear memory (the
 *                                          op's default), N(0, 1/in) for an MLP (zero MLP weights never learn);
 *                                          what the op state holds: log-weights with the kl retention
 * (PyTorch order lists these own tensors memory_w* first, then the sub-modules.)
 *   o_norm.weight            [K]
 *   o_proj.weight            [D, H·K]      (titans-pytorch combine_heads)
 *
 * with H = numHeads (default D/64 when D is a multiple of 64, else 1), K = V = headDim (default D/H). Init:
 * projections and gate weights N(0, initStd); o_proj N(0, initStd/√(2·nLayers)) when the memory is the layer,
 * N(0, initStd) inside MAC/MAG/MAL; conv weights PyTorch's Conv1d default.
 *
 * Choices: spec §10.1's q/k/v path (the paper's) rather than titans-pytorch's plain projections; gates per token
 * (titans-pytorch takes η and α from the chunk mean; the spec allows both); no output gate, no gradient clipping.
 *
 * State: { conv_q, conv_k, conv_v [B, W−1, H·K] (with useShortConv); recurrent [B,H,2,n_W] (the op state at the
 * last chunk boundary: weights and momentum); chunk_q, chunk_k, chunk_v [B,r,H,K], chunk_lr, chunk_momentum,
 * chunk_decay (and chunk_delta with the huber bias) [B,r,H] (the r = t mod chunkSize tokens since) }. Floats per
 * sequence after t tokens: 2·H·n_W + (W−1)·3HK + (t mod chunkSize)·H·(3K + 3 (+1)) (spec §17 "Titans" counts
 * the 2·n_W per head; the buffer is the price of a step form that is exact for the chunked rule).
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { randn, zeros } from "../core/create.js";
import { silu } from "../core/ops/elementwise.js";
import { concat, reshape, slice, squeeze, unsqueeze } from "../core/ops/shape.js";
import type { Linear } from "../nn/linear.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { ShortConv } from "../nn/shortconv.js";
import { runOp } from "../ops/run.js";
import { defaultNumHeads } from "./attention.js";
import { l2normalize } from "./delta_base.js";
import { normalLinear, projectWithConvs, where } from "./linear_base.js";
import type { LayerDefinition } from "./registry.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";
import { initialMemoryState, memoryOp, memoryOptions, memoryStateFloats, memoryWidths, readMemory, writeInputNames, type MemoryNetConfig, type WriteInput } from "./titans_op.js";

/** The config fields of the memory (every Titans layer has them), fla / titans-pytorch names in the comments. */
export const memoryFields = {
  /** heads H of the memory (and of the attention in MAC/MAG/MAL); default D/64 when D is a multiple of 64, else 1 */
  numHeads: z.number().int().min(1).nullable().default(null),
  /** key = value width per head; default D / numHeads */
  headDim: z.number().int().min(1).nullable().default(null),
  /** layers of the memory network: 1 = linear, ≥ 2 = MLP (titans-pytorch default_model_kwargs depth 2) */
  memoryDepth: z.number().int().min(1).max(4).default(2),
  /** hidden width of an MLP memory = memoryExpansion · headDim (titans-pytorch expansion_factor 4) */
  memoryExpansion: z.number().int().min(1).max(64).default(4),
  /** activation of an MLP memory */
  memoryActivation: z.enum(["gelu", "silu"]).default("gelu"),
  /** M(k) = k + LN(MLP(k)) (titans-pytorch ResidualNorm) */
  memoryResidual: z.boolean().default(true),
  /** causal depthwise conv + SiLU on q, k, v of the memory (fla use_short_conv; the paper's q/k/v path) */
  useShortConv: z.boolean().default(true),
  /** its kernel width (fla conv_size) */
  convSize: z.number().int().min(1).default(4),
  /** conv biases (fla conv_bias) */
  convBias: z.boolean().default(false),
  /** θ_max: θ = θ_max·σ(·) (titans-pytorch default_step_transform_max_lr) */
  lrMax: z.number().positive().default(1),
  /** tokens per memory chunk: gradients inside a chunk are taken at its starting weights (titans-pytorch chunk_size) */
  chunkSize: z.number().int().min(1).max(4096).default(16),
  /** ε of the per-head output RMSNorm */
  normEps: z.number().positive().default(1e-5),
  /** the momentum gate η (Titans); without it η = 0, plain gradient descent (the Miras models) */
  momentum: z.boolean().default(true),
  /** attentional bias (Miras, spec §11): l2 ‖e‖² (Titans), lp ‖e‖_p^p (Moneta), huber with a learned per-token δ (Yaad) */
  bias: z.enum(["l2", "lp", "huber"]).default("l2"),
  /** p of the lp bias */
  biasP: z.number().min(1).max(16).default(3),
  /** retention (Miras): l2 the forget gate (Titans), lq q-norm normalisation (Moneta), kl softmax of log-weights (Memora) */
  retention: z.enum(["l2", "lq", "kl"]).default("l2"),
  /** q of the lq retention */
  retentionQ: z.number().min(1).max(16).default(4),
  /** c of the kl retention: every row of every memory weight matrix sums to c */
  klScale: z.number().positive().default(1),
};

export const titansLmmConfig = z.object(memoryFields).strict();
export type MemoryConfig = z.output<typeof titansLmmConfig>;

/** The memory's heads H and head width K = V, with errors naming the field. */
export function memoryHeads(type: string, config: Pick<MemoryConfig, "numHeads" | "headDim">, context: Pick<LayerContext, "dModel" | "layerIdx">): { numHeads: number; headDim: number } {
  const D = context.dModel;
  const H = config.numHeads ?? defaultNumHeads(D);
  if (config.headDim === null && D % H !== 0) {
    throw new Error(`${where(type, context)}: 'numHeads'=${H} must divide dModel=${D} when headDim is not set (headDim defaults to dModel/numHeads)`);
  }
  return { numHeads: H, headDim: config.headDim ?? D / H };
}

/** bias of to_decay_factor at init: α = σ(−4) ≈ 0.018 */
const DECAY_BIAS = -4;
/** bias of to_delta at init: δ = softplus(1) ≈ 1.31 */
const DELTA_BIAS = 1;

export class TitansLmmLayer extends MixerLayer {
  readonly type: string;
  readonly numHeads: number;
  readonly headDim: number;
  readonly q_proj: Linear;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly q_conv1d: ShortConv | null;
  readonly k_conv1d: ShortConv | null;
  readonly v_conv1d: ShortConv | null;
  readonly to_adaptive_step: Linear;
  readonly to_momentum: Linear | null;
  readonly to_decay_factor: Linear;
  readonly to_delta: Linear | null;
  /** W₀ˡ [H, in, out]: the memory weights every sequence starts from */
  readonly memoryInit: Tensor[];
  readonly o_norm: RMSNorm;
  readonly o_proj: Linear;
  private readonly opOptions: Record<string, unknown>;
  /** the op inputs a write takes per token (and the buffer holds) */
  private readonly writeInputs: WriteInput[];

  /** `outputStd`: std of o_proj's init (default the depth-scaled initStd/√(2·nLayers) of a residual branch) */
  constructor(readonly dModel: number, readonly config: MemoryConfig, context: LayerContext, outputStd?: number, type = "titans_lmm") {
    super();
    this.type = type;
    const { numHeads: H, headDim: K } = memoryHeads(type, config, context);
    this.numHeads = H;
    this.headDim = K;
    const { rng, dtype, initStd, nLayers } = context;
    const lin = normalLinear(context);
    this.q_proj = this.module("q_proj", lin(dModel, H * K, initStd));
    this.k_proj = this.module("k_proj", lin(dModel, H * K, initStd));
    this.v_proj = this.module("v_proj", lin(dModel, H * K, initStd));
    const conv = (name: string) =>
      config.useShortConv ? this.module(name, new ShortConv(H * K, config.convSize, { rng, dtype, bias: config.convBias, activation: "silu" })) : null;
    this.q_conv1d = conv("q_conv1d");
    this.k_conv1d = conv("k_conv1d");
    this.v_conv1d = conv("v_conv1d");
    this.to_adaptive_step = this.module("to_adaptive_step", lin(dModel, H, initStd, true));
    this.to_momentum = config.momentum ? this.module("to_momentum", lin(dModel, H, initStd, true)) : null;
    this.to_decay_factor = this.module("to_decay_factor", lin(dModel, H, initStd, true));
    this.to_decay_factor.bias!.data.fill(DECAY_BIAS);
    this.to_delta = config.bias === "huber" ? this.module("to_delta", lin(dModel, H, initStd, true)) : null;
    this.to_delta?.bias!.data.fill(DELTA_BIAS);
    const widths = memoryWidths(K, K, config);
    this.memoryInit = widths.slice(1).map((out, l) => {
      const inF = widths[l]!;
      const w = config.memoryDepth === 1 ? zeros([H, inF, out], { dtype }) : randn([H, inF, out], rng, { dtype, std: 1 / Math.sqrt(inF) });
      return this.param(`memory_w${l + 1}`, w);
    });
    this.o_norm = this.module("o_norm", new RMSNorm(K, config.normEps, { dtype }));
    this.o_proj = this.module("o_proj", lin(H * K, dModel, outputStd ?? initStd / Math.sqrt(2 * nLayers)));
    this.opOptions = memoryOptions(config.chunkSize, config as MemoryNetConfig);
    this.writeInputs = writeInputNames(config);
  }

  private get dtype(): DType {
    return this.q_proj.weight.dtype;
  }

  /** the state keys of the conv FIFOs with their convs (none without useShortConv) */
  private convs(): Array<[string, ShortConv]> {
    const named: Array<[string, ShortConv | null]> = [["conv_q", this.q_conv1d], ["conv_k", this.k_conv1d], ["conv_v", this.v_conv1d]];
    return named.filter((e): e is [string, ShortConv] => e[1] !== null);
  }

  /** the trailing shape of one token's op input */
  private inputShape(name: WriteInput): number[] {
    return name === "q" || name === "k" || name === "v" ? [this.numHeads, this.headDim] : [this.numHeads];
  }

  /** Empty conv FIFOs, the memory at W₀ with zero momentum (differentiable: W₀ learns through it), no buffered tokens. */
  initState(batch: number): LayerState {
    const out: Record<string, Tensor> = {};
    for (const [key, c] of this.convs()) out[key] = c.initState(batch);
    out.recurrent = initialMemoryState(this.memoryInit, batch);
    for (const name of this.writeInputs) out[`chunk_${name}`] = zeros([batch, 0, ...this.inputShape(name)], { dtype: this.dtype });
    return out;
  }

  /** Every tensor present with its shape (the buffer: r < chunkSize tokens, the same r for all); errors name the tensor. */
  private checkState(state: LayerState, batch: number): void {
    const want: Record<string, number[]> = {};
    for (const [key, c] of this.convs()) want[key] = [batch, c.kernelSize - 1, c.channels];
    want.recurrent = [batch, this.numHeads, 2, this.memoryFloats / (2 * this.numHeads)];
    const r = state.chunk_q?.shape[1] ?? 0;
    for (const name of this.writeInputs) want[`chunk_${name}`] = [batch, r, ...this.inputShape(name)];
    for (const [key, shape] of Object.entries(want)) {
      const t = state[key];
      if (t === undefined || t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new RangeError(`${this.type}: state.${key} must have shape [${shape.join(",")}] (from initState or forward), got ${t ? `[${t.shape.join(",")}]` : "nothing"}`);
      }
    }
    if (r >= this.config.chunkSize) throw new RangeError(`${this.type}: state.chunk_* hold ${r} tokens, must be fewer than chunkSize=${this.config.chunkSize}`);
  }

  private checkInput(x: Tensor, rank: 2 | 3): void {
    if (x.ndim !== rank || x.shape[rank - 1] !== this.dModel) {
      throw new RangeError(`${this.type}: x must have shape ${rank === 3 ? "[B,T," : "[B,"}${this.dModel}], got [${x.shape.join(",")}]`);
    }
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    this.checkInput(x, 3);
    const r = this.run(x, options.state ?? this.initState(x.shape[0]!));
    return options.outputState ? r : { y: r.y };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    this.checkInput(x, 2);
    const r = this.run(unsqueeze(x, 1), state);
    return { y: squeeze(r.y, 1), state: r.state };
  }

  private heads(z: Tensor, conv: ShortConv | null): Tensor {
    const [B, T] = z.shape as [number, number];
    return reshape(conv ? z : silu(z), [B, T, this.numHeads, this.headDim]);
  }

  /** x [B,T,D] → the op's per-token inputs and the conv FIFOs after x (continuing from `prev`). */
  private prepare(x: Tensor, prev: LayerState): { inputs: Partial<Record<WriteInput, Tensor>>; convState: Record<string, Tensor> } {
    const { outs, convState } = projectWithConvs(x, prev, [
      { proj: this.q_proj, conv: this.q_conv1d, key: "conv_q" },
      { proj: this.k_proj, conv: this.k_conv1d, key: "conv_k" },
      { proj: this.v_proj, conv: this.v_conv1d, key: "conv_v" },
    ]);
    const [B, T] = x.shape as [number, number];
    const inputs: Partial<Record<WriteInput, Tensor>> = {
      q: l2normalize(this.heads(outs[0]!, this.q_conv1d)),
      k: l2normalize(this.heads(outs[1]!, this.k_conv1d)),
      v: this.heads(outs[2]!, this.v_conv1d),
      lr: this.to_adaptive_step.forward(x).sigmoid().mul(this.config.lrMax),
      momentum: this.to_momentum ? this.to_momentum.forward(x).sigmoid() : zeros([B, T, this.numHeads], { dtype: x.dtype }),
      decay: this.to_decay_factor.forward(x).sigmoid(),
    };
    // Yaad's threshold δ = softplus(x w_δ + c_δ) > 0 (spec §11: a seqmix choice)
    if (this.to_delta) inputs.delta = this.to_delta.forward(x).softplus();
    return { inputs, convState };
  }

  /** The state before x → y [B,T,D] and the state after x (the same code for forward and step). */
  private run(x: Tensor, prev: LayerState): { y: Tensor; state: LayerState } {
    this.checkState(prev, x.shape[0]!);
    const { inputs, convState } = this.prepare(x, prev);
    const { o, state } = this.write(inputs, prev);
    return { y: this.readout(o), state: { ...convState, ...state } };
  }

  /**
   * The op over the buffered tokens and the new ones from the memory at the last chunk boundary: the complete
   * chunks in one call (their final state is the next boundary), the incomplete rest in another (its inputs
   * become the buffer). Returns the op output at the new tokens only.
   */
  private write(fresh: Partial<Record<WriteInput, Tensor>>, prev: LayerState): { o: Tensor; state: Record<string, Tensor> } {
    const r = prev.chunk_q!.shape[1]!;
    const all: Partial<Record<WriteInput, Tensor>> = {};
    for (const name of this.writeInputs) all[name] = r > 0 ? concat([prev[`chunk_${name}`]!, fresh[name]!], 1) : fresh[name]!;
    const n = all.q!.shape[1]!;
    const C = this.config.chunkSize;
    const cut = Math.floor(n / C) * C;
    const part = (a: number, b: number) => Object.fromEntries(this.writeInputs.map((name) => [name, slice(all[name]!, 1, a, b)]));
    let memory = prev.recurrent!;
    const outs: Tensor[] = [];
    if (cut > 0) {
      const res = runOp(memoryOp, { ...part(0, cut), initial_state: memory }, "chunk", { ...this.opOptions, outputFinalState: true });
      outs.push(res.o);
      memory = res.finalState!;
    }
    if (cut < n) outs.push(runOp(memoryOp, { ...part(cut, n), initial_state: memory }, "chunk", this.opOptions).o);
    const o = outs.length === 1 ? outs[0]! : concat(outs, 1);
    const state: Record<string, Tensor> = { recurrent: memory };
    for (const name of this.writeInputs) state[`chunk_${name}`] = slice(all[name]!, 1, cut);
    return { o: r > 0 ? slice(o, 1, r) : o, state };
  }

  /** o [B,T,H,K] → per-head RMSNorm, heads merged, o_proj: [B,T,D] */
  private readout(o: Tensor): Tensor {
    const [B, T] = o.shape as [number, number];
    return this.o_proj.forward(reshape(this.o_norm.forward(o), [B, T, this.numHeads * this.headDim]));
  }

  /**
   * Read only (spec §10.1 "retrieval … no weight update"): queries from x [B,T,D] through q_proj and q_conv1d
   * (continuing the FIFO `convQ`, a stream of its own), answered by the memory weights of the op state `memory`
   * (a state at a chunk boundary: nothing buffered). Returns y [B,T,D] and the FIFO after x.
   */
  read(x: Tensor, memory: Tensor, convQ: Tensor | null): { y: Tensor; convQ: Tensor | null } {
    const { outs, convState } = projectWithConvs(x, convQ ? { conv_q: convQ } : null, [{ proj: this.q_proj, conv: this.q_conv1d, key: "conv_q" }]);
    const q = l2normalize(this.heads(outs[0]!, this.q_conv1d));
    return { y: this.readout(readMemory(memory, q, this.headDim, this.opOptions)), convQ: convState.conv_q ?? null };
  }

  /** the floats of the op state (weights and momentum) per sequence */
  get memoryFloats(): number {
    return memoryStateFloats(this.numHeads, this.headDim, this.headDim, this.config);
  }

  /** the floats of the read stream's conv FIFO per sequence (0 without convs) */
  get readConvFloats(): number {
    return this.q_conv1d ? (this.q_conv1d.kernelSize - 1) * this.q_conv1d.channels : 0;
  }

  /** memory + conv FIFOs + the inputs of the (tokens mod chunkSize) buffered tokens */
  stateSize(tokens: number): number {
    const convs = this.convs().reduce((n, [, c]) => n + (c.kernelSize - 1) * c.channels, 0);
    const perToken = this.writeInputs.reduce((n, name) => n + this.inputShape(name).reduce((a, b) => a * b, 1), 0);
    return this.memoryFloats + convs + (tokens % this.config.chunkSize) * perToken;
  }
}

export const titansLmmLayer: LayerDefinition<MemoryConfig> = {
  type: "titans_lmm",
  summary: "Titans neural long-term memory alone (LMM): test-time-learned linear/MLP memory with momentum and forgetting, short convs, L2-normed q/k",
  config: titansLmmConfig as unknown as z.ZodType<MemoryConfig, unknown>,
  smallConfig: { numHeads: 2, convSize: 3, convBias: true, lrMax: 0.5, chunkSize: 3, memoryDepth: 2, memoryExpansion: 2 },
  create: (config, context) => new TitansLmmLayer(context.dModel, config, context),
};
