/**
 * The `titans_mac` mixer layer: Titans' memory as context (spec/mixers.md §10.3; arXiv 2501.00663 §4.1, eqs.
 * 21–25). The sequence is cut into segments S_n of C_s tokens (segmentLen); for each segment, with W_{n−1} the
 * memory before it:
 *
 *   h = M(q(S_n); W_{n−1})                        read only, one retrieved token per segment position
 *   y = Attn over [P ; h ; S_n]                    queries at the segment positions; P (persistent memory) seen by all
 *   m = LMM(y) from W_{n−1}                        the memory learns from the attention outputs → W_n at the end
 *   o = (RMSNorm(y) ⊙ σ(RMSNorm(m))) W_oᵀ           the paper's o = y ⊗ M*(y)
 *
 * Choices where the paper leaves a causal language model two readings (both would leak later tokens of the
 * segment into earlier outputs if read literally):
 *  - the retrieved tokens are causal like the segment: the query at segment position r sees P, h_0..h_r and
 *    S_n[0..r] (the attention stream interleaves [h_0, s_0, h_1, s_1, …]); the paper draws h as a visible prefix,
 *    but h_j carries token j through its query;
 *  - M*(y) at position r reads the memory after the writes of y_0..y_r (the memory op's per-token output), not
 *    W_n after the whole segment; the two agree at the segment's last position;
 *  - ⊗ is the same gate as MAG (spec §10.3's reference form), as titans-pytorch gates the attention output with
 *    σ(retrieved) rather than a bare product.
 * RoPE positions count from 0 at each segment start (queries, h keys and segment keys alike); P is not rotated.
 *
 * Parameters: persistent_memory [N_p, D]; memory.* (titans_lmm.ts, its o_proj N(0, initStd), used for both the
 * read of h and the write/read on y); attn.{q,k,v}_proj [H·m, D], attn.o_proj [D, H·m] (N(0, initStd));
 * y_norm.weight, m_norm.weight [D]; o_proj.weight [D, D] (N(0, initStd/√(2·nLayers))).
 *
 * State (the step form reproduces the segment semantics exactly): mem.* (the running memory: its conv FIFOs
 * over the y stream and the op state), seg_memory (the op state W_{n−1} at the current segment's start, which the
 * reads of h use), read_conv_q [B, W−1, H·K] (the q conv FIFO over the x stream, with useShortConv), prefix
 * [B, N_p, H, 2m] (P's keys/values), seg_kv [B, 2r, H, 2m] (keys/values of h and S_n for the r < C_s tokens of
 * the current segment so far; empty at a segment boundary). Floats per sequence after t tokens:
 * memory(t) + op state + read conv + N_p·2Hm + 2·(t mod C_s)·2Hm, where memory(t) is titans_lmm's count (op
 * state, convs, the buffered inputs of the current memory chunk) — bounded by the memory twice and N_p + 2C_s
 * tokens (spec §10.3 counts the memory once; the segment-start copy is what a streaming decoder needs for the
 * reads of h). chunkSize must divide segmentLen, so that every segment starts on a memory chunk boundary.
 */
import { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import { concat, slice } from "../core/ops/shape.js";
import { interleave } from "./titans_attention.js";
import { where } from "./linear_base.js";
import { TitansHybridBase, hybridFields, prefixState, subState, type HybridConfig } from "./titans_base.js";
import type { LayerDefinition } from "./registry.js";
import type { LayerContext, LayerState } from "./types.js";

export const titansMacConfig = z
  .object({
    ...hybridFields,
    /** segment length C_s (titans-pytorch segment_len) */
    segmentLen: z.number().int().min(1).default(64),
  })
  .strict();

export type TitansMacConfig = HybridConfig & { segmentLen: number };

export class TitansMacLayer extends TitansHybridBase {
  readonly type = "titans_mac";
  declare readonly config: TitansMacConfig;
  protected readonly stateKeys = ["seg_memory", "prefix", "seg_kv"] as const;

  constructor(dModel: number, config: TitansMacConfig, context: LayerContext) {
    super(dModel, config, context, "titans_mac", context.initStd);
    if (config.segmentLen % config.chunkSize !== 0) {
      // the reads of h use the memory at the segment start, which must be a chunk boundary (nothing buffered)
      throw new Error(`${where("titans_mac", context)}: 'chunkSize'=${config.chunkSize} must divide 'segmentLen'=${config.segmentLen} (memory chunks may not straddle segments)`);
    }
    this.buildGate();
  }

  initState(batch: number): LayerState {
    const mem = this.memory.initState(batch);
    const prefix = this.attn.kv(this.persistentTokens(batch), null);
    const out: Record<string, Tensor> = { ...prefixState(mem, "mem."), seg_memory: mem.recurrent!, prefix, seg_kv: slice(prefix, 1, 0, 0) };
    if (mem.conv_q) out.read_conv_q = mem.conv_q;
    return out;
  }

  protected run(x: Tensor, prev: LayerState): { y: Tensor; state: LayerState } {
    const T = x.shape[1]!;
    const Cs = this.config.segmentLen;
    const { attn, memory } = this;
    const prefix = prev.prefix!;
    let mem: LayerState = subState(prev, "mem.");
    let segMemory = prev.seg_memory!;
    let readConv: Tensor | null = prev.read_conv_q ?? null;
    let segKv = prev.seg_kv!;
    const outs: Tensor[] = [];
    for (let t = 0; t < T; ) {
      const r0 = segKv.shape[1]! / 2; // tokens of the current segment before this piece
      const L = Math.min(Cs - r0, T - t);
      const xs = slice(x, 1, t, t + L);
      const h = memory.read(xs, segMemory, readConv);
      readConv = h.convQ;
      const fresh = interleave(attn.kv(h.y, r0), attn.kv(xs, r0));
      const stream = r0 > 0 ? concat([segKv, fresh], 1) : fresh;
      const y = attn.attend(attn.queries(xs, r0), prefix, stream, (i) => [0, 2 * (r0 + i) + 2]);
      const m = this.memoryPass(y, mem);
      mem = m.state;
      outs.push(this.gate(y, m.y));
      if (r0 + L === Cs) {
        segKv = slice(stream, 1, 0, 0);
        segMemory = mem.recurrent!;
      } else {
        segKv = stream;
      }
      t += L;
    }
    const state: Record<string, Tensor> = { ...prefixState(mem, "mem."), seg_memory: segMemory, prefix, seg_kv: segKv };
    if (readConv) state.read_conv_q = readConv;
    return { y: outs.length === 1 ? outs[0]! : concat(outs, 1), state };
  }

  stateSize(tokens: number): number {
    const kvw = this.attn.kvWidth;
    const { memory } = this;
    return memory.stateSize(tokens) + memory.memoryFloats + memory.readConvFloats + this.config.persistentTokens * kvw + 2 * (tokens % this.config.segmentLen) * kvw;
  }
}

export const titansMacLayer: LayerDefinition<TitansMacConfig> = {
  type: "titans_mac",
  summary: "Titans MAC: segments attend over [persistent; retrieved memory; segment], the memory learns from the attention outputs",
  config: titansMacConfig as unknown as z.ZodType<TitansMacConfig, unknown>,
  smallConfig: { numHeads: 2, convSize: 3, lrMax: 0.5, chunkSize: 3, memoryDepth: 1, persistentTokens: 2, segmentLen: 6 },
  create: (config, context) => new TitansMacLayer(context.dModel, config, context),
};
