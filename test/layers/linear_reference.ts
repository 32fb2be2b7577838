/**
 * Helpers for the linear_attn, based, retnet and gla layer tests: building layers, parameter listings,
 * scalar (plain-array) building blocks of the reference equations, and the common checks (forward /
 * prefill + forward / prefill + step against a reference loop; gradients; config errors).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn, tensor } from "../../src/core/create.js";
import { noGrad } from "../../src/core/autograd.js";
import { gradcheck } from "../../src/core/gradcheck.js";
import { concat, slice, squeeze } from "../../src/core/ops/shape.js";
import type { Tensor } from "../../src/core/tensor.js";
import { createLayer, type LayerState, type MixerLayer } from "../../src/layers/index.js";

export function ctx(seed: number, dModel: number, nLayers = 2) {
  return { dModel, rng: new Random(seed), dtype: "f64" as const, layerIdx: 0, nLayers, initStd: 0.02 };
}

export function makeLayer(type: string, config: Record<string, unknown>, dModel = 16, seed = 1, nLayers = 2): MixerLayer {
  return createLayer({ type, ...config }, ctx(seed, dModel, nLayers));
}

export function shapes(layer: MixerLayer): Record<string, number[]> {
  return Object.fromEntries([...layer.namedParameters()].map(([n, p]) => [n, [...p.shape]]));
}

/** max |a − b| / max(|b|) */
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

/** Overwrites every parameter with N(0, std) draws (norm weights around 1), so nothing is trivially 0 or 1. */
export function randomize(layer: MixerLayer, seed: number, std = 0.5): void {
  const rng = new Random(seed);
  noGrad(() => {
    for (const [name, p] of layer.namedParameters()) {
      const isNorm = /norm[^.]*\.weight$/.test(name);
      p.data.set(randn(p.shape, rng, { dtype: "f64", std, mean: isNorm ? 1 : 0 }).values());
    }
  });
}

// ---- scalar building blocks (plain arrays, independent of the library's tensor code) ----

export type Params = Map<string, Tensor>;

export function arr(p: Params, name: string): Float64Array | Float32Array | undefined {
  return p.get(name)?.values() as Float64Array | undefined;
}

/** x W^T + b for W [out, in] stored row-major */
export function affine(p: Params, name: string, x: readonly number[]): number[] {
  const W = arr(p, `${name}.weight`)!;
  const b = arr(p, `${name}.bias`);
  const n = x.length;
  const out = W.length / n;
  return Array.from({ length: out }, (_, j) => {
    let s = b ? b[j]! : 0;
    for (let d = 0; d < n; d++) s += x[d]! * W[j * n + d]!;
    return s;
  });
}

export const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
export const silu = (z: number) => z * sigmoid(z);
export const logsigmoid = (z: number) => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));

/** split a flat vector into n heads of width m (head-major) */
export function heads(flat: readonly number[], n: number): number[][] {
  const m = flat.length / n;
  return Array.from({ length: n }, (_, h) => flat.slice(h * m, (h + 1) * m));
}

/** kv head of query head h with G query heads per kv head */
export const kvOf = (h: number, G: number) => Math.floor(h / G);

/** causal depthwise conv (kernel W, weight [C,1,W], optional bias) then SiLU, over a sequence [T][C] */
export function convSilu(p: Params, name: string, zs: number[][]): number[][] {
  const w = arr(p, `${name}.weight`);
  if (!w) return zs;
  const b = arr(p, `${name}.bias`);
  const C = zs[0]!.length;
  const W = w.length / C;
  return zs.map((_, t) =>
    zs[t]!.map((__, c) => {
      let acc = b ? b[c]! : 0;
      for (let j = 0; j < W; j++) {
        const u = t - W + 1 + j;
        if (u >= 0) acc += w[c * W + j]! * zs[u]![c]!;
      }
      return silu(acc);
    }),
  );
}

/** z / sqrt(mean z² + eps) ⊙ weight */
export function rmsnormVec(z: readonly number[], weight: ArrayLike<number>, eps: number): number[] {
  const r = 1 / Math.sqrt(z.reduce((s, v) => s + v * v, 0) / z.length + eps);
  return z.map((v, i) => v * r * weight[i]!);
}

/** rotate-half RoPE of one head vector at absolute position pos */
export function ropeVec(z: readonly number[], pos: number, theta: number): number[] {
  const m = z.length;
  const half = m / 2;
  const out = z.slice();
  for (let i = 0; i < half; i++) {
    const a = pos * Math.pow(theta, (-2 * i) / m);
    out[i] = z[i]! * Math.cos(a) - z[i + half]! * Math.sin(a);
    out[i + half] = z[i + half]! * Math.cos(a) + z[i]! * Math.sin(a);
  }
  return out;
}

export const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, v, i) => s + v * b[i]!, 0);

// ---- common checks ----

/**
 * The layer's forward, a prefill (4 tokens) + continued forward, and prefill + step all equal `want` [B][T][D]
 * within `tol` (relative to max |y|); the state after stepping equals the state after the continued forward.
 */
export function checkForms(layer: MixerLayer, x: Tensor, want: number[][][], tol: number): void {
  const [B, T, D] = x.shape as [number, number, number];
  const wantT = tensor(want.flat(2), [B, T, D], { dtype: "f64" });
  noGrad(() => {
    const full = layer.forward(x).y;
    assert.ok(maxRelDiff(full, wantT) < tol, `forward vs loop: ${maxRelDiff(full, wantT)}`);
    const split = 4;
    const pre = layer.forward(slice(x, 1, 0, split), { outputState: true });
    const rest = layer.forward(slice(x, 1, split), { state: pre.state!, outputState: true });
    const cont = concat([pre.y, rest.y], 1);
    assert.ok(maxRelDiff(cont, wantT) < tol, `prefill+forward vs loop: ${maxRelDiff(cont, wantT)}`);
    let state: LayerState = pre.state!;
    const ys: Tensor[] = [pre.y];
    for (let t = split; t < T; t++) {
      const r = layer.step(squeeze(slice(x, 1, t, t + 1), 1), state);
      ys.push(r.y.unsqueeze(1));
      state = r.state;
    }
    const stepped = concat(ys, 1);
    assert.ok(maxRelDiff(stepped, wantT) < tol, `prefill+step vs loop: ${maxRelDiff(stepped, wantT)}`);
    assert.deepEqual(Object.keys(state).sort(), Object.keys(rest.state!).sort());
    for (const k of Object.keys(rest.state!)) assert.ok(maxRelDiff(state[k]!, rest.state![k]!) < tol, `${k}: step state = forward state`);
  });
}

/**
 * Finite-difference gradcheck (f64) of every parameter through a prefill + continued forward, then finite
 * non-zero gradients for every parameter through three steps of the step form.
 */
export function checkGradients(layer: MixerLayer, dModel: number, seed: number): void {
  const rng = new Random(seed);
  const x1 = randn([2, 3, dModel], rng, { dtype: "f64" });
  const x2 = randn([2, 2, dModel], rng, { dtype: "f64" });
  const params = layer.parameters();
  const r = gradcheck(
    () => {
      const pre = layer.forward(x1, { outputState: true });
      return [pre.y, layer.forward(x2, { state: pre.state! }).y];
    },
    params,
    { atol: 1e-7, rtol: 1e-5 },
  );
  assert.equal(r.checked, params.reduce((n, p) => n + p.size, 0));
  layer.zeroGrad();
  let state = layer.initState(2);
  let loss: Tensor | null = null;
  for (let t = 0; t < 3; t++) {
    const s = layer.step(squeeze(slice(x1, 1, t, t + 1), 1), state);
    state = s.state;
    loss = loss ? loss.add(s.y.square().sum()) : s.y.square().sum();
  }
  loss!.backward();
  for (const [name, p] of layer.namedParameters()) {
    assert.ok(p.grad && p.grad.values().every(Number.isFinite) && p.grad.values().some((v) => v !== 0), `${name}: finite non-zero gradient through step`);
  }
}

/** one test per case: building the layer throws, and the message matches every pattern */
export function configErrorTests(type: string, cases: ReadonlyArray<[string, Record<string, unknown>, number, RegExp[]]>): void {
  for (const [what, config, dModel, patterns] of cases) {
    test(what, () => {
      assert.throws(
        () => makeLayer(type, config, dModel),
        (e: Error) => patterns.every((p) => p.test(e.message)) || assert.fail(`message '${e.message}' misses one of ${patterns.join(", ")}`),
      );
    });
  }
}

/** floats of a state per sequence */
export function stateFloats(state: LayerState, batch: number): number {
  return Object.values(state).reduce((n, t) => n + t.size, 0) / batch;
}

/** the state after feeding `tokens` random tokens one by one, with floats checked against stateSize at 1, 10 and `tokens` */
export function checkStateSize(layer: MixerLayer, dModel: number, tokens: number, expected: (t: number) => number): LayerState {
  return noGrad(() => {
    const B = 2;
    let state = layer.initState(B);
    assert.equal(stateFloats(state, B), layer.stateSize(0));
    const rng = new Random(3);
    for (let t = 1; t <= tokens; t++) {
      state = layer.step(randn([B, dModel], rng, { dtype: "f64" }), state).state;
      if (t === 1 || t === 10 || t === tokens) {
        assert.equal(stateFloats(state, B), layer.stateSize(t), `after ${t} tokens`);
        assert.equal(layer.stateSize(t), expected(t), `stateSize(${t})`);
        for (const [k, v] of Object.entries(state)) assert.ok(v.values().every(Number.isFinite), `${k} finite after ${t} tokens`);
      }
    }
    return state;
  });
}
