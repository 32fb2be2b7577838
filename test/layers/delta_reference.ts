/**
 * Test helpers for the deltanet and gated_deltanet layers: an independent scalar-loop implementation of the
 * reference equations (spec/mixers.md §0.2, §7.1, §7.2; fla DeltaNet / GatedDeltaNet forward), written from the
 * equations on plain number arrays (no tensors, no ops), and small shared utilities.
 */
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import type { Tensor } from "../../src/core/tensor.js";
import type { MixerLayer } from "../../src/layers/index.js";
import { checkForms } from "./checks.js";
import { convSilu, sigmoid as sig, silu } from "./linear_reference.js";

export interface DeltaRefConfig {
  H: number;
  K: number;
  V: number;
  /** conv kernel width, or null without short convs (then a plain SiLU) */
  convW: number | null;
  useBeta: boolean;
  useGate: boolean;
  allowNegEigval: boolean;
  /** the gated layer (A_log, dt_bias, a_proj) */
  gated: boolean;
  normEps: number;
}

const softplus = (z: number) => (z > 30 ? z : Math.log1p(Math.exp(z)));

/** x [B][T][D] → y [B][T][D] by the reference equations, per sequence, per token, per head. */
export function deltaReferenceLoop(p: Map<string, Tensor>, x: number[][][], c: DeltaRefConfig): number[][][] {
  const D = x[0]![0]!.length;
  const { H, K, V } = c;
  const val = (name: string) => p.get(name)?.values();
  const matvec = (name: string, xt: number[], rows: number) => {
    const W = val(name)!;
    return Array.from({ length: rows }, (_, j) => xt.reduce((s, xd, d) => s + xd * W[j * D + d]!, 0));
  };
  // causal depthwise conv (weight [C,1,W] at c·W + j, taps on x_{t−W+1+j}) + bias, then SiLU; or SiLU alone
  const branch = (zs: number[][], conv: string): number[][] => (c.convW === null ? zs.map((z) => z.map(silu)) : convSilu(p, conv, zs));
  const l2 = (z: number[]) => {
    const n = Math.sqrt(z.reduce((s, v) => s + v * v, 0) + 1e-6);
    return z.map((v) => v / n);
  };
  const Alog = val("A_log");
  const dtBias = val("dt_bias");
  const normW = val("o_norm.weight")!;
  const Wo = val("o_proj.weight")!;
  return x.map((seq) => {
    const T = seq.length;
    const qs = branch(seq.map((xt) => matvec("q_proj.weight", xt, H * K)), "q_conv1d");
    const ks = branch(seq.map((xt) => matvec("k_proj.weight", xt, H * K)), "k_conv1d");
    const vs = branch(seq.map((xt) => matvec("v_proj.weight", xt, H * V)), "v_conv1d");
    // S[h][i][j], key-major
    const S = Array.from({ length: H }, () => Array.from({ length: K }, () => new Array<number>(V).fill(0)));
    const ys: number[][] = [];
    for (let t = 0; t < T; t++) {
      const xt = seq[t]!;
      const bl = c.useBeta ? matvec("b_proj.weight", xt, H) : null;
      const al = c.gated ? matvec("a_proj.weight", xt, H) : null;
      const gate = c.useGate ? matvec("g_proj.weight", xt, H * V) : null;
      const merged: number[] = [];
      for (let h = 0; h < H; h++) {
        const q = l2(qs[t]!.slice(h * K, (h + 1) * K));
        const k = l2(ks[t]!.slice(h * K, (h + 1) * K));
        const v = vs[t]!.slice(h * V, (h + 1) * V);
        const beta = (bl ? sig(bl[h]!) : 1) * (c.allowNegEigval ? 2 : 1);
        const a = c.gated ? Math.exp(-Math.exp(Alog![h]!) * softplus(al![h]! + dtBias![h]!)) : 1;
        // u = β (v − a·k S);  S ← a S + kᵀ u;  o = q S / √K
        const Sh = S[h]!;
        const u = v.map((vj, j) => beta * (vj - a * k.reduce((s, ki, i) => s + ki * Sh[i]![j]!, 0)));
        for (let i = 0; i < K; i++) for (let j = 0; j < V; j++) Sh[i]![j] = a * Sh[i]![j]! + k[i]! * u[j]!;
        const o = Array.from({ length: V }, (_, j) => q.reduce((s, qi, i) => s + qi * Sh[i]![j]!, 0) / Math.sqrt(K));
        const rms = Math.sqrt(o.reduce((s, z) => s + z * z, 0) / V + c.normEps);
        for (let j = 0; j < V; j++) merged.push((o[j]! / rms) * normW[j]! * (gate ? silu(gate[h * V + j]!) : 1));
      }
      ys.push(Array.from({ length: D }, (_, d) => merged.reduce((s, m, j) => s + m * Wo[d * H * V + j]!, 0)));
    }
    return ys;
  });
}

/**
 * The layer's parallel forward, a prefill-then-continue forward, a forward from initState and prefill-then-step
 * all equal the scalar loop (relative to max |y|, within `tol`); the state after stepping equals the state after
 * the continued forward.
 */
export function checkAgainstLoop(layer: MixerLayer, ref: DeltaRefConfig, sizes: { B: number; T: number; D: number; split: number }, tol: number): void {
  const { B, T, D, split } = sizes;
  const x = randn([B, T, D], new Random(6), { dtype: "f64" });
  const want = deltaReferenceLoop(layer.stateDict(), x.toNested() as number[][][], ref);
  checkForms(layer, x, want, tol, { split, fromEmpty: true });
}
