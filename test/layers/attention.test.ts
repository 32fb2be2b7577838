/**
 * The attention mixer layer (spec/mixers.md §1, fla `fla/layers/attn.py`):
 *  - parameter names and shapes are fla's (listed literally), also inside a LanguageModel;
 *  - config errors name the bad field (and both fields of a cross-field check);
 *  - the layer's parallel forward, a prefill-then-continue forward and stepping all equal an independent scalar
 *    loop of the reference equations (projections + biases, optional short conv + SiLU, per-head RMSNorm,
 *    rotate-half RoPE at absolute positions, causal GQA softmax with a window of W keys, o_proj), f64, within
 *    1e-12 relative;
 *  - stateSize = floats carried (grows without a window, capped at W with one);
 *  - gradients: finite-difference gradcheck (f64) of every parameter through prefill + continuation;
 *  - init: o_proj scaled by 1/√(2·nLayers), biases 0, norm weights 1.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import type { Tensor } from "../../src/core/tensor.js";
import type { MixerLayer } from "../../src/layers/index.js";
import { affine, convSilu, heads, rmsnormVec, ropeVec } from "./linear_reference.js";
import { attnNamesInModel, checkGradients, checkStateSize, configErrorTests, loopTests, makeLayer, randomize, rms, shapes } from "./checks.js";

const LOOP_TOL = 1e-12;

const make = (config: Record<string, unknown>, dModel = 16, seed = 1, nLayers = 2): MixerLayer => makeLayer("attention", config, dModel, seed, nLayers);

interface RefConfig {
  H: number;
  Hkv: number;
  m: number;
  window: number | null;
  rope: boolean;
  theta: number;
  qkNorm: boolean;
  /** short conv kernel width, or null without one */
  conv: number | null;
}

/**
 * fla's Attention forward written as scalar loops over plain arrays, independently of the layer's code path:
 * x [B][T][D] → y [B][T][D], for tokens at absolute positions 0..T−1.
 */
function referenceLoop(p: Map<string, Tensor>, x: number[][][], c: RefConfig): number[][][] {
  const D = x[0]![0]!.length;
  const { H, Hkv, m } = c;
  const G = H / Hkv;
  const arr = (name: string) => p.get(name)?.values();
  const norm = (z: number[], name: string) => (c.qkNorm ? rmsnormVec(z, arr(`${name}.weight`)!, 1e-5) : z);
  const rotate = (z: number[], pos: number) => (c.rope ? ropeVec(z, pos, c.theta) : z);
  // causal depthwise conv over time per channel, then SiLU: y_t[c] = b[c] + Σ_j w[c,j]·z_{t−W+1+j}[c]
  const conv = (zs: number[][], name: string): number[][] => (c.conv === null ? zs : convSilu(p, name, zs));
  const Wo = arr("o_proj.weight")!;
  return x.map((seq) => {
    const qs = conv(seq.map((xt) => affine(p, "q_proj", xt)), "q_conv1d").map((z, t) => heads(z, H).map((zh) => rotate(norm(zh, "q_norm"), t)));
    const ks = conv(seq.map((xt) => affine(p, "k_proj", xt)), "k_conv1d").map((z, t) => heads(z, Hkv).map((zh) => rotate(norm(zh, "k_norm"), t)));
    const vs = conv(seq.map((xt) => affine(p, "v_proj", xt)), "v_conv1d").map((z) => heads(z, Hkv));
    return seq.map((_, t) => {
      const lo = c.window === null ? 0 : Math.max(0, t - c.window + 1);
      const o: number[] = [];
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / G);
        const scores: number[] = [];
        for (let u = lo; u <= t; u++) scores.push(qs[t]![h]!.reduce((s, v, i) => s + v * ks[u]![g]![i]!, 0) / Math.sqrt(m));
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < m; i++) o.push(e.reduce((s, w, j) => s + w * vs[lo + j]![g]![i]!, 0) / z);
      }
      return Array.from({ length: D }, (_, d) => o.reduce((s, v, j) => s + v * Wo[d * H * m + j]!, 0));
    });
  });
}

describe("attention layer: parameters (fla Attention names and shapes)", () => {
  test("default config at dModel 16: one head of 16, q/k/v/o_proj weights only", () => {
    assert.deepEqual(shapes(make({})), {
      "q_proj.weight": [16, 16],
      "k_proj.weight": [16, 16],
      "v_proj.weight": [16, 16],
      "o_proj.weight": [16, 16],
    });
  });

  test("default heads are of width 64 when dModel is a multiple of 64", () => {
    const layer = make({}, 128) as MixerLayer & { numHeads: number; headDim: number };
    assert.equal(layer.numHeads, 2);
    assert.equal(layer.headDim, 64);
  });

  test("GQA + qkvBias + qkNorm: H=4, Hkv=2, m=4", () => {
    assert.deepEqual(shapes(make({ numHeads: 4, numKvHeads: 2, qkvBias: true, qkNorm: true })), {
      "q_proj.weight": [16, 16],
      "q_proj.bias": [16],
      "k_proj.weight": [8, 16],
      "k_proj.bias": [8],
      "v_proj.weight": [8, 16],
      "v_proj.bias": [8],
      "o_proj.weight": [16, 16],
      "q_norm.weight": [4],
      "k_norm.weight": [4],
    });
  });

  test("useShortConv (convSize 3, convBias): q/k/v_conv1d [C, 1, W] after the fla names", () => {
    assert.deepEqual(shapes(make({ numHeads: 4, numKvHeads: 2, useShortConv: true, convSize: 3, convBias: true })), {
      "q_proj.weight": [16, 16],
      "k_proj.weight": [8, 16],
      "v_proj.weight": [8, 16],
      "o_proj.weight": [16, 16],
      "q_conv1d.weight": [16, 1, 3],
      "q_conv1d.bias": [16],
      "k_conv1d.weight": [8, 1, 3],
      "k_conv1d.bias": [8],
      "v_conv1d.weight": [8, 1, 3],
      "v_conv1d.bias": [8],
    });
  });

  test("explicit headDim (H·m ≠ D): H=2, Hkv=1, m=6", () => {
    assert.deepEqual(shapes(make({ numHeads: 2, numKvHeads: 1, headDim: 6 })), {
      "q_proj.weight": [12, 16],
      "k_proj.weight": [6, 16],
      "v_proj.weight": [6, 16],
      "o_proj.weight": [16, 12],
    });
  });

  test("inside a LanguageModel the names are model.layers.{i}.attn.<fla name>", () => {
    const names = attnNamesInModel({ type: "attention", numHeads: 2, qkNorm: true });
    assert.deepEqual(names, [
      "model.layers.0.attn.q_proj.weight",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.o_proj.weight",
      "model.layers.0.attn.q_norm.weight",
      "model.layers.0.attn.k_norm.weight",
    ]);
  });

  test("init: projections N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), biases 0, norm weights 1", () => {
    const layer = make({ numHeads: 4, qkvBias: true, qkNorm: true }, 256, 3, 8);
    const p = layer.stateDict();
    for (const name of ["q_proj.weight", "k_proj.weight", "v_proj.weight"]) {
      assert.ok(Math.abs(rms(p.get(name)!) / 0.02 - 1) < 0.02, `${name}: std ${rms(p.get(name)!)}`);
    }
    assert.ok(Math.abs(rms(p.get("o_proj.weight")!) / (0.02 / 4) - 1) < 0.02, `o_proj std ${rms(p.get("o_proj.weight")!)}`);
    for (const name of ["q_proj.bias", "k_proj.bias", "v_proj.bias"]) assert.ok(p.get(name)!.values().every((v) => v === 0), name);
    for (const name of ["q_norm.weight", "k_norm.weight"]) assert.ok(p.get(name)!.values().every((v) => v === 1), name);
  });
});

describe("attention layer: config errors name the field", () => {
  configErrorTests("attention", [
    ["numKvHeads not dividing numHeads", { numHeads: 4, numKvHeads: 3 }, 16, [/layers\[0\] \(attention\)/, /numKvHeads/, /numHeads=4/]],
    ["dModel not divisible by numHeads", { numHeads: 3 }, 16, [/dModel=16/, /numHeads=3/]],
    ["odd head width with rope", { numHeads: 2, headDim: 5 }, 16, [/'headDim'/, /rope/]],
    ["odd default head width with rope", { numHeads: 16 }, 16, [/headDim/, /rope/]],
    ["window 0", { window: 0 }, 16, [/'window'/]],
    ["numHeads not an integer", { numHeads: 2.5 }, 16, [/'numHeads'/]],
    ["ropeTheta negative", { ropeTheta: -1 }, 16, [/'ropeTheta'/]],
    ["qkNorm not a boolean", { qkNorm: "yes" }, 16, [/'qkNorm'/]],
    ["convSize 0", { useShortConv: true, convSize: 0 }, 16, [/'convSize'/]],
    ["unknown field", { heads: 2 }, 16, [/unknown field/, /'heads'/]],
  ]);

  test("an odd head width is fine without rope", () => {
    make({ numHeads: 16, rope: false });
  });
});

describe("attention layer = independent scalar loop of the reference equations (f64)", () => {
  const B = 2;
  const T = 9;
  const D = 16;
  const variants: Array<[string, Record<string, unknown>, RefConfig]> = [
    ["full causal MHA, RoPE", { numHeads: 2 }, { H: 2, Hkv: 2, m: 8, window: null, rope: true, theta: 10000, qkNorm: false, conv: null }],
    [
      "GQA H=4/Hkv=2, window 3, qkNorm, qkvBias, ropeTheta 50",
      { numHeads: 4, numKvHeads: 2, window: 3, qkNorm: true, qkvBias: true, ropeTheta: 50 },
      { H: 4, Hkv: 2, m: 4, window: 3, rope: true, theta: 50, qkNorm: true, conv: null },
    ],
    [
      "MQA, headDim 6, no rope",
      { numHeads: 3, numKvHeads: 1, headDim: 6, rope: false },
      { H: 3, Hkv: 1, m: 6, window: null, rope: false, theta: 10000, qkNorm: false, conv: null },
    ],
    [
      "short conv (kernel 4, bias) + GQA + window 5",
      { numHeads: 4, numKvHeads: 2, window: 5, useShortConv: true, convBias: true },
      { H: 4, Hkv: 2, m: 4, window: 5, rope: true, theta: 10000, qkNorm: false, conv: 4 },
    ],
  ];
  loopTests(variants, {
    make: (config) => make(config, D, 4),
    loop: referenceLoop,
    B,
    T,
    D,
    tol: LOOP_TOL,
    // prefill 4 tokens, then the other 5 in one continued forward (RoPE offset from state.pos), or step
    forms: (ref) => ({
      split: 4,
      afterContinue: (state) => {
        assert.deepEqual([...state.pos!.values()], [T, T]);
        assert.equal(state.kv!.shape[1], Math.min(T, ref.window ?? Infinity));
      },
    }),
  });
});

describe("attention layer: state", () => {
  test("stateSize = Hkv·2m·min(t, W) + 1 (+ conv FIFOs) = the floats carried; grows without a window, capped with one", () => {
    for (const [window, useShortConv] of [[null, false], [4, false], [4, true]] as const) {
      const layer = make({ numHeads: 4, numKvHeads: 2, window, useShortConv });
      const convFloats = useShortConv ? 3 * (16 + 8 + 8) : 0;
      const expected = (t: number) => 2 * 8 * Math.min(t, window ?? Infinity) + 1 + convFloats;
      const state = checkStateSize(layer, 16, 9, expected, { batch: 3, seed: 2, everyToken: true });
      assert.deepEqual([...state.pos!.values()], [9, 9, 9]);
    }
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ numHeads: 2 });
    const x = randn([2, 16], new Random(1), { dtype: "f64" });
    assert.throws(() => layer.step(x, layer.initState(3)), /state\.kv/);
    assert.throws(() => layer.step(x, { kv: layer.initState(2).kv! }), /state\.pos/);
    const conv = make({ numHeads: 2, useShortConv: true });
    const { v_conv: _drop, ...partial } = conv.initState(2);
    void _drop;
    assert.throws(() => conv.step(x, partial), /state\.v_conv must have shape \[2,3,16\]/);
  });
});

describe("attention layer: gradients", () => {
  test("gradcheck of every parameter through prefill + continued forward (f64, GQA, window, qkNorm, bias, conv)", () => {
    const layer = make({ numHeads: 2, numKvHeads: 1, window: 3, qkNorm: true, qkvBias: true, useShortConv: true, convSize: 2, convBias: true }, 8, 9);
    randomize(layer, 10);
    // prefill 3 + 3 tokens; through the step form (3 steps), every parameter gets a finite non-zero gradient
    checkGradients(layer, 8, 11, { prefill: 3, cont: 3, steps: 3 });
  });
});
