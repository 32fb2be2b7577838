/**
 * `titans_memory`, training form: the mini-batch rule of spec/mixers.md §10.2 with every token of a chunk handled
 * by batched matrix products (no per-token loop, no per-token graph). Within chunk n, with W₀, S₀ the weights and
 * momentum at its start, all inner gradients are taken at W₀ (u_i^l = x_iᵀ g_i, memory.ts), and the two linear
 * recurrences S_t = η_t S_{t−1} − θ_t u_t, W_t = (1 − α_t) W_{t−1} + S_t are solved in closed form:
 *
 *   S_t = Pη(0,t) S₀ − Σ_{i≤t} θ_i Pη(i,t) u_i
 *   W_t = Pβ(0,t) W₀ + f_t S₀ − Σ_{i≤t} θ_i G[t,i] u_i
 *   Pη(i,t) = Π_{l=i+1}^{t} η_l,  Pβ(i,t) = Π_{l=i+1}^{t} (1 − α_l),  G[t,i] = Σ_{j=i}^{t} Pβ(j,t) Pη(i,j),
 *   f_t = Σ_{j=1}^{t} Pβ(j,t) Pη(0,j).
 *
 * With the chunk-local index 0 for the chunk start, Lβ[t,j] = Pβ(j,t) and Lη[j,i] = Pη(i,j) are lower
 * triangular (C+1)×(C+1) segment products (products.ts) and G_ext = Lβ·Lη gives G (rows and columns 1…C) and
 * f_t = G_ext[t,0] − Pβ(0,t) in one product; they are computed for all chunks at once.
 *
 * Retrieval never forms W_t. Each layer of M(q_t; W_t) is linear in W_t, so its pre-activation is (dual form)
 *   ẑ_t = Pβ(0,t) x̂_t W₀ + f_t x̂_t S₀ − Σ_{i≤t} θ_i G[t,i] (x̂_t·x_i) g_i
 * i.e. for the chunk ẑ = diag(Pβ0) X̂W₀ + diag(f) X̂S₀ − (TG ⊙ X̂Xᵀ) Gr with TG[t,i] = θ_i G[t,i]: two C×C products per
 * layer (for the linear memory, X̂ = Q, X = K, Gr = 2E: the spec's y_t formula). The chunk's end state is
 *   W_C = Pβ(0,C) W₀ + f_C S₀ − Xᵀ diag(θ_i G[C,i]) Gr,   S_C = Pη(0,C) S₀ − Xᵀ diag(θ_i Pη(i,C)) Gr.
 *
 * Miras retentions (miras.ts): W above is the state A. For lq the weights are s·A with one scale s per matrix
 * taken at A₀, so ẑ is the dual form times s. For kl (W = c·softmax(A)) the read is not linear in A: A_t is
 * formed for every token of the chunk (A_t = Pβ(0,t)A₀ + f_t S₀ − Σ_i TG[t,i] x_iᵀ g_i, one product of the C×C
 * matrix with the stacked outer products, C·n_W floats) and each query is read with its own c·softmax(A_t).
 *
 * The backward comes from autodiff over these block ops (a graph of O(T/C) nodes per layer, O(T·C) work).
 */
import { concat, pad, permute, reshape, slice, squeeze, transpose, unsqueeze } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { innerGradient, memoryForward, runLayers } from "./memory.js";
import { readScale, readsLinearly, readWeights } from "./miras.js";
import { segmentProducts } from "./products.js";
import { memoryNet, packState, startState, titansDims, type MemoryState, type TitansOptions } from "./shared.js";

/** Rows r0..r1 and columns c0..c1 of the last two axes. */
const block = (x: Tensor, r0: number, r1: number, c0: number, c1: number): Tensor => slice(slice(x, -2, r0, r1), -1, c0, c1);

export function titansChunk(inputs: OpInputs, options: TitansOptions): OpOutputs {
  const { B, T, H, K, V } = titansDims(inputs);
  const net = memoryNet(options, K, V);
  const C = Math.min(options.chunkSize, T);
  const N = Math.ceil(T / C);
  const [q, k, v] = [inputs.q!, inputs.k!, inputs.v!].map((t) => permute(t, [0, 2, 1, 3])) as [Tensor, Tensor, Tensor]; // [B,H,T,·]
  const [lr, momentum, decay] = [inputs.lr!, inputs.momentum!, inputs.decay!].map((t) => transpose(t, 1, 2)) as [Tensor, Tensor, Tensor]; // [B,H,T]
  const delta = inputs.delta ? unsqueeze(transpose(inputs.delta, 1, 2), 3) : undefined; // [B,H,T,1]

  // gates of every chunk as [B,H,N,C+1] with a leading 1 for the chunk start (the padding past T is never read)
  const perChunk = (x: Tensor): Tensor => pad(reshape(pad(x, [[0, 0], [0, 0], [0, N * C - T]], 1), [B, H, N, C]), [[0, 0], [0, 0], [0, 0], [1, 0]], 1);
  const Lb = segmentProducts(perChunk(decay.neg().add(1))); // [B,H,N,C+1,C+1], Lβ[t,j] = Pβ(j,t)
  const Le = segmentProducts(perChunk(momentum)); //           Lη[j,i] = Pη(i,j)
  const Gx = Lb.matmul(Le); //                                 G_ext

  let state: MemoryState = startState(inputs, net, H);
  const ys: Tensor[] = [];
  for (let n = 0; n < N; n++) {
    const s = n * C;
    const e = Math.min(T, s + C);
    const c = e - s;
    const pick = (x: Tensor): Tensor => squeeze(slice(x, 2, n, n + 1), 2); // [B,H,C+1,C+1]
    const [lb, le, gx] = [pick(Lb), pick(Le), pick(Gx)];
    const theta = unsqueeze(slice(lr, 2, s, e), 2); // [B,H,1,c]: θ_i along the columns
    const TG = block(gx, 1, c + 1, 1, c + 1).mul(theta); // [B,H,c,c] θ_i G[t,i]
    const pb0 = block(lb, 1, c + 1, 0, 1); //               [B,H,c,1]  Pβ(0,t)
    const f = block(gx, 1, c + 1, 0, 1).sub(pb0); //        [B,H,c,1]  f_t
    const { W, S } = state;
    const W0 = W.map((a) => readWeights(options, a, a));
    const { xs, gs } = innerGradient(net, W0, slice(k, 2, s, e), slice(v, 2, s, e), delta ? { delta: slice(delta, 2, s, e) } : {});
    const qc = slice(q, 2, s, e);
    let y: Tensor;
    if (options.retrieve === "lagged") {
      y = memoryForward(net, W0, qc);
    } else if (readsLinearly(options)) {
      const scales = W.map((a) => readScale(options, a));
      y = runLayers(net, qc, (l, xh) => {
        const z = pb0.mul(xh.matmul(W[l]!)).add(f.mul(xh.matmul(S[l]!))).sub(TG.mul(xh.matmul(xs[l]!.transpose())).matmul(gs[l]!));
        return scales[l] ? z.mul(scales[l]) : z;
      });
    } else {
      y = runLayers(net, qc, (l, xh) => {
        const [din, dout] = [net.dims[l]!, net.dims[l + 1]!];
        const outer = reshape(unsqueeze(xs[l]!, 4).mul(unsqueeze(gs[l]!, 3)), [B, H, c, din * dout]); // x_iᵀ g_i
        const At = unsqueeze(pb0, 4).mul(unsqueeze(W[l]!, 2)).add(unsqueeze(f, 4).mul(unsqueeze(S[l]!, 2))).sub(reshape(TG.matmul(outer), [B, H, c, din, dout]));
        return squeeze(unsqueeze(xh, 3).matmul(readWeights(options, At, At)), 3); // x̂_t R(A_t)
      });
    }
    ys.push(y);
    // the state after the chunk's last token
    const bC = block(lb, c, c + 1, 0, 1); //                  [B,H,1,1] Pβ(0,C)
    const eC = block(le, c, c + 1, 0, 1); //                  [B,H,1,1] Pη(0,C)
    const fC = block(f, c - 1, c, 0, 1);
    const wC = transpose(block(TG, c - 1, c, 0, c)); //         [B,H,c,1] θ_i G[C,i]
    const mC = transpose(block(le, c, c + 1, 1, c + 1).mul(theta)); // θ_i Pη(i,C)
    state = {
      W: W.map((w, l) => bC.mul(w).add(fC.mul(S[l]!)).sub(xs[l]!.transpose().matmul(wC.mul(gs[l]!)))),
      S: S.map((m, l) => eC.mul(m).sub(xs[l]!.transpose().matmul(mC.mul(gs[l]!)))),
    };
  }
  const o = permute(concat(ys, 2), [0, 2, 1, 3]).contiguous();
  return options.outputFinalState ? { o, finalState: packState(state, B) } : { o };
}
