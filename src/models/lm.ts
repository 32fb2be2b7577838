/**
 * Causal language model: embedding → blocks (pre-norm mixer + optional SwiGLU MLP) → RMSNorm → head (tied to
 * the embedding by default). Parameter names follow fla's *ForCausalLM models (model.embeddings.weight,
 * model.layers.{i}.attn_norm.weight, model.layers.{i}.attn.…, model.layers.{i}.mlp.gate_proj.weight,
 * model.norm.weight, lm_head.weight when untied), so a state dict maps one to one.
 *
 * Two ways to run it that give the same logits: `forward` over whole sequences (training, prefill) and
 * `step` one token at a time with the carried per-layer states (generation).
 */
import { Tensor } from "../core/tensor.js";
import { matmul } from "../core/ops/matmul.js";
import { transpose, indices as makeIndices, type Indices } from "../core/ops/shape.js";
import { Random } from "../core/random.js";
import { Embedding, Linear, Module, ModuleList, RMSNorm } from "../nn/index.js";
import "../layers/index.js";
import type { LayerState } from "../layers/types.js";
import { Block } from "./block.js";
import { expandSchedule, headIsTied, outputSize, parseLMConfig, type LMConfig, type LMConfigInput } from "./config.js";
import { generate, stream, type GenerateOptions } from "./generate.js";

/** The decode state of a model: one state per layer. */
export type ModelState = LayerState[];

export class Backbone extends Module {
  /** token inputs: the embedding; null for real-valued inputs */
  readonly embeddings: Embedding | null;
  /** real-valued inputs (config.inputDim): the linear read-in [dModel, inputDim]; null for tokens */
  readonly read_in: Linear | null;
  readonly layers: ModuleList<Block>;
  readonly norm: RMSNorm;

  constructor(config: LMConfig, rng: Random) {
    super();
    const dtype = config.dtype;
    this.embeddings =
      config.vocabSize !== undefined ? this.module("embeddings", new Embedding(config.vocabSize, config.dModel, { rng, dtype, std: config.initStd })) : null;
    this.read_in =
      config.inputDim !== undefined
        ? this.module("read_in", new Linear(config.inputDim, config.dModel, { rng, dtype, bias: true, init: "normal", std: config.initStd }))
        : null;
    const schedule = expandSchedule(config.layers);
    this.layers = this.module(
      "layers",
      new ModuleList(
        schedule.map(
          (spec, layerIdx) =>
            new Block(spec, config, { dModel: config.dModel, rng, dtype, layerIdx, nLayers: schedule.length, initStd: config.initStd }),
        ),
      ),
    );
    this.norm = this.module("norm", new RMSNorm(config.dModel, config.normEps, { dtype }));
  }
}

export interface ModelForwardOptions {
  state?: ModelState | null;
  outputState?: boolean;
}

export class LanguageModel extends Module {
  readonly config: LMConfig;
  readonly model: Backbone;
  readonly lm_head: Linear | null;

  constructor(config: LMConfigInput | LMConfig, options: { seed?: number; rng?: Random } = {}) {
    super();
    this.config = parseLMConfig(config);
    const rng = options.rng ?? new Random(options.seed ?? 0);
    this.model = this.module("model", new Backbone(this.config, rng));
    this.lm_head = headIsTied(this.config)
      ? null
      : this.module("lm_head", new Linear(this.config.dModel, outputSize(this.config), { rng, dtype: this.config.dtype, bias: false, init: "normal", std: this.config.initStd }));
  }

  /** Width of the read-out (logits per position). */
  get outputSize(): number {
    return outputSize(this.config);
  }

  get numLayers(): number {
    return this.model.layers.length;
  }

  private head(h: Tensor): Tensor {
    const normed = this.model.norm.forward(h);
    return this.lm_head ? this.lm_head.forward(normed) : matmul(normed, transpose(this.model.embeddings!.weight));
  }

  private checkTokens(tokens: Indices): void {
    if (this.config.vocabSize === undefined) throw new TypeError("LanguageModel: this model reads real-valued inputs (inputDim); pass a Tensor [B,T,inputDim], not tokens");
    if (tokens.shape.length !== 2) throw new RangeError(`LanguageModel.forward: tokens must have shape [B,T], got [${tokens.shape.join(",")}]`);
    for (let i = 0; i < tokens.data.length; i++) {
      const t = tokens.data[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) {
        throw new RangeError(`LanguageModel: token ${t} at position ${i} is outside the vocabulary 0..${this.config.vocabSize - 1}`);
      }
    }
  }

  private checkState(state: ModelState, batch: number | null): void {
    if (!Array.isArray(state) || state.length !== this.numLayers) {
      throw new RangeError(`LanguageModel: state must hold one entry per layer (${this.numLayers}), got ${Array.isArray(state) ? state.length : typeof state}`);
    }
    void batch;
  }

  /** tokens [B,T] → [B,T,D] through the embedding, or real inputs [B,T,inputDim] through the read-in. */
  private embed(inputs: Indices | Tensor): Tensor {
    if (inputs instanceof Tensor) {
      const inputDim = this.config.inputDim;
      if (inputDim === undefined) throw new TypeError("LanguageModel: this model reads tokens; pass indices [B,T], not a Tensor");
      if (inputs.ndim !== 3 || inputs.shape[2] !== inputDim) {
        throw new RangeError(`LanguageModel.forward: real-valued inputs must have shape [B,T,${inputDim}], got [${inputs.shape.join(",")}]`);
      }
      return this.model.read_in!.forward(inputs);
    }
    this.checkTokens(inputs);
    return this.model.embeddings!.forward(inputs);
  }

  /**
   * tokens [B,T] (or real inputs [B,T,inputDim]) → logits [B,T,outputSize] (and the per-layer states after the
   * last position when asked).
   */
  forward(inputs: Indices | Tensor, options: ModelForwardOptions = {}): { logits: Tensor; state?: ModelState } {
    if (options.state) this.checkState(options.state, inputs.shape[0]!);
    let x = this.embed(inputs);
    const states: LayerState[] = [];
    this.model.layers.items.forEach((block, i) => {
      const r = block.forward(x, options.state?.[i] ?? null, options.outputState ?? false);
      x = r.x;
      if (r.state) states.push(r.state);
    });
    const logits = this.head(x);
    return options.outputState ? { logits, state: states } : { logits };
  }

  /** The state before any token, for `batch` sequences. */
  initState(batch: number): ModelState {
    return this.model.layers.items.map((b) => b.initState(batch));
  }

  /** One token per sequence: tokens [B] → logits [B,vocab] and the next state. */
  step(tokens: ArrayLike<number>, state: ModelState): { logits: Tensor; state: ModelState } {
    this.checkTokens(makeIndices(tokens, [tokens.length, 1]));
    this.checkState(state, tokens.length);
    let x = this.model.embeddings!.forward(makeIndices(tokens, [tokens.length]));
    const next: LayerState[] = [];
    this.model.layers.items.forEach((block, i) => {
      const r = block.step(x, state[i]!);
      x = r.x;
      next.push(r.state);
    });
    return { logits: this.head(x), state: next };
  }

  /** Prefill `prompt` with the parallel form, then sample `maxTokens` tokens with the step form. */
  generate(prompt: ArrayLike<number>, options: GenerateOptions): number[] {
    return generate(this, prompt, options);
  }

  /** Like generate, one token at a time. */
  stream(prompt: ArrayLike<number>, options: GenerateOptions): Generator<number, void, undefined> {
    return stream(this, prompt, options);
  }

  /** Floats per sequence the decoder carries after `tokens` tokens (attention layers grow with it). */
  stateSize(tokens: number): number {
    return this.model.layers.items.reduce((n, b) => n + b.stateSize(tokens), 0);
  }
}
