/**
 * The based mixer layer (spec/mixers.md §4; fla `fla/layers/based.py: BasedLinearAttention` + a sliding-window
 * `attention` branch):
 *  - parameter names and shapes (listed literally): fla's Based names at the top level, fla Attention names under
 *    window_attn., also inside a LanguageModel;
 *  - config errors name the bad field (both fields for cross-field checks);
 *  - the parallel forward (chunk form with small chunks), prefill + continued forward and prefill + step all equal
 *    an independent scalar loop of the reference equations (Taylor-2 features of q, k per head, normalised linear
 *    attention with eps 1e-12 and no extra scale, o_proj; plus softmax attention over the last W keys with
 *    rotate-half RoPE at absolute positions and its own o_proj; the two summed), f64, within 1e-12 relative;
 *  - the state is H·f·(dv+1) + Hw·2m·min(t, W) + 1 floats (constant once t ≥ W);
 *  - gradients: finite-difference gradcheck (f64) of every parameter, and non-zero finite grads through step;
 *  - init: projections N(0, initStd), both o_proj N(0, initStd/√(2·nLayers)).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { createLayer } from "../../src/layers/index.js";
import type { BasedLayer } from "../../src/layers/based.js";
import { attnNamesInModel, checkGradients, checkStateSize, configErrorTests, ctx, loopTests, makeLayer, randomize, rms, shapes } from "./checks.js";
import { affine, dot, heads, ropeVec, type Params } from "./linear_reference.js";

const LOOP_TOL = 1e-12;
const make = (config: Record<string, unknown>, dModel = 16, seed = 1) => makeLayer("based", config, dModel, seed);

interface BasedRef {
  H: number;
  f0: number;
  window: number | null;
  Hw: number;
  theta: number;
}

/** Based's Taylor map [1, z/f₀^¼, vec(z zᵀ)/(√2·√f₀)] */
function taylor(z: number[]): number[] {
  const f0 = z.length;
  const out = [1, ...z.map((u) => u / Math.pow(f0, 0.25))];
  for (let i = 0; i < f0; i++) for (let j = 0; j < f0; j++) out.push((z[i]! * z[j]!) / (Math.SQRT2 * Math.sqrt(f0)));
  return out;
}

/** the Based layer as scalar loops over plain arrays: x [B][T][D] → y [B][T][D] */
function basedLoop(p: Params, x: number[][][], c: BasedRef): number[][][] {
  return x.map((seq) => {
    const D = seq[0]!.length;
    // linear branch (fla BasedLinearAttention.forward_reference, causal)
    const lin = (() => {
      const F = 1 + c.f0 + c.f0 * c.f0;
      const dv = D / c.H;
      const S = Array.from({ length: c.H }, () => Array.from({ length: F }, () => new Array<number>(dv).fill(0)));
      const zs = Array.from({ length: c.H }, () => new Array<number>(F).fill(0));
      return seq.map((xt) => {
        const q = heads(affine(p, "q_proj", xt), c.H).map(taylor);
        const k = heads(affine(p, "k_proj", xt), c.H).map(taylor);
        const v = heads(affine(p, "v_proj", xt), c.H);
        const o: number[] = [];
        for (let h = 0; h < c.H; h++) {
          for (let a = 0; a < F; a++) {
            zs[h]![a]! += k[h]![a]!;
            for (let b = 0; b < dv; b++) S[h]![a]![b]! += k[h]![a]! * v[h]![b]!;
          }
          const den = dot(q[h]!, zs[h]!) + 1e-12;
          for (let b = 0; b < dv; b++) o.push(S[h]!.reduce((s, row, a) => s + q[h]![a]! * row[b]!, 0) / den);
        }
        return affine(p, "o_proj", o);
      });
    })();
    if (c.window === null) return lin;
    // window branch: causal softmax attention over keys u ∈ (t − W, t], RoPE at absolute positions
    const m = D / c.Hw;
    const qs = seq.map((xt, t) => heads(affine(p, "window_attn.q_proj", xt), c.Hw).map((z) => ropeVec(z, t, c.theta)));
    const ks = seq.map((xt, t) => heads(affine(p, "window_attn.k_proj", xt), c.Hw).map((z) => ropeVec(z, t, c.theta)));
    const vs = seq.map((xt) => heads(affine(p, "window_attn.v_proj", xt), c.Hw));
    return seq.map((_, t) => {
      const lo = Math.max(0, t - c.window! + 1);
      const o: number[] = [];
      for (let h = 0; h < c.Hw; h++) {
        const s: number[] = [];
        for (let u = lo; u <= t; u++) s.push(dot(qs[t]![h]!, ks[u]![h]!) / Math.sqrt(m));
        const mx = Math.max(...s);
        const e = s.map((v) => Math.exp(v - mx));
        const zsum = e.reduce((a, b) => a + b, 0);
        for (let i = 0; i < m; i++) o.push(e.reduce((acc, w, j) => acc + w * vs[lo + j]![h]![i]!, 0) / zsum);
      }
      const win = affine(p, "window_attn.o_proj", o);
      return lin[t]!.map((v, d) => v + win[d]!);
    });
  });
}

describe("based layer: parameters (fla BasedLinearAttention + fla Attention under window_attn)", () => {
  test("defaults at dModel 16: one head (12 does not divide 16), featureDim 16, window 64 with one head", () => {
    const layer = make({}) as BasedLayer;
    assert.deepEqual(shapes(layer), {
      "q_proj.weight": [16, 16],
      "k_proj.weight": [16, 16],
      "v_proj.weight": [16, 16],
      "o_proj.weight": [16, 16],
      "window_attn.q_proj.weight": [16, 16],
      "window_attn.k_proj.weight": [16, 16],
      "window_attn.v_proj.weight": [16, 16],
      "window_attn.o_proj.weight": [16, 16],
    });
    assert.equal(layer.numHeads, 1);
    assert.equal(layer.window_attn!.window, 64);
  });

  test("numHeads 4, featureDim 3, no window: exactly fla's BasedLinearAttention", () => {
    assert.deepEqual(shapes(make({ numHeads: 4, featureDim: 3, window: null })), {
      "q_proj.weight": [12, 16],
      "k_proj.weight": [12, 16],
      "v_proj.weight": [16, 16],
      "o_proj.weight": [16, 16],
    });
  });

  test("dModel 48: fla's default 12 heads (dv = 4), q/k width 12·16, window branch of 12 heads", () => {
    const layer = make({}, 48) as BasedLayer;
    assert.equal(layer.numHeads, 12);
    assert.deepEqual(shapes(layer)["q_proj.weight"], [192, 48]);
    assert.equal(layer.window_attn!.numHeads, 12);
  });

  test("inside a LanguageModel the names are model.layers.{i}.attn.<name>", () => {
    const names = attnNamesInModel({ type: "based", numHeads: 2, featureDim: 4, window: 8, windowHeads: 2 });
    assert.deepEqual(names, [
      "model.layers.0.attn.q_proj.weight",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.o_proj.weight",
      "model.layers.0.attn.window_attn.q_proj.weight",
      "model.layers.0.attn.window_attn.k_proj.weight",
      "model.layers.0.attn.window_attn.v_proj.weight",
      "model.layers.0.attn.window_attn.o_proj.weight",
    ]);
  });

  test("init: projections N(0, initStd), both o_proj N(0, initStd/√(2·nLayers))", () => {
    const layer = createLayer({ type: "based", numHeads: 4, featureDim: 16, windowHeads: 4 }, ctx(3, 256, 8));
    const p = layer.stateDict();
    for (const name of ["q_proj.weight", "k_proj.weight", "v_proj.weight", "window_attn.q_proj.weight", "window_attn.v_proj.weight"]) {
      assert.ok(Math.abs(rms(p.get(name)!) / 0.02 - 1) < 0.03, `${name}: std ${rms(p.get(name)!)}`);
    }
    for (const name of ["o_proj.weight", "window_attn.o_proj.weight"]) {
      assert.ok(Math.abs(rms(p.get(name)!) / (0.02 / 4) - 1) < 0.02, `${name} std ${rms(p.get(name)!)}`);
    }
  });
});

describe("based layer: config errors name the field", () => {
  configErrorTests("based", [
    ["numHeads not dividing dModel", { numHeads: 3 }, 16, [/layers\[0\] \(based\)/, /numHeads=3/, /dModel/]],
    ["windowHeads not dividing dModel", { numHeads: 2, windowHeads: 3 }, 16, [/windowHeads=3/, /dModel=16/]],
    ["odd window head width (RoPE)", { numHeads: 2, windowHeads: 16 }, 16, [/windowHeads/, /even/]],
    ["windowHeads without a window", { window: null, windowHeads: 2 }, 16, [/windowHeads=2/, /window is null/]],
    ["window 0", { window: 0 }, 16, [/'window'/]],
    ["featureDim 0", { featureDim: 0 }, 16, [/'featureDim'/]],
    ["eps negative", { eps: -1 }, 16, [/'eps'/]],
    ["unknown field", { feature_dim: 4 }, 16, [/unknown field/, /'feature_dim'/]],
  ]);
});

describe("based layer = independent scalar loop of the reference equations (f64)", () => {
  const B = 2;
  const T = 9;
  const D = 16;
  const variants: Array<[string, Record<string, unknown>, BasedRef]> = [
    [
      "H=2, f₀=4, window 3 with 4 heads, chunk 3",
      { numHeads: 2, featureDim: 4, window: 3, windowHeads: 4, chunkSize: 3 },
      { H: 2, f0: 4, window: 3, Hw: 4, theta: 10000 },
    ],
    ["no window branch (fla BasedLinearAttention), H=4, f₀=3, chunk 4", { numHeads: 4, featureDim: 3, window: null, chunkSize: 4 }, { H: 4, f0: 3, window: null, Hw: 0, theta: 0 }],
    [
      "window ≥ T (full causal attention), one head each, f₀=2, ropeTheta 100",
      { featureDim: 2, window: 20, ropeTheta: 100 },
      { H: 1, f0: 2, window: 20, Hw: 1, theta: 100 },
    ],
  ];
  loopTests(variants, { make: (config) => make(config, D, 4), loop: basedLoop, B, T, D, tol: LOOP_TOL });
});

describe("based layer: state", () => {
  test("H·f·(dv+1) + Hw·2m·min(t, W) + 1 floats after 1, 10 and 200 tokens (constant once t ≥ W)", () => {
    const layer = make({ numHeads: 2, featureDim: 4, window: 4, windowHeads: 4 });
    // f = 1 + 4 + 16 = 21, dv = 8; window branch: 4 heads of m = 4
    const state = checkStateSize(layer, 16, 200, (t) => 2 * 21 * 9 + 4 * 8 * Math.min(t, 4) + 1);
    assert.deepEqual(Object.keys(state).sort(), ["recurrent", "window_kv", "window_pos"]);
    assert.deepEqual([...state.window_pos!.values()], [200, 200]);
    assert.equal(layer.stateSize(10), layer.stateSize(10_000));
  });

  test("without a window branch: H·f·(dv+1) only", () => {
    checkStateSize(make({ numHeads: 4, featureDim: 3, window: null }), 16, 50, () => 4 * 13 * 5);
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ numHeads: 2, featureDim: 4, window: 4 });
    const x = randn([2, 16], new Random(1), { dtype: "f64" });
    const { window_kv: _drop, ...partial } = layer.initState(2);
    void _drop;
    assert.throws(() => layer.step(x, partial), /window_kv/);
    assert.throws(() => layer.step(x, { ...layer.initState(2), recurrent: layer.initState(1).recurrent! }), /state\.recurrent must have shape \[2,2,21,9\]/);
  });
});

describe("based layer: gradients", () => {
  test("gradcheck of every parameter through prefill + continued forward (f64, both branches, chunk 2), and grads through step", () => {
    const layer = make({ numHeads: 2, featureDim: 2, window: 2, windowHeads: 2, chunkSize: 2 }, 8, 9);
    randomize(layer, 10);
    checkGradients(layer, 8, 11);
  });
});
