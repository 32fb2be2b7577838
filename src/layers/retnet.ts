/**
 * The `retnet` mixer layer: multi-scale retention with a fixed decay per head (spec/mixers.md §5; RetNet
 * arXiv 2307.08621) around the `retention` op. Per token, with K, V the key and value widths per head and
 * G = H/Hkv:
 *
 *   q, k, v = x W_q, x W_k, x W_v             (each through ShortConv + SiLU with useShortConv)
 *   q, k ← RoPE(q), RoPE(k) per head at the absolute position (rotate-half over all K entries, base ropeTheta)
 *   k, v repeated over the G query heads of each kv head
 *   S_t = γ_h S_{t−1} + k_tᵀ v_t;   o_t = K^-1/2 · q_t S_t,   γ_h = 1 − 2^(−5−h)   (per head h = 0..H−1, the op)
 *   o ← RMSNorm(o) ⊙ weight ⊙ SiLU(x W_g) per head (useOutputGate; else RMSNorm(o) ⊙ weight); y = concat_h(o) W_oᵀ
 *
 * RetNet's paper uses xPos; fla's MultiScaleRetention applies plain RoPE (fla RotaryEmbedding(dim=head_k_dim),
 * rotate-half, base 10000) to q and k after the head split and before the GQA repeat, and so do we. RetNet's
 * row normalisations of the decay and score matrices are omitted (the per-head norm removes them; fla omits them
 * too). The decays are fla's (chunk_retention computes γ_h = 1 − 2^(−5−h) from the head count); `decays` may
 * replace them with any per-head vector in (0, 1] (e.g. Lightning/TransNormer schedules), spec §5.
 *
 * Parameters, one to one with fla `fla/layers/multiscale_retention.py: MultiScaleRetention` (same names, same
 * registration order; inside a model they are model.layers.{i}.attn.<name>):
 *
 *   ours = fla name              shape           when
 *   q_proj.weight                [H·K, D]
 *   k_proj.weight                [Hkv·K, D]
 *   v_proj.weight                [Hkv·V, D]
 *   g_proj.weight                [H·V, D]        useOutputGate (fla use_output_gate)
 *   q_conv1d.weight              [H·K, 1, W]     useShortConv (fla use_short_conv; W = convSize ↔ conv_size)
 *   k_conv1d.weight              [Hkv·K, 1, W]   useShortConv
 *   v_conv1d.weight              [Hkv·V, 1, W]   useShortConv
 *   {q,k,v}_conv1d.bias          [C]             useShortConv and convBias (fla conv_bias)
 *   o_proj.weight                [D, H·V]
 *   g_norm_swish_gate.weight     [V]             useOutputGate: fla FusedRMSNormGated (swish gate, fuse_norm)
 *   g_norm.weight                [V]             without the output gate: fla RMSNorm
 *
 * with H·K = D·expandK, H·V = D·expandV (fla expand_k 1, expand_v 2), H = numHeads (fla num_heads, default 8 when
 * it divides both widths, else 1), Hkv = numKvHeads (fla num_kv_heads). fla's RotaryEmbedding has no parameters
 * (its inv_freq is a buffer, not in the state dict). K must be even (RoPE rotates pairs).
 *
 * Not supported: fla's feature_map (an activation on q, k; default None), gate_fn other than swish,
 * fuse_norm = False (numerically the same, but fla then names the weight g_norm), elementwise_affine = False,
 * `mode` (forward always runs the op's chunk form, step its recurrent form), attention masks / varlen batches.
 *
 * Init (spec §16, fla's _init_weights): projection weights N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), norm
 * weights 1, conv weights (and biases) PyTorch's Conv1d default U(±1/√W); the decays are fixed, not parameters.
 *
 * State per sequence: { recurrent [B, H, K, V] (the op's key-major memory), pos [B] (the absolute position of the
 * next token, for RoPE; one value shared by the batch, exact in f32 up to 2^24), and with useShortConv q_conv
 * [B, W−1, H·K], k_conv [B, W−1, Hkv·K], v_conv [B, W−1, Hkv·V] }: H·K·V + 1 + (W−1)(H·K + Hkv·K + Hkv·V) floats,
 * whatever the length.
 */
import { outsideArena } from "../core/arena.js";
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import { full, tensor } from "../core/create.js";
import { retention, retnetGammas } from "../ops/retention/index.js";
import { rope } from "../ops/rope/index.js";
import type { AnyOp } from "../ops/types.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext, LayerState } from "./types.js";
import { gatedQkvFields, GatedQkvMixerBase, repeatHeads, resolveQkvHeads, where, type Prepared } from "./linear_base.js";

export const retnetConfig = z
  .object({
    // numHeads (default 8 when it divides the key and value widths, else 1), numKvHeads, expandK, expandV,
    // useShortConv, convSize, convBias, useOutputGate, normEps
    ...gatedQkvFields({ expandK: 1, expandV: 2 }),
    /** RoPE base (fla RotaryEmbedding base) */
    ropeTheta: z.number().positive().default(10000),
    /** per-head decays γ_h in (0, 1], one per head; default RetNet's 1 − 2^(−5−h) (not in fla's layer) */
    decays: z.array(z.number().gt(0).lte(1)).nullable().default(null),
    /** chunk length of the op's chunk form in forward */
    chunkSize: z.number().int().min(1).max(4096).default(64),
  })
  .strict();

export type RetNetLayerConfig = z.output<typeof retnetConfig>;

export class RetNetLayer extends GatedQkvMixerBase {
  readonly type = "retnet";
  protected readonly op: AnyOp = retention;
  /** γ_h per query head */
  readonly decays: readonly number[];
  private gammaCache: Tensor | null = null;

  constructor(dModel: number, readonly config: RetNetLayerConfig, context: LayerContext) {
    super(dModel, config, resolveQkvHeads("retnet", context, config, 8), context);
    const { numHeads: H, headKDim: K } = this;
    if (K % 2 !== 0) {
      throw new Error(`${where("retnet", context)}: the key width per head K = dModel·expandK/numHeads = ${H * K}/${H} = ${K} must be even (RoPE rotates pairs); change expandK or numHeads`);
    }
    if (config.decays !== null && config.decays.length !== H) {
      throw new Error(`${where("retnet", context)}: decays has ${config.decays.length} entries but numHeads=${H} (one decay per head)`);
    }
    this.decays = config.decays ?? retnetGammas(H);
    // fla's registration order: q, k, v, g_proj, convs, o_proj, norm
    this.buildProjections();
    this.buildOutput();
  }

  protected stateShapes(batch: number): Record<string, number[]> {
    return { ...this.convStateShapes(batch), pos: [batch], recurrent: [batch, this.numHeads, this.headKDim, this.headVDim] };
  }

  /** The shared absolute position of the next token (every sequence of the batch must agree). */
  private position(state: LayerState | null): number {
    if (!state) return 0;
    const p = state.pos!.values();
    const p0 = p[0]!;
    for (let i = 0; i < p.length; i++) {
      if (p[i] !== p0) throw new RangeError(`retnet: state.pos must be the same for every sequence (RoPE offset), got ${[...p].join(",")}`);
    }
    if (!Number.isInteger(p0) || p0 < 0) throw new RangeError(`retnet: state.pos must be a non-negative integer, got ${p0}`);
    return p0;
  }

  private gamma(): Tensor {
    // cached across calls, so it must not live in a step's buffer arena
    if (this.gammaCache === null || this.gammaCache.dtype !== this.dtype) this.gammaCache = outsideArena(() => tensor([...this.decays], [this.numHeads], { dtype: this.dtype }));
    return this.gammaCache;
  }

  protected prepare(x: Tensor, prev: LayerState | null): Prepared {
    const [B, T] = x.shape as [number, number];
    const G = this.numHeads / this.numKvHeads;
    const offset = this.position(prev);
    const { q, k, v, convState } = this.projectQkv(x, prev);
    const rot = (z: Tensor) => rope(z, { offset, base: this.config.ropeTheta });
    return { inputs: { q: rot(q), k: repeatHeads(rot(k), G), v: repeatHeads(v, G), gamma: this.gamma() }, carry: { ...convState, pos: full([B], offset + T, { dtype: x.dtype }) } };
  }
}

export const retnetLayer: LayerDefinition<RetNetLayerConfig> = {
  type: "retnet",
  summary: "multi-scale retention (fla MultiScaleRetention): fixed per-head decay 1 − 2^(−5−h), RoPE on q/k, gated RMSNorm output",
  config: retnetConfig as unknown as z.ZodType<RetNetLayerConfig, unknown>,
  smallConfig: { numHeads: 2, numKvHeads: 1, useShortConv: true, convSize: 3, convBias: true },
  create: (config, context) => new RetNetLayer(context.dModel, config, context),
};
