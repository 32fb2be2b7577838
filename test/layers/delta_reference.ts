/**
 * Test helpers for the deltanet and gated_deltanet layers: an independent scalar-loop implementation of the
 * reference equations (spec/mixers.md §0.2, §7.1, §7.2; fla DeltaNet / GatedDeltaNet forward), written from the
 * equations on plain number arrays (no tensors, no ops), and small shared utilities.
 */
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn, tensor } from "../../src/core/create.js";
import { concat } from "../../src/core/ops/shape.js";
import { noGrad } from "../../src/core/autograd.js";
import type { Tensor } from "../../src/core/tensor.js";
import type { MixerLayer } from "../../src/layers/index.js";

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

const sig = (z: number) => 1 / (1 + Math.exp(-z));
const silu = (z: number) => z * sig(z);
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
  const branch = (zs: number[][], conv: string): number[][] => {
    if (c.convW === null) return zs.map((z) => z.map(silu));
    const W = c.convW;
    const w = val(`${conv}.weight`)!;
    const b = val(`${conv}.bias`);
    return zs.map((_, t) =>
      zs[t]!.map((__, ch) => {
        let acc = b ? b[ch]! : 0;
        for (let j = 0; j < W; j++) {
          const u = t - W + 1 + j;
          if (u >= 0) acc += w[ch * W + j]! * zs[u]![ch]!;
        }
        return silu(acc);
      }),
    );
  };
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

export function maxRelDiff(a: Tensor, b: Tensor): number {
  const av = a.values();
  const bv = b.values();
  assert.equal(av.length, bv.length);
  let m = 0;
  let scale = 1e-300;
  for (let i = 0; i < bv.length; i++) scale = Math.max(scale, Math.abs(bv[i]!));
  for (let i = 0; i < av.length; i++) m = Math.max(m, Math.abs(av[i]! - bv[i]!));
  return m / scale;
}

export function shapes(layer: MixerLayer): Record<string, number[]> {
  return Object.fromEntries([...layer.namedParameters()].map(([n, p]) => [n, [...p.shape]]));
}

/** Redraws every parameter N(0, std) (A_log, dt_bias included), so all paths carry signal in the tests. */
export function randomize(layer: MixerLayer, seed: number, std: number): void {
  const rng = new Random(seed);
  noGrad(() => {
    for (const [, p] of layer.namedParameters()) p.data.set(randn(p.shape, rng, { dtype: p.dtype, std }).values());
  });
}

export function ctx(seed: number, dModel: number, nLayers = 2) {
  return { dModel, rng: new Random(seed), dtype: "f64" as const, layerIdx: 0, nLayers, initStd: 0.02 };
}

/**
 * The layer's parallel forward, a prefill-then-continue forward and prefill-then-step all equal the scalar loop
 * (relative to max |y|, within `tol`); the state after stepping equals the state after the continued forward.
 */
export function checkAgainstLoop(layer: MixerLayer, ref: DeltaRefConfig, sizes: { B: number; T: number; D: number; split: number }, tol: number): void {
  const { B, T, D, split } = sizes;
  noGrad(() => {
    const x = randn([B, T, D], new Random(6), { dtype: "f64" });
    const want = tensorFrom(deltaReferenceLoop(layer.stateDict(), x.toNested() as number[][][], ref), [B, T, D]);
    const full = layer.forward(x).y;
    assert.ok(maxRelDiff(full, want) < tol, `forward vs loop: ${maxRelDiff(full, want)}`);

    const pre = layer.forward(x.slice(1, 0, split), { outputState: true });
    const rest = layer.forward(x.slice(1, split), { state: pre.state!, outputState: true });
    const joined = concat([pre.y, rest.y], 1);
    assert.ok(maxRelDiff(joined, want) < tol, `prefill+forward vs loop: ${maxRelDiff(joined, want)}`);

    const fromEmpty = layer.forward(x, { state: layer.initState(B) }).y;
    assert.ok(maxRelDiff(fromEmpty, want) < tol, "forward from initState vs loop");

    let state = pre.state!;
    const ys: Tensor[] = [pre.y];
    for (let t = split; t < T; t++) {
      const r = layer.step(x.slice(1, t, t + 1).squeeze(1), state);
      ys.push(r.y.unsqueeze(1));
      state = r.state;
    }
    const stepped = concat(ys, 1);
    assert.ok(maxRelDiff(stepped, want) < tol, `prefill+step vs loop: ${maxRelDiff(stepped, want)}`);
    assert.deepEqual(Object.keys(state).sort(), Object.keys(rest.state!).sort());
    for (const key of Object.keys(rest.state!)) assert.ok(maxRelDiff(state[key]!, rest.state![key]!) < tol, `${key}: step state = forward state`);
  });
}

function tensorFrom(nested: number[][][], shape: number[]): Tensor {
  return tensor(nested.flat(2), shape, { dtype: "f64" });
}
