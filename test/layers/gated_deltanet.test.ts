/**
 * The gated_deltanet mixer layer (spec/mixers.md §7.1, fla GatedDeltaNet):
 *  - parameter names and shapes (listed literally, fla's names), also inside a LanguageModel; default head sizes
 *    (fla's 6 × 256, expand_v 2 at dModel 2048, scaled down for small widths);
 *  - config errors name the bad field;
 *  - the parallel forward (chunk form, several chunk sizes), prefill + continued forward and prefill + step all
 *    equal an independent scalar loop of the reference equations (short conv + SiLU, L2 norm of q/k, β, the decay
 *    g = −exp(A_log)·softplus(a_proj x + dt_bias), gated delta rule, gated RMSNorm, o_proj), f64, within 1e-12
 *    relative to max |y| — including strong decays (g ≈ −40 per token);
 *  - the state is H·K·V + (W−1)(2HK + HV) floats however many tokens are fed;
 *  - gradients: finite-difference gradcheck (f64) of every parameter (A_log and dt_bias included) through
 *    prefill + continuation, and finite non-zero gradients for every parameter through the step form;
 *  - init: A = exp(A_log) ∈ (0,16] uniform, softplus(dt_bias) ∈ [1e-3, 0.1] log-uniform, projections
 *    N(0, initStd), o_proj N(0, initStd/√(2·nLayers)).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { noGrad } from "../../src/core/autograd.js";
import type { MixerLayer } from "../../src/layers/index.js";
import { GatedDeltaNetLayer, gatedDeltaNetConfig } from "../../src/layers/gated_deltanet.js";
import { attnNamesInModel, checkStateSize, checkStepGradients, configErrorTests, gradcheckPrefill, makeLayer, randomize as randomizeAll, rms, shapes } from "./checks.js";
import { checkAgainstLoop, type DeltaRefConfig } from "./delta_reference.js";

const LOOP_TOL = 1e-12;

const make = (config: Record<string, unknown>, dModel = 16, seed = 1, nLayers = 2): MixerLayer => makeLayer("gated_deltanet", config, dModel, seed, nLayers);
/** every parameter N(0, std), A_log, dt_bias and o_norm included */
const randomize = (layer: MixerLayer, seed: number, std: number) => randomizeAll(layer, seed, std, { normsAroundOne: false });

function dims(config: Record<string, unknown>, dModel: number): [number, number, number] {
  const d = GatedDeltaNetLayer.dims(gatedDeltaNetConfig.parse(config), { dModel, layerIdx: 0 });
  return [d.numHeads, d.headKDim, d.headVDim];
}

describe("gated_deltanet layer: parameters (fla GatedDeltaNet names and shapes)", () => {
  test("defaults at dModel 16: one head, K = 12, V = 24, short convs of width 4, gate on", () => {
    assert.deepEqual(shapes(make({})), {
      A_log: [1],
      dt_bias: [1],
      "q_proj.weight": [12, 16],
      "k_proj.weight": [12, 16],
      "v_proj.weight": [24, 16],
      "a_proj.weight": [1, 16],
      "b_proj.weight": [1, 16],
      "q_conv1d.weight": [12, 1, 4],
      "k_conv1d.weight": [12, 1, 4],
      "v_conv1d.weight": [24, 1, 4],
      "g_proj.weight": [24, 16],
      "o_norm.weight": [24],
      "o_proj.weight": [16, 24],
    });
  });

  test("numHeads 2, headDim 4, expandV 1.5, convSize 3, convBias", () => {
    assert.deepEqual(shapes(make({ numHeads: 2, headDim: 4, expandV: 1.5, convSize: 3, convBias: true })), {
      A_log: [2],
      dt_bias: [2],
      "q_proj.weight": [8, 16],
      "k_proj.weight": [8, 16],
      "v_proj.weight": [12, 16],
      "a_proj.weight": [2, 16],
      "b_proj.weight": [2, 16],
      "q_conv1d.weight": [8, 1, 3],
      "q_conv1d.bias": [8],
      "k_conv1d.weight": [8, 1, 3],
      "k_conv1d.bias": [8],
      "v_conv1d.weight": [12, 1, 3],
      "v_conv1d.bias": [12],
      "g_proj.weight": [12, 16],
      "o_norm.weight": [6],
      "o_proj.weight": [16, 12],
    });
  });

  test("useGate false, useShortConv false: no g_proj, no convs, plain RMSNorm", () => {
    assert.deepEqual(shapes(make({ numHeads: 2, headDim: 4, expandV: 1, useGate: false, useShortConv: false })), {
      A_log: [2],
      dt_bias: [2],
      "q_proj.weight": [8, 16],
      "k_proj.weight": [8, 16],
      "v_proj.weight": [8, 16],
      "a_proj.weight": [2, 16],
      "b_proj.weight": [2, 16],
      "o_norm.weight": [4],
      "o_proj.weight": [16, 8],
    });
  });

  test("default sizes [H, K, V]: fla's 6 × 256 (V 512) at dModel 2048, H·K ≈ 0.75·dModel below", () => {
    assert.deepEqual(dims({}, 2048), [6, 256, 512]);
    assert.deepEqual(dims({}, 512), [2, 192, 384]);
    assert.deepEqual(dims({}, 16), [1, 12, 24]);
    assert.deepEqual(dims({ numHeads: 4 }, 16), [4, 3, 6]);
    assert.deepEqual(dims({ headDim: 8 }, 64), [6, 8, 16]);
    assert.deepEqual(dims({ numHeads: 3, headDim: 5, expandV: 1 }, 16), [3, 5, 5]);
  });

  test("inside a LanguageModel the names are model.layers.{i}.attn.<fla name>", () => {
    const names = attnNamesInModel({ type: "gated_deltanet" });
    assert.deepEqual(names, [
      "model.layers.0.attn.A_log",
      "model.layers.0.attn.dt_bias",
      "model.layers.0.attn.q_proj.weight",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.a_proj.weight",
      "model.layers.0.attn.b_proj.weight",
      "model.layers.0.attn.q_conv1d.weight",
      "model.layers.0.attn.k_conv1d.weight",
      "model.layers.0.attn.v_conv1d.weight",
      "model.layers.0.attn.g_proj.weight",
      "model.layers.0.attn.o_norm.weight",
      "model.layers.0.attn.o_proj.weight",
    ]);
  });

  test("init: A = exp(A_log) ~ U(0,16], dt = softplus(dt_bias) log-uniform in [1e-3, 0.1]", () => {
    const p = make({ numHeads: 400, headDim: 1, expandV: 1, useShortConv: false }, 16, 3).stateDict();
    const A = Array.from(p.get("A_log")!.values(), Math.exp);
    assert.ok(A.every((a) => a > 0 && a <= 16 + 1e-12), "A in (0,16]");
    const meanA = A.reduce((s, a) => s + a, 0) / A.length;
    assert.ok(Math.abs(meanA - 8) < 1, `mean A ${meanA}, want ≈ 8`);
    const dt = Array.from(p.get("dt_bias")!.values(), (b) => Math.log1p(Math.exp(b)));
    assert.ok(dt.every((d) => d >= 1e-3 * (1 - 1e-9) && d <= 0.1 * (1 + 1e-9)), "dt in [1e-3, 0.1]");
    const meanLog = dt.reduce((s, d) => s + Math.log(d), 0) / dt.length;
    assert.ok(Math.abs(meanLog - (Math.log(1e-3) + Math.log(0.1)) / 2) < 0.3, `mean log dt ${meanLog}`);
  });

  test("init: projections N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), o_norm 1", () => {
    const p = make({}, 256, 3, 8).stateDict();
    for (const [name, s] of [["q_proj.weight", 0.02], ["k_proj.weight", 0.02], ["v_proj.weight", 0.02], ["g_proj.weight", 0.02], ["o_proj.weight", 0.005]] as const) {
      assert.ok(Math.abs(rms(p.get(name)!) / s - 1) < 0.02, `${name}: std ${rms(p.get(name)!)}, want ${s}`);
    }
    assert.ok(p.get("o_norm.weight")!.values().every((v) => v === 1));
  });
});

describe("gated_deltanet layer: config errors name the field", () => {
  configErrorTests("gated_deltanet", [
    ["expandV giving a fractional value width", { headDim: 4, expandV: 0.3 }, [/layers\[0\] \(gated_deltanet\)/, /'expandV'/, /1\.2/]],
    ["numHeads too many for the default head width", { numHeads: 20 }, [/layers\[0\] \(gated_deltanet\)/, /'numHeads'=20/, /headDim/]],
    ["numHeads 0", { numHeads: 0 }, [/'numHeads'/]],
    ["headDim fractional", { headDim: 1.5 }, [/'headDim'/]],
    ["normEps negative", { normEps: -1 }, [/'normEps'/]],
    ["allowNegEigval not a boolean", { allowNegEigval: 1 }, [/'allowNegEigval'/]],
    ["unsupported fla option num_v_heads", { num_v_heads: 4 }, [/unknown field/, /'num_v_heads'/]],
  ]);
});

describe(`gated_deltanet layer = independent scalar loop of the reference equations (f64, ${LOOP_TOL} relative)`, () => {
  const D = 12;
  const base = { useBeta: true, useGate: true, allowNegEigval: false, gated: true, normEps: 1e-5 };
  const cases: Array<[string, Record<string, unknown>, DeltaRefConfig, number | null]> = [
    ["defaults (H=1, K=9, V=18, conv 4, gate), chunk 4", { chunkSize: 4 }, { ...base, H: 1, K: 9, V: 18, convW: 4 }, null],
    [
      "H=2, K=4, V=6, conv 3 with bias, β ∈ (0,2), chunk 3",
      { numHeads: 2, headDim: 4, expandV: 1.5, convSize: 3, convBias: true, allowNegEigval: true, chunkSize: 3 },
      { ...base, H: 2, K: 4, V: 6, convW: 3, allowNegEigval: true },
      null,
    ],
    [
      "H=3, K=V=3, no conv (SiLU), no gate (RMSNorm), one chunk",
      { numHeads: 3, headDim: 3, expandV: 1, useShortConv: false, useGate: false },
      { ...base, H: 3, K: 3, V: 3, convW: null, useGate: false },
      null,
    ],
    [
      "strong decay (A_log = 3, dt_bias = 2: g ≈ −40 per token), H=2, K=3, V=6, chunk 5",
      { numHeads: 2, headDim: 3, chunkSize: 5 },
      { ...base, H: 2, K: 3, V: 6, convW: 4 },
      3,
    ],
  ];
  for (const [what, config, ref, strong] of cases) {
    test(`${what}: forward, prefill+forward, prefill+step`, () => {
      const layer = make(config, D, 4);
      randomize(layer, 5, 0.5);
      if (strong !== null) {
        noGrad(() => {
          const p = layer.stateDict();
          p.get("A_log")!.data.fill(strong);
          p.get("dt_bias")!.data.fill(2);
        });
      }
      checkAgainstLoop(layer, ref, { B: 2, T: 10, D, split: 4 }, LOOP_TOL);
    });
  }
});

describe("gated_deltanet layer: state", () => {
  test("H·K·V + (W−1)(2HK + HV) floats per sequence after 1, 10 and 300 tokens, all finite", () => {
    for (const [config, want] of [
      [{ numHeads: 2, headDim: 4, expandV: 1.5, allowNegEigval: true, convSize: 3 }, 2 * 4 * 6 + 2 * (2 * 8 + 12)],
      [{ useShortConv: false }, 12 * 24],
    ] as const) {
      checkStateSize(make(config), 16, 300, () => want, { batch: 3, seed: 2, atZero: true });
    }
  });

  test("state keys: conv_q, conv_k, conv_v [B, W−1, C] and recurrent [B, H, K, V]", () => {
    const state = make({ numHeads: 2, headDim: 4, expandV: 1.5, convSize: 3 }).initState(5);
    assert.deepEqual(
      Object.fromEntries(Object.entries(state).map(([k, t]) => [k, [...t.shape]])),
      { conv_q: [5, 2, 8], conv_k: [5, 2, 8], conv_v: [5, 2, 12], recurrent: [5, 2, 4, 6] },
    );
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ useShortConv: false });
    assert.throws(() => layer.step(randn([2, 16], new Random(1), { dtype: "f64" }), layer.initState(3)), /gated_deltanet: state\.recurrent must have shape \[2,1,12,24\]/);
  });
});

describe("gated_deltanet layer: gradients", () => {
  test("gradcheck of every parameter (A_log, dt_bias included) through prefill + continued forward (f64, chunk 2)", () => {
    const layer = make({ numHeads: 2, headDim: 2, expandV: 1.5, convSize: 2, convBias: true, allowNegEigval: true, chunkSize: 2 }, 6, 9);
    randomize(layer, 10, 0.7);
    const rng = new Random(11);
    const x1 = randn([2, 5, 6], rng, { dtype: "f64" });
    const x2 = randn([2, 3, 6], rng, { dtype: "f64" });
    gradcheckPrefill(layer, x1, x2);
  });

  test("through the step form every parameter gets a finite non-zero gradient", () => {
    const layer = make({ numHeads: 2, headDim: 3, convBias: true }, 8, 12);
    randomize(layer, 13, 0.5);
    const x = randn([2, 5, 8], new Random(14), { dtype: "f64" });
    checkStepGradients(layer, x, 5);
  });
});
