/**
 * The linear-attention feature maps (spec/mixers.md §3, §4): values, widths, gradients (gradcheck in f64,
 * eps 1e-6, atol 1e-8, rtol 1e-6), the Taylor map's inner product 1 + s + s²/2 (tol 1e-12; the spec's
 * 6-decimal literals to 5e-7), and the maps feeding linear_attn.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { randn, tensor } from "../../src/core/create.js";
import { gradcheck } from "../../src/core/gradcheck.js";
import { Random } from "../../src/core/random.js";
import type { Tensor } from "../../src/core/tensor.js";
import { eluPlusOne, FEATURE_MAPS, getFeatureMap, identityMap, reluMap, taylor2, type FeatureMapName } from "../../src/ops/feature_maps/index.js";
import { linearAttn } from "../../src/ops/linear_attn/index.js";
import { runOp } from "../../src/ops/run.js";
import { assertClose } from "./harness.js";

const f64 = { dtype: "f64" as const };

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

describe("feature maps", () => {
  test("widths: identity, elu_plus_one, relu keep D; taylor2 gives 1 + D + D² (273 for D = 16)", () => {
    const x = randn([2, 3, 4, 16], new Random(1), f64);
    for (const name of Object.keys(FEATURE_MAPS) as FeatureMapName[]) {
      const map = getFeatureMap(name);
      const y = map.apply(x);
      assert.deepEqual([...y.shape], [2, 3, 4, map.dim(16)], name);
    }
    assert.equal(FEATURE_MAPS.taylor2.dim(16), 273);
  });

  test("values: identity is x, elu_plus_one is ELU(x)+1 > 0, relu is max(x, 0)", () => {
    const x = tensor([-2, -0.5, 0, 0.5, 3], [5], f64);
    assert.equal(identityMap(x), x);
    assertClose("elu+1", eluPlusOne(x), tensor([Math.exp(-2), Math.exp(-0.5), 1, 1.5, 4], [5], f64), 1e-15);
    assertClose("relu", reluMap(x), tensor([0, 0, 0, 0.5, 3], [5], f64), 0);
    assert.ok(eluPlusOne(randn([1000], new Random(2), f64).mul(5)).values().every((v) => v > 0));
  });

  test("taylor2, spec §3 worked check: q = (0.3,−0.2,0.5), k = (0.1,0.4,−0.6) → φ(q)·φ(k) = 0.818344 = 1 + s + s²/2, s = −0.202073", () => {
    const q = taylor2(tensor([0.3, -0.2, 0.5], [3], f64)).values();
    const k = taylor2(tensor([0.1, 0.4, -0.6], [3], f64)).values();
    assert.equal(q.length, 13);
    const s = -0.35 / Math.sqrt(3);
    assert.ok(Math.abs(s - -0.202073) < 5e-7);
    assert.ok(Math.abs(dot(q, k) - 0.818344) < 5e-7, `φ(q)·φ(k) = ${dot(q, k)}`);
    assert.ok(Math.abs(dot(q, k) - (1 + s + (s * s) / 2)) < 1e-12);
  });

  test("taylor2: φ(q)·φ(k) = 1 + s + s²/2 with s = q·k/√D on random vectors, D = 16 (tol 1e-12), and ≥ 1/2", () => {
    const rng = new Random(3);
    const D = 16;
    const q = randn([20, D], rng, f64);
    const k = randn([20, D], rng, f64);
    const fq = taylor2(q).values();
    const fk = taylor2(k).values();
    const F = 1 + D + D * D;
    for (let i = 0; i < 20; i++) {
      const s = dot(q.values().subarray(i * D, i * D + D), k.values().subarray(i * D, i * D + D)) / Math.sqrt(D);
      const ip = dot(fq.subarray(i * F, i * F + F), fk.subarray(i * F, i * F + F));
      assert.ok(Math.abs(ip - (1 + s + (s * s) / 2)) < 1e-12 * Math.max(1, Math.abs(ip)), `row ${i}: ${ip} vs ${1 + s + (s * s) / 2}`);
      assert.ok(ip >= 0.5);
    }
  });

  for (const name of Object.keys(FEATURE_MAPS) as FeatureMapName[]) {
    test(`gradcheck of ${name} (f64, [2,3,5]; eps 1e-6, atol 1e-8, rtol 1e-6)`, () => {
      const x = randn([2, 3, 5], new Random(4), f64).requireGrad();
      gradcheck((t: Tensor) => FEATURE_MAPS[name].apply(t), [x], { atol: 1e-8, rtol: 1e-6 });
    });
  }

  test("taylor2 features into normalised linear_attn (scale 1): o_1 = v_1 and, at T = 2, the Taylor-softmax average", () => {
    const rng = new Random(5);
    const [B, T, H, D, V] = [1, 2, 2, 4, 3];
    const q = randn([B, T, H, D], rng, f64);
    const k = randn([B, T, H, D], rng, f64);
    const v = randn([B, T, H, V], rng, f64);
    const o = runOp(linearAttn, { q: taylor2(q), k: taylor2(k), v }, "chunk", { normalize: true, scale: 1 }).o;
    for (let h = 0; h < H; h++) {
      const w = (tq: number, tk: number) => {
        let s = 0;
        for (let d = 0; d < D; d++) s += q.get(0, tq, h, d) * k.get(0, tk, h, d);
        s /= Math.sqrt(D);
        return 1 + s + (s * s) / 2;
      };
      for (let j = 0; j < V; j++) {
        assert.ok(Math.abs(o.get(0, 0, h, j) - v.get(0, 0, h, j)) < 1e-9);
        const w0 = w(1, 0);
        const w1 = w(1, 1);
        const want = (w0 * v.get(0, 0, h, j) + w1 * v.get(0, 1, h, j)) / (w0 + w1);
        assert.ok(Math.abs(o.get(0, 1, h, j) - want) < 1e-9, `h ${h} j ${j}: ${o.get(0, 1, h, j)} vs ${want}`);
      }
    }
  });

  test("an unknown map name is refused with the list of maps", () => {
    assert.throws(() => getFeatureMap("elu1"), /unknown feature map 'elu1'; expected one of identity, elu_plus_one, relu, taylor2/);
  });
});
