/**
 * `titans_memory`: the Titans neural long-term memory (spec/mixers.md §10; arXiv 2501.00663). Per (batch, head)
 * a small network M(·; W) — linear (depth 1, M(k) = kW) or an MLP of depth L ≥ 2 with hidden width E·K, GELU or
 * SiLU, optionally M(k) = k + LN(MLP(k)) — is written at test time by gradient descent on ‖M(k_t) − v_t‖², with
 * momentum and forgetting, and read by the queries:
 *
 *   u_t = ∇_W ‖M(k_t; W) − v_t‖²         (at W_{t−1}; in the chunk forms at the chunk's starting weights)
 *   S_t = η_t S_{t−1} − θ_t u_t            surprise with momentum          (input `momentum` = η ∈ [0,1])
 *   W_t = (1 − α_t) W_{t−1} + S_t          forgetting                      (input `decay` = α ∈ [0,1], `lr` = θ ≥ 0)
 *   o_t = M(q_t; W_t)                      retrieve "per_token" (default); "lagged": M(q_t; W at the chunk start)
 *
 * Inputs q, k [B,T,H,K], v [B,T,H,V], lr, momentum, decay [B,T,H]; initial weights w1…w_L [H,in,out] (learned
 * per head, gradients flow to them; a linear memory starts at 0 when w1 is absent) or an initial_state
 * [B,H,2,n_W] (weights and momentum, as returned by outputFinalState) — not both. q and k are used as given
 * (the layers L2-normalise them, spec §10.1); there is no score scale.
 *
 * Forms: `recurrent` is the token-by-token rule (chunk size 1); `naive` applies the mini-batch rule of §10.2 for
 * any chunkSize as a plain loop; `chunk` is the same mini-batch rule with matrix products over whole chunks and
 * the dual form for retrieval (chunk.ts). chunk(C) = naive(C), and chunk(1) = naive(1) = recurrent. The mini-batch
 * rule depends on where the chunks start: a sequence fed in pieces (initial_state / outputFinalState) equals the
 * whole when every piece but the last has a multiple of chunkSize tokens (any split for chunk size 1).
 *
 * Choices where the spec leaves room: the loss is the sum over V (titans-pytorch takes the mean; the factor
 * is absorbed by θ); the LN of the residual memory has no affine weights (eps 1e-5) and is not part of the
 * state; the decay weights are running products instead of exp of log-cumsum differences (products.ts: exact
 * with η = 0 or α = 1); gradients are not clipped (titans-pytorch max_grad_norm is left to the layer).
 *
 * Miras (spec §11, miras.ts): option `bias` (l2 | lp with `p` | huber with the per-token threshold input
 * `delta` [B,T,H] > 0) sets the inner loss; option `retention` (l2 = the forget gate above | lq with `q`: the
 * weights are the state normalised by its q-norm at chunk boundaries | kl: the weights are klScale·softmax of
 * the state, which holds log-weights) sets how the weights are read from the state. Moneta = lp 3 + lq 4,
 * Yaad = huber + l2, Memora = l2 + kl without momentum; the layers choose the memory and the gates.
 *
 * Reduction (tested): a linear memory with η = 0 and chunk size 1 is gated_delta_rule with scale 1,
 *   g = log(1 − α),  β = 2θ/(1 − α),  v' = (1 − α) v         (needs α < 1 and β ≤ 2),
 * because W_t = ((1−α)I − 2θ kᵀk) W_{t−1} + 2θ kᵀv, while the gated delta rule takes its error at the decayed
 * memory: S_t = e^g (I − β kᵀk) S_{t−1} + β kᵀv'. With α = 0 it is β = 2θ, g = 0 (delta_rule).
 */
import type { DType } from "../../core/dtype.js";
import type { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import type { ExampleSizes, OpDefinition } from "../types.js";
import { titansChunk } from "./chunk.js";
import { titansNaive } from "./naive.js";
import { titansRecurrent } from "./recurrent.js";
import { OP, STATE_SHAPE, titansExample, titansInputs, titansOptions, titansStateSize, validateTitans, type TitansOptions } from "./shared.js";

export const titansMemory: OpDefinition<TitansOptions> = {
  name: OP,
  summary: "Titans / Miras neural memory: linear or MLP memory written by gradient descent with momentum and forgetting (ℓ2/ℓp/Huber loss, ℓ2/ℓq/KL retention); chunked mini-batch form",
  spec: "spec/mixers.md §10",
  inputs: titansInputs,
  stateShape: STATE_SHAPE,
  options: titansOptions,
  validate: validateTitans,
  naive: titansNaive,
  chunk: titansChunk,
  recurrent: titansRecurrent,
  /** 2·H·n_W floats per sequence (memory weights and momentum), constant in T. */
  stateSize: (shapes, options) => titansStateSize(shapes, options),
  /** unit-norm q and k, v normal, lr ∈ [0.05, 0.5], momentum ∈ [0, 0.9], decay ∈ [0, 0.2]; linear memory from 0 */
  example(rng: Random, dtype: DType, sizes: Partial<ExampleSizes> = {}): Record<string, Tensor> {
    return titansExample(rng, dtype, sizes);
  },
};
