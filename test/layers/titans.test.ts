/**
 * The Titans layers (spec/mixers.md §10): titans_lmm, titans_mac, titans_mag, titans_mal; and the Miras presets
 * moneta, yaad, memora (§11).
 *  - the blocked prefix + stream attention equals softmax attention by the definition (several query blocks);
 *  - titans_lmm (linear memory, momentum, forgetting, chunked gradients) equals a scalar loop of the equations,
 *    through the parallel form, prefill + continued forward and prefill + step (splits inside a chunk); so do
 *    moneta (lp + lq), yaad (Huber with learned δ) and memora (KL retention), and moneta with p = q = 2 is
 *    titans_lmm without momentum (spec §11's worked check);
 *  - MAG, MAL and MAC equal their direct compositions (memory over the whole [P ; x] in one call, attention
 *    over explicit key lists with dense masks, MAC segment by segment), and prefill + forward / + step give the
 *    same numbers at splits inside and at the end of a segment or chunk (f64);
 *  - causality: no output depends on a later token; MAC carries a token across segments only through memory;
 *  - gradients (finite differences, f64) of every parameter through prefill + continuation, and non-zero
 *    gradients through the step form; the state size formulas; parameter names; config errors name the field.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { noGrad } from "../../src/core/autograd.js";
import { concat, slice } from "../../src/core/ops/shape.js";
import type { Tensor } from "../../src/core/tensor.js";
import type { MixerLayer } from "../../src/layers/index.js";
import { prefixStreamAttention } from "../../src/layers/titans_attention.js";
import type { TitansMacLayer } from "../../src/layers/titans_mac.js";
import type { SwaTitansBase } from "../../src/layers/titans_swa.js";
import { checkForms, checkGradients, checkStateSize, configErrorTests, loopTests, makeLayer, maxRelDiff, randomize, shapes } from "./checks.js";
import { denseAttention, lmmReferenceLoop, macReference, swaReference, type LmmRefConfig } from "./titans_reference.js";

const TOL = 1e-10;
const D = 8;
const B = 2;
const T = 11;

/** a layer with every weight N(0, 0.5) (norm weights around 1), θ_max small enough to keep the memory tame */
function randomLayer(type: string, config: Record<string, unknown>, seed = 5): MixerLayer {
  const layer = makeLayer(type, { numHeads: 2, lrMax: 0.4, ...config }, D, 4);
  randomize(layer, seed);
  return layer;
}

const input = (seed = 6, t = T) => randn([B, t, D], new Random(seed), { dtype: "f64" });

describe("prefix + stream attention = softmax attention by the definition", () => {
  test("window 5 over a cache of 3 positions, prefix of 2, 70 queries (two query blocks), and a prefix-free case", () => {
    noGrad(() => {
      const rng = new Random(1);
      const q = randn([2, 70, 2, 3], rng, { dtype: "f64" });
      const prefix = randn([2, 2, 2, 6], rng, { dtype: "f64" });
      const stream = randn([2, 73, 2, 6], rng, { dtype: "f64" });
      const S = 3;
      const W = 5;
      const got = prefixStreamAttention(q, prefix, stream, (t) => [Math.max(0, S + t - W + 1), S + t + 1]);
      const want = denseAttention(q, concat([prefix, stream], 1), (t, j) => j < 2 || (j - 2 <= S + t && j - 2 > S + t - W));
      assert.ok(maxRelDiff(got, want) < 1e-13, `${maxRelDiff(got, want)}`);
      const full = prefixStreamAttention(q, null, slice(stream, 1, 0, 70), (t) => [0, t + 1]);
      const fullWant = denseAttention(q, slice(stream, 1, 0, 70), (t, j) => j <= t);
      assert.ok(maxRelDiff(full, fullWant) < 1e-13, `${maxRelDiff(full, fullWant)}`);
    });
  });
});

describe(`titans_lmm = scalar loop of the memory equations (linear memory, f64, ${TOL})`, () => {
  const base: LmmRefConfig = { H: 2, K: 4, chunkSize: 3, lrMax: 0.4, useShortConv: true, normEps: 1e-5 };
  loopTests<LmmRefConfig>(
    [
      ["H=2, K=4, convs, chunk 3 (prefill split inside a chunk)", { numHeads: 2, convBias: true, chunkSize: 3 }, base],
      ["H=1, K=8, no convs, chunk 1 (token by token)", { numHeads: 1, useShortConv: false, chunkSize: 1 }, { ...base, H: 1, K: 8, chunkSize: 1, useShortConv: false }],
      ["H=2, K=4, chunk 16 (one chunk: all gradients at W₀)", { numHeads: 2, chunkSize: 16 }, { ...base, chunkSize: 16 }],
    ],
    {
      make: (config) => makeLayer("titans_lmm", { memoryDepth: 1, memoryResidual: false, lrMax: 0.4, ...config }, D, 4),
      loop: lmmReferenceLoop,
      B,
      T,
      D,
      tol: TOL,
    },
  );
});

describe(`moneta, yaad, memora = the scalar loop with their Miras bias and retention (linear memory, f64, ${TOL})`, () => {
  const base: LmmRefConfig = { H: 2, K: 4, chunkSize: 3, lrMax: 0.4, useShortConv: true, normEps: 1e-5, momentum: false };
  loopTests<LmmRefConfig>(
    [
      ["moneta: lp p=3, lq q=4, chunk 3", { type: "moneta", chunkSize: 3 }, { ...base, bias: "lp", p: 3, retention: "lq", q: 4 }],
      ["moneta: p=2.5, q=3, chunk 1", { type: "moneta", chunkSize: 1, biasP: 2.5, retentionQ: 3 }, { ...base, chunkSize: 1, bias: "lp", p: 2.5, retention: "lq", q: 3 }],
      ["yaad: huber with learned δ, with Titans' momentum, chunk 2", { type: "yaad", chunkSize: 2, momentum: true }, { ...base, chunkSize: 2, momentum: true, bias: "huber" }],
      ["memora: kl retention with c = 2, chunk 3", { type: "memora", chunkSize: 3, klScale: 2 }, { ...base, retention: "kl", c: 2 }],
      ["titans_lmm with a huber bias and kl retention, momentum", { type: "titans_lmm", chunkSize: 3, bias: "huber", retention: "kl" }, { ...base, momentum: true, bias: "huber", retention: "kl" }],
    ],
    {
      make: ({ type, ...config }) => makeLayer(type as string, { numHeads: 2, memoryDepth: 1, memoryResidual: false, lrMax: 0.4, ...config }, D, 4),
      loop: lmmReferenceLoop,
      B,
      T,
      D,
      tol: TOL,
    },
  );

  test("spec §11 worked check: moneta with p = q = 2 is titans_lmm without momentum (same weights)", () => {
    noGrad(() => {
      const config = { numHeads: 2, chunkSize: 3, memoryExpansion: 2 };
      const moneta = makeLayer("moneta", { ...config, biasP: 2, retentionQ: 2 }, D, 4);
      randomize(moneta, 5);
      const titans = makeLayer("titans_lmm", { ...config, momentum: false }, D, 4);
      titans.loadStateDict(moneta.stateDict());
      const x = input();
      assert.ok(maxRelDiff(moneta.forward(x).y, titans.forward(x).y) < 1e-13);
    });
  });
});

describe(`MAG, MAL, MAC = their direct compositions; streaming = parallel (f64, ${TOL})`, () => {
  const cases: Array<[string, string, Record<string, unknown>, (l: MixerLayer, x: Tensor) => Tensor, number[]]> = [
    ["titans_mag", "window 4, P = 2, chunk 3, linear memory", { window: 4, persistentTokens: 2, chunkSize: 3, memoryDepth: 1 }, (l, x) => swaReference(l as SwaTitansBase, x, "mag"), [3, 4]],
    ["titans_mag", "window 1, no P, no RoPE, MLP memory", { window: 1, persistentTokens: 0, rope: false, chunkSize: 2, memoryExpansion: 2 }, (l, x) => swaReference(l as SwaTitansBase, x, "mag"), [5]],
    ["titans_mal", "window 3, P = 3, chunk 2, residual MLP memory", { window: 3, persistentTokens: 3, chunkSize: 2, memoryExpansion: 2 }, (l, x) => swaReference(l as SwaTitansBase, x, "mal"), [4, 7]],
    ["titans_mac", "segment 4, chunk 2, P = 2", { segmentLen: 4, chunkSize: 2, persistentTokens: 2, memoryDepth: 1 }, (l, x) => macReference(l as TitansMacLayer, x), [4, 5]],
    ["titans_mac", "segment 3, chunk 3, no P, no convs, MLP memory", { segmentLen: 3, chunkSize: 3, persistentTokens: 0, useShortConv: false, memoryExpansion: 2 }, (l, x) => macReference(l as TitansMacLayer, x), [2]],
  ];
  for (const [type, what, config, reference, splits] of cases) {
    test(`${type}, ${what}: forward = reference; prefill (${splits.join(", ")}) + forward / + step`, () => {
      const layer = randomLayer(type, config);
      const x = input();
      const want = noGrad(() => reference(layer, x)).toNested() as number[][][];
      for (const split of splits) checkForms(layer, x, want, TOL, { split, fromEmpty: true });
    });
  }
});

describe("causality and memory", () => {
  for (const [type, config] of [
    ["titans_mac", { segmentLen: 4, chunkSize: 2, memoryDepth: 1 }],
    ["titans_mag", { window: 3, chunkSize: 2 }],
    ["titans_mal", { window: 3, chunkSize: 2 }],
    ["titans_lmm", { chunkSize: 4 }],
  ] as const) {
    test(`${type}: changing token 6 leaves outputs 0…5 exactly as they were and changes output 6`, () => {
      noGrad(() => {
        const layer = randomLayer(type, config);
        const x = input();
        const x2 = x.clone();
        x2.data[6 * D] = x2.data[6 * D]! + 1; // sequence 0, token 6, channel 0
        const a = layer.forward(x).y.values();
        const b = layer.forward(x2).y.values();
        for (let t = 0; t < 6; t++) for (let d = 0; d < D; d++) assert.equal(a[t * D + d], b[t * D + d], `output ${t} moved`);
        assert.ok([...Array(D).keys()].some((d) => a[6 * D + d] !== b[6 * D + d]), "output 6 unchanged");
      });
    });
  }

  test("titans_mac: token 0 reaches segment 2 (positions 8…10) only through the memory", () => {
    noGrad(() => {
      const layer = randomLayer("titans_mac", { segmentLen: 4, chunkSize: 2, memoryDepth: 1, convSize: 2 });
      const x = input();
      const x2 = x.clone();
      x2.data[0] = x2.data[0]! + 1;
      const a = slice(layer.forward(x).y, 1, 8);
      const b = slice(layer.forward(x2).y, 1, 8);
      assert.ok(maxRelDiff(a, b) > 1e-6, `segment 2 should feel token 0 through the memory: ${maxRelDiff(a, b)}`);
      // with a memory that never learns nor forgets (θ = 0, α = 0: W stays W₀) nothing crosses the segment boundary
      const p = layer.stateDict();
      p.get("memory.to_adaptive_step.weight")!.data.fill(0);
      p.get("memory.to_adaptive_step.bias")!.data.fill(-1e4);
      p.get("memory.to_decay_factor.weight")!.data.fill(0);
      p.get("memory.to_decay_factor.bias")!.data.fill(-1e4);
      const c = slice(layer.forward(x).y, 1, 8);
      const d = slice(layer.forward(x2).y, 1, 8);
      assert.ok(maxRelDiff(c, d) < 1e-12, `without learning the memory is blind to token 0: ${maxRelDiff(c, d)}`);
    });
  });
});

describe("gradients (f64)", () => {
  for (const [type, config] of [
    ["titans_lmm", { numHeads: 1, headDim: 3, chunkSize: 2, convSize: 2, memoryExpansion: 1 }],
    ["titans_mac", { numHeads: 1, headDim: 2, segmentLen: 2, chunkSize: 2, convSize: 2, memoryDepth: 1, persistentTokens: 1 }],
    ["titans_mag", { numHeads: 1, headDim: 2, window: 2, chunkSize: 2, convSize: 2, memoryDepth: 1, persistentTokens: 1 }],
    ["titans_mal", { numHeads: 1, headDim: 2, window: 2, chunkSize: 2, convSize: 2, memoryDepth: 1, persistentTokens: 1 }],
    ["moneta", { numHeads: 1, headDim: 3, chunkSize: 2, convSize: 2, memoryExpansion: 1 }],
    ["yaad", { numHeads: 1, headDim: 3, chunkSize: 2, convSize: 2, memoryDepth: 1 }],
    ["memora", { numHeads: 1, headDim: 3, chunkSize: 2, convSize: 2, memoryExpansion: 1 }],
  ] as const) {
    test(`${type}: gradcheck of every parameter through prefill + continuation; step-form gradients non-zero`, () => {
      const layer = makeLayer(type, { lrMax: 0.4, ...config }, 4, 7);
      randomize(layer, 8, 0.4);
      checkGradients(layer, 4, 9, { prefill: 3, cont: 2, steps: 3 });
    });
  }
});

describe("state", () => {
  const H = 2;
  const K = 4;
  const kvw = H * 2 * K; // one packed key/value position of the attention
  const convs = (W: number) => (W - 1) * 3 * H * K;
  const buffered = (r: number) => r * H * (3 * K + 3);
  const linear = 2 * H * K * K;
  test("titans_lmm: 2·H·n_W + convs + the inputs of the (t mod chunk) buffered tokens", () => {
    const mlp = 2 * H * (K * 2 * K + 2 * K * K); // depth 2, expansion 2
    checkStateSize(makeLayer("titans_lmm", { numHeads: H, chunkSize: 3, memoryExpansion: 2, convSize: 3 }, D), D, 40, (t) => mlp + convs(3) + buffered(t % 3), { everyToken: true, atZero: true });
  });
  test("titans_mag / titans_mal: memory over N_p + t tokens + prefix + min(t, W−1) window positions + 1", () => {
    for (const type of ["titans_mag", "titans_mal"]) {
      const layer = makeLayer(type, { numHeads: H, chunkSize: 3, memoryDepth: 1, convSize: 2, persistentTokens: 2, window: 5 }, D);
      checkStateSize(layer, D, 20, (t) => linear + convs(2) + buffered((t + 2) % 3) + 2 * kvw + Math.min(t, 4) * kvw + 1, { everyToken: true, atZero: true });
    }
  });
  test("titans_mac: the memory twice + convs (read stream too) + prefix + (t mod C_s) pairs of h and segment positions", () => {
    const layer = makeLayer("titans_mac", { numHeads: H, chunkSize: 2, memoryDepth: 1, convSize: 2, persistentTokens: 3, segmentLen: 4 }, D);
    checkStateSize(layer, D, 20, (t) => 2 * linear + convs(2) + H * K + buffered(t % 2) + 3 * kvw + 2 * (t % 4) * kvw, { everyToken: true, atZero: true });
  });
  test("a malformed state is an error naming the tensor", () => {
    const x = randn([2, D], new Random(1), { dtype: "f64" });
    const lmm = makeLayer("titans_lmm", { numHeads: H }, D);
    assert.throws(() => lmm.step(x, lmm.initState(3)), /titans_lmm: state\.conv_q must have shape \[2,3,8\]/);
    const mac = makeLayer("titans_mac", { numHeads: H }, D);
    const s = { ...mac.initState(2) };
    delete (s as Record<string, Tensor>).seg_kv;
    assert.throws(() => mac.step(x, s), /titans_mac: state\.seg_kv must be a tensor for 2 sequences/);
  });
});

describe("parameters", () => {
  test("titans_lmm (fla q/k/v + convs, titans-pytorch gates, W₀ per memory layer)", () => {
    assert.deepEqual(shapes(makeLayer("titans_lmm", { numHeads: 2, convBias: true, memoryExpansion: 2 }, D)), {
      "q_proj.weight": [8, 8],
      "k_proj.weight": [8, 8],
      "v_proj.weight": [8, 8],
      "q_conv1d.weight": [8, 1, 4],
      "q_conv1d.bias": [8],
      "k_conv1d.weight": [8, 1, 4],
      "k_conv1d.bias": [8],
      "v_conv1d.weight": [8, 1, 4],
      "v_conv1d.bias": [8],
      "to_adaptive_step.weight": [2, 8],
      "to_adaptive_step.bias": [2],
      "to_momentum.weight": [2, 8],
      "to_momentum.bias": [2],
      "to_decay_factor.weight": [2, 8],
      "to_decay_factor.bias": [2],
      memory_w1: [2, 4, 8],
      memory_w2: [2, 8, 4],
      "o_norm.weight": [4],
      "o_proj.weight": [8, 8],
    });
  });
  test("titans_mac / titans_mag: P, memory.*, attn.*, y_norm, m_norm, o_proj; titans_mal: no gate", () => {
    const top = (type: string) =>
      Object.entries(shapes(makeLayer(type, { numHeads: 2, memoryDepth: 1, useShortConv: false, persistentTokens: 3 }, D)))
        .filter(([n]) => !n.startsWith("memory."))
        .map(([n, s]) => `${n} ${s.join("x")}`);
    const attn = ["attn.q_proj.weight 8x8", "attn.k_proj.weight 8x8", "attn.v_proj.weight 8x8", "attn.o_proj.weight 8x8"];
    const gate = ["y_norm.weight 8", "m_norm.weight 8", "o_proj.weight 8x8"];
    assert.deepEqual(top("titans_mac"), ["persistent_memory 3x8", ...attn, ...gate]);
    assert.deepEqual(top("titans_mag"), ["persistent_memory 3x8", ...attn, ...gate]);
    assert.deepEqual(top("titans_mal"), ["persistent_memory 3x8", ...attn]);
  });
});

describe("config errors name the field", () => {
  configErrorTests("titans_mac", [
    ["chunkSize not dividing segmentLen", { segmentLen: 6, chunkSize: 4 }, [/layers\[0\] \(titans_mac\)/, /'chunkSize'=4 must divide 'segmentLen'=6/]],
    ["segmentLen 0", { segmentLen: 0 }, [/'segmentLen'/]],
    ["numHeads not dividing dModel", { numHeads: 3 }, [/'numHeads'=3 must divide dModel=16/]],
    ["odd headDim with RoPE", { numHeads: 2, headDim: 3 }, [/'headDim'=3 must be even/]],
  ]);
  configErrorTests("titans_mag", [
    ["window 0", { window: 0 }, [/'window'/]],
    ["negative persistentTokens", { persistentTokens: -1 }, [/'persistentTokens'/]],
    ["unknown field", { segmentLen: 4 }, [/unknown field/, /'segmentLen'/]],
  ]);
  configErrorTests("titans_lmm", [
    ["memoryDepth 5", { memoryDepth: 5 }, [/'memoryDepth'/]],
    ["memoryActivation relu", { memoryActivation: "relu" }, [/'memoryActivation'/]],
    ["lrMax 0", { lrMax: 0 }, [/'lrMax'/]],
  ]);
});
