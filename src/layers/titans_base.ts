/**
 * What `titans_mac`, `titans_mag` and `titans_mal` share (spec/mixers.md §10.3): the neural memory branch (a
 * `titans_lmm` layer under `memory.`), the attention branch (`attn.`, titans_attention.ts), the persistent memory
 * P ∈ R^{N_p×D} (`persistent_memory`), the config fields, the gated combination of two branches, and the state
 * plumbing: a layer state is one flat record whose memory entries are prefixed `mem.`; forward and step (one
 * token) go through the same `run`, so they give the same numbers.
 *
 * Persistent memory: learned token vectors (in the model's normalised token space, init N(0,1)) that attention
 * sees before everything else; they go through the attention's k/v projections like any token (the paper's
 * "prepend P to the sequence"; titans-pytorch instead learns per-head keys/values directly). Their keys/values
 * are computed once per sequence, in initState (or at the start of a forward without state), and carried in the
 * state as `prefix` [B, N_p, H, 2m], so a step costs no re-projection (MAL's prefix also depends on the memory).
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import { randn } from "../core/create.js";
import { squeeze, unsqueeze } from "../core/ops/shape.js";
import { rmsNorm } from "../core/ops/nn.js";
import type { Linear } from "../nn/linear.js";
import { RMSNorm } from "../nn/rmsnorm.js";
import { normalLinear, where } from "./linear_base.js";
import { TitansAttention } from "./titans_attention.js";
import { memoryFields, memoryHeads, TitansLmmLayer, type MemoryConfig } from "./titans_lmm.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";

/** The config fields of every Titans hybrid: the memory's, then the persistent memory and the attention's RoPE. */
export const hybridFields = {
  ...memoryFields,
  /** persistent memory tokens N_p (titans-pytorch num_persist_mem_tokens) */
  persistentTokens: z.number().int().min(0).default(4),
  /** rotary position embedding on the attention's queries and stream keys */
  rope: z.boolean().default(true),
  /** RoPE base (fla rope_theta) */
  ropeTheta: z.number().positive().default(10000),
};

export type HybridConfig = MemoryConfig & { persistentTokens: number; rope: boolean; ropeTheta: number };

/** The entries of `state` whose keys start with `prefix`, with the prefix removed. */
export function subState(state: LayerState, prefix: string): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(state)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

/** `state` with every key prefixed. */
export function prefixState(state: LayerState, prefix: string): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(state).map(([k, v]) => [prefix + k, v]));
}

export abstract class TitansHybridBase extends MixerLayer {
  abstract override readonly type: string;
  /** P [N_p, D] */
  readonly persistent_memory: Tensor;
  readonly memory: TitansLmmLayer;
  readonly attn: TitansAttention;
  /** with gate(): the norms of the two branches and the output projection */
  y_norm: RMSNorm | null = null;
  m_norm: RMSNorm | null = null;
  o_proj: Linear | null = null;

  /** `attnOutputStd`: std of attn.o_proj (the layer's output projection in MAL) */
  constructor(readonly dModel: number, readonly config: HybridConfig, protected readonly context: LayerContext, type: string, attnOutputStd: number) {
    super();
    const { numHeads, headDim } = memoryHeads(type, config, context);
    if (config.rope && headDim % 2 !== 0) {
      throw new Error(`${where(type, context)}: 'headDim'=${headDim} must be even when rope is on (RoPE rotates pairs of entries; the attention shares the memory's heads)`);
    }
    const { rng, dtype, initStd } = context;
    this.persistent_memory = this.param("persistent_memory", randn([config.persistentTokens, dModel], rng, { dtype }));
    this.memory = this.module("memory", new TitansLmmLayer(dModel, config, context, initStd, type));
    this.attn = this.module("attn", new TitansAttention(dModel, { numHeads, headDim, rope: config.rope, ropeTheta: config.ropeTheta }, context, attnOutputStd));
  }

  /** y_norm, m_norm (RMSNorm over D) and o_proj [D, D] (N(0, initStd/√(2·nLayers))) for gate(). */
  protected buildGate(): void {
    const { dtype, initStd, nLayers } = this.context;
    this.y_norm = this.module("y_norm", new RMSNorm(this.dModel, this.config.normEps, { dtype }));
    this.m_norm = this.module("m_norm", new RMSNorm(this.dModel, this.config.normEps, { dtype }));
    this.o_proj = this.module("o_proj", normalLinear(this.context)(this.dModel, this.dModel, initStd / Math.sqrt(2 * nLayers)));
  }

  /**
   * The attention output y gated by the memory output m (both [B,T,D]): o = (RMSNorm(y) ⊙ σ(RMSNorm(m))) W_oᵀ —
   * spec §10.3's reference form for MAG ("normalise both branches with learnable vector weights, then a
   * nonlinearity"), also used for MAC's y ⊗ M(y).
   */
  protected gate(y: Tensor, m: Tensor): Tensor {
    const eps = this.config.normEps;
    return this.o_proj!.forward(rmsNorm(y, this.y_norm!.weight, eps).mul(rmsNorm(m, this.m_norm!.weight, eps).sigmoid()));
  }

  protected get dtype(): DType {
    return this.persistent_memory.dtype;
  }

  /** P for `batch` sequences: [B, N_p, D] */
  protected persistentTokens(batch: number): Tensor {
    const [n, d] = this.persistent_memory.shape as [number, number];
    return this.persistent_memory.unsqueeze(0).expand(batch, n, d);
  }

  /** The memory over x [B,T,D] from its state: its output [B,T,D] and its state after x. */
  protected memoryPass(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    const r = this.memory.forward(x, { state, outputState: true });
    return { y: r.y, state: r.state! };
  }

  /** x [B,T,D] from the state before it → y [B,T,D] and the state after it (forward and step alike). */
  protected abstract run(x: Tensor, prev: LayerState): { y: Tensor; state: LayerState };

  /** the state keys (besides the memory's `mem.*`) that must be present */
  protected abstract readonly stateKeys: readonly string[];

  private check(x: Tensor, rank: 2 | 3, state: LayerState | null): void {
    if (x.ndim !== rank || x.shape[rank - 1] !== this.dModel) {
      throw new RangeError(`${this.type}: x must have shape ${rank === 3 ? "[B,T," : "[B,"}${this.dModel}], got [${x.shape.join(",")}]`);
    }
    if (!state) return;
    const B = x.shape[0]!;
    for (const key of [...this.stateKeys, "mem.recurrent"]) {
      const t = state[key];
      if (t === undefined || t.shape[0] !== B) {
        throw new RangeError(`${this.type}: state.${key} must be a tensor for ${B} sequences (from initState or forward), got ${t ? `[${t.shape.join(",")}]` : "nothing"}`);
      }
    }
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    this.check(x, 3, options.state ?? null);
    const r = this.run(x, options.state ?? this.initState(x.shape[0]!));
    return options.outputState ? r : { y: r.y };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    this.check(x, 2, state);
    const r = this.run(unsqueeze(x, 1), state);
    return { y: squeeze(r.y, 1), state: r.state };
  }
}
