/**
 * The retnet mixer layer (spec/mixers.md §5, fla `fla/layers/multiscale_retention.py: MultiScaleRetention`):
 *  - parameter names and shapes are fla's (listed literally), also inside a LanguageModel;
 *  - config errors name the bad field (both fields for cross-field checks);
 *  - the parallel forward (chunk form with small chunks), prefill + continued forward and prefill + step all equal
 *    an independent scalar loop of the reference equations (projections, optional short conv + SiLU, rotate-half
 *    RoPE of q and k at absolute positions, GQA repeat, S ← γ_h S + kᵀv with γ_h = 1 − 2^(−5−h) or given decays,
 *    o = K^-1/2 q S, gated RMSNorm, o_proj), f64, within 1e-12 relative to max |y|;
 *  - the state is H·K·V + 1 + (W−1)(H·K + Hkv·K + Hkv·V) floats however many tokens are fed;
 *  - gradients: finite-difference gradcheck (f64) of every parameter, and non-zero finite grads through step;
 *  - init: projections N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), norm weights 1.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { createLayer } from "../../src/layers/index.js";
import type { RetNetLayer } from "../../src/layers/retnet.js";
import { attnNamesInModel, checkGradients, checkStateSize, configErrorTests, ctx, loopTests, makeLayer, randomize, rms, shapes } from "./checks.js";
import { affine, arr, convSilu, heads, kvOf, rmsnormVec, ropeVec, silu, type Params } from "./linear_reference.js";

const LOOP_TOL = 1e-12;
const make = (config: Record<string, unknown>, dModel = 16, seed = 1) => makeLayer("retnet", config, dModel, seed);

interface RetRef {
  H: number;
  Hkv: number;
  gate: boolean;
  theta: number;
  /** γ_h, or null for 1 − 2^(−5−h) */
  decays: number[] | null;
}

/** fla's MultiScaleRetention forward as scalar loops over plain arrays: x [B][T][D] → y [B][T][D]. */
function retnetLoop(p: Params, x: number[][][], c: RetRef): number[][][] {
  const { H, Hkv } = c;
  const G = H / Hkv;
  const gamma = c.decays ?? Array.from({ length: H }, (_, h) => 1 - Math.pow(2, -5 - h));
  const normW = arr(p, c.gate ? "g_norm_swish_gate.weight" : "g_norm.weight")!;
  return x.map((seq) => {
    const qs = convSilu(p, "q_conv1d", seq.map((xt) => affine(p, "q_proj", xt)));
    const ks = convSilu(p, "k_conv1d", seq.map((xt) => affine(p, "k_proj", xt)));
    const vs = convSilu(p, "v_conv1d", seq.map((xt) => affine(p, "v_proj", xt)));
    const K = qs[0]!.length / H;
    const V = vs[0]!.length / Hkv;
    const S = Array.from({ length: H }, () => Array.from({ length: K }, () => new Array<number>(V).fill(0)));
    return seq.map((xt, t) => {
      const q = heads(qs[t]!, H).map((z) => ropeVec(z, t, c.theta));
      const k = heads(ks[t]!, Hkv).map((z) => ropeVec(z, t, c.theta));
      const v = heads(vs[t]!, Hkv);
      const g = c.gate ? heads(affine(p, "g_proj", xt), H) : null;
      const o: number[] = [];
      for (let h = 0; h < H; h++) {
        const j = kvOf(h, G);
        for (let a = 0; a < K; a++) for (let b = 0; b < V; b++) S[h]![a]![b] = gamma[h]! * S[h]![a]![b]! + k[j]![a]! * v[j]![b]!;
        const oh = Array.from({ length: V }, (_, b) => S[h]!.reduce((s, row, a) => s + (q[h]![a]! / Math.sqrt(K)) * row[b]!, 0));
        let n = rmsnormVec(oh, normW, 1e-5);
        if (g) n = n.map((u, i) => u * silu(g[h]![i]!));
        o.push(...n);
      }
      return affine(p, "o_proj", o);
    });
  });
}

describe("retnet layer: parameters (fla MultiScaleRetention names and shapes)", () => {
  test("defaults at dModel 16: 8 heads, K = 2 (expandK 1), V = 4 (expandV 2), fused gated norm", () => {
    const layer = make({}) as RetNetLayer;
    assert.deepEqual(shapes(layer), {
      "q_proj.weight": [16, 16],
      "k_proj.weight": [16, 16],
      "v_proj.weight": [32, 16],
      "g_proj.weight": [32, 16],
      "o_proj.weight": [16, 32],
      "g_norm_swish_gate.weight": [4],
    });
    assert.deepEqual(layer.decays, [0.96875, 0.984375, 0.9921875, 0.99609375, 0.998046875, 0.9990234375, 0.99951171875, 0.999755859375]);
  });

  test("GQA H=2/Hkv=1, short conv (3, bias), no output gate: K = 8, V = 16, plain g_norm", () => {
    assert.deepEqual(shapes(make({ numHeads: 2, numKvHeads: 1, useShortConv: true, convSize: 3, convBias: true, useOutputGate: false })), {
      "q_proj.weight": [16, 16],
      "k_proj.weight": [8, 16],
      "v_proj.weight": [16, 16],
      "q_conv1d.weight": [16, 1, 3],
      "q_conv1d.bias": [16],
      "k_conv1d.weight": [8, 1, 3],
      "k_conv1d.bias": [8],
      "v_conv1d.weight": [16, 1, 3],
      "v_conv1d.bias": [16],
      "o_proj.weight": [16, 32],
      "g_norm.weight": [16],
    });
  });

  test("default numHeads falls back to 1 when 8 does not divide the widths (dModel 12)", () => {
    assert.equal((make({}, 12) as RetNetLayer).numHeads, 1);
  });

  test("inside a LanguageModel the names are model.layers.{i}.attn.<fla name>", () => {
    const names = attnNamesInModel({ type: "retnet", numHeads: 2 });
    assert.deepEqual(names, [
      "model.layers.0.attn.q_proj.weight",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.g_proj.weight",
      "model.layers.0.attn.o_proj.weight",
      "model.layers.0.attn.g_norm_swish_gate.weight",
    ]);
  });

  test("init: projections N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), norm 1", () => {
    const layer = createLayer({ type: "retnet", numHeads: 4 }, ctx(3, 256, 8));
    const p = layer.stateDict();
    for (const name of ["q_proj.weight", "k_proj.weight", "v_proj.weight", "g_proj.weight"]) {
      assert.ok(Math.abs(rms(p.get(name)!) / 0.02 - 1) < 0.02, `${name}: std ${rms(p.get(name)!)}`);
    }
    assert.ok(Math.abs(rms(p.get("o_proj.weight")!) / (0.02 / 4) - 1) < 0.02, `o_proj std ${rms(p.get("o_proj.weight")!)}`);
    assert.ok(p.get("g_norm_swish_gate.weight")!.values().every((v) => v === 1));
  });
});

describe("retnet layer: config errors name the field", () => {
  configErrorTests("retnet", [
    ["numHeads not dividing the key width", { numHeads: 3 }, 16, [/layers\[0\] \(retnet\)/, /numHeads=3/, /key/]],
    ["numKvHeads not dividing numHeads", { numHeads: 4, numKvHeads: 3 }, 16, [/numKvHeads=3/, /numHeads=4/]],
    ["odd key width per head (RoPE)", { numHeads: 16 }, 16, [/expandK/, /numHeads/, /even/]],
    ["decays of the wrong length", { numHeads: 2, decays: [0.9] }, 16, [/decays/, /numHeads=2/]],
    ["a decay above 1", { numHeads: 2, decays: [0.9, 1.5] }, 16, [/'decays\.1'/]],
    ["expandV giving a fractional width", { expandV: 0.1 }, 16, [/expandV/]],
    ["ropeTheta 0", { ropeTheta: 0 }, 16, [/'ropeTheta'/]],
    ["unknown field", { xpos: true }, 16, [/unknown field/, /'xpos'/]],
  ]);
});

describe("retnet layer = independent scalar loop of the reference equations (f64)", () => {
  const B = 2;
  const T = 9;
  const D = 16;
  const variants: Array<[string, Record<string, unknown>, RetRef]> = [
    ["defaults (H=8, K=2, V=4), chunk 3", { chunkSize: 3 }, { H: 8, Hkv: 8, gate: true, theta: 10000, decays: null }],
    [
      "GQA H=4/Hkv=2, short conv (bias), decays [0.5, 0.8, 0.95, 1], ropeTheta 50, chunk 4",
      { numHeads: 4, numKvHeads: 2, useShortConv: true, convBias: true, decays: [0.5, 0.8, 0.95, 1], ropeTheta: 50, chunkSize: 4 },
      { H: 4, Hkv: 2, gate: true, theta: 50, decays: [0.5, 0.8, 0.95, 1] },
    ],
    [
      "no output gate, MQA H=2/Hkv=1, expandK 0.5, expandV 1",
      { numHeads: 2, numKvHeads: 1, useOutputGate: false, expandK: 0.5, expandV: 1 },
      { H: 2, Hkv: 1, gate: false, theta: 10000, decays: null },
    ],
  ];
  loopTests(variants, { make: (config) => make(config, D, 4), loop: retnetLoop, B, T, D, tol: LOOP_TOL });
});

describe("retnet layer: state", () => {
  test("H·K·V + 1 + (W−1)(H·K + Hkv·K + Hkv·V) floats after 1, 10 and 200 tokens; pos counts tokens", () => {
    const layer = make({ numHeads: 4, numKvHeads: 2, useShortConv: true });
    // H=4, K=4, V=8; convs: q 16 channels, k 8, v 16; W−1 = 3
    const state = checkStateSize(layer, 16, 200, () => 4 * 4 * 8 + 1 + 3 * (16 + 8 + 16));
    assert.deepEqual([...state.pos!.values()], [200, 200]);
    assert.deepEqual(Object.keys(layer.initState(1)).sort(), ["k_conv", "pos", "q_conv", "recurrent", "v_conv"]);
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ numHeads: 2 });
    const x = randn([2, 16], new Random(1), { dtype: "f64" });
    assert.throws(() => layer.step(x, layer.initState(3)), /state\.\w+ must have shape \[2/);
    const { pos: _drop, ...partial } = layer.initState(2);
    void _drop;
    assert.throws(() => layer.step(x, partial), /state\.pos must have shape \[2\]/);
  });
});

describe("retnet layer: gradients", () => {
  test("gradcheck of every parameter through prefill + continued forward (f64, GQA, conv bias, chunk 2), and grads through step", () => {
    const layer = make({ numHeads: 2, numKvHeads: 1, expandV: 1, useShortConv: true, convSize: 2, convBias: true, chunkSize: 2 }, 8, 9);
    randomize(layer, 10);
    checkGradients(layer, 8, 11);
  });
});
