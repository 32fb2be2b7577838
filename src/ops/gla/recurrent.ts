/** `gla`, step form (spec/mixers.md §6): state [B,H,K,V], decay exp(gk_t) per key channel. */
import { exp } from "../../core/ops/elementwise.js";
import { unsqueeze } from "../../core/ops/shape.js";
import { decayRecurrent } from "../decay_chunk/recurrent.js";
import type { DecayOptions } from "../decay_chunk/shared.js";

export const glaRecurrent = decayRecurrent<DecayOptions>({
  normalizeEps: () => null,
  decay: (inputs) => unsqueeze(exp(inputs.gk!), 3),
});
