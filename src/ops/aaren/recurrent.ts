/**
 * aaren, recurrent form (spec/mixers.md §2 "Recurrent (step) form"): per head the state (m, u, w) is updated with
 * the new score s_t = τ·q·k_t and value v_t; o_t = w/u. O(V) state per head, independent of T and of K.
 */
import type { Tensor } from "../../core/tensor.js";
import { full } from "../../core/create.js";
import { exp, maximum } from "../../core/ops/elementwise.js";
import { concat, slice } from "../../core/ops/shape.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import type { AarenOptions } from "./shared.js";

export const aarenRecurrent: RecurrentForm<AarenOptions> = {
  /** (m, u, w) = (−∞, 0, 0) per head: [B,H,V+2] */
  init(inputs: OpInputs): Tensor {
    const [B, , H] = inputs.k!.shape as [number, number, number];
    const V = inputs.v!.shape[3]!;
    const dtype = inputs.k!.dtype;
    return concat([full([B, H, 1], -Infinity, { dtype }), full([B, H, V + 1], 0, { dtype })], 2);
  },

  /** state [B,H,V+2], q [H,K], k_t [B,H,K], v_t [B,H,V] → o_t [B,H,V], state [B,H,V+2] */
  step(state: Tensor, inputs: OpInputs, options: AarenOptions): { o: Tensor; state: Tensor } {
    const k = inputs.k!;
    const scale = options.scale ?? 1 / Math.sqrt(k.shape[2]!);
    const s = k.mul(inputs.q!).sum(-1, true).mul(scale); // [B,H,1]
    const m = slice(state, 2, 0, 1).detach(); // m is a constant in backward (see shared.ts)
    const u = slice(state, 2, 1, 2);
    const w = slice(state, 2, 2);
    const mNew = maximum(m, s.detach()); // finite: s is
    const keep = exp(m.sub(mNew)); // e^{m − m'} ≤ 1, and 0 from the empty state (m = −∞)
    const add = exp(s.sub(mNew)); // e^{s − m'} ≤ 1
    const uNew = u.mul(keep).add(add);
    const wNew = w.mul(keep).add(inputs.v!.mul(add));
    return { o: wNew.div(uNew), state: concat([mNew, uNew, wNew], 2) };
  },
};
