/**
 * The mamba mixer layer (spec/mixers.md §8.1, state-spaces/mamba `mamba_ssm/modules/mamba_simple.py: Mamba`):
 *  - parameter names and shapes are mamba's (listed literally), also inside a LanguageModel;
 *  - inits: A_log rows log(1..N), D = 1, softplus(dt_proj.bias) in [dtMin, dtMax], dt_proj.weight in ±dtScale/√R,
 *    in_proj / x_proj N(0, initStd), out_proj N(0, initStd/√(2·nLayers));
 *  - config errors name the bad field (both fields for cross-field checks);
 *  - the parallel forward (selective_scan chunk form), prefill + continued forward and prefill + step all equal an
 *    independent scalar loop of the reference equations (in_proj split, causal conv + SiLU, x_proj split,
 *    Δ = softplus(dt_proj(δ)), h ← exp(ΔA) h + Δ·x·B, y = C·h + D·x, y·SiLU(z), out_proj), f64, within 1e-12
 *    relative to max |y|;
 *  - the state is E·N + (W−1)·E floats however many tokens are fed;
 *  - gradients: finite-difference gradcheck (f64) of every parameter, and non-zero finite grads through step.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { LanguageModel } from "../../src/models/index.js";
import { createLayer } from "../../src/layers/index.js";
import type { MambaLayer } from "../../src/layers/mamba.js";
import { checkForms, checkGradients, checkStateSize, configErrorTests, ctx, makeLayer, randomize, rms, shapes } from "./checks.js";
import { affine, arr, convSilu, silu, type Params } from "./linear_reference.js";

const LOOP_TOL = 1e-12;
const make = (config: Record<string, unknown>, dModel = 16, seed = 1) => makeLayer("mamba", config, dModel, seed);
const softplus = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));

/** mamba's Mamba forward (the slow path of mamba_simple.py) as scalar loops: u [B][T][D] → y [B][T][D]. */
function mambaLoop(p: Params, u: number[][][], E: number, N: number, R: number): number[][][] {
  const Alog = arr(p, "A_log")!;
  const Dskip = arr(p, "D")!;
  return u.map((seq) => {
    const xz = seq.map((ut) => affine(p, "in_proj", ut));
    const xs = convSilu(p, "conv1d", xz.map((v) => v.slice(0, E)));
    const h = Array.from({ length: E }, () => new Array<number>(N).fill(0));
    return seq.map((_, t) => {
      const x = xs[t]!;
      const zg = xz[t]!.slice(E);
      // the LTI ablation (selective: false) has no x_proj/dt_proj: Δ = softplus(dt_bias), B and C fixed vectors
      const lti = arr(p, "dt_bias") !== undefined;
      const xdbl = lti ? [] : affine(p, "x_proj", x);
      const Bv = lti ? arr(p, "B")! : xdbl.slice(R, R + N);
      const Cv = lti ? arr(p, "C")! : xdbl.slice(R + N, R + 2 * N);
      const dt = (lti ? [...arr(p, "dt_bias")!] : affine(p, "dt_proj", xdbl.slice(0, R))).map(softplus);
      const y = new Array<number>(E);
      for (let c = 0; c < E; c++) {
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const A = -Math.exp(Alog[c * N + n]!);
          h[c]![n] = Math.exp(dt[c]! * A) * h[c]![n]! + dt[c]! * x[c]! * Bv[n]!;
          acc += Cv[n]! * h[c]![n]!;
        }
        y[c] = (acc + Dskip[c]! * x[c]!) * silu(zg[c]!);
      }
      return affine(p, "out_proj", y);
    });
  });
}

describe("mamba layer: parameters (state-spaces/mamba Mamba names and shapes)", () => {
  test("defaults at dModel 16: E = 32, N = 16, R = ⌈16/16⌉ = 1, W = 4, conv bias, no in/out bias", () => {
    assert.deepEqual(shapes(make({})), {
      A_log: [32, 16],
      D: [32],
      "in_proj.weight": [64, 16],
      "conv1d.weight": [32, 1, 4],
      "conv1d.bias": [32],
      "x_proj.weight": [33, 32],
      "dt_proj.weight": [32, 1],
      "dt_proj.bias": [32],
      "out_proj.weight": [16, 32],
    });
  });

  test("dState 4, dConv 3, expand 1.5, dtRank 3, bias, no conv bias; dtRank auto at dModel 40 is 3", () => {
    assert.deepEqual(shapes(make({ dState: 4, dConv: 3, expand: 1.5, dtRank: 3, bias: true, convBias: false })), {
      A_log: [24, 4],
      D: [24],
      "in_proj.weight": [48, 16],
      "in_proj.bias": [48],
      "conv1d.weight": [24, 1, 3],
      "x_proj.weight": [11, 24],
      "dt_proj.weight": [24, 3],
      "dt_proj.bias": [24],
      "out_proj.weight": [16, 24],
      "out_proj.bias": [16],
    });
    assert.equal((make({}, 40) as MambaLayer).dtRank, 3);
  });

  test("inside a LanguageModel (mlp none) the names are model.layers.{i}.attn.<mamba name>", () => {
    const model = new LanguageModel({ vocabSize: 7, dModel: 16, layers: ["mamba"], mlp: "none", dtype: "f64" });
    const names = [...model.namedParameters()].map(([n]) => n).filter((n) => n.startsWith("model.layers."));
    assert.deepEqual(names, [
      "model.layers.0.attn_norm.weight",
      "model.layers.0.attn.A_log",
      "model.layers.0.attn.D",
      "model.layers.0.attn.in_proj.weight",
      "model.layers.0.attn.conv1d.weight",
      "model.layers.0.attn.conv1d.bias",
      "model.layers.0.attn.x_proj.weight",
      "model.layers.0.attn.dt_proj.weight",
      "model.layers.0.attn.dt_proj.bias",
      "model.layers.0.attn.out_proj.weight",
    ]);
  });

  test("init: A_log = log(1..N) per row, D = 1, softplus(dt bias) log-uniform in [dtMin, dtMax], dt weight in ±1/√R, projections U(±1/√fan_in) (or normal)", () => {
    const layer = createLayer({ type: "mamba", dState: 5, dtRank: 4, dtMin: 0.01, dtMax: 0.2 }, ctx(3, 256, 8)) as MambaLayer;
    const p = layer.stateDict();
    const aLog = p.get("A_log")!.values();
    for (let c = 0; c < 512; c++) for (let n = 0; n < 5; n++) assert.ok(Math.abs(aLog[c * 5 + n]! - Math.log(n + 1)) < 1e-15);
    assert.ok(p.get("D")!.values().every((v) => v === 1));
    const dts = Array.from(p.get("dt_proj.bias")!.values(), softplus);
    assert.ok(dts.every((d) => d >= 0.01 * (1 - 1e-12) && d <= 0.2 * (1 + 1e-12)), "softplus(bias) within [dtMin, dtMax]");
    const meanLog = dts.reduce((s, d) => s + Math.log(d), 0) / dts.length;
    assert.ok(Math.abs(meanLog - (Math.log(0.01) + Math.log(0.2)) / 2) < 0.15, `log-uniform: mean log dt ${meanLog}`);
    const w = p.get("dt_proj.weight")!.values();
    assert.ok(w.every((v) => Math.abs(v) <= 0.5) && w.some((v) => Math.abs(v) > 0.4), "dt_proj.weight ~ U(±1/√4)");
    // PyTorch's Linear default: U(±1/√fan_in), std 1/√(3·fan_in); fan_in 256 for in_proj, E = 512 for x_proj
    for (const [name, fanIn] of [["in_proj.weight", 256], ["x_proj.weight", 512]] as const) {
      const want = 1 / Math.sqrt(3 * fanIn);
      assert.ok(Math.abs(rms(p.get(name)!) / want - 1) < 0.05, `${name}: std ${rms(p.get(name)!)}, want ${want}`);
      assert.ok(p.get(name)!.values().every((v) => Math.abs(v) <= 1 / Math.sqrt(fanIn)));
    }
    const normal = createLayer({ type: "mamba", dState: 5, dtRank: 4, projInit: "normal" }, ctx(3, 256, 8)).stateDict();
    for (const name of ["in_proj.weight", "x_proj.weight"]) assert.ok(Math.abs(rms(normal.get(name)!) / 0.02 - 1) < 0.05, `normal ${name}: std ${rms(normal.get(name)!)}`);
    assert.ok(Math.abs(rms(p.get("out_proj.weight")!) / (0.02 / 4) - 1) < 0.05, `out_proj std ${rms(p.get("out_proj.weight")!)}`);
    const constant = createLayer({ type: "mamba", dtRank: 4, dtInit: "constant", dtScale: 2 }, ctx(3, 16)).stateDict().get("dt_proj.weight")!;
    assert.ok(constant.values().every((v) => v === 1), "dtInit constant: dtScale/√R = 2/2");
  });
});

describe("mamba layer: config errors name the field", () => {
  configErrorTests("mamba", [
    ["dState 0", { dState: 0 }, 16, [/layers\[0\] \(mamba\)/, /'dState'/]],
    ["expand giving a fractional d_inner", { expand: 1.3 }, 16, [/expand/, /dModel/, /20\.8/]],
    ["dtMin above dtMax", { dtMin: 0.5, dtMax: 0.1 }, 16, [/dtMin=0\.5/, /dtMax=0\.1/]],
    ["dtRank neither 'auto' nor a positive integer", { dtRank: "full" }, 16, [/'dtRank'/]],
    ["dtInit unknown", { dtInit: "xavier" }, 16, [/'dtInit'/]],
    ["dConv 0", { dConv: 0 }, 16, [/'dConv'/]],
    ["unknown field", { d_state: 16 }, 16, [/unknown field/, /'d_state'/]],
  ]);
});

describe("mamba layer = independent scalar loop of the reference equations (f64)", () => {
  const B = 2;
  const T = 9;
  const variants: Array<[string, Record<string, unknown>, number]> = [
    ["defaults at dModel 8 (E 16, N 16, R 1), chunk 3", { chunkSize: 3 }, 8],
    ["dState 3, dConv 2, expand 1.5, dtRank 2, in/out bias, no conv bias, chunk 4", { dState: 3, dConv: 2, expand: 1.5, dtRank: 2, bias: true, convBias: false, chunkSize: 4 }, 8],
    ["dConv 1 (no conv memory), dState 2, expand 1", { dConv: 1, dState: 2, expand: 1 }, 6],
    ["LTI ablation (selective: false): Δ, B, C independent of x, chunk 4", { selective: false, dState: 3, chunkSize: 4 }, 8],
  ];
  for (const [what, config, D] of variants) {
    test(`${what}: forward, prefill+forward, prefill+step (${LOOP_TOL})`, () => {
      const layer = make(config, D, 4) as MambaLayer;
      randomize(layer, 5);
      const x = randn([B, T, D], new Random(6), { dtype: "f64" });
      checkForms(layer, x, mambaLoop(layer.stateDict(), x.toNested() as number[][][], layer.dInner, layer.dState, layer.dtRank), LOOP_TOL);
    });
  }
});

describe("mamba layer: state", () => {
  test("E·N + (W−1)·E floats after 1, 10 and 200 tokens, all finite; keys conv and ssm", () => {
    const layer = make({ dState: 4, dConv: 3 });
    checkStateSize(layer, 16, 200, () => 32 * 4 + 2 * 32);
    const s = layer.initState(2);
    assert.deepEqual(Object.keys(s).sort(), ["conv", "ssm"]);
    assert.deepEqual(s.conv!.shape, [2, 2, 32]);
    assert.deepEqual(s.ssm!.shape, [2, 32, 4]);
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ dState: 4 });
    const x = randn([2, 16], new Random(1), { dtype: "f64" });
    assert.throws(() => layer.step(x, layer.initState(3)), /state\.\w+ must have shape \[2,/);
    const { ssm: _drop, ...partial } = layer.initState(2);
    void _drop;
    assert.throws(() => layer.step(x, partial), /state\.ssm must have shape \[2,32,4\]/);
  });
});

describe("mamba layer: the LTI ablation (selective: false)", () => {
  test("no x_proj/dt_proj; dt_bias [E], B [N] = 1, C [N]; same state", () => {
    const layer = make({ selective: false, dState: 4 }) as MambaLayer;
    assert.deepEqual(shapes(layer), { A_log: [32, 4], D: [32], dt_bias: [32], B: [4], C: [4], "in_proj.weight": [64, 16], "conv1d.weight": [32, 1, 4], "conv1d.bias": [32], "out_proj.weight": [16, 32] });
    assert.ok([...layer.B!.values()].every((v) => v === 1));
    checkStateSize(layer, 16, 20, () => 32 * 4 + 3 * 32);
  });
  test("gradcheck of every parameter (f64)", () => {
    const layer = make({ selective: false, dState: 2, dConv: 2, expand: 2, chunkSize: 2 }, 4, 9);
    randomize(layer, 10);
    checkGradients(layer, 4, 11);
  });
});

describe("mamba layer: gradients", () => {
  test("gradcheck of every parameter through prefill + continued forward (f64, bias, chunk 2), and grads through step", () => {
    const layer = make({ dState: 2, dConv: 2, expand: 2, dtRank: 2, bias: true, chunkSize: 2 }, 4, 9);
    randomize(layer, 10);
    checkGradients(layer, 4, 11);
  });
});
