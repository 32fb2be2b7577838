/**
 * The one place the Titans layers talk to their memory op, `titans_memory` (spec/mixers.md §10.1–10.2): a
 * write-and-read pass (the memory learns k → v with learning rate θ, momentum η and forgetting α, and answers
 * q with the updated weights, chunk by chunk with the gradients taken at each chunk's starting weights), and a
 * read-only pass (the memory answers q with the weights it is given and learns nothing).
 *
 * Also the memory's initial op state built from learned weights W₀¹…W₀^L (packed as the op packs its state:
 * [B,H,2,n_W], the weights then a zero momentum).
 */
import type { Tensor } from "../core/tensor.js";
import { zeros } from "../core/create.js";
import { titansMemory } from "../ops/titans_memory/index.js";
import { permute } from "../core/ops/shape.js";
import { layerDims, memoryForward, weightCount } from "../ops/titans_memory/memory.js";
import { memoryNet, packState, titansOptions, unpackState } from "../ops/titans_memory/shared.js";
import { readWeights } from "../ops/titans_memory/miras.js";
import type { AnyOp } from "../ops/types.js";

/** the op behind the memory */
export const memoryOp: AnyOp = titansMemory;

/**
 * The memory network (depth L: 1 = linear k W; hidden width expansion·K; activation; residual LN wrapper) and
 * the Miras choices (spec §11): attentional bias (l2 | lp with p | huber with a per-token δ) and retention
 * (l2 forget gate | lq with q | kl with the row sum c).
 */
export interface MemoryNetConfig {
  memoryDepth: number;
  memoryExpansion: number;
  memoryActivation: "gelu" | "silu";
  memoryResidual: boolean;
  bias: "l2" | "lp" | "huber";
  biasP: number;
  retention: "l2" | "lq" | "kl";
  retentionQ: number;
  klScale: number;
}

/** The per-token op inputs of a write, in the order the layers buffer them (delta only with the huber bias). */
export type WriteInput = "q" | "k" | "v" | "lr" | "momentum" | "decay" | "delta";

export function writeInputNames(net: Pick<MemoryNetConfig, "bias">): WriteInput[] {
  return ["q", "k", "v", "lr", "momentum", "decay", ...(net.bias === "huber" ? (["delta"] as const) : [])];
}

/** The op options of both passes. */
export function memoryOptions(chunkSize: number, net: MemoryNetConfig): Record<string, unknown> {
  return {
    chunkSize,
    depth: net.memoryDepth,
    expansion: net.memoryExpansion,
    activation: net.memoryActivation,
    residual: net.memoryResidual,
    bias: net.bias,
    p: net.biasP,
    retention: net.retention,
    q: net.retentionQ,
    klScale: net.klScale,
  };
}

/**
 * A read-only pass: M(q; W) for queries q [B,T,H,K] with the weights W = R(A) of the op state `state` [B,H,2,n_W]
 * (at a chunk boundary) → [B,T,H,V].
 * This is what the op computes with θ = η = α = 0 (no write: W_t = W), evaluated directly with the op's own
 * memory network instead of the write machinery.
 */
export function readMemory(state: Tensor, q: Tensor, valueDim: number, options: Record<string, unknown>): Tensor {
  const K = q.shape[3]!;
  const parsed = titansOptions.parse(options);
  const net = memoryNet(parsed, K, valueDim);
  // the state holds A; the weights are R(A) (Miras retention; the state is at a chunk boundary, so A₀ = A)
  const W = unpackState(state, net.dims).W.map((A) => readWeights(parsed, A, A));
  return permute(memoryForward(net, W, permute(q, [0, 2, 1, 3])), [0, 2, 1, 3]);
}

/** The widths of the memory's layers [K, hidden…, V]. */
export function memoryWidths(K: number, V: number, net: MemoryNetConfig): number[] {
  return layerDims(K, V, net.memoryDepth, net.memoryExpansion);
}

/**
 * The op state [B,H,2,n_W] holding W₀ˡ [H, in, out] and a zero momentum (differentiable in W₀). W₀ is what the
 * state holds: the weights for the l2 and lq retentions (lq reads them rescaled), the log-weights for kl.
 */
export function initialMemoryState(weights: readonly Tensor[], batch: number): Tensor {
  const W = weights.map((w) => w.unsqueeze(0));
  return packState({ W, S: W.map((w) => zeros(w.shape, { dtype: w.dtype })) }, batch);
}

/** Floats of the op state per sequence: weights and momentum, 2·H·n_W (spec §17 "Titans"). */
export function memoryStateFloats(H: number, K: number, V: number, net: MemoryNetConfig): number {
  return 2 * H * weightCount(memoryWidths(K, V, net));
}
