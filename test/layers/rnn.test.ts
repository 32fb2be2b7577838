/**
 * The lstm and gru mixer layers (spec/mixers.md §9, PyTorch nn.LSTM / nn.GRU with one layer):
 *  - in a 2-layer LanguageModel (f64) the parallel forward (the op's fused kernel), stepping token by token and
 *    prefill-then-step give the same logits, within 1e-10 relative to max |logit|; the same for parameter
 *    gradients of the parallel forward against autodiff through the step loop (1e-9);
 *  - the layer's output equals an independent scalar loop of PyTorch's equations reading the layer's own
 *    parameters (1e-12), with and without out_proj;
 *  - parameter names and shapes are PyTorch's, init in U(±1/√H), forgetBias shifts the forget-gate bias;
 *  - config errors name the field; stateSize is constant in T and equals the floats carried.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { noGrad } from "../../src/core/autograd.js";
import { concat, indices } from "../../src/core/ops/shape.js";
import type { Tensor } from "../../src/core/tensor.js";
import { createLayer, getLayer, type LayerState } from "../../src/layers/index.js";
import { LanguageModel } from "../../src/models/index.js";
import { maxRelDiff as maxRelDiffBy, modelStateFloats } from "./checks.js";

const TOL = 1e-10;
const GRAD_TOL = 1e-9;
const LOOP_TOL = 1e-12;
const V = 11;

/** max |a − b| / max(1, max |b|) */
const maxRelDiff = (a: Tensor, b: Tensor) => maxRelDiffBy(a, b, 1);

const sig = (x: number) => 1 / (1 + Math.exp(-x));

/**
 * PyTorch's nn.LSTM / nn.GRU forward for one layer, batch_first, as scalar loops over plain arrays (written
 * independently of the op): x [B][T][D] → h [B][T][H].
 */
function torchLoop(type: "lstm" | "gru", p: Record<string, Float64Array | Float32Array>, x: number[][][], H: number): number[][][] {
  const D = x[0]![0]!.length;
  const G = type === "lstm" ? 4 : 3;
  const Wi = p.weight_ih_l0!;
  const Wh = p.weight_hh_l0!;
  const bi = p.bias_ih_l0!;
  const bh = p.bias_hh_l0!;
  return x.map((seq) => {
    let h = new Array<number>(H).fill(0);
    let c = new Array<number>(H).fill(0);
    return seq.map((xt) => {
      const gi = Array.from({ length: G * H }, (_, j) => bi[j]! + xt.reduce((s, v, d) => s + v * Wi[j * D + d]!, 0));
      const gh = Array.from({ length: G * H }, (_, j) => bh[j]! + h.reduce((s, v, q) => s + v * Wh[j * H + q]!, 0));
      if (type === "lstm") {
        const a = gi.map((v, j) => v + gh[j]!);
        c = c.map((cv, k) => sig(a[H + k]!) * cv + sig(a[k]!) * Math.tanh(a[2 * H + k]!));
        h = c.map((cv, k) => sig(a[3 * H + k]!) * Math.tanh(cv));
      } else {
        h = h.map((hv, k) => {
          const r = sig(gi[k]! + gh[k]!);
          const z = sig(gi[H + k]! + gh[H + k]!);
          const n = Math.tanh(gi[2 * H + k]! + r * gh[2 * H + k]!);
          return (1 - z) * n + z * hv;
        });
      }
      return h;
    });
  });
}

function layerContext(seed: number, dModel: number) {
  return { dModel, rng: new Random(seed), dtype: "f64" as const, layerIdx: 0, nLayers: 2, initStd: 0.02 };
}

for (const type of ["lstm", "gru"] as const) {
  const G = type === "lstm" ? 4 : 3;

  describe(`${type} layer in a 2-layer LanguageModel (f64)`, () => {
    for (const extra of [{}, { hiddenSize: 12 }]) {
      const what = Object.keys(extra).length ? "hiddenSize 12 ≠ dModel 16 (out_proj)" : "hiddenSize = dModel";
      test(`parallel = step-by-step = prefill+step logits, ${what} (${TOL})`, () => {
        noGrad(() => {
          const spec = { type, ...extra };
          const model = new LanguageModel({ vocabSize: V, dModel: 16, layers: [spec, spec], dtype: "f64" }, { seed: 5 });
          const rng = new Random(6);
          const B = 3;
          const T = 13;
          const toks = Array.from({ length: B * T }, () => rng.integer(0, V));
          const column = (t: number) => Array.from({ length: B }, (_, b) => toks[b * T + t]!);
          const full = model.forward(indices(toks, [B, T])).logits;
          let state = model.initState(B);
          const stepped: Tensor[] = [];
          for (let t = 0; t < T; t++) {
            const r = model.step(column(t), state);
            stepped.push(r.logits.unsqueeze(1));
            state = r.state;
          }
          assert.ok(maxRelDiff(concat(stepped, 1), full) < TOL, `step vs parallel: ${maxRelDiff(concat(stepped, 1), full)}`);
          for (const split of [1, 6, 12]) {
            const prefix = Array.from({ length: B }, (_, b) => toks.slice(b * T, b * T + split)).flat();
            const pre = model.forward(indices(prefix, [B, split]), { outputState: true });
            let s = pre.state!;
            const parts: Tensor[] = [pre.logits];
            for (let t = split; t < T; t++) {
              const r = model.step(column(t), s);
              parts.push(r.logits.unsqueeze(1));
              s = r.state;
            }
            assert.ok(maxRelDiff(concat(parts, 1), full) < TOL, `prefill ${split} + step vs parallel: ${maxRelDiff(concat(parts, 1), full)}`);
            assert.equal(modelStateFloats(s), B * model.stateSize(T));
          }
        });
      });
    }

    test(`parameter gradients: parallel forward (fused BPTT) = autodiff through the step loop (${GRAD_TOL})`, () => {
      const spec = { type, hiddenSize: 7 };
      const build = () => new LanguageModel({ vocabSize: V, dModel: 10, layers: [spec, spec], dtype: "f64" }, { seed: 8 });
      const rng = new Random(9);
      const B = 2;
      const T = 9;
      const toks = Array.from({ length: B * T }, () => rng.integer(0, V));
      const weights = randn([B, T, V], new Random(10), { dtype: "f64" });
      const a = build();
      a.forward(indices(toks, [B, T])).logits.mul(weights).sum().backward();
      const b = build();
      let state = b.initState(B);
      const logits: Tensor[] = [];
      for (let t = 0; t < T; t++) {
        const r = b.step(Array.from({ length: B }, (_, i) => toks[i * T + t]!), state);
        logits.push(r.logits.unsqueeze(1));
        state = r.state;
      }
      concat(logits, 1).mul(weights).sum().backward();
      const gb = new Map(b.namedParameters());
      for (const [name, p] of a.namedParameters()) {
        assert.ok(p.grad && gb.get(name)!.grad, `${name}: no gradient`);
        const d = maxRelDiff(p.grad, gb.get(name)!.grad!);
        assert.ok(d < GRAD_TOL, `${name}: gradient differs by ${d}`);
      }
    });

    test("stateSize is constant in T and equals the floats carried", () => {
      const model = new LanguageModel({ vocabSize: V, dModel: 16, layers: [{ type, hiddenSize: 12 }, type], dtype: "f64" }, { seed: 1 });
      const per = type === "lstm" ? 2 : 1;
      assert.equal(model.stateSize(1), per * (12 + 16));
      assert.equal(model.stateSize(100_000), model.stateSize(1));
      assert.equal(modelStateFloats(model.initState(3)), 3 * model.stateSize(1));
    });
  });

  describe(`${type} layer = PyTorch's equations (independent scalar loop, ${LOOP_TOL})`, () => {
    for (const [D, H] of [[3, 3], [4, 2]] as const) {
      test(`D=${D}, H=${H}${D === H ? " (y = h, no out_proj)" : " (y = out_proj(h))"}: forward and step`, () => {
        noGrad(() => {
          const layer = createLayer({ type, hiddenSize: H }, layerContext(21, D));
          const params = Object.fromEntries([...layer.namedParameters()].map(([k, t]) => [k, t.values()]));
          const x = randn([2, 5, D], new Random(22), { dtype: "f64" });
          const xs = x.toNested() as number[][][];
          const hs = torchLoop(type, params, xs, H);
          let want = hs;
          if (D !== H) {
            const W = params["out_proj.weight"]!;
            want = hs.map((seq) => seq.map((h) => Array.from({ length: D }, (_, d) => h.reduce((s, v, q) => s + v * W[d * H + q]!, 0))));
          }
          const y = layer.forward(x).y;
          const flat = want.flat(2);
          const got = y.values();
          assert.equal(got.length, flat.length);
          for (let i = 0; i < flat.length; i++) assert.ok(Math.abs(got[i]! - flat[i]!) < LOOP_TOL, `forward element ${i}: ${got[i]} vs ${flat[i]}`);
          let state: LayerState = layer.initState(2);
          for (let t = 0; t < 5; t++) {
            const r = layer.step(x.slice(1, t, t + 1).squeeze(1), state);
            state = r.state;
            const yt = r.y.toNested() as number[][];
            for (let b = 0; b < 2; b++) {
              for (let d = 0; d < D; d++) assert.ok(Math.abs(yt[b]![d]! - want[b]![t]![d]!) < LOOP_TOL, `step t=${t} b=${b} d=${d}`);
            }
          }
        });
      });
    }
  });

  describe(`${type} layer: PyTorch parameter names, shapes and init`, () => {
    test("names and shapes map one to one onto nn." + (type === "lstm" ? "LSTM" : "GRU"), () => {
      const same = createLayer({ type }, layerContext(3, 6));
      assert.deepEqual(
        [...same.namedParameters()].map(([k, t]) => [k, [...t.shape]]),
        [
          ["weight_ih_l0", [G * 6, 6]],
          ["weight_hh_l0", [G * 6, 6]],
          ["bias_ih_l0", [G * 6]],
          ["bias_hh_l0", [G * 6]],
        ],
      );
      const proj = createLayer({ type, hiddenSize: 4 }, layerContext(3, 6));
      assert.deepEqual(
        [...proj.namedParameters()].map(([k, t]) => [k, [...t.shape]]),
        [
          ["weight_ih_l0", [G * 4, 6]],
          ["weight_hh_l0", [G * 4, 4]],
          ["bias_ih_l0", [G * 4]],
          ["bias_hh_l0", [G * 4]],
          ["out_proj.weight", [6, 4]],
        ],
      );
    });

    test("every weight and bias in U(−1/√H, 1/√H), spread over the range", () => {
      const H = 25;
      const layer = createLayer({ type, hiddenSize: H }, layerContext(4, 8));
      for (const [name, t] of layer.namedParameters()) {
        if (name.startsWith("out_proj")) continue;
        const v = t.values();
        const bound = 1 / Math.sqrt(H);
        let maxAbs = 0;
        for (let i = 0; i < v.length; i++) maxAbs = Math.max(maxAbs, Math.abs(v[i]!));
        assert.ok(maxAbs <= bound, `${name}: max |w| ${maxAbs} > ${bound}`);
        assert.ok(maxAbs > 0.9 * bound, `${name}: max |w| ${maxAbs} is far inside ±${bound}`);
      }
    });

    if (type === "lstm") {
      test("forgetBias is added to the forget-gate slice of bias_ih_l0 only", () => {
        const plain = createLayer({ type, hiddenSize: 5 }, layerContext(7, 6));
        const tweaked = createLayer({ type, hiddenSize: 5, forgetBias: 1 }, layerContext(7, 6));
        const a = plain.stateDict().get("bias_ih_l0")!.values();
        const b = tweaked.stateDict().get("bias_ih_l0")!.values();
        for (let j = 0; j < 20; j++) assert.ok(Math.abs(b[j]! - a[j]! - (j >= 5 && j < 10 ? 1 : 0)) < 1e-15, `bias_ih_l0[${j}]`);
        assert.deepEqual([...tweaked.stateDict().get("bias_hh_l0")!.values()], [...plain.stateDict().get("bias_hh_l0")!.values()]);
      });
    }
  });

  describe(`${type} layer: config and input errors`, () => {
    const model = (spec: Record<string, unknown>) => new LanguageModel({ vocabSize: V, dModel: 8, layers: ["gru", { type, ...spec }], dtype: "f64" });
    test("hiddenSize must be a positive integer (the message names the layer and the field)", () => {
      assert.throws(() => model({ hiddenSize: 0 }), new RegExp(`layers\\[1\\] \\(${type}\\): 'hiddenSize'`));
      assert.throws(() => model({ hiddenSize: 2.5 }), new RegExp(`layers\\[1\\] \\(${type}\\): 'hiddenSize'`));
    });
    test("unknown fields are rejected by name", () => {
      assert.throws(() => model({ hidden_size: 4 }), new RegExp(`layers\\[1\\] \\(${type}\\): unknown field\\(s\\) 'hidden_size'`));
      if (type === "gru") assert.throws(() => model({ forgetBias: 1 }), /layers\[1\] \(gru\): unknown field\(s\) 'forgetBias'/);
      else assert.throws(() => model({ forgetBias: "1" }), /layers\[1\] \(lstm\): 'forgetBias'/);
    });
    test("registered, with a small config that builds", () => {
      const def = getLayer(type);
      assert.equal(def.type, type);
      createLayer({ type, ...(def.smallConfig ?? {}) }, layerContext(1, 16));
    });
    test("x and state shapes are checked", () => {
      const layer = createLayer({ type, hiddenSize: 3 }, layerContext(1, 4));
      assert.throws(() => layer.forward(randn([2, 5, 3], new Random(1), { dtype: "f64" })), new RegExp(`${type}: x must have shape \\[B,T,4\\], got \\[2,5,3\\]`));
      assert.throws(() => layer.step(randn([2, 4], new Random(1), { dtype: "f64" }), layer.initState(3)), new RegExp(`${type}: state.state must have shape \\[2,`));
    });
  });
}
