/**
 * The linear_attn mixer layer (spec/mixers.md §3, fla `fla/layers/linear_attn.py: LinearAttention`):
 *  - parameter names and shapes are fla's (listed literally), also inside a LanguageModel;
 *  - config errors name the bad field (identity + doFeatureMapNorm is refused, spec §3);
 *  - the parallel forward (chunk form with small chunks), prefill + continued forward and prefill + step all equal
 *    an independent scalar loop of the reference equations (projections, GQA repeat, feature map — learned
 *    Hadamard, elu+1, relu, identity, Taylor-2 —, norm_q / norm_k, S ← S + φ(k)ᵀv, o = τ φ(q) S with the optional
 *    normaliser τ φ(q)·Σφ(k) + 1e-10, per-head RMSNorm, o_proj), f64, within 1e-12 relative to max |y|;
 *  - the state is H·f·V (+ H·f with the normaliser) floats however many tokens are fed;
 *  - gradients: finite-difference gradcheck (f64) of every parameter, and non-zero finite grads through step;
 *  - init: projections (and the Hadamard maps) N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), biases 0.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { createLayer } from "../../src/layers/index.js";
import type { LinearAttnLayer } from "../../src/layers/linear_attn.js";
import { attnNamesInModel, checkGradients, checkStateSize, configErrorTests, ctx, loopTests, makeLayer, randomize, rms, shapes } from "./checks.js";
import { affine, arr, dot, heads, kvOf, rmsnormVec, type Params } from "./linear_reference.js";

const LOOP_TOL = 1e-12;
const make = (config: Record<string, unknown>, dModel = 16, seed = 1) => makeLayer("linear_attn", config, dModel, seed);

type MapName = "elementwise_product" | "elu" | "relu" | "identity" | "taylor_exp";

interface LinRef {
  H: number;
  Hkv: number;
  map: MapName;
  normQ: boolean;
  normK: boolean;
  normalize: boolean;
  outNorm: boolean;
}

/** φ of one head vector (which = "q" or "k" picks the Hadamard map) */
function phi(p: Params, map: MapName, which: "q" | "k", z: number[]): number[] {
  const K = z.length;
  switch (map) {
    case "elementwise_product": {
      const a = affine(p, `feature_map_${which}.layer1`, z);
      const b = affine(p, `feature_map_${which}.layer2`, z);
      return a.map((u, i) => u * b[i]!);
    }
    case "elu":
      return z.map((u) => (u > 0 ? u : Math.exp(u) - 1) + 1);
    case "relu":
      return z.map((u) => Math.max(u, 0));
    case "identity":
      return z;
    case "taylor_exp": {
      const out = [1, ...z.map((u) => u / Math.pow(K, 0.25))];
      for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) out.push((z[i]! * z[j]!) / (Math.SQRT2 * Math.sqrt(K)));
      return out;
    }
  }
}

/** fla's LinearAttention forward as scalar loops over plain arrays: x [B][T][D] → y [B][T][D]. */
function linearAttnLoop(p: Params, x: number[][][], c: LinRef): number[][][] {
  const { H, Hkv } = c;
  const G = H / Hkv;
  const normW = arr(p, "norm.weight");
  const sumNorm = (z: number[]) => {
    const s = z.reduce((a, b) => a + b, 0) + 1e-4;
    return z.map((u) => u / s);
  };
  return x.map((seq) => {
    let S: number[][][] | null = null;
    let zsum: number[][] | null = null;
    return seq.map((xt) => {
      let q = heads(affine(p, "q_proj", xt), H).map((z) => phi(p, c.map, "q", z));
      // kv heads are repeated before the map, as fla does (the map is the same for every head)
      let k = Array.from({ length: H }, (_, h) => phi(p, c.map, "k", heads(affine(p, "k_proj", xt), Hkv)[kvOf(h, G)]!));
      const v = Array.from({ length: H }, (_, h) => heads(affine(p, "v_proj", xt), Hkv)[kvOf(h, G)]!);
      if (c.normQ) q = q.map(sumNorm);
      if (c.normK) k = k.map(sumNorm);
      const f = q[0]!.length;
      const V = v[0]!.length;
      const tau = c.map === "taylor_exp" ? 1 : 1 / Math.sqrt(f);
      S ??= Array.from({ length: H }, () => Array.from({ length: f }, () => new Array<number>(V).fill(0)));
      zsum ??= Array.from({ length: H }, () => new Array<number>(f).fill(0));
      const o: number[] = [];
      for (let h = 0; h < H; h++) {
        for (let a = 0; a < f; a++) {
          zsum[h]![a]! += k[h]![a]!;
          for (let b = 0; b < V; b++) S[h]![a]![b]! += k[h]![a]! * v[h]![b]!;
        }
        let oh = Array.from({ length: V }, (_, b) => S![h]!.reduce((s, row, a) => s + tau * q[h]![a]! * row[b]!, 0));
        if (c.normalize) {
          const den = tau * dot(q[h]!, zsum[h]!) + 1e-10;
          oh = oh.map((u) => u / den);
        }
        o.push(...(c.outNorm ? rmsnormVec(oh, normW!, 1e-5) : oh));
      }
      return affine(p, "o_proj", o);
    });
  });
}

describe("linear_attn layer: parameters (fla LinearAttention names and shapes)", () => {
  test("defaults at dModel 16: 8 heads of K = V = 2, Hadamard feature maps, RMSNorm output", () => {
    const layer = make({}) as LinearAttnLayer;
    assert.deepEqual(shapes(layer), {
      "feature_map_q.layer1.weight": [2, 2],
      "feature_map_q.layer1.bias": [2],
      "feature_map_q.layer2.weight": [2, 2],
      "feature_map_q.layer2.bias": [2],
      "feature_map_k.layer1.weight": [2, 2],
      "feature_map_k.layer1.bias": [2],
      "feature_map_k.layer2.weight": [2, 2],
      "feature_map_k.layer2.bias": [2],
      "q_proj.weight": [16, 16],
      "k_proj.weight": [16, 16],
      "v_proj.weight": [16, 16],
      "norm.weight": [2],
      "o_proj.weight": [16, 16],
    });
    assert.equal(layer.config.featureMap, "elementwise_product");
  });

  test("GQA H=4/Hkv=2, expandK 0.5, elu, no output norm: K = 2, V = 4", () => {
    assert.deepEqual(shapes(make({ numHeads: 4, numKvHeads: 2, expandK: 0.5, featureMap: "elu", outputNorm: "identity" })), {
      "q_proj.weight": [8, 16],
      "k_proj.weight": [4, 16],
      "v_proj.weight": [8, 16],
      "o_proj.weight": [16, 16],
    });
  });

  test("taylor_exp: feature width 1 + K + K² on the state's key axis", () => {
    const layer = make({ numHeads: 4, featureMap: "taylor_exp" }) as LinearAttnLayer;
    assert.equal(layer.featureDim, 1 + 4 + 16);
    assert.deepEqual(layer.initState(2).recurrent!.shape, [2, 4, 21, 4]);
  });

  test("inside a LanguageModel the names are model.layers.{i}.attn.<fla name>", () => {
    const names = attnNamesInModel({ type: "linear_attn", numHeads: 2, featureMap: "relu" });
    assert.deepEqual(names, [
      "model.layers.0.attn.q_proj.weight",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.norm.weight",
      "model.layers.0.attn.o_proj.weight",
    ]);
  });

  test("init: weights N(0, initStd), o_proj N(0, initStd/√(2·nLayers)), feature-map biases 0, norm 1", () => {
    const layer = createLayer({ type: "linear_attn", numHeads: 2 }, ctx(3, 256, 8));
    const p = layer.stateDict();
    for (const name of ["q_proj.weight", "k_proj.weight", "v_proj.weight", "feature_map_q.layer1.weight", "feature_map_k.layer2.weight"]) {
      assert.ok(Math.abs(rms(p.get(name)!) / 0.02 - 1) < 0.02, `${name}: std ${rms(p.get(name)!)}`);
    }
    assert.ok(Math.abs(rms(p.get("o_proj.weight")!) / (0.02 / 4) - 1) < 0.02, `o_proj std ${rms(p.get("o_proj.weight")!)}`);
    for (const name of ["feature_map_q.layer1.bias", "feature_map_q.layer2.bias", "feature_map_k.layer1.bias", "feature_map_k.layer2.bias"]) {
      assert.ok(p.get(name)!.values().every((v) => v === 0), name);
    }
    assert.ok(p.get("norm.weight")!.values().every((v) => v === 1));
  });
});

describe("linear_attn layer: config errors name the field", () => {
  configErrorTests("linear_attn", [
    ["identity map with the normaliser", { featureMap: "identity", doFeatureMapNorm: true }, 16, [/layers\[0\] \(linear_attn\)/, /'doFeatureMapNorm'/, /identity/]],
    ["unknown feature map", { featureMap: "hedgehog" }, 16, [/'featureMap'/]],
    ["unknown output norm", { outputNorm: "layernorm" }, 16, [/'outputNorm'/]],
    ["numHeads not dividing the key width", { numHeads: 3 }, 16, [/numHeads=3/, /key/]],
    ["numKvHeads not dividing numHeads", { numHeads: 4, numKvHeads: 3 }, 16, [/numKvHeads=3/, /numHeads=4/]],
    ["expandK giving a fractional width", { expandK: 0.3 }, 16, [/expandK/]],
    ["unknown field", { feature_map: "elu" }, 16, [/unknown field/, /'feature_map'/]],
  ]);
});

describe("linear_attn layer = independent scalar loop of the reference equations (f64)", () => {
  const B = 2;
  const T = 9;
  const D = 16;
  const base = { normQ: false, normK: false, normalize: false, outNorm: true };
  const variants: Array<[string, Record<string, unknown>, LinRef]> = [
    ["defaults (Hadamard maps, H=8, RMSNorm output), chunk 3", { chunkSize: 3 }, { ...base, H: 8, Hkv: 8, map: "elementwise_product" }],
    [
      "elu+1, normaliser, normK, GQA H=4/Hkv=2, expandK 0.5, chunk 4",
      { featureMap: "elu", doFeatureMapNorm: true, normK: true, numHeads: 4, numKvHeads: 2, expandK: 0.5, chunkSize: 4 },
      { ...base, H: 4, Hkv: 2, map: "elu", normK: true, normalize: true },
    ],
    [
      "Taylor-2 with the normaliser, no output norm, H=4",
      { featureMap: "taylor_exp", doFeatureMapNorm: true, outputNorm: "identity", numHeads: 4 },
      { ...base, H: 4, Hkv: 4, map: "taylor_exp", normalize: true, outNorm: false },
    ],
    ["relu, normQ, H=2, expandV 1.5", { featureMap: "relu", normQ: true, numHeads: 2, expandV: 1.5 }, { ...base, H: 2, Hkv: 2, map: "relu", normQ: true }],
    [
      "identity, no normaliser, MQA H=4/Hkv=1, chunk 2",
      { featureMap: "identity", numHeads: 4, numKvHeads: 1, chunkSize: 2 },
      { ...base, H: 4, Hkv: 1, map: "identity" },
    ],
  ];
  loopTests(variants, { make: (config) => make(config, D, 4), loop: linearAttnLoop, B, T, D, tol: LOOP_TOL });
});

describe("linear_attn layer: state", () => {
  test("H·f·V (+ H·f with the normaliser) floats after 1, 10 and 200 tokens, all finite", () => {
    checkStateSize(make({ numHeads: 4, featureMap: "taylor_exp", doFeatureMapNorm: true }), 16, 200, () => 4 * 21 * (4 + 1));
    checkStateSize(make({ numHeads: 2, numKvHeads: 1 }), 16, 200, () => 2 * 8 * 8);
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ numHeads: 2, featureMap: "elu", doFeatureMapNorm: true });
    const x = randn([2, 16], new Random(1), { dtype: "f64" });
    assert.throws(() => layer.step(x, make({ numHeads: 2, featureMap: "elu" }).initState(2)), /state\.recurrent must have shape \[2,2,8,9\]/);
  });
});

describe("linear_attn layer: gradients", () => {
  test("gradcheck of every parameter (f64): Hadamard maps + GQA + RMSNorm, chunk 2; and grads through step", () => {
    const layer = make({ numHeads: 2, numKvHeads: 1, chunkSize: 2 }, 8, 9);
    randomize(layer, 10);
    checkGradients(layer, 8, 11);
  });

  test("gradcheck of every parameter (f64): Taylor-2 + normaliser + normK, no output norm", () => {
    const layer = make({ numHeads: 2, featureMap: "taylor_exp", doFeatureMapNorm: true, normK: true, outputNorm: "identity" }, 8, 12);
    randomize(layer, 13);
    checkGradients(layer, 8, 14);
  });
});
