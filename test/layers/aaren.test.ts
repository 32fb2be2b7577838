/**
 * The aaren mixer layer (spec/mixers.md §2):
 *  - parameter names and shapes (listed literally), also inside a LanguageModel;
 *  - config errors name the bad field;
 *  - the parallel forward, a prefill-then-continue forward and prefill-then-step all equal an independent scalar
 *    loop of the quadratic masked form (after the optional short conv + SiLU on k and v) o_t = Σ_{i≤t} softmax_{i≤t}(τ·query·k_i) v_i (per head, then o_proj),
 *    f64, within 1e-12 relative — including scores large enough that a naive exp would overflow;
 *  - the state stays H·(V+2) floats however many tokens are fed;
 *  - gradients: finite-difference gradcheck (f64) of every parameter (query included) through prefill + continuation;
 *  - init: query N(0, initStd²·D), k/v_proj N(0, initStd), o_proj N(0, initStd/√(2·nLayers)).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import type { Tensor } from "../../src/core/tensor.js";
import type { MixerLayer } from "../../src/layers/index.js";
import { convSilu } from "./linear_reference.js";
import { attnNamesInModel, checkForms, checkGradients, checkStateSize, configErrorTests, makeLayer, randomize, rms, shapes } from "./checks.js";

const LOOP_TOL = 1e-12;

const make = (config: Record<string, unknown>, dModel = 16, seed = 1, nLayers = 2): MixerLayer => makeLayer("aaren", config, dModel, seed, nLayers);

/** The quadratic masked form as scalar loops: x [B][T][D] → y [B][T][D]. */
function referenceLoop(p: Map<string, Tensor>, x: number[][][], H: number, K: number, convW: number | null = null): number[][][] {
  const D = x[0]![0]!.length;
  // causal depthwise conv over time per channel, then SiLU
  const conv = (zs: number[][], name: string): number[][] => (convW === null ? zs : convSilu(p, name, zs));
  const q = p.get("query")!.values();
  const Wk = p.get("k_proj.weight")!.values();
  const Wv = p.get("v_proj.weight")!.values();
  const Wo = p.get("o_proj.weight")!.values();
  const proj = (W: ArrayLike<number>, xt: number[]) => Array.from({ length: H * K }, (_, j) => xt.reduce((s, v, d) => s + v * W[j * D + d]!, 0));
  return x.map((seq) => {
    const ks = conv(seq.map((xt) => proj(Wk, xt)), "k_conv1d");
    const vs = conv(seq.map((xt) => proj(Wv, xt)), "v_conv1d");
    return seq.map((_, t) => {
      const o: number[] = [];
      for (let h = 0; h < H; h++) {
        const s = ks.slice(0, t + 1).map((k) => {
          let acc = 0;
          for (let i = 0; i < K; i++) acc += q[h * K + i]! * k[h * K + i]!;
          return acc / Math.sqrt(K);
        });
        const mx = Math.max(...s);
        const e = s.map((v) => Math.exp(v - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < K; i++) o.push(e.reduce((acc, w, j) => acc + w * vs[j]![h * K + i]!, 0) / z);
      }
      return Array.from({ length: D }, (_, d) => o.reduce((acc, v, j) => acc + v * Wo[d * H * K + j]!, 0));
    });
  });
}

/** max |τ·query·k_t| over batch, time and heads */
function maxScore(layer: MixerLayer, x: Tensor, H: number, K: number): number {
  const p = layer.stateDict();
  const q = p.get("query")!.values();
  const k = x.matmul(p.get("k_proj.weight")!.transpose()).values();
  let m = 0;
  for (let r = 0; r < k.length / (H * K); r++) {
    for (let h = 0; h < H; h++) {
      let s = 0;
      for (let i = 0; i < K; i++) s += q[h * K + i]! * k[r * H * K + h * K + i]!;
      m = Math.max(m, Math.abs(s) / Math.sqrt(K));
    }
  }
  return m;
}

describe("aaren layer: parameters", () => {
  test("numHeads 2, headDim 6 at dModel 16", () => {
    assert.deepEqual(shapes(make({ numHeads: 2, headDim: 6 })), {
      query: [2, 6],
      "k_proj.weight": [12, 16],
      "v_proj.weight": [12, 16],
      "o_proj.weight": [16, 12],
    });
  });

  test("useShortConv, convSize 3, convBias: k/v_conv1d [C, 1, W] and [C]", () => {
    assert.deepEqual(shapes(make({ numHeads: 2, headDim: 6, useShortConv: true, convSize: 3, convBias: true })), {
      query: [2, 6],
      "k_proj.weight": [12, 16],
      "v_proj.weight": [12, 16],
      "o_proj.weight": [16, 12],
      "k_conv1d.weight": [12, 1, 3],
      "k_conv1d.bias": [12],
      "v_conv1d.weight": [12, 1, 3],
      "v_conv1d.bias": [12],
    });
  });

  test("defaults at dModel 16: one head of width 16; at dModel 128: heads of width 64", () => {
    assert.deepEqual(shapes(make({})), {
      query: [1, 16],
      "k_proj.weight": [16, 16],
      "v_proj.weight": [16, 16],
      "o_proj.weight": [16, 16],
    });
    assert.deepEqual(shapes(make({}, 128)).query, [2, 64]);
  });

  test("inside a LanguageModel the names are model.layers.{i}.attn.<name>", () => {
    const names = attnNamesInModel({ type: "aaren", numHeads: 4 });
    assert.deepEqual(names, [
      "model.layers.0.attn.query",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.o_proj.weight",
    ]);
  });

  test("init: query N(0, initStd²·D), k/v_proj N(0, initStd), o_proj N(0, initStd/√(2·nLayers))", () => {
    const layer = make({ numHeads: 8 }, 256, 3, 8);
    const p = layer.stateDict();
    const want: Record<string, [number, number]> = {
      query: [0.02 * 16, 0.1], // 256 draws: loose
      "k_proj.weight": [0.02, 0.02],
      "v_proj.weight": [0.02, 0.02],
      "o_proj.weight": [0.02 / 4, 0.02],
    };
    for (const [name, [s, tol]] of Object.entries(want)) {
      assert.ok(Math.abs(rms(p.get(name)!) / s - 1) < tol, `${name}: std ${rms(p.get(name)!)}, want ${s}`);
    }
  });
});

describe("aaren layer: config errors name the field", () => {
  configErrorTests("aaren", [
    ["dModel not divisible by numHeads", { numHeads: 3 }, [/layers\[0\] \(aaren\)/, /dModel=16/, /numHeads=3/]],
    ["numHeads 0", { numHeads: 0 }, [/'numHeads'/]],
    ["headDim fractional", { headDim: 1.5 }, [/'headDim'/]],
    ["unknown field", { window: 4 }, [/unknown field/, /'window'/]],
    ["convSize fractional", { useShortConv: true, convSize: 2.5 }, [/'convSize'/]],
  ]);

  test("headDim makes any numHeads valid", () => {
    make({ numHeads: 3, headDim: 5 });
  });
});

describe("aaren layer = independent scalar loop of the quadratic masked form (f64)", () => {
  const B = 2;
  const T = 10;
  const D = 12;
  // std 0.5 gives ordinary scores; std 16 gives scores beyond ±709, where e^s overflows without the running max
  for (const [H, K, std, convW] of [[2, 5, 0.5, null], [3, 4, 0.5, null], [1, 6, 16, null], [2, 3, 0.5, 4]] as const) {
    const conv = convW === null ? "" : `, short conv ${convW} with bias`;
    test(`H=${H}, K=V=${K}, weights std ${std}${conv}: forward, prefill+forward, prefill+step (${LOOP_TOL})`, () => {
      const layer = make({ numHeads: H, headDim: K, ...(convW === null ? {} : { useShortConv: true, convSize: convW, convBias: true }) }, D, 4);
      randomize(layer, 5, std);
      const x = randn([B, T, D], new Random(6), { dtype: "f64" });
      const want = referenceLoop(layer.stateDict(), x.toNested() as number[][][], H, K, convW);
      if (std > 1) assert.ok(maxScore(layer, x, H, K) > 709, `scores too small to test overflow: ${maxScore(layer, x, H, K)}`);
      checkForms(layer, x, want, LOOP_TOL, { split: 3, fromEmpty: true });
    });
  }
});

describe("aaren layer: state", () => {
  test("H·(V+2) (+ 2·(W−1)·H·K with the conv) floats per sequence after 1, 10 and 300 tokens, all finite", () => {
    for (const useShortConv of [false, true]) {
      const layer = make({ numHeads: 2, headDim: 6, useShortConv });
      const want = 16 + (useShortConv ? 2 * 3 * 12 : 0);
      checkStateSize(layer, 16, 300, () => want, { batch: 3, seed: 2, atZero: true, each: (state) => assert.deepEqual(state.state!.shape, [3, 2, 8]) });
    }
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ numHeads: 2 });
    assert.throws(() => layer.step(randn([2, 16], new Random(1), { dtype: "f64" }), layer.initState(3)), /state\.state must have shape \[2,2,10\]/);
  });
});

describe("aaren layer: gradients", () => {
  test("gradcheck of every parameter (query and conv included) through prefill + continued forward (f64)", () => {
    const layer = make({ numHeads: 2, headDim: 3, useShortConv: true, convSize: 2, convBias: true }, 6, 9);
    randomize(layer, 10, 0.7);
    // prefill 4 + 3 tokens; through the step form too (4 steps), every parameter gets a finite non-zero gradient
    checkGradients(layer, 6, 11, { prefill: 4, cont: 3, steps: 4 });
  });
});
