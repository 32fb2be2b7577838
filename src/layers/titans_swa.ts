/**
 * What `titans_mag` and `titans_mal` share (spec/mixers.md §10.3): both run the memory over x̃ = [P ; x] and a
 * sliding-window attention (SWA) in which a prefix of N_p positions stays visible to every query; they differ in
 * what the attention reads (MAG: x, beside the memory; MAL: the memory's output) and in the combination.
 *
 *   memory:     starts from W₀, first consumes P (in initState, once per sequence), then x
 *   attention:  query t sees the prefix and the stream positions u ∈ (t − W, t] (W = window, fla's convention);
 *               stream positions count from 0 at the first token of x (RoPE); the prefix is not rotated
 *
 * Outputs at the N_p prefix positions are never produced (spec §10.3: discarded).
 *
 * State: mem.* (the memory after P and the tokens so far: conv FIFOs and the op state), prefix [B, N_p, H, 2m]
 * (the prefix keys/values), kv [B, min(t, W−1), H, 2m] (the last W−1 stream keys/values, all the next query can
 * see), pos [B] (tokens seen, for RoPE; shared by the batch). Floats per sequence after t tokens:
 * memory(N_p + t) + N_p·2Hm + min(t, W−1)·2Hm + 1 (spec §17: memory + SWA window; the memory's own count
 * includes the tokens of its current chunk, titans_lmm.ts).
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import { full, zeros } from "../core/create.js";
import { concat, slice } from "../core/ops/shape.js";
import { TitansHybridBase, hybridFields, prefixState, subState, type HybridConfig } from "./titans_base.js";
import type { LayerState } from "./types.js";

export const swaFields = {
  ...hybridFields,
  /** the attention's window W: query t sees stream positions (t − W, t] (fla window_size) */
  window: z.number().int().min(1).default(64),
};

export type SwaHybridConfig = HybridConfig & { window: number };

export abstract class SwaTitansBase extends TitansHybridBase {
  declare readonly config: SwaHybridConfig;
  protected readonly stateKeys = ["prefix", "kv", "pos"] as const;

  /** the tokens the attention sees as its prefix, given P [B,N_p,D] and the memory's output on P */
  protected abstract prefixTokens(persistent: Tensor, memoryOnP: Tensor): Tensor;
  /** x [B,T,D] and the memory output m [B,T,D] → the attention's input */
  protected abstract attentionInput(x: Tensor, m: Tensor): Tensor;
  /** the attention output y and the memory output m → the layer output */
  protected abstract combine(y: Tensor, m: Tensor): Tensor;

  initState(batch: number): LayerState {
    const { attn } = this;
    const m0 = this.memory.initState(batch);
    const N = this.config.persistentTokens;
    let mem: LayerState = m0;
    let prefix = zeros([batch, 0, attn.dims.numHeads, 2 * attn.dims.headDim], { dtype: this.dtype });
    if (N > 0) {
      const P = this.persistentTokens(batch);
      const r = this.memory.forward(P, { state: m0, outputState: true });
      mem = r.state!;
      prefix = attn.kv(this.prefixTokens(P, r.y), null);
    }
    return { ...prefixState(mem, "mem."), prefix, kv: slice(prefix, 1, 0, 0), pos: zeros([batch], { dtype: this.dtype }) };
  }

  protected run(x: Tensor, prev: LayerState): { y: Tensor; state: LayerState } {
    const [B, T] = x.shape as [number, number];
    const pos = prev.pos!.values()[0]!;
    const mem = this.memoryPass(x, subState(prev, "mem."));
    const a = this.attentionInput(x, mem.y);
    const cache = prev.kv!;
    const S = cache.shape[1]!;
    const fresh = this.attn.kv(a, pos);
    const stream = S > 0 ? concat([cache, fresh], 1) : fresh;
    const W = this.config.window;
    const y = this.attn.attend(this.attn.queries(a, pos), prev.prefix!, stream, (t) => [Math.max(0, S + t - W + 1), S + t + 1]);
    const N = S + T;
    return {
      y: this.combine(y, mem.y),
      state: { ...prefixState(mem.state, "mem."), prefix: prev.prefix!, kv: slice(stream, 1, Math.max(0, N - (W - 1))), pos: full([B], pos + T, { dtype: this.dtype }) },
    };
  }

  stateSize(tokens: number): number {
    const kvw = this.attn.kvWidth;
    return this.memory.stateSize(this.config.persistentTokens + tokens) + this.config.persistentTokens * kvw + Math.min(tokens, this.config.window - 1) * kvw + 1;
  }
}
