/**
 * The mamba2 mixer layer (spec/mixers.md §8.2, state-spaces/mamba `mamba_ssm/modules/mamba2.py: Mamba2`):
 *  - parameter names and shapes are mamba's (listed literally), also inside a LanguageModel;
 *  - inits: A_log = log(U(aInitRange)), D = 1, softplus(dt_bias) in [dtMin, dtMax], norm 1, conv_init, normal
 *    projections with out_proj scaled by 1/√(2·nLayers);
 *  - config errors name the bad field (both fields for cross-field checks);
 *  - the parallel forward (simple_gla chunk form), prefill + continued forward and prefill + step all equal an
 *    independent scalar loop of the reference equations (in_proj split [z, xBC, dt], conv + SiLU over xBC, per-head
 *    S ← exp(ΔA) S + Bᵀ(Δx) with B, C of the head's group, y = C S + D x, gate-then-norm per group, out_proj),
 *    f64, within 1e-12 relative to max |y|; plus the spec's T = 1 worked check;
 *  - the state is H·N·P + (W−1)(E + 2GN) floats however many tokens are fed;
 *  - gradients: finite-difference gradcheck (f64) of every parameter, and non-zero finite grads through step.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { noGrad } from "../../src/core/autograd.js";
import { LanguageModel } from "../../src/models/index.js";
import { createLayer } from "../../src/layers/index.js";
import type { Mamba2Layer } from "../../src/layers/mamba2.js";
import { checkForms, checkGradients, checkStateSize, configErrorTests, ctx, makeLayer, randomize, rms, shapes } from "./checks.js";
import { affine, arr, convSilu, rmsnormVec, silu, type Params } from "./linear_reference.js";

const LOOP_TOL = 1e-12;
const make = (config: Record<string, unknown>, dModel = 16, seed = 1) => makeLayer("mamba2", config, dModel, seed);
const softplus = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));

interface Mamba2Ref {
  E: number;
  H: number;
  P: number;
  G: number;
  N: number;
  rmsnorm: boolean;
  normBeforeGate: boolean;
}

/** mamba's Mamba2 forward (the unfused path, with its step() recurrence) as scalar loops: u [B][T][D] → y [B][T][D]. */
function mamba2Loop(p: Params, u: number[][][], c: Mamba2Ref): number[][][] {
  const { E, H, P, G, N } = c;
  const dtBias = arr(p, "dt_bias")!;
  const Alog = arr(p, "A_log")!;
  const Dskip = arr(p, "D")!;
  const normW = arr(p, "norm.weight");
  const m = E / G; // channels per norm group
  return u.map((seq) => {
    const proj = seq.map((ut) => affine(p, "in_proj", ut));
    const xBC = convSilu(p, "conv1d", proj.map((v) => v.slice(E, 2 * E + 2 * G * N)));
    const S = Array.from({ length: H }, () => Array.from({ length: N }, () => new Array<number>(P).fill(0)));
    return seq.map((_, t) => {
      const z = proj[t]!.slice(0, E);
      const dtRaw = proj[t]!.slice(2 * E + 2 * G * N);
      const x = xBC[t]!.slice(0, E);
      const Bv = xBC[t]!.slice(E, E + G * N);
      const Cv = xBC[t]!.slice(E + G * N);
      const y = new Array<number>(E);
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / (H / G));
        const dt = softplus(dtRaw[h]! + dtBias[h]!);
        const a = Math.exp(dt * -Math.exp(Alog[h]!));
        for (let q = 0; q < P; q++) {
          const xv = x[h * P + q]!;
          let acc = 0;
          for (let n = 0; n < N; n++) {
            S[h]![n]![q] = a * S[h]![n]![q]! + Bv[g * N + n]! * dt * xv;
            acc += Cv[g * N + n]! * S[h]![n]![q]!;
          }
          const d = Dskip.length === E ? Dskip[h * P + q]! : Dskip[h]!;
          y[h * P + q] = acc + d * xv;
        }
      }
      let out: number[];
      if (!c.rmsnorm) out = y.map((v, i) => v * silu(z[i]!));
      else {
        out = [];
        for (let g = 0; g < G; g++) {
          const ys = y.slice(g * m, (g + 1) * m);
          const zs = z.slice(g * m, (g + 1) * m);
          const w = normW!.slice(g * m, (g + 1) * m);
          if (c.normBeforeGate) out.push(...rmsnormVec(ys, w, 1e-5).map((v, i) => v * silu(zs[i]!)));
          else out.push(...rmsnormVec(ys.map((v, i) => v * silu(zs[i]!)), w, 1e-5));
        }
      }
      return affine(p, "out_proj", out);
    });
  });
}

describe("mamba2 layer: parameters (state-spaces/mamba Mamba2 names and shapes)", () => {
  test("defaults at dModel 64: E = 128, P = 64, H = 2, N = 64, G = 1, W = 4", () => {
    assert.deepEqual(shapes(make({}, 64)), {
      dt_bias: [2],
      A_log: [2],
      D: [2],
      "in_proj.weight": [2 * 128 + 2 * 64 + 2, 64],
      "conv1d.weight": [128 + 2 * 64, 1, 4],
      "conv1d.bias": [256],
      "norm.weight": [128],
      "out_proj.weight": [64, 128],
    });
  });

  test("dModel 16, headdim 4, dState 3, ngroups 2, dConv 3, dHasHdim, bias, no conv bias: E 32, H 8", () => {
    assert.deepEqual(shapes(make({ headdim: 4, dState: 3, ngroups: 2, dConv: 3, dHasHdim: true, bias: true, convBias: false })), {
      dt_bias: [8],
      A_log: [8],
      D: [32],
      "in_proj.weight": [2 * 32 + 2 * 2 * 3 + 8, 16],
      "in_proj.bias": [84],
      "conv1d.weight": [32 + 12, 1, 3],
      "norm.weight": [32],
      "out_proj.weight": [16, 32],
      "out_proj.bias": [16],
    });
    assert.equal(shapes(make({ headdim: 8, rmsnorm: false }))["norm.weight"], undefined, "rmsnorm off: no norm");
  });

  test("inside a LanguageModel (mlp none) the names are model.layers.{i}.attn.<mamba name>", () => {
    const model = new LanguageModel({ vocabSize: 7, dModel: 16, layers: [{ type: "mamba2", headdim: 8, dState: 4 }], mlp: "none", dtype: "f64" });
    const names = [...model.namedParameters()].map(([n]) => n).filter((n) => n.startsWith("model.layers."));
    assert.deepEqual(names, [
      "model.layers.0.attn_norm.weight",
      "model.layers.0.attn.dt_bias",
      "model.layers.0.attn.A_log",
      "model.layers.0.attn.D",
      "model.layers.0.attn.in_proj.weight",
      "model.layers.0.attn.conv1d.weight",
      "model.layers.0.attn.conv1d.bias",
      "model.layers.0.attn.norm.weight",
      "model.layers.0.attn.out_proj.weight",
    ]);
  });

  test("init: −A = exp(A_log) in aInitRange, D = 1, softplus(dt_bias) in [dtMin, dtMax], norm 1, convInit, normal projections", () => {
    const layer = createLayer({ type: "mamba2", headdim: 2, dState: 8, aInitRange: [2, 5], dtMin: 0.01, dtMax: 0.05, convInit: 0.1 }, ctx(3, 256, 8)) as Mamba2Layer;
    assert.equal(layer.nheads, 256);
    const p = layer.stateDict();
    const A = Array.from(p.get("A_log")!.values(), Math.exp);
    assert.ok(A.every((a) => a >= 2 && a <= 5) && Math.max(...A) > 4.8 && Math.min(...A) < 2.2, "A ~ U(2, 5)");
    assert.ok(p.get("D")!.values().every((v) => v === 1));
    assert.ok(p.get("norm.weight")!.values().every((v) => v === 1));
    const dts = Array.from(p.get("dt_bias")!.values(), softplus);
    assert.ok(dts.every((d) => d >= 0.01 * (1 - 1e-12) && d <= 0.05 * (1 + 1e-12)), "softplus(dt_bias) within [dtMin, dtMax]");
    const cw = p.get("conv1d.weight")!.values();
    assert.ok(cw.every((v) => Math.abs(v) <= 0.1) && cw.some((v) => Math.abs(v) > 0.09), "conv1d.weight ~ U(±convInit)");
    assert.ok(Math.abs(rms(p.get("in_proj.weight")!) / 0.02 - 1) < 0.05, `in_proj std ${rms(p.get("in_proj.weight")!)}`);
    assert.ok(Math.abs(rms(p.get("out_proj.weight")!) / (0.02 / 4) - 1) < 0.05, `out_proj std ${rms(p.get("out_proj.weight")!)}`);
  });
});

describe("mamba2 layer: config errors name the field", () => {
  configErrorTests("mamba2", [
    ["headdim not dividing d_inner", { headdim: 12 }, 16, [/layers\[0\] \(mamba2\)/, /headdim=12/, /d_inner/, /expand/]],
    ["default headdim 64 at dModel 16 (d_inner 32)", {}, 16, [/headdim=64/, /32/]],
    ["ngroups not dividing the heads", { headdim: 8, ngroups: 3 }, 16, [/ngroups=3/, /head count 4/, /headdim 8/]],
    ["aInitRange reversed", { headdim: 8, aInitRange: [16, 1] }, 16, [/aInitRange/]],
    ["aInitRange with 0", { headdim: 8, aInitRange: [0, 16] }, 16, [/'aInitRange\.0'/]],
    ["dtMin above dtMax", { headdim: 8, dtMin: 0.5, dtMax: 0.1 }, 16, [/dtMin=0\.5/, /dtMax=0\.1/]],
    ["convInit negative", { headdim: 8, convInit: -1 }, 16, [/'convInit'/]],
    ["unknown field", { headdim: 8, d_state: 4 }, 16, [/unknown field/, /'d_state'/]],
  ]);
});

describe("mamba2 layer = independent scalar loop of the reference equations (f64)", () => {
  const B = 2;
  const T = 9;
  const variants: Array<[string, Record<string, unknown>, number]> = [
    ["dModel 8, headdim 4 (E 16, H 4), dState 3, chunk 3", { headdim: 4, dState: 3, chunkSize: 3 }, 8],
    ["ngroups 2, dHasHdim, in/out bias, no conv bias, dConv 2, chunk 4", { headdim: 4, dState: 2, ngroups: 2, dHasHdim: true, bias: true, convBias: false, dConv: 2, chunkSize: 4 }, 8],
    ["ngroups 4 (one head per group), normBeforeGate, expand 1.5", { headdim: 3, dState: 2, ngroups: 4, normBeforeGate: true, expand: 1.5 }, 8],
    ["rmsnorm off (y ⊙ SiLU(z)), headdim 8 (one head), dConv 1", { headdim: 8, dState: 4, rmsnorm: false, expand: 1, dConv: 1 }, 8],
  ];
  for (const [what, config, D] of variants) {
    test(`${what}: forward, prefill+forward, prefill+step (${LOOP_TOL})`, () => {
      const layer = make(config, D, 4) as Mamba2Layer;
      randomize(layer, 5);
      const x = randn([B, T, D], new Random(6), { dtype: "f64" });
      const ref: Mamba2Ref = {
        E: layer.dInner, H: layer.nheads, P: layer.headdim, G: layer.ngroups, N: layer.dState,
        rmsnorm: layer.config.rmsnorm, normBeforeGate: layer.config.normBeforeGate,
      };
      checkForms(layer, x, mamba2Loop(layer.stateDict(), x.toNested() as number[][][], ref), LOOP_TOL);
    });
  }

  test("spec §8.2 worked check, T = 1: y_1 = (C_1·B_1)Δ_1 x_1 + D_h x_1 before the gate and norm", () => {
    // rmsnorm off and out_proj = identity, z large so SiLU(z) ≈ z·1: read y directly through y ⊙ SiLU(z)
    const layer = make({ headdim: 2, dState: 2, rmsnorm: false, expand: 1, dConv: 1, convBias: false }, 2, 7) as Mamba2Layer;
    noGrad(() => {
      const p = layer.stateDict();
      p.get("conv1d.weight")!.data.fill(1); // kernel 1, weight 1: xBC = SiLU(xBC)
      p.get("out_proj.weight")!.data.set([1, 0, 0, 1]);
      p.get("D")!.data.set([0.5]);
      p.get("dt_bias")!.data.set([0.3]);
      const u = randn([1, 1, 2], new Random(8), { dtype: "f64" });
      const y = layer.forward(u).y.values();
      const proj = affine(p, "in_proj", Array.from(u.values()));
      const xBC = proj.slice(2, 8).map(silu);
      const [x0, x1, b0, b1, c0, c1] = xBC as [number, number, number, number, number, number];
      const dt = softplus(proj[8]! + 0.3);
      const cb = c0 * b0 + c1 * b1;
      const want = [(cb * dt + 0.5) * x0 * silu(proj[0]!), (cb * dt + 0.5) * x1 * silu(proj[1]!)];
      for (let i = 0; i < 2; i++) assert.ok(Math.abs(y[i]! - want[i]!) < 1e-14 * Math.max(1, Math.abs(want[i]!)), `y[${i}] ${y[i]} vs ${want[i]}`);
    });
  });
});

describe("mamba2 layer: state", () => {
  test("H·N·P + (W−1)(E + 2GN) floats after 1, 10 and 200 tokens, all finite; keys conv and ssm", () => {
    const layer = make({ headdim: 8, dState: 4, ngroups: 2, dConv: 3 });
    // E 32, H 4, P 8, N 4, G 2: 4·4·8 + 2·(32 + 16)
    checkStateSize(layer, 16, 200, () => 128 + 96);
    const s = layer.initState(2);
    assert.deepEqual(Object.keys(s).sort(), ["conv", "ssm"]);
    assert.deepEqual(s.conv!.shape, [2, 2, 48]);
    assert.deepEqual(s.ssm!.shape, [2, 4, 4, 8]);
  });

  test("a malformed state is an error naming the tensor", () => {
    const layer = make({ headdim: 8, dState: 4 });
    const x = randn([2, 16], new Random(1), { dtype: "f64" });
    assert.throws(() => layer.step(x, layer.initState(3)), /state\.\w+ must have shape \[2,/);
    const { conv: _drop, ...partial } = layer.initState(2);
    void _drop;
    assert.throws(() => layer.step(x, partial), /state\.conv must have shape \[2,3,40\]/);
  });
});

describe("mamba2 layer: gradients", () => {
  test("gradcheck of every parameter through prefill + continued forward (f64, 2 groups, dHasHdim, bias, chunk 2), and grads through step", () => {
    const layer = make({ headdim: 2, dState: 2, ngroups: 2, dConv: 2, dHasHdim: true, bias: true, chunkSize: 2 }, 4, 9);
    randomize(layer, 10);
    checkGradients(layer, 4, 11);
  });
});
