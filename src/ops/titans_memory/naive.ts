/**
 * `titans_memory`, reference form: the mini-batch rule of spec/mixers.md §10.2 applied literally, one token at a
 * time. For each chunk of `chunkSize` tokens the inner gradients of all its tokens are taken at the chunk's
 * starting weights W₀; then, token by token, u_t^l = x_tᵀ g_t is formed as a full matrix and
 *   S_t = η_t S_{t−1} − θ_t u_t,   W_t = (1 − α_t) W_{t−1} + S_t,   y_t = M(q_t; W_t)   (lagged: M(q_t; W₀)).
 * With the lq / kl retention (miras.ts) W is the state A and the memory is read with R(A) (gradients at
 * R(A₀), retrieval with R(A_t), the lq scale taken at A₀). Differentiable through autodiff; with chunkSize 1 it
 * is the sequential rule of §10.1.
 */
import { concat, permute, reshape, slice, transpose, unsqueeze } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { innerGradient, memoryForward } from "./memory.js";
import { readWeights } from "./miras.js";
import { applyToken, memoryNet, packState, startState, titansDims, type TitansOptions } from "./shared.js";

/** x[:, :, t] of a [B,H,T,...] tensor, keeping the axis (a row [B,H,1,...]). */
const row = (x: Tensor, t: number): Tensor => slice(x, 2, t, t + 1);

export function titansNaive(inputs: OpInputs, options: TitansOptions): OpOutputs {
  const { B, T, H, K, V } = titansDims(inputs);
  const net = memoryNet(options, K, V);
  const [q, k, v] = [inputs.q!, inputs.k!, inputs.v!].map((t) => permute(t, [0, 2, 1, 3])) as [Tensor, Tensor, Tensor]; // [B,H,T,·]
  const [lr, momentum, decay] = [inputs.lr!, inputs.momentum!, inputs.decay!].map((t) => transpose(t, 1, 2)) as [Tensor, Tensor, Tensor]; // [B,H,T]
  const delta = inputs.delta ? unsqueeze(transpose(inputs.delta, 1, 2), 3) : undefined; // [B,H,T,1]
  const gate = (x: Tensor, t: number): Tensor => reshape(slice(x, 2, t, t + 1), [B, H, 1, 1]);
  let state = startState(inputs, net, H);
  const ys: Tensor[] = [];
  for (let start = 0; start < T; start += options.chunkSize) {
    const end = Math.min(T, start + options.chunkSize);
    const A0 = state.W;
    const W0 = A0.map((a) => readWeights(options, a, a));
    const ctx = delta ? { delta: slice(delta, 2, start, end) } : {};
    const { xs, gs } = innerGradient(net, W0, slice(k, 2, start, end), slice(v, 2, start, end), ctx);
    for (let t = start; t < end; t++) {
      const i = t - start;
      state = applyToken(state, xs.map((x) => row(x, i)), gs.map((g) => row(g, i)), gate(lr, t), gate(momentum, t), gate(decay, t));
      const read = options.retrieve === "lagged" ? W0 : state.W.map((a, l) => readWeights(options, a, A0[l]!));
      ys.push(memoryForward(net, read, row(q, t)));
    }
  }
  const o = permute(concat(ys, 2), [0, 2, 1, 3]).contiguous();
  return options.outputFinalState ? { o, finalState: packState(state, B) } : { o };
}
