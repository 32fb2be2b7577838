/**
 * The `titans_mag` mixer layer: Titans' memory as a gate (spec/mixers.md §10.3; arXiv 2501.00663 §4.2). Over
 * x̃ = [P ; x] two branches run side by side, and the memory gates the attention:
 *
 *   m = LMM(x̃)                                   (titans_lmm: the memory consumes P first, then x)
 *   y = SWA(x̃)                                   (sliding window W; the N_p positions of P stay visible)
 *   o = (RMSNorm(y) ⊙ σ(RMSNorm(m))) W_oᵀ         (spec §10.3's reference form; the paper only says "normalise
 *                                                  both branches with learnable vectors, then a nonlinearity")
 *
 * Parameters: persistent_memory [N_p, D]; memory.* (titans_lmm.ts, its o_proj N(0, initStd)); attn.q_proj,
 * attn.k_proj, attn.v_proj [H·m, D], attn.o_proj [D, H·m] (N(0, initStd)); y_norm.weight, m_norm.weight [D];
 * o_proj.weight [D, D] (N(0, initStd/√(2·nLayers))). The attention has the memory's heads H and head width m.
 * The window, state and prefix rules are titans_swa.ts's.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext } from "./types.js";
import { SwaTitansBase, swaFields, type SwaHybridConfig } from "./titans_swa.js";

export const titansMagConfig = z.object(swaFields).strict();

export class TitansMagLayer extends SwaTitansBase {
  readonly type = "titans_mag";

  constructor(dModel: number, config: SwaHybridConfig, context: LayerContext) {
    super(dModel, config, context, "titans_mag", context.initStd);
    this.buildGate();
  }

  protected prefixTokens(persistent: Tensor): Tensor {
    return persistent;
  }

  protected attentionInput(x: Tensor): Tensor {
    return x;
  }

  protected combine(y: Tensor, m: Tensor): Tensor {
    return this.gate(y, m);
  }
}

export const titansMagLayer: LayerDefinition<SwaHybridConfig> = {
  type: "titans_mag",
  summary: "Titans MAG: sliding-window attention over [persistent; x] gated by the neural memory branch",
  config: titansMagConfig as unknown as z.ZodType<SwaHybridConfig, unknown>,
  smallConfig: { numHeads: 2, convSize: 3, lrMax: 0.5, chunkSize: 3, memoryDepth: 1, persistentTokens: 2, window: 4 },
  create: (config, context) => new TitansMagLayer(context.dModel, config, context),
};
