/**
 * The `titans_mal` mixer layer: Titans' memory as a layer (spec/mixers.md §10.3; arXiv 2501.00663 §4.3), a
 * plain sequential hybrid over x̃ = [P ; x]:
 *
 *   m = LMM(x̃)          (titans_lmm: the memory consumes P first, then x)
 *   o = SWA(m)           (sliding window W over the memory's outputs; the memory's outputs at the N_p positions
 *                         of P are the prefix every query sees)
 *
 * No residual or norm between the two (the paper's equations have none; the block's residual is around both).
 * Parameters: persistent_memory [N_p, D]; memory.* (titans_lmm.ts, its o_proj N(0, initStd)); attn.q_proj,
 * attn.k_proj, attn.v_proj [H·m, D]; attn.o_proj [D, H·m] (the layer's output projection, N(0,
 * initStd/√(2·nLayers))). The window, state and prefix rules are titans_swa.ts's.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext } from "./types.js";
import { SwaTitansBase, swaFields, type SwaHybridConfig } from "./titans_swa.js";

export const titansMalConfig = z.object(swaFields).strict();

export class TitansMalLayer extends SwaTitansBase {
  readonly type = "titans_mal";

  constructor(dModel: number, config: SwaHybridConfig, context: LayerContext) {
    super(dModel, config, context, "titans_mal", context.initStd / Math.sqrt(2 * context.nLayers));
  }

  protected prefixTokens(_persistent: Tensor, memoryOnP: Tensor): Tensor {
    return memoryOnP;
  }

  protected attentionInput(_x: Tensor, m: Tensor): Tensor {
    return m;
  }

  protected combine(y: Tensor): Tensor {
    return y;
  }
}

export const titansMalLayer: LayerDefinition<SwaHybridConfig> = {
  type: "titans_mal",
  summary: "Titans MAL: the neural memory over [persistent; x], then sliding-window attention over its outputs",
  config: titansMalConfig as unknown as z.ZodType<SwaHybridConfig, unknown>,
  smallConfig: { numHeads: 2, convSize: 3, lrMax: 0.5, chunkSize: 3, memoryDepth: 2, memoryExpansion: 2, persistentTokens: 2, window: 4 },
  create: (config, context) => new TitansMalLayer(context.dModel, config, context),
};
