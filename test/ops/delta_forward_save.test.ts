/**
 * The delta-rule chunk engine's forward pass without saving (o and the state only; its [S₀; U] rows alternate
 * between two chunk-sized buffers) gives the same bits as the pass that saves for backward (its rows in the saved
 * arrays), f32 and f64, plain and gated, on T with a short last chunk, one chunk, and chunks of one row; and the
 * saved [S₀; U] holds each chunk's incoming state: S₀ of chunk 0 is the initial state, and the state after the
 * last chunk is the result.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { deltaChunkForward, type DeltaProblem } from "../../src/ops/delta_common/engine.js";
import { makeRng } from "../kernels/rng.js";

function problem(f64: boolean, gated: boolean, B: number, T: number, H: number, K: number, V: number, C: number, seed: number): DeltaProblem {
  const rng = makeRng(seed);
  const arr = (n: number, f: () => number) => (f64 ? Float64Array.from({ length: n }, f) : Float32Array.from({ length: n }, f));
  const sym = (): number => 2 * rng() - 1;
  return {
    B, T, H, K, V, C, scale: 1 / Math.sqrt(K), f64,
    q: arr(B * T * H * K, sym), k: arr(B * T * H * K, () => 0.5 * sym()), v: arr(B * T * H * V, sym),
    beta: arr(B * T * H, rng), g: gated ? arr(B * T * H, () => -0.5 * rng()) : null, s0: arr(B * H * K * V, sym),
  };
}

test("delta engine forward: without saving = with saving, bit for bit; the saved S₀ rows are the chunks' incoming states", () => {
  let seed = 1;
  for (const f64 of [false, true]) {
    for (const gated of [false, true]) {
      for (const [T, C] of [[45, 16], [13, 64], [5, 1], [64, 64]] as const) {
        const [B, H, K, V] = [2, 3, 5, 7];
        const p = problem(f64, gated, B, T, H, K, V, C, seed++);
        const what = `${f64 ? "f64" : "f32"} ${gated ? "gated" : "plain"} T=${T} C=${C}`;
        const a = deltaChunkForward(p, false);
        const b = deltaChunkForward(p, true);
        assert.equal(a.saved, null);
        assert.deepEqual(a.o, b.o, `${what}: o`);
        assert.deepEqual(a.state, b.state, `${what}: state`);
        const N = Math.ceil(T / C), KV = K * V, SUS = N * KV + T * V;
        for (let bh = 0; bh < B * H; bh++) {
          const s0 = b.saved!.su.subarray(bh * SUS, bh * SUS + KV);
          assert.deepEqual(s0, p.s0!.subarray(bh * KV, (bh + 1) * KV), `${what}: saved S₀ of chunk 0, unit ${bh}`);
        }
      }
    }
  }
});
