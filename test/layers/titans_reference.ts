/**
 * Test references for the Titans layers (spec/mixers.md §10): the linear-memory `titans_lmm` layer as a scalar
 * loop of the equations (no tensors, no ops), softmax attention over an explicit visibility rule as a scalar
 * loop, and the MAC / MAG / MAL compositions written the direct way (whole sequences, explicit key lists,
 * dense masks) from the layers' own sub-modules.
 */
import type { Tensor } from "../../src/core/tensor.js";
import { tensor } from "../../src/core/create.js";
import { concat, reshape, slice } from "../../src/core/ops/shape.js";
import { rmsNorm } from "../../src/core/ops/nn.js";
import type { TitansMacLayer } from "../../src/layers/titans_mac.js";
import type { SwaTitansBase } from "../../src/layers/titans_swa.js";
import { affine, arr, convSilu, heads, rmsnormVec, sigmoid, silu, type Params } from "./linear_reference.js";

export interface LmmRefConfig {
  H: number;
  K: number;
  chunkSize: number;
  lrMax: number;
  useShortConv: boolean;
  normEps: number;
  /** the η gate (else η = 0); default true */
  momentum?: boolean;
  /** Miras (spec §11): attentional bias with its p, retention with its q or c; default l2 / l2 */
  bias?: "l2" | "lp" | "huber";
  p?: number;
  retention?: "l2" | "lq" | "kl";
  q?: number;
  c?: number;
}

/** ε of the op's smoothings of |e| (lp) and ‖A‖_q (lq) */
const SMOOTH = 1e-6;

/** ∂ℓ/∂M for the error e of one token (Miras attentional bias; ℓ2 = ‖e‖²) */
function errorGradient(c: LmmRefConfig, e: number[], delta: number): number[] {
  const p = c.p ?? 3;
  switch (c.bias ?? "l2") {
    case "l2":
      return e.map((x) => 2 * x);
    case "lp":
      return e.map((x) => p * x * Math.pow(x * x + SMOOTH, (p - 2) / 2));
    case "huber": {
      const norm = Math.sqrt(e.reduce((s, x) => s + x * x, 0));
      return e.map((x) => (norm <= delta ? 2 * x : 2 * delta * Math.sign(x)));
    }
  }
}

/** W = R(A) for one head's matrix A [K][K], the lq scale taken at A₀ (the chunk's start) */
function retain(c: LmmRefConfig, A: number[][], A0: number[][]): number[][] {
  switch (c.retention ?? "l2") {
    case "l2":
      return A;
    case "lq": {
      const q = c.q ?? 4;
      const s = Math.pow(A0.flat().reduce((acc, x) => acc + Math.pow(Math.abs(x), q), 0) + SMOOTH, -(q - 2) / q);
      return A.map((r) => r.map((x) => x * s));
    }
    case "kl":
      return A.map((r) => {
        const m = Math.max(...r);
        const e = r.map((x) => Math.exp(x - m));
        const Z = e.reduce((a, b) => a + b, 0);
        return e.map((x) => ((c.c ?? 1) * x) / Z);
      });
  }
}

const l2 = (z: number[]) => {
  const n = Math.sqrt(z.reduce((s, v) => s + v * v, 0) + 1e-6);
  return z.map((v) => v / n);
};

/**
 * x [B][T][D] → y [B][T][D] for a linear memory (memoryDepth 1): per head, the state A starts at memory_w1, S at 0;
 * at every chunk start A₀ ← A and W₀ = R(A₀); per token e = k W₀ − v, u = kᵀ ∂ℓ/∂M(e), S ← η S − θ u,
 * A ← (1 − α) A + S, o = q R(A) (R and ∂ℓ/∂M: the Miras retention and bias, Titans' by default); then the
 * per-head RMSNorm, merged heads, o_proj.
 */
export function lmmReferenceLoop(p: Params, x: number[][][], c: LmmRefConfig): number[][][] {
  const { H, K } = c;
  const branch = (zs: number[][], conv: string) => (c.useShortConv ? convSilu(p, conv, zs) : zs.map((z) => z.map(silu)));
  const w1 = arr(p, "memory_w1")!;
  const normW = arr(p, "o_norm.weight")!;
  return x.map((seq) => {
    const qs = branch(seq.map((xt) => affine(p, "q_proj", xt)), "q_conv1d").map((z) => heads(z, H).map(l2));
    const ks = branch(seq.map((xt) => affine(p, "k_proj", xt)), "k_conv1d").map((z) => heads(z, H).map(l2));
    const vs = branch(seq.map((xt) => affine(p, "v_proj", xt)), "v_conv1d").map((z) => heads(z, H));
    const A = Array.from({ length: H }, (_, h) => Array.from({ length: K }, (_, i) => Array.from({ length: K }, (_, j) => w1[(h * K + i) * K + j]!)));
    const S = Array.from({ length: H }, () => Array.from({ length: K }, () => new Array<number>(K).fill(0)));
    let A0 = A.map((m) => m.map((r) => [...r]));
    const softplus = (z: number) => Math.log1p(Math.exp(z));
    return seq.map((xt, t) => {
      if (t % c.chunkSize === 0) A0 = A.map((m) => m.map((r) => [...r]));
      const theta = affine(p, "to_adaptive_step", xt).map((z) => c.lrMax * sigmoid(z));
      const eta = c.momentum === false ? new Array<number>(H).fill(0) : affine(p, "to_momentum", xt).map(sigmoid);
      const alpha = affine(p, "to_decay_factor", xt).map(sigmoid);
      const delta = c.bias === "huber" ? affine(p, "to_delta", xt).map(softplus) : [];
      const out: number[] = [];
      for (let h = 0; h < H; h++) {
        const q = qs[t]![h]!;
        const k = ks[t]![h]!;
        const v = vs[t]![h]!;
        const W0 = retain(c, A0[h]!, A0[h]!);
        const g = errorGradient(c, v.map((vj, j) => k.reduce((s, ki, i) => s + ki * W0[i]![j]!, 0) - vj), delta[h]!);
        for (let i = 0; i < K; i++) {
          for (let j = 0; j < K; j++) {
            S[h]![i]![j] = eta[h]! * S[h]![i]![j]! - theta[h]! * k[i]! * g[j]!;
            A[h]![i]![j] = (1 - alpha[h]!) * A[h]![i]![j]! + S[h]![i]![j]!;
          }
        }
        const W = retain(c, A[h]!, A0[h]!);
        const o = Array.from({ length: K }, (_, j) => q.reduce((s, qi, i) => s + qi * W[i]![j]!, 0));
        out.push(...rmsnormVec(o, normW, c.normEps));
      }
      return affine(p, "o_proj", out);
    });
  });
}

/**
 * Softmax attention by the definition: q [B,T,H,m]; keys/values packed [B,N,H,2m] (keys then values); query t
 * sees key j when visible(t, j). Scores scaled by m^-1/2. Returns o [B,T,H,m].
 */
export function denseAttention(q: Tensor, kv: Tensor, visible: (t: number, j: number) => boolean): Tensor {
  const [B, T, H, m] = q.shape as [number, number, number, number];
  const N = kv.shape[1]!;
  const Q = q.toNested() as number[][][][];
  const KV = kv.toNested() as number[][][][];
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const js = Array.from({ length: N }, (_, j) => j).filter((j) => visible(t, j));
        const s = js.map((j) => Q[b]![t]![h]!.reduce((acc, qi, i) => acc + qi * KV[b]![j]![h]![i]!, 0) / Math.sqrt(m));
        const mx = Math.max(...s);
        const w = s.map((z) => Math.exp(z - mx));
        const Z = w.reduce((a, c) => a + c, 0);
        for (let i = 0; i < m; i++) out.push(js.reduce((acc, j, n) => acc + (w[n]! / Z) * KV[b]![j]![h]![m + i]!, 0));
      }
    }
  }
  return tensor(out, [B, T, H, m], { dtype: q.dtype });
}

/** [B,T,H,m] → merged heads, then the linear map `proj` */
const project = (o: Tensor, proj: { forward(x: Tensor): Tensor }) => proj.forward(reshape(o, [o.shape[0]!, o.shape[1]!, o.shape[2]! * o.shape[3]!]));

/** o_proj(RMSNorm(y) ⊙ σ(RMSNorm(m))) with the layer's y_norm, m_norm, o_proj */
function gateRef(layer: TitansMacLayer | SwaTitansBase, y: Tensor, m: Tensor): Tensor {
  const eps = layer.config.normEps;
  return layer.o_proj!.forward(rmsNorm(y, layer.y_norm!.weight, eps).mul(rmsNorm(m, layer.m_norm!.weight, eps).sigmoid()));
}

/**
 * MAG / MAL the direct way: the memory over the whole x̃ = [P ; x] in one call; attention over the packed keys
 * [prefix ; x-stream] with the mask "prefix always, stream j ∈ (t − W, t]".
 */
export function swaReference(layer: SwaTitansBase, x: Tensor, kind: "mag" | "mal"): Tensor {
  const [B, , D] = x.shape as [number, number, number];
  const Np = layer.config.persistentTokens;
  const P = layer.persistent_memory.unsqueeze(0).expand(B, Np, D);
  const mAll = layer.memory.forward(concat([P, x], 1)).y;
  const m = slice(mAll, 1, Np);
  const a = kind === "mag" ? x : m;
  const prefixTokens = kind === "mag" ? P : slice(mAll, 1, 0, Np);
  const kv = concat([layer.attn.kv(prefixTokens, null), layer.attn.kv(a, 0)], 1);
  const W = layer.config.window;
  const o = denseAttention(layer.attn.queries(a, 0), kv, (t, j) => j < Np || (j - Np <= t && j - Np > t - W));
  const y = project(o, layer.attn.o_proj);
  return kind === "mag" ? gateRef(layer, y, m) : y;
}

/**
 * MAC the direct way, segment by segment: h = memory.read(segment) at the memory before the segment; attention
 * over the key list [P ; h_0 … h_{L−1} ; s_0 … s_{L−1}] with the mask "P always, h_j and s_j when j ≤ r"; the
 * memory written with the attention outputs y from its state before the segment; o = gate(y, m).
 */
export function macReference(layer: TitansMacLayer, x: Tensor): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  const Np = layer.config.persistentTokens;
  const Cs = layer.config.segmentLen;
  const P = layer.persistent_memory.unsqueeze(0).expand(B, Np, D);
  const prefix = layer.attn.kv(P, null);
  let mem = layer.memory.initState(B);
  let convQ: Tensor | null = mem.conv_q ?? null;
  const outs: Tensor[] = [];
  for (let t0 = 0; t0 < T; t0 += Cs) {
    const L = Math.min(Cs, T - t0);
    const xs = slice(x, 1, t0, t0 + L);
    const h = layer.memory.read(xs, mem.recurrent!, convQ);
    convQ = h.convQ;
    const kv = concat([prefix, layer.attn.kv(h.y, 0), layer.attn.kv(xs, 0)], 1);
    const o = denseAttention(layer.attn.queries(xs, 0), kv, (r, j) => j < Np || (j < Np + L ? j - Np <= r : j - Np - L <= r));
    const y = project(o, layer.attn.o_proj);
    const m = layer.memory.forward(y, { state: mem, outputState: true });
    mem = m.state!;
    outs.push(gateRef(layer, y, m.y));
  }
  return concat(outs, 1);
}
