import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mqar, mqarGapWeights } from "../../src/tasks/index.js";
import { deterministicExp, deterministicPow } from "../../src/tasks/util.js";
import { example, gen, IGNORE, scored, tokens } from "./helpers.js";

/** Checks every zoology invariant of one MQAR batch; returns the gap (in pairs) at which each context key was queried. */
function checkMqar(cfg: { vocabSize: number; seqLen: number; numKvPairs: number; numPasses: number; randomNonQueries: boolean }, batchSize: number, seed: number): number[][] {
  const { batch } = gen(mqar, cfg, batchSize, seed);
  const tb = tokens(batch);
  const { vocabSize: V, seqLen: T, numKvPairs: P, numPasses } = cfg;
  const Lc = 2 * P * numPasses;
  assert.deepEqual(tb.shape, [batchSize, T]);
  const gapsPerExample: number[][] = [];
  for (let b = 0; b < batchSize; b++) {
    const { x, y } = example(tb, b);
    const keys = x.filter((_, t) => t < 2 * P && t % 2 === 0);
    const values = x.filter((_, t) => t < 2 * P && t % 2 === 1);
    // keys from the first vocab half (0 excluded), values from the second, all distinct
    for (const k of keys) assert.ok(k >= 1 && k < V / 2, `key ${k}`);
    for (const v of values) assert.ok(v >= V / 2 && v < V, `value ${v}`);
    assert.equal(new Set(keys).size, P);
    assert.equal(new Set(values).size, P);
    // JRT passes repeat the context verbatim
    for (let t = 2 * P; t < Lc; t++) assert.equal(x[t], x[t - 2 * P]);
    // exactly P scored positions, all query positions Lc + 2g, each key queried once, label = its value
    const pos = scored(y);
    assert.equal(pos.length, P);
    const queried = new Set<number>();
    const gaps = new Array<number>(P).fill(-1);
    for (const t of pos) {
      assert.ok(t >= Lc && (t - Lc) % 2 === 0, `query position ${t}`);
      const i = keys.indexOf(x[t]!);
      assert.ok(i >= 0, `query token ${x[t]} is a context key`);
      assert.equal(y[t], values[i], "label = the value bound to the queried key");
      queried.add(x[t]!);
      gaps[i] = (t - Lc) / 2;
    }
    assert.equal(queried.size, P, "every key queried exactly once");
    // unscored targets are −100; with zero fillers every non-query position after the context is 0
    for (let t = 0; t < T; t++) {
      if (!pos.includes(t)) {
        assert.equal(y[t], IGNORE);
        if (!cfg.randomNonQueries && t >= Lc) assert.equal(x[t], 0);
      }
      assert.ok(x[t]! >= 0 && x[t]! < V);
    }
    gapsPerExample.push(gaps);
  }
  return gapsPerExample;
}

describe("mqar", () => {
  test("zoology invariants: key/value halves, one query per key, label = paired value, −100 elsewhere", () => {
    checkMqar({ vocabSize: 64, seqLen: 32, numKvPairs: 4, numPasses: 1, randomNonQueries: false }, 200, 1);
    checkMqar({ vocabSize: 64, seqLen: 32, numKvPairs: 4, numPasses: 1, randomNonQueries: true }, 200, 2);
    checkMqar({ vocabSize: 64, seqLen: 48, numKvPairs: 8, numPasses: 1, randomNonQueries: true }, 100, 3);
    // tightest packing: 2P + 2P = T leaves exactly P gaps, so every gap is used
    checkMqar({ vocabSize: 20, seqLen: 16, numKvPairs: 4, numPasses: 1, randomNonQueries: false }, 50, 4);
  });

  test("numPasses (JRT) repeats the context and moves the queries after it", () => {
    checkMqar({ vocabSize: 64, seqLen: 48, numKvPairs: 4, numPasses: 2, randomNonQueries: false }, 100, 5);
    checkMqar({ vocabSize: 64, seqLen: 48, numKvPairs: 4, numPasses: 3, randomNonQueries: true }, 50, 6);
  });

  test("random fillers replace the zeros with tokens from [0, V)", () => {
    const { batch } = gen(mqar, { randomNonQueries: true }, 50, 9);
    const tb = tokens(batch);
    let zeros = 0;
    for (const v of tb.inputs) if (v === 0) zeros++;
    // 50·(32 − 8 − 4) = 1000 fillers, each 0 with probability 1/64
    assert.ok(zeros < 60, `${zeros} zeros left`);
  });

  test("gap weights are the power law (g+1)^(a−1), normalised", () => {
    for (const a of [0.01, 0.5, 1, 2]) {
      const w = mqarGapWeights(12, a);
      const ref = Array.from({ length: 12 }, (_, g) => Math.pow(g + 1, a - 1));
      const total = ref.reduce((s, v) => s + v, 0);
      ref.forEach((r, g) => assert.ok(Math.abs(w[g]! - r / total) < 1e-13, `a=${a} g=${g}`));
    }
    for (const x of [-30, -3.3, -0.7, 0, 1e-9, 0.5, 2, 40]) {
      assert.ok(Math.abs(deterministicExp(x) / Math.exp(x) - 1) < 1e-14, `exp(${x})`);
    }
    assert.ok(Math.abs(deterministicPow(7, -0.99) / Math.pow(7, -0.99) - 1) < 1e-14);
  });

  test("query placement follows the power law (first key ↔ first drawn gap), loosely", () => {
    // T = 32, P = 4, Lc = 8 → 12 gaps. Key 1 sits at the first drawn gap, whose law is exactly p(g).
    const N = 2000;
    for (const a of [0.01, 1]) {
      const { batch } = gen(mqar, { powerA: a, randomNonQueries: false }, N, 12);
      const tb = tokens(batch);
      const counts = new Array<number>(12).fill(0);
      let meanGapAll = 0;
      for (let b = 0; b < N; b++) {
        const { x, y } = example(tb, b);
        for (const t of scored(y)) {
          meanGapAll += (t - 8) / 2;
          if (x[t] === x[0]) counts[(t - 8) / 2]!++;
        }
      }
      meanGapAll /= 4 * N;
      const p = mqarGapWeights(12, a);
      counts.forEach((c, g) => assert.ok(Math.abs(c / N - p[g]!) < 0.035, `powerA=${a} gap ${g}: ${c / N} vs ${p[g]}`));
      // all P gaps are distinct, so their mean is pulled toward the middle; still much smaller for a = 0.01
      if (a === 0.01) assert.ok(meanGapAll < 4.5, `mean gap ${meanGapAll}`);
      else assert.ok(Math.abs(meanGapAll - 5.5) < 0.2, `uniform mean gap ${meanGapAll}`);
    }
  });

  test("config validation names the field", () => {
    assert.throws(() => gen(mqar, { numKvPairs: 9 }, 1), /numKvPairs/);
    assert.throws(() => gen(mqar, { vocabSize: 63 }, 1), /vocabSize.*even/);
    assert.throws(() => gen(mqar, { seqLen: 33, vocabSize: 64 }, 1), /seqLen.*even/);
    assert.throws(() => gen(mqar, { vocabSize: 32, seqLen: 32 }, 1), /vocabSize.*exceed seqLen/);
    assert.throws(() => gen(mqar, { powerA: 0 }, 1), /powerA/);
    assert.throws(() => gen(mqar, { numPasses: 4 }, 1), /numKvPairs.*numPasses/);
    assert.throws(() => gen(mqar, { numKeyValuePairs: 4 }, 1), /unknown config field.*numKeyValuePairs/);
  });
});
