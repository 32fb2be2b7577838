/**
 * The Miras models as layer presets (spec/mixers.md §11; arXiv 2504.13173): `moneta`, `yaad` and `memora` are the
 * `titans_lmm` layer (titans_lmm.ts: the same q/k/v path, gates, memory network, chunking, state and parameter
 * names) with the memory op's Miras options set, and without the momentum gate (the paper's models use plain
 * gradient descent; spec §11 "no momentum"):
 *
 *   moneta   bias lp (p = 3: ∇ = p·sign(e)|e|^{p−1}),  retention lq (q = 4: W = A / ‖A‖_q^{q−2}, at chunk starts)
 *   yaad     bias huber (ℓ2 below ‖e‖ ≤ δ_t, ℓ1 above, δ_t = softplus(x w_δ + c_δ) per token and head),  retention l2
 *   memora   bias l2,  retention kl (W = c·softmax(A) over each row's outputs; A holds log-weights; c = klScale = 1)
 *
 * In the paper's notation A_t = α_t A_{t−1} − η_t ∇ℓ(W_{t−1}; k_t, v_t): its learning rate η_t is our θ_t
 * (to_adaptive_step, θ_max·σ) and its retention α_t is our 1 − α_t (to_decay_factor: α = σ(·) is the forget rate).
 *
 * Taken from the paper (via spec §11): the three (bias, retention) pairs and p = 3, q = 4; the MLP memory
 * M(x) = x + LN(W₁ σ(W₂ x)) with expansion 4 and GELU (the memory defaults); gradients at the chunk's start
 * weights; the lq normalisation only at chunk boundaries; Memora's softmax over the output axis of each row.
 * Chosen here (the spec marks these unverified or leaves them open): per-head scalar gates from full-rank
 * projections (the paper uses channel-wise gates from low-rank projections); δ_t = softplus(·) with bias init 1
 * (δ ≈ 1.31); the smoothings of sign and |·| and of ‖A‖_q are the op's (miras.ts in the op); for Memora the
 * learned initial state W₀ holds log-weights (0 for a linear memory = uniform c/width). Every option of
 * titans_lmm can be set (e.g. `momentum: true` for a Miras bias with Titans' momentum); the presets only change
 * the defaults. The same options also work inside titans_mac / titans_mag / titans_mal.
 *
 * State: as titans_lmm (the op state [B,H,2,n_W] keeps a momentum slot, zero here: 2·n_W per head where spec
 * §17 counts n_W), plus chunk_delta [B,r,H] for yaad's buffered thresholds.
 */
import { z } from "zod";
import type { LayerDefinition } from "./registry.js";
import { memoryFields, TitansLmmLayer, type MemoryConfig } from "./titans_lmm.js";

interface Preset {
  type: string;
  summary: string;
  bias: MemoryConfig["bias"];
  retention: MemoryConfig["retention"];
}

function mirasPreset({ type, summary, bias, retention }: Preset): LayerDefinition<MemoryConfig> {
  const config = z
    .object({
      ...memoryFields,
      momentum: memoryFields.momentum.removeDefault().default(false),
      bias: memoryFields.bias.removeDefault().default(bias),
      retention: memoryFields.retention.removeDefault().default(retention),
    })
    .strict();
  return {
    type,
    summary,
    config: config as unknown as z.ZodType<MemoryConfig, unknown>,
    smallConfig: { numHeads: 2, convSize: 3, lrMax: 0.5, chunkSize: 3, memoryExpansion: 2 },
    create: (c, context) => new TitansLmmLayer(context.dModel, c, context, undefined, type),
  };
}

export const monetaLayer = mirasPreset({ type: "moneta", summary: "Miras Moneta: neural memory with an ℓp (p=3) attentional bias and ℓq (q=4) retention", bias: "lp", retention: "lq" });
export const yaadLayer = mirasPreset({ type: "yaad", summary: "Miras Yaad: neural memory with a Huber attentional bias (learned per-token δ) and ℓ2 retention", bias: "huber", retention: "l2" });
export const memoraLayer = mirasPreset({ type: "memora", summary: "Miras Memora: neural memory with an ℓ2 attentional bias and KL retention (softmax weights)", bias: "l2", retention: "kl" });
