/**
 * The one place the Titans layers talk to their memory op, `titans_memory` (spec/mixers.md §10.1–10.2): a
 * write-and-read pass (the memory learns k → v with learning rate θ, momentum η and forgetting α, and answers
 * q with the updated weights, chunk by chunk with the gradients taken at each chunk's starting weights), and a
 * read-only pass (θ = η = α = 0: the memory answers q with the weights it is given and learns nothing).
 *
 * Also the memory's initial op state built from learned weights W₀¹…W₀^L (packed as the op packs its state:
 * [B,H,2,n_W], the weights then a zero momentum).
 */
import type { Tensor } from "../core/tensor.js";
import { zeros } from "../core/create.js";
import { titansMemory } from "../ops/titans_memory/index.js";
import { layerDims, weightCount } from "../ops/titans_memory/memory.js";
import { packState } from "../ops/titans_memory/shared.js";
import type { AnyOp, OpInputs } from "../ops/types.js";

/** the op behind the memory */
export const memoryOp: AnyOp = titansMemory;

/** The memory network: depth L (1 = linear k W), hidden width expansion·K, activation, residual LN wrapper. */
export interface MemoryNetConfig {
  memoryDepth: number;
  memoryExpansion: number;
  memoryActivation: "gelu" | "silu";
  memoryResidual: boolean;
}

/** The per-token op inputs of a write, in the order the layers buffer them. */
export const WRITE_INPUTS = ["q", "k", "v", "lr", "momentum", "decay"] as const;
export type WriteInput = (typeof WRITE_INPUTS)[number];

/** The op options of both passes. */
export function memoryOptions(chunkSize: number, net: MemoryNetConfig): Record<string, unknown> {
  return { chunkSize, depth: net.memoryDepth, expansion: net.memoryExpansion, activation: net.memoryActivation, residual: net.memoryResidual };
}

/** The op inputs of a read-only pass with queries q [B,T,H,K] for a memory with value width V. */
export function readInputs(q: Tensor, valueDim: number): OpInputs {
  const [B, T, H] = q.shape as [number, number, number];
  const none = zeros([B, T, H], { dtype: q.dtype });
  return { q, k: q, v: zeros([B, T, H, valueDim], { dtype: q.dtype }), lr: none, momentum: none, decay: none };
}

/** The widths of the memory's layers [K, hidden…, V]. */
export function memoryWidths(K: number, V: number, net: MemoryNetConfig): number[] {
  return layerDims(K, V, net.memoryDepth, net.memoryExpansion);
}

/** The op state [B,H,2,n_W] holding the weights W₀ˡ [H, in, out] and a zero momentum (differentiable in W₀). */
export function initialMemoryState(weights: readonly Tensor[], batch: number): Tensor {
  const W = weights.map((w) => w.unsqueeze(0));
  return packState({ W, S: W.map((w) => zeros(w.shape, { dtype: w.dtype })) }, batch);
}

/** Floats of the op state per sequence: weights and momentum, 2·H·n_W (spec §17 "Titans"). */
export function memoryStateFloats(H: number, K: number, V: number, net: MemoryNetConfig): number {
  return 2 * H * weightCount(memoryWidths(K, V, net));
}
