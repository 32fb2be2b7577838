/**
 * `titans_memory`, step form: the sequential rule of spec/mixers.md §10.1 (the mini-batch rule with chunk size 1),
 * O(n_W) state per head whatever T. The inner gradient is taken at the current weights W_{t−1}:
 *   S_t = η_t S_{t−1} − θ_t ∇ℓ(W_{t−1}; k_t, v_t),   W_t = (1 − α_t) W_{t−1} + S_t,
 *   y_t = M(q_t; W_t)   (retrieve "lagged": M(q_t; W_{t−1})).
 * With the lq / kl retention (miras.ts) W is the state A, read as R(A) (the lq scale taken at A_{t−1}).
 */
import { reshape, unsqueeze } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, RecurrentForm } from "../types.js";
import { innerGradient, memoryForward } from "./memory.js";
import { readWeights } from "./miras.js";
import { applyToken, memoryNet, packState, startState, titansDims, unpackState, type TitansOptions } from "./shared.js";

export const titansRecurrent: RecurrentForm<TitansOptions> = {
  /** [B,H,2,n_W] from w1…w_L (zeros when absent) and zero momentum */
  init(inputs: OpInputs, options: TitansOptions): Tensor {
    const { B, H, K, V } = titansDims(inputs);
    return packState(startState(inputs, memoryNet(options, K, V), H), B);
  },
  /** state [B,H,2,n_W]; q_t, k_t [B,H,K], v_t [B,H,V], lr_t, momentum_t, decay_t, delta_t [B,H] → o_t [B,H,V], next state */
  step(state: Tensor, inputs: OpInputs, options: TitansOptions): { o: Tensor; state: Tensor } {
    const { B, H, K, V } = titansDims(inputs);
    const net = memoryNet(options, K, V);
    const [q, k, v] = [inputs.q!, inputs.k!, inputs.v!].map((t) => unsqueeze(t, 2)); // [B,H,1,·]
    const gate = (x: Tensor): Tensor => reshape(x, [B, H, 1, 1]);
    const before = unpackState(state, net.dims);
    const W0 = before.W.map((a) => readWeights(options, a, a));
    const { xs, gs } = innerGradient(net, W0, k!, v!, inputs.delta ? { delta: gate(inputs.delta) } : {});
    const after = applyToken(before, xs, gs, gate(inputs.lr!), gate(inputs.momentum!), gate(inputs.decay!));
    const read = options.retrieve === "lagged" ? W0 : after.W.map((a, l) => readWeights(options, a, before.W[l]!));
    const y = memoryForward(net, read, q!);
    return { o: reshape(y, [B, H, V]), state: packState(after, B) };
  },
};
