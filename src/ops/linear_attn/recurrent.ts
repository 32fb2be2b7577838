/** `linear_attn`, step form (spec/mixers.md §3): state [B,H,K,V] ([B,H,K,V+1] with normalize), O(1) in T. */
import { decayRecurrent } from "../decay_chunk/recurrent.js";
import type { LinearAttnOptions } from "../decay_chunk/shared.js";

export const linearAttnRecurrent = decayRecurrent<LinearAttnOptions>({
  normalizeEps: (options) => (options.normalize ? options.eps : null),
  decay: null,
});
