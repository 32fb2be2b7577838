/**
 * The gla mixer layer (spec/mixers.md §6, fla `fla/layers/gla.py: GatedLinearAttention`):
 *  - parameter names and shapes are fla's (listed literally), also inside a LanguageModel;
 *  - config errors name the bad field (both fields for cross-field checks);
 *  - the parallel forward (chunk form with small chunks), prefill + continued forward and prefill + step all equal
 *    an independent scalar loop of the reference equations (projections, optional short conv + SiLU, low-rank
 *    gate logsigmoid(·)/normalizer with clamp, GQA repeat, S ← Diag(e^gk) S + kᵀv, o = K^-1/2 q S, gated RMSNorm,
 *    o_proj), f64, within 1e-12 relative to max |y|;
 *  - the state is H·K·V + (W−1)(H·K + Hkv·K + Hkv·V) floats however many tokens are fed;
 *  - gradients: finite-difference gradcheck (f64) of every parameter, and non-zero finite grads through step;
 *  - init: projections N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), gate bias 0, norm weights 1.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { noGrad } from "../../src/core/autograd.js";
import type { GlaLayer } from "../../src/layers/gla.js";
import { attnNamesInModel, checkGradients, checkStateSize, configErrorTests, ctx, loopTests, makeLayer, randomize, rms, shapes } from "./checks.js";
import { affine, arr, convSilu, heads, kvOf, logsigmoid, rmsnormVec, silu, type Params } from "./linear_reference.js";
import { createLayer } from "../../src/layers/index.js";

const LOOP_TOL = 1e-12;
const make = (config: Record<string, unknown>, dModel = 16, seed = 1) => makeLayer("gla", config, dModel, seed);

interface GlaRef {
  H: number;
  Hkv: number;
  gate: boolean;
  normalizer: number;
  clampMin: number | null;
}

/** fla's GatedLinearAttention forward as scalar loops over plain arrays: x [B][T][D] → y [B][T][D]. */
function glaLoop(p: Params, x: number[][][], c: GlaRef): number[][][] {
  const { H, Hkv } = c;
  const G = H / Hkv;
  const normW = arr(p, c.gate ? "g_norm_swish_gate.weight" : "g_norm.weight")!;
  return x.map((seq) => {
    const qs = convSilu(p, "q_conv1d", seq.map((xt) => affine(p, "q_proj", xt)));
    const ks = convSilu(p, "k_conv1d", seq.map((xt) => affine(p, "k_proj", xt)));
    const vs = convSilu(p, "v_conv1d", seq.map((xt) => affine(p, "v_proj", xt)));
    const gks = seq.map((xt) =>
      affine(p, "gk_proj.1", affine(p, "gk_proj.0", xt)).map((z) => {
        const g = logsigmoid(z) / c.normalizer;
        return c.clampMin === null ? g : Math.max(g, c.clampMin);
      }),
    );
    const K = qs[0]!.length / H;
    const V = vs[0]!.length / Hkv;
    const S = Array.from({ length: H }, () => Array.from({ length: K }, () => new Array<number>(V).fill(0)));
    return seq.map((xt, t) => {
      const q = heads(qs[t]!, H);
      const k = heads(ks[t]!, Hkv);
      const v = heads(vs[t]!, Hkv);
      const gk = heads(gks[t]!, Hkv);
      const g = c.gate ? heads(affine(p, "g_proj", xt), H) : null;
      const o: number[] = [];
      for (let h = 0; h < H; h++) {
        const j = kvOf(h, G);
        for (let a = 0; a < K; a++) for (let b = 0; b < V; b++) S[h]![a]![b] = Math.exp(gk[j]![a]!) * S[h]![a]![b]! + k[j]![a]! * v[j]![b]!;
        const oh = Array.from({ length: V }, (_, b) => S[h]!.reduce((s, row, a) => s + (q[h]![a]! / Math.sqrt(K)) * row[b]!, 0));
        let n = rmsnormVec(oh, normW, 1e-5);
        if (g) n = n.map((u, i) => u * silu(g[h]![i]!));
        o.push(...n);
      }
      return affine(p, "o_proj", o);
    });
  });
}

describe("gla layer: parameters (fla GatedLinearAttention names and shapes)", () => {
  test("defaults at dModel 16: 4 heads, K = 2 (expandK 0.5), V = 4, gate rank 16, fused gated norm", () => {
    assert.deepEqual(shapes(make({})), {
      "q_proj.weight": [8, 16],
      "k_proj.weight": [8, 16],
      "v_proj.weight": [16, 16],
      "g_proj.weight": [16, 16],
      "gk_proj.0.weight": [16, 16],
      "gk_proj.1.weight": [8, 16],
      "gk_proj.1.bias": [8],
      "o_proj.weight": [16, 16],
      "g_norm_swish_gate.weight": [4],
    });
  });

  test("GQA H=2/Hkv=1, short conv (3, bias), rank 4, no output gate: K = 4, V = 8, plain g_norm", () => {
    assert.deepEqual(
      shapes(make({ numHeads: 2, numKvHeads: 1, useShortConv: true, convSize: 3, convBias: true, gateLowRankDim: 4, useOutputGate: false })),
      {
        "q_proj.weight": [8, 16],
        "k_proj.weight": [4, 16],
        "v_proj.weight": [8, 16],
        "q_conv1d.weight": [8, 1, 3],
        "q_conv1d.bias": [8],
        "k_conv1d.weight": [4, 1, 3],
        "k_conv1d.bias": [4],
        "v_conv1d.weight": [8, 1, 3],
        "v_conv1d.bias": [8],
        "gk_proj.0.weight": [4, 16],
        "gk_proj.1.weight": [4, 4],
        "gk_proj.1.bias": [4],
        "o_proj.weight": [16, 16],
        "g_norm.weight": [8],
      },
    );
  });

  test("default numHeads falls back to 1 when 4 does not divide the widths (dModel 6: key width 3)", () => {
    const layer = make({}, 6) as GlaLayer;
    assert.equal(layer.numHeads, 1);
    assert.deepEqual(shapes(layer)["q_proj.weight"], [3, 6]);
  });

  test("inside a LanguageModel the names are model.layers.{i}.attn.<fla name>", () => {
    const names = attnNamesInModel({ type: "gla", numHeads: 2 });
    assert.deepEqual(names, [
      "model.layers.0.attn.q_proj.weight",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.g_proj.weight",
      "model.layers.0.attn.gk_proj.0.weight",
      "model.layers.0.attn.gk_proj.1.weight",
      "model.layers.0.attn.gk_proj.1.bias",
      "model.layers.0.attn.o_proj.weight",
      "model.layers.0.attn.g_norm_swish_gate.weight",
    ]);
  });

  test("init: weights N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), gate bias 0, norm 1; gk ≈ logsigmoid(0)/16 at init", () => {
    const layer = createLayer({ type: "gla", numHeads: 4 }, ctx(3, 256, 8)) as GlaLayer;
    const p = layer.stateDict();
    for (const name of ["q_proj.weight", "k_proj.weight", "v_proj.weight", "g_proj.weight", "gk_proj.0.weight", "gk_proj.1.weight"]) {
      assert.ok(Math.abs(rms(p.get(name)!) / 0.02 - 1) < 0.05, `${name}: std ${rms(p.get(name)!)}`);
    }
    assert.ok(Math.abs(rms(p.get("o_proj.weight")!) / (0.02 / 4) - 1) < 0.02, `o_proj std ${rms(p.get("o_proj.weight")!)}`);
    assert.ok(p.get("gk_proj.1.bias")!.values().every((v) => v === 0));
    assert.ok(p.get("g_norm_swish_gate.weight")!.values().every((v) => v === 1));
    const gk = noGrad(() => layer.gate(randn([1, 3, 256], new Random(4), { dtype: "f64" })));
    for (const g of gk.values()) assert.ok(Math.abs(g - Math.log(0.5) / 16) < 2e-3, `gk ${g}`);
  });
});

describe("gla layer: config errors name the field", () => {
  configErrorTests("gla", [
    ["numHeads not dividing the key width", { numHeads: 3 }, 16, [/layers\[0\] \(gla\)/, /numHeads=3/, /key/]],
    ["numKvHeads not dividing numHeads", { numHeads: 4, numKvHeads: 3 }, 16, [/numKvHeads=3/, /numHeads=4/]],
    ["expandK giving a fractional width", { expandK: 0.3 }, 16, [/expandK/, /4\.8/]],
    ["clampMin positive", { clampMin: 0.1 }, 16, [/'clampMin'/]],
    ["gateLowRankDim 0", { gateLowRankDim: 0 }, 16, [/'gateLowRankDim'/]],
    ["gateLogitNormalizer 0", { gateLogitNormalizer: 0 }, 16, [/'gateLogitNormalizer'/]],
    ["useShortConv not a boolean", { useShortConv: 1 }, 16, [/'useShortConv'/]],
    ["unknown field", { expand_k: 0.5 }, 16, [/unknown field/, /'expand_k'/]],
  ]);
});

describe("gla layer = independent scalar loop of the reference equations (f64)", () => {
  const B = 2;
  const T = 9;
  const D = 16;
  const variants: Array<[string, Record<string, unknown>, GlaRef]> = [
    ["defaults (H=4, K=2, V=4), chunk 3", { chunkSize: 3 }, { H: 4, Hkv: 4, gate: true, normalizer: 16, clampMin: null }],
    [
      "GQA H=4/Hkv=2, short conv (bias), normalizer 2, clampMin −0.3, expandK 1, chunk 4",
      { numHeads: 4, numKvHeads: 2, useShortConv: true, convBias: true, gateLogitNormalizer: 2, clampMin: -0.3, expandK: 1, chunkSize: 4 },
      { H: 4, Hkv: 2, gate: true, normalizer: 2, clampMin: -0.3 },
    ],
    [
      "no output gate, MQA H=2/Hkv=1, rank 3, expandV 1.5",
      { numHeads: 2, numKvHeads: 1, useOutputGate: false, gateLowRankDim: 3, expandV: 1.5, gateLogitNormalizer: 1 },
      { H: 2, Hkv: 1, gate: false, normalizer: 1, clampMin: null },
    ],
  ];
  loopTests(variants, { make: (config) => make(config, D, 4), loop: glaLoop, B, T, D, tol: LOOP_TOL });
});

describe("gla layer: state", () => {
  test("H·K·V + (W−1)(H·K + Hkv·K + Hkv·V) floats after 1, 10 and 200 tokens, all finite", () => {
    const layer = make({ numHeads: 4, numKvHeads: 2, useShortConv: true });
    // H=4, K=2, V=4; convs: q 8 channels, k 4, v 8; W−1 = 3
    checkStateSize(layer, 16, 200, () => 4 * 2 * 4 + 3 * (8 + 4 + 8));
    assert.deepEqual(Object.keys(layer.initState(1)).sort(), ["k_conv", "q_conv", "recurrent", "v_conv"]);
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ numHeads: 2, useShortConv: true });
    const x = randn([2, 16], new Random(1), { dtype: "f64" });
    assert.throws(() => layer.step(x, layer.initState(3)), /state\.\w+ must have shape \[2,/);
    const { k_conv: _drop, ...partial } = layer.initState(2);
    void _drop;
    assert.throws(() => layer.step(x, partial), /state\.k_conv must have shape \[2,3,8\]/);
  });
});

describe("gla layer: gradients", () => {
  test("gradcheck of every parameter through prefill + continued forward (f64, GQA, conv bias, chunk 2), and grads through step", () => {
    const layer = make({ numHeads: 2, numKvHeads: 1, expandK: 1, useShortConv: true, convSize: 2, convBias: true, gateLowRankDim: 3, gateLogitNormalizer: 2, chunkSize: 2 }, 8, 9);
    randomize(layer, 10);
    checkGradients(layer, 8, 11);
  });
});
