/** `simple_gla`, step form: state [B,H,K,V], decay exp(g_t) per head. */
import { exp } from "../../core/ops/elementwise.js";
import { reshape } from "../../core/ops/shape.js";
import { decayRecurrent } from "../decay_chunk/recurrent.js";
import type { DecayOptions } from "../decay_chunk/shared.js";

export const simpleGlaRecurrent = decayRecurrent<DecayOptions>({
  normalizeEps: () => null,
  decay: (inputs, B, H) => reshape(exp(inputs.g!), [B, H, 1, 1]),
});
