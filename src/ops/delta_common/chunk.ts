/**
 * The training form of the delta rule family: the chunkwise WY / UT-transform engine (engine.ts, spec §7.3)
 * wrapped as one differentiable op whose hand-written backward covers o and the final state together.
 */
import { isGradEnabled, record } from "../../core/autograd.js";
import { allocate } from "../../core/dtype.js";
import { contiguous } from "../../core/ops/shape.js";
import { withGradMulti } from "../../core/multi.js";
import { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { deltaChunkBackward, deltaChunkForward, type DeltaProblem } from "./engine.js";
import { deltaDims, type DeltaOptions, type DeltaVariant } from "./shared.js";

/**
 * q, k [B,T,H,K], v [B,T,H,V], beta [B,T,H], g [B,T,H] (gated only), initial_state [B,H,K,V]
 * → o [B,T,H,V] and, with outputFinalState, the state [B,H,K,V] after the last token.
 */
export function deltaChunk(variant: DeltaVariant, inputs: OpInputs, options: DeltaOptions): OpOutputs {
  const { B, T, H, K, V, scale } = deltaDims(inputs, options);
  const q = inputs.q!;
  const k = inputs.k!;
  const v = inputs.v!;
  const beta = inputs.beta!;
  const g = variant.gated ? inputs.g! : undefined;
  const s0 = inputs.initial_state;
  const f64 = q.dtype === "f64";
  const problem: DeltaProblem = {
    B, T, H, K, V, C: options.chunkSize, scale, f64,
    q: q.values(), k: k.values(), v: v.values(), beta: beta.values(),
    g: g ? g.values() : null,
    s0: s0 ? s0.values() : null,
  };
  const sources: Tensor[] = [q, k, v, beta, ...(g ? [g] : []), ...(s0 ? [s0] : [])];
  const needGrad = isGradEnabled() && sources.some((t) => t.requiresGrad);
  const fwd = deltaChunkForward(problem, needGrad);
  let o = new Tensor(fwd.o, [B, T, H, V]);
  let state = new Tensor(fwd.state, [B, H, K, V]);
  if (needGrad) {
    const saved = fwd.saved!;
    const grads = (dO: Tensor, dState: Tensor | null): Array<Tensor | null> => {
      const r = deltaChunkBackward(problem, saved, contiguous(dO).values(), dState ? contiguous(dState).values() : allocate(q.dtype, B * H * K * V));
      const out: Array<Tensor | null> = [
        new Tensor(r.dq, [B, T, H, K]),
        new Tensor(r.dk, [B, T, H, K]),
        new Tensor(r.dv, [B, T, H, V]),
        new Tensor(r.dbeta, [B, T, H]),
      ];
      if (g) out.push(new Tensor(r.dg!, [B, T, H]));
      if (s0) out.push(new Tensor(r.ds0, [B, H, K, V]));
      return out;
    };
    // with the final state as a second output, one backward rule covers both; else o alone (no packing)
    if (options.outputFinalState) {
      [o, state] = withGradMulti(`${variant.name}.chunk`, [o, state], sources, (gs) => grads(gs[0]!, gs[1]!)) as [Tensor, Tensor];
    } else {
      o = record(o, `${variant.name}.chunk`, sources, (gO) => grads(gO, null));
    }
  }
  return options.outputFinalState ? { o, finalState: state } : { o };
}
