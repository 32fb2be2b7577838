/** `retention`, step form (spec/mixers.md §5): state [B,H,K,V], decay γ_h per head. */
import { reshape } from "../../core/ops/shape.js";
import { decayRecurrent } from "../decay_chunk/recurrent.js";
import type { DecayOptions } from "../decay_chunk/shared.js";

export const retentionRecurrent = decayRecurrent<DecayOptions>({
  normalizeEps: () => null,
  decay: (inputs, _B, H) => reshape(inputs.gamma!, [1, H, 1, 1]),
});
