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
import { randn, tensor } from "../../src/core/create.js";
import { noGrad } from "../../src/core/autograd.js";
import { gradcheck } from "../../src/core/gradcheck.js";
import { concat, slice, squeeze } from "../../src/core/ops/shape.js";
import type { Tensor } from "../../src/core/tensor.js";
import { createLayer, type LayerState, type MixerLayer } from "../../src/layers/index.js";
import { LanguageModel } from "../../src/models/index.js";

const LOOP_TOL = 1e-12;

function ctx(seed: number, dModel: number, nLayers = 2) {
  return { dModel, rng: new Random(seed), dtype: "f64" as const, layerIdx: 0, nLayers, initStd: 0.02 };
}

function make(config: Record<string, unknown>, dModel = 16, seed = 1): MixerLayer {
  return createLayer({ type: "aaren", ...config }, ctx(seed, dModel));
}

function shapes(layer: MixerLayer): Record<string, number[]> {
  return Object.fromEntries([...layer.namedParameters()].map(([n, p]) => [n, [...p.shape]]));
}

function maxRelDiff(a: Tensor, b: Tensor): number {
  const av = a.values();
  const bv = b.values();
  assert.equal(av.length, bv.length);
  let m = 0;
  let scale = 1e-300;
  for (let i = 0; i < bv.length; i++) scale = Math.max(scale, Math.abs(bv[i]!));
  for (let i = 0; i < av.length; i++) m = Math.max(m, Math.abs(av[i]! - bv[i]!));
  return m / scale;
}

function randomize(layer: MixerLayer, seed: number, std: number): void {
  const rng = new Random(seed);
  noGrad(() => {
    for (const [, p] of layer.namedParameters()) p.data.set(randn(p.shape, rng, { dtype: "f64", std }).values());
  });
}

/** The quadratic masked form as scalar loops: x [B][T][D] → y [B][T][D]. */
function referenceLoop(p: Map<string, Tensor>, x: number[][][], H: number, K: number, convW: number | null = null): number[][][] {
  const D = x[0]![0]!.length;
  // causal depthwise conv over time per channel, then SiLU
  const conv = (zs: number[][], name: string): number[][] => {
    if (convW === null) return zs;
    const w = p.get(`${name}.weight`)!.values();
    const b = p.get(`${name}.bias`)?.values();
    return zs.map((_, t) =>
      zs[t]!.map((__, ch) => {
        let acc = b ? b[ch]! : 0;
        for (let j = 0; j < convW; j++) {
          const u = t - convW + 1 + j;
          if (u >= 0) acc += w[ch * convW + j]! * zs[u]![ch]!;
        }
        return acc / (1 + Math.exp(-acc));
      }),
    );
  };
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
    const model = new LanguageModel({ vocabSize: 7, dModel: 16, layers: [{ type: "aaren", numHeads: 4 }], dtype: "f64" });
    const names = [...model.namedParameters()].map(([n]) => n).filter((n) => n.includes(".attn."));
    assert.deepEqual(names, [
      "model.layers.0.attn.query",
      "model.layers.0.attn.k_proj.weight",
      "model.layers.0.attn.v_proj.weight",
      "model.layers.0.attn.o_proj.weight",
    ]);
  });

  test("init: query N(0, initStd²·D), k/v_proj N(0, initStd), o_proj N(0, initStd/√(2·nLayers))", () => {
    const layer = createLayer({ type: "aaren", numHeads: 8 }, ctx(3, 256, 8));
    const p = layer.stateDict();
    const std = (t: Tensor) => Math.sqrt(Array.from(t.values()).reduce((s, v) => s + v * v, 0) / t.size);
    const want: Record<string, [number, number]> = {
      query: [0.02 * 16, 0.1], // 256 draws: loose
      "k_proj.weight": [0.02, 0.02],
      "v_proj.weight": [0.02, 0.02],
      "o_proj.weight": [0.02 / 4, 0.02],
    };
    for (const [name, [s, tol]] of Object.entries(want)) {
      assert.ok(Math.abs(std(p.get(name)!) / s - 1) < tol, `${name}: std ${std(p.get(name)!)}, want ${s}`);
    }
  });
});

describe("aaren layer: config errors name the field", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp[]]> = [
    ["dModel not divisible by numHeads", { numHeads: 3 }, [/layers\[0\] \(aaren\)/, /dModel=16/, /numHeads=3/]],
    ["numHeads 0", { numHeads: 0 }, [/'numHeads'/]],
    ["headDim fractional", { headDim: 1.5 }, [/'headDim'/]],
    ["unknown field", { window: 4 }, [/unknown field/, /'window'/]],
    ["convSize fractional", { useShortConv: true, convSize: 2.5 }, [/'convSize'/]],
  ];
  for (const [what, config, patterns] of cases) {
    test(what, () => {
      assert.throws(
        () => make(config),
        (e: Error) => patterns.every((p) => p.test(e.message)) || assert.fail(`message '${e.message}' misses one of ${patterns.join(", ")}`),
      );
    });
  }

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
      noGrad(() => {
        const layer = make({ numHeads: H, headDim: K, ...(convW === null ? {} : { useShortConv: true, convSize: convW, convBias: true }) }, D, 4);
        randomize(layer, 5, std);
        const x = randn([B, T, D], new Random(6), { dtype: "f64" });
        const want = tensor(referenceLoop(layer.stateDict(), x.toNested() as number[][][], H, K, convW).flat(2), [B, T, D], { dtype: "f64" });
        if (std > 1) assert.ok(maxScore(layer, x, H, K) > 709, `scores too small to test overflow: ${maxScore(layer, x, H, K)}`);
        const full = layer.forward(x).y;
        assert.ok(maxRelDiff(full, want) < LOOP_TOL, `forward vs loop: ${maxRelDiff(full, want)}`);

        const pre = layer.forward(slice(x, 1, 0, 3), { outputState: true });
        const rest = layer.forward(slice(x, 1, 3), { state: pre.state!, outputState: true });
        assert.ok(maxRelDiff(concat([pre.y, rest.y], 1), want) < LOOP_TOL, "prefill+forward vs loop");

        // continuing a forward from the empty state is the same as starting fresh
        const fromEmpty = layer.forward(x, { state: layer.initState(B) }).y;
        assert.ok(maxRelDiff(fromEmpty, want) < LOOP_TOL, "forward from initState vs loop");

        let state: LayerState = pre.state!;
        const ys: Tensor[] = [pre.y];
        for (let t = 3; t < T; t++) {
          const r = layer.step(squeeze(slice(x, 1, t, t + 1), 1), state);
          ys.push(r.y.unsqueeze(1));
          state = r.state;
        }
        assert.ok(maxRelDiff(concat(ys, 1), want) < LOOP_TOL, `prefill+step vs loop: ${maxRelDiff(concat(ys, 1), want)}`);
        for (const key of Object.keys(rest.state!)) assert.ok(maxRelDiff(state[key]!, rest.state![key]!) < LOOP_TOL, `${key}: step state = forward state`);
      });
    });
  }
});

describe("aaren layer: state", () => {
  test("H·(V+2) (+ 2·(W−1)·H·K with the conv) floats per sequence after 1, 10 and 300 tokens, all finite", () => {
    noGrad(() => {
      for (const useShortConv of [false, true]) {
        const layer = make({ numHeads: 2, headDim: 6, useShortConv });
        const want = 16 + (useShortConv ? 2 * 3 * 12 : 0);
        assert.equal(layer.stateSize(0), want);
        let state = layer.initState(3);
        const floats = () => Object.values(state).reduce((n, t) => n + t.size, 0);
        assert.equal(floats(), 3 * want);
        const rng = new Random(2);
        for (let t = 1; t <= 300; t++) {
          state = layer.step(randn([3, 16], rng, { dtype: "f64" }), state).state;
          if (t === 1 || t === 10 || t === 300) {
            assert.deepEqual(state.state!.shape, [3, 2, 8]);
            assert.equal(layer.stateSize(t), want);
            assert.equal(floats(), 3 * want);
            assert.ok(state.state!.values().every(Number.isFinite));
          }
        }
      }
    });
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
    const rng = new Random(11);
    const x1 = randn([2, 4, 6], rng, { dtype: "f64" });
    const x2 = randn([2, 3, 6], rng, { dtype: "f64" });
    const params = layer.parameters();
    const r = gradcheck(
      () => {
        const pre = layer.forward(x1, { outputState: true });
        return [pre.y, layer.forward(x2, { state: pre.state! }).y];
      },
      params,
      { atol: 1e-7, rtol: 1e-5 },
    );
    assert.equal(r.checked, params.reduce((n, p) => n + p.size, 0));
    // through the step form too, every parameter gets a finite non-zero gradient
    layer.zeroGrad();
    let state = layer.initState(2);
    let loss: Tensor | null = null;
    for (let t = 0; t < 4; t++) {
      const s = layer.step(squeeze(slice(x1, 1, t, t + 1), 1), state);
      state = s.state;
      loss = loss ? loss.add(s.y.square().sum()) : s.y.square().sum();
    }
    loss!.backward();
    for (const [name, p] of layer.namedParameters()) {
      assert.ok(p.grad && p.grad.values().every(Number.isFinite) && p.grad.values().some((v) => v !== 0), `${name}: gradient`);
    }
  });
});
