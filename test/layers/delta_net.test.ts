/**
 * The deltanet mixer layer (spec/mixers.md §7.1, fla DeltaNet):
 *  - parameter names and shapes (listed literally, fla's names), also inside a LanguageModel;
 *  - config errors name the bad field;
 *  - the parallel forward (chunk form, several chunk sizes), prefill + continued forward and prefill + step all
 *    equal an independent scalar loop of the reference equations (short conv + SiLU, per-head L2 norm of q/k,
 *    β = σ(·) or 2σ(·), delta rule, (gated) RMSNorm, o_proj), f64, within 1e-12 relative to max |y|;
 *  - the state is H·K·V + (W−1)(2HK + HV) floats however many tokens are fed;
 *  - gradients: finite-difference gradcheck (f64) of every parameter through prefill + continuation, and finite
 *    non-zero gradients for every parameter through the step form;
 *  - init: projections N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), o_norm 1.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import type { MixerLayer } from "../../src/layers/index.js";
import { attnNamesInModel, checkStateSize, checkStepGradients, configErrorTests, gradcheckPrefill, makeLayer, randomize as randomizeAll, rms, shapes } from "./checks.js";
import { checkAgainstLoop, type DeltaRefConfig } from "./delta_reference.js";

const LOOP_TOL = 1e-12;

const make = (config: Record<string, unknown>, dModel = 16, seed = 1, nLayers = 2): MixerLayer => makeLayer("deltanet", config, dModel, seed, nLayers);
/** every parameter N(0, std), A_log, dt_bias and o_norm included */
const randomize = (layer: MixerLayer, seed: number, std: number) => randomizeAll(layer, seed, std, { normsAroundOne: false });

describe("deltanet layer: parameters (fla DeltaNet names and shapes)", () => {
  test("defaults at dModel 16: 4 heads, K = V = 4, short convs of width 4, RMSNorm o_norm", () => {
    assert.deepEqual(shapes(make({})), {
      "q_proj.weight": [16, 16],
      "k_proj.weight": [16, 16],
      "v_proj.weight": [16, 16],
      "b_proj.weight": [4, 16],
      "q_conv1d.weight": [16, 1, 4],
      "k_conv1d.weight": [16, 1, 4],
      "v_conv1d.weight": [16, 1, 4],
      "o_norm.weight": [4],
      "o_proj.weight": [16, 16],
    });
  });

  test("numHeads 2, expandV 1.5, useGate, convSize 3, convBias: K = 8, V = 12, g_proj and gated o_norm", () => {
    assert.deepEqual(shapes(make({ numHeads: 2, expandV: 1.5, useGate: true, convSize: 3, convBias: true })), {
      "q_proj.weight": [16, 16],
      "k_proj.weight": [16, 16],
      "v_proj.weight": [24, 16],
      "b_proj.weight": [2, 16],
      "q_conv1d.weight": [16, 1, 3],
      "q_conv1d.bias": [16],
      "k_conv1d.weight": [16, 1, 3],
      "k_conv1d.bias": [16],
      "v_conv1d.weight": [24, 1, 3],
      "v_conv1d.bias": [24],
      "g_proj.weight": [24, 16],
      "o_norm.weight": [12],
      "o_proj.weight": [16, 24],
    });
  });

  test("useShortConv false, useBeta false, expandK 0.5, numHeads 2: no convs, no b_proj", () => {
    assert.deepEqual(shapes(make({ numHeads: 2, expandK: 0.5, useShortConv: false, useBeta: false })), {
      "q_proj.weight": [8, 16],
      "k_proj.weight": [8, 16],
      "v_proj.weight": [16, 16],
      "o_norm.weight": [8],
      "o_proj.weight": [16, 16],
    });
  });

  test("default numHeads falls back to 1 when 4 does not divide the widths", () => {
    const layer = make({}, 18) as MixerLayer & { numHeads: number; headKDim: number };
    assert.equal(layer.numHeads, 1);
    assert.equal(layer.headKDim, 18);
  });

  test("inside a LanguageModel the names are model.layers.{i}.attn.<fla name>", () => {
    const names = attnNamesInModel({ type: "deltanet", useGate: true });
    assert.deepEqual(names, [
      "model.layers.0.attn.q_proj.weight",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.b_proj.weight",
      "model.layers.0.attn.q_conv1d.weight",
      "model.layers.0.attn.k_conv1d.weight",
      "model.layers.0.attn.v_conv1d.weight",
      "model.layers.0.attn.g_proj.weight",
      "model.layers.0.attn.o_norm.weight",
      "model.layers.0.attn.o_proj.weight",
    ]);
  });

  test("init: projections N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), o_norm 1", () => {
    const p = make({ useGate: true }, 256, 3, 8).stateDict();
    const want: Record<string, [number, number]> = {
      "q_proj.weight": [0.02, 0.02],
      "k_proj.weight": [0.02, 0.02],
      "v_proj.weight": [0.02, 0.02],
      "g_proj.weight": [0.02, 0.02],
      "b_proj.weight": [0.02, 0.1], // 1024 draws: loose
      "o_proj.weight": [0.02 / 4, 0.02],
    };
    for (const [name, [s, tol]] of Object.entries(want)) {
      assert.ok(Math.abs(rms(p.get(name)!) / s - 1) < tol, `${name}: std ${rms(p.get(name)!)}, want ${s}`);
    }
    assert.ok(p.get("o_norm.weight")!.values().every((v) => v === 1));
  });
});

describe("deltanet layer: config errors name the field", () => {
  configErrorTests("deltanet", [
    ["numHeads not dividing the widths", { numHeads: 3 }, [/layers\[0\] \(deltanet\)/, /'numHeads'=3/, /dModel=16/, /expandK/]],
    ["expandK giving a fractional width", { expandK: 0.3 }, [/layers\[0\] \(deltanet\)/, /'expandK'/, /4\.8/]],
    ["expandV not positive", { expandV: 0 }, [/'expandV'/]],
    ["numHeads 0", { numHeads: 0 }, [/'numHeads'/]],
    ["convSize 0", { convSize: 0 }, [/'convSize'/]],
    ["useGate not a boolean", { useGate: "yes" }, [/'useGate'/]],
    ["chunkSize fractional", { chunkSize: 1.5 }, [/'chunkSize'/]],
    ["unknown (fla-only) field", { qk_norm: "sum" }, [/unknown field/, /'qk_norm'/]],
  ]);
});

describe(`deltanet layer = independent scalar loop of the reference equations (f64, ${LOOP_TOL} relative)`, () => {
  const D = 12;
  const base = { useBeta: true, useGate: false, allowNegEigval: false, gated: false, normEps: 1e-5 };
  const cases: Array<[string, Record<string, unknown>, DeltaRefConfig]> = [
    ["defaults (H=4, K=V=3, conv 4), chunk 4", { chunkSize: 4 }, { ...base, H: 4, K: 3, V: 3, convW: 4 }],
    [
      "H=2, K=6, V=9, gate, conv 3 with bias, β ∈ (0,2), chunk 3",
      { numHeads: 2, expandV: 1.5, useGate: true, convSize: 3, convBias: true, allowNegEigval: true, chunkSize: 3 },
      { ...base, H: 2, K: 6, V: 9, convW: 3, useGate: true, allowNegEigval: true },
    ],
    [
      "H=3, no conv (SiLU), no b_proj with β = 2 (reflections), one chunk",
      { numHeads: 3, useShortConv: false, useBeta: false, allowNegEigval: true },
      { ...base, H: 3, K: 4, V: 4, convW: null, useBeta: false, allowNegEigval: true },
    ],
    [
      "H=1, K=24 (expandK 2), gate, normEps 1e-3, chunk 5",
      { numHeads: 1, expandK: 2, useGate: true, normEps: 1e-3, chunkSize: 5 },
      { ...base, H: 1, K: 24, V: 12, convW: 4, useGate: true, normEps: 1e-3 },
    ],
  ];
  for (const [what, config, ref] of cases) {
    test(`${what}: forward, prefill+forward, prefill+step`, () => {
      const layer = make(config, D, 4);
      randomize(layer, 5, 0.5);
      checkAgainstLoop(layer, ref, { B: 2, T: 10, D, split: 4 }, LOOP_TOL);
    });
  }
});

describe("deltanet layer: state", () => {
  test("H·K·V + (W−1)(2HK + HV) floats per sequence after 1, 10 and 300 tokens, all finite", () => {
    for (const [config, want] of [
      [{ numHeads: 2, expandV: 1.5, allowNegEigval: true, convSize: 3 }, 2 * 8 * 12 + 2 * (2 * 16 + 24)],
      [{ useShortConv: false }, 4 * 4 * 4],
    ] as const) {
      checkStateSize(make(config), 16, 300, () => want, { batch: 3, seed: 2, atZero: true });
    }
  });

  test("state keys: conv_q, conv_k, conv_v [B, W−1, C] and recurrent [B, H, K, V]", () => {
    const state = make({ numHeads: 2, expandV: 1.5, convSize: 3 }).initState(5);
    assert.deepEqual(
      Object.fromEntries(Object.entries(state).map(([k, t]) => [k, [...t.shape]])),
      { conv_q: [5, 2, 16], conv_k: [5, 2, 16], conv_v: [5, 2, 24], recurrent: [5, 2, 8, 12] },
    );
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({});
    assert.throws(() => layer.step(randn([2, 16], new Random(1), { dtype: "f64" }), layer.initState(3)), /deltanet: state\.conv_q must have shape \[2,3,16\]/);
  });
});

describe("deltanet layer: gradients", () => {
  test("gradcheck of every parameter through prefill + continued forward (f64, gate, conv bias, β ∈ (0,2), chunk 2)", () => {
    const layer = make({ numHeads: 2, useGate: true, convSize: 2, convBias: true, allowNegEigval: true, chunkSize: 2 }, 6, 9);
    randomize(layer, 10, 0.7);
    const rng = new Random(11);
    const x1 = randn([2, 5, 6], rng, { dtype: "f64" });
    const x2 = randn([2, 3, 6], rng, { dtype: "f64" });
    gradcheckPrefill(layer, x1, x2);
  });

  test("through the step form every parameter gets a finite non-zero gradient", () => {
    const layer = make({ numHeads: 2, useGate: true, convBias: true }, 8, 12);
    randomize(layer, 13, 0.5);
    const x = randn([2, 5, 8], new Random(14), { dtype: "f64" });
    checkStepGradients(layer, x, 5);
  });
});
