/**
 * The generic checks shared by the mixer layer tests: building layers, parameter listings, relative
 * differences, parameter randomisation, and the common checks (forward / prefill + forward / prefill + step
 * against a reference; gradients through prefill + continuation and through the step form; config errors;
 * state size). The mixer-specific reference loops stay in the test files (and linear_reference.ts,
 * delta_reference.ts).
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
import { LanguageModel, type ModelState } from "../../src/models/index.js";

export function ctx(seed: number, dModel: number, nLayers = 2) {
  return { dModel, rng: new Random(seed), dtype: "f64" as const, layerIdx: 0, nLayers, initStd: 0.02 };
}

export function makeLayer(type: string, config: Record<string, unknown>, dModel = 16, seed = 1, nLayers = 2): MixerLayer {
  return createLayer({ type, ...config }, ctx(seed, dModel, nLayers));
}

export function shapes(layer: MixerLayer): Record<string, number[]> {
  return Object.fromEntries([...layer.namedParameters()].map(([n, p]) => [n, [...p.shape]]));
}

/** max |a − b| / max(minScale, max |b|) */
export function maxRelDiff(a: Tensor, b: Tensor, minScale = 1e-300): number {
  const av = a.values();
  const bv = b.values();
  assert.equal(av.length, bv.length);
  let m = 0;
  let scale = minScale;
  for (let i = 0; i < bv.length; i++) scale = Math.max(scale, Math.abs(bv[i]!));
  for (let i = 0; i < av.length; i++) m = Math.max(m, Math.abs(av[i]! - bv[i]!));
  return m / scale;
}

/** root mean square of a tensor's values (the std of a zero-mean init) */
export function rms(t: Tensor): number {
  return Math.sqrt(Array.from(t.values()).reduce((s, v) => s + v * v, 0) / t.size);
}

/**
 * Overwrites every parameter with N(0, std) draws, in parameter order from one generator seeded `seed`, so
 * nothing is trivially 0 or 1. With `normsAroundOne` (the default) norm weights are drawn around 1 instead.
 */
export function randomize(layer: MixerLayer, seed: number, std = 0.5, { normsAroundOne = true } = {}): void {
  const rng = new Random(seed);
  noGrad(() => {
    for (const [name, p] of layer.namedParameters()) {
      const isNorm = normsAroundOne && /norm[^.]*\.weight$/.test(name);
      p.data.set(randn(p.shape, rng, { dtype: "f64", std, mean: isNorm ? 1 : 0 }).values());
    }
  });
}

export interface FormsOptions {
  /** tokens in the prefill (default 4) */
  split?: number;
  /** also check a forward continued from initState (default false) */
  fromEmpty?: boolean;
  /** extra checks on the state after prefill + continued forward */
  afterContinue?: (state: LayerState) => void;
}

/**
 * The layer's forward, a prefill (`split` tokens) + continued forward, and prefill + step all equal `want`
 * [B][T][D] within `tol` (relative to max |y|); the state after stepping equals the state after the continued
 * forward.
 */
export function checkForms(layer: MixerLayer, x: Tensor, want: number[][][], tol: number, opts: FormsOptions = {}): void {
  const { split = 4, fromEmpty = false, afterContinue } = opts;
  const [B, T, D] = x.shape as [number, number, number];
  const wantT = tensor(want.flat(2), [B, T, D], { dtype: "f64" });
  noGrad(() => {
    const full = layer.forward(x).y;
    assert.ok(maxRelDiff(full, wantT) < tol, `forward vs loop: ${maxRelDiff(full, wantT)}`);
    const pre = layer.forward(slice(x, 1, 0, split), { outputState: true });
    const rest = layer.forward(slice(x, 1, split), { state: pre.state!, outputState: true });
    const cont = concat([pre.y, rest.y], 1);
    assert.ok(maxRelDiff(cont, wantT) < tol, `prefill+forward vs loop: ${maxRelDiff(cont, wantT)}`);
    afterContinue?.(rest.state!);
    if (fromEmpty) {
      // continuing a forward from the empty state is the same as starting fresh
      const fromInit = layer.forward(x, { state: layer.initState(B) }).y;
      assert.ok(maxRelDiff(fromInit, wantT) < tol, `forward from initState vs loop: ${maxRelDiff(fromInit, wantT)}`);
    }
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

/** Finite-difference gradcheck (f64) of every parameter through a forward of x1 (prefill) continued by x2. */
export function gradcheckPrefill(layer: MixerLayer, x1: Tensor, x2: Tensor): void {
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
}

/** Every parameter gets a finite non-zero gradient of Σ y² through `steps` steps of x [B, ≥steps, D] from initState. */
export function checkStepGradients(layer: MixerLayer, x: Tensor, steps: number): void {
  let state = layer.initState(x.shape[0]!);
  let loss: Tensor | null = null;
  for (let t = 0; t < steps; t++) {
    const s = layer.step(squeeze(slice(x, 1, t, t + 1), 1), state);
    state = s.state;
    loss = loss ? loss.add(s.y.square().sum()) : s.y.square().sum();
  }
  loss!.backward();
  for (const [name, p] of layer.namedParameters()) {
    assert.ok(p.grad && p.grad.values().every(Number.isFinite) && p.grad.values().some((v) => v !== 0), `${name}: finite non-zero gradient through step`);
  }
}

/**
 * gradcheckPrefill on random x1 [2, prefill, D], x2 [2, cont, D] (drawn in that order from Random(seed)), then,
 * with the gradients zeroed, checkStepGradients through the first `steps` tokens of x1.
 */
export function checkGradients(layer: MixerLayer, dModel: number, seed: number, { prefill = 3, cont = 2, steps = 3 } = {}): void {
  const rng = new Random(seed);
  const x1 = randn([2, prefill, dModel], rng, { dtype: "f64" });
  const x2 = randn([2, cont, dModel], rng, { dtype: "f64" });
  gradcheckPrefill(layer, x1, x2);
  layer.zeroGrad();
  checkStepGradients(layer, x1, steps);
}

/** a config-error case: what, config, (dModel, default 16,) patterns the message must match */
export type ConfigErrorCase = [string, Record<string, unknown>, number, RegExp[]] | [string, Record<string, unknown>, RegExp[]];

/** one test per case: building the layer throws, and the message matches every pattern */
export function configErrorTests(type: string, cases: ReadonlyArray<ConfigErrorCase>): void {
  for (const c of cases) {
    const [what, config] = c;
    const [dModel, patterns] = c.length === 4 ? [c[2], c[3]] : [16, c[2]];
    test(what, () => {
      assert.throws(
        () => makeLayer(type, config, dModel),
        (e: Error) => patterns.every((p) => p.test(e.message)) || assert.fail(`message '${e.message}' misses one of ${patterns.join(", ")}`),
      );
    });
  }
}

/** floats of a layer state per sequence */
export function stateFloats(state: LayerState, batch: number): number {
  return Object.values(state).reduce((n, t) => n + t.size, 0) / batch;
}

/** floats of a whole model state */
export function modelStateFloats(state: ModelState): number {
  return state.reduce((n, layer) => n + Object.values(layer).reduce((k, t) => k + t.size, 0), 0);
}

export interface StateSizeOptions {
  /** sequences (default 2) */
  batch?: number;
  /** seed of the random tokens (default 3) */
  seed?: number;
  /** check after every token instead of after 1, 10 and `tokens` */
  everyToken?: boolean;
  /** also check stateSize(0) = expected(0) (default false) */
  atZero?: boolean;
  /** extra checks on the state at each checked token count */
  each?: (state: LayerState, t: number) => void;
}

/**
 * The state after feeding `tokens` random tokens one by one; its floats per sequence equal stateSize(t), which
 * equals expected(t), and every value is finite, after 1, 10 and `tokens` tokens (or after every token).
 */
export function checkStateSize(layer: MixerLayer, dModel: number, tokens: number, expected: (t: number) => number, opts: StateSizeOptions = {}): LayerState {
  const { batch: B = 2, seed = 3, everyToken = false, atZero = false, each } = opts;
  return noGrad(() => {
    let state = layer.initState(B);
    assert.equal(stateFloats(state, B), layer.stateSize(0));
    if (atZero) assert.equal(layer.stateSize(0), expected(0), "stateSize(0)");
    const rng = new Random(seed);
    for (let t = 1; t <= tokens; t++) {
      state = layer.step(randn([B, dModel], rng, { dtype: "f64" }), state).state;
      if (everyToken || t === 1 || t === 10 || t === tokens) {
        assert.equal(stateFloats(state, B), layer.stateSize(t), `after ${t} tokens`);
        assert.equal(layer.stateSize(t), expected(t), `stateSize(${t})`);
        for (const [k, v] of Object.entries(state)) assert.ok(v.values().every(Number.isFinite), `${k} finite after ${t} tokens`);
        each?.(state, t);
      }
    }
    return state;
  });
}

/** the parameter names of a mixer's attn slot inside a one-layer LanguageModel (vocab 7, dModel 16, f64) */
export function attnNamesInModel(layer: Record<string, unknown>): string[] {
  const model = new LanguageModel({ vocabSize: 7, dModel: 16, layers: [layer as { type: string }], dtype: "f64" });
  return [...model.namedParameters()].map(([n]) => n).filter((n) => n.includes(".attn."));
}

export interface LoopTestOptions<R> {
  /** builds the layer (weights are then redrawn by randomize(layer, 5)) */
  make: (config: Record<string, unknown>) => MixerLayer;
  /** the reference loop: parameters, x [B][T][D] → y [B][T][D] */
  loop: (p: Map<string, Tensor>, x: number[][][], ref: R) => number[][][];
  B: number;
  T: number;
  D: number;
  tol: number;
  forms?: (ref: R) => FormsOptions;
}

/**
 * One test per variant [what, config, ref]: the layer with weights randomize(layer, 5) on x ~ Random(6)
 * [B, T, D] passes checkForms against `loop`.
 */
export function loopTests<R>(variants: ReadonlyArray<readonly [string, Record<string, unknown>, R]>, o: LoopTestOptions<R>): void {
  for (const [what, config, ref] of variants) {
    test(`${what}: forward, prefill+forward, prefill+step (${o.tol})`, () => {
      const layer = o.make(config);
      randomize(layer, 5);
      const x = randn([o.B, o.T, o.D], new Random(6), { dtype: "f64" });
      checkForms(layer, x, o.loop(layer.stateDict(), x.toNested() as number[][][], ref), o.tol, o.forms?.(ref));
    });
  }
}
