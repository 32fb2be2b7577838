/** selective_copy, induction_heads, passkey, niah. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { inductionHeads, niah, niahTokens, passkey, passkeyTokens, selectiveCopy } from "../../src/tasks/index.js";
import { example, gen, IGNORE, scored, tokens } from "./helpers.js";

describe("selective_copy", () => {
  test("the targets at the markers are the scattered tokens, in order", () => {
    const { batch } = gen(selectiveCopy, {}, 200);
    const tb = tokens(batch);
    const A = 8, M = 6, L = 26;
    assert.deepEqual(tb.shape, [200, L + 2 * M]);
    const firstPositions = new Set<number>();
    for (let b = 0; b < 200; b++) {
      const { x, y } = example(tb, b);
      const head = x.slice(0, M + L);
      const content = head.filter((v) => v !== 0);
      assert.equal(content.length, M);
      for (const v of content) assert.ok(v >= 1 && v <= A - 2);
      firstPositions.add(head.findIndex((v) => v !== 0));
      assert.deepEqual(x.slice(M + L), new Array(M).fill(A - 1));
      assert.deepEqual(y.slice(M + L), content);
      assert.deepEqual(y.slice(0, M + L), new Array(M + L).fill(IGNORE));
    }
    assert.ok(firstPositions.size > 5, "token positions vary");
  });

  test("variable: false is the classic copying task", () => {
    const { batch } = gen(selectiveCopy, { variable: false, numBlanks: 5, numTokens: 3 }, 20);
    const tb = tokens(batch);
    for (let b = 0; b < 20; b++) {
      const { x, y } = example(tb, b);
      assert.deepEqual(x.slice(3, 8), [0, 0, 0, 0, 0]);
      assert.deepEqual(y.slice(8), x.slice(0, 3));
    }
  });

  test("config validation names the field", () => {
    assert.throws(() => gen(selectiveCopy, { alphabetSize: 2 }, 1), /alphabetSize/);
    assert.throws(() => gen(selectiveCopy, { numTokens: 0 }, 1), /numTokens/);
  });
});

describe("induction_heads", () => {
  test("single trigger: the answer at the final s is the token after the first s", () => {
    const T = 8;
    const { batch } = gen(inductionHeads, { seqLen: T }, 400);
    const tb = tokens(batch);
    const s = 15;
    const triggers = new Set<number>();
    for (let b = 0; b < 400; b++) {
      const { x, y } = example(tb, b);
      assert.equal(x[T - 1], s);
      const p = x.indexOf(s);
      assert.ok(p >= 0 && p <= T - 3);
      assert.equal(x.filter((v) => v === s).length, 2, "s appears exactly twice");
      triggers.add(p);
      assert.deepEqual(scored(y), [T - 1]);
      assert.equal(y[T - 1], x[p + 1]);
      assert.ok(x[p + 1]! < s);
    }
    assert.deepEqual([...triggers].sort(), [0, 1, 2, 3, 4, 5], "p covers {0 … T−3}");
  });

  test("multi-token pattern: k scored tokens after the final s, teacher-forced", () => {
    const T = 20, k = 3;
    const { batch } = gen(inductionHeads, { seqLen: T, patternLength: k }, 100);
    const tb = tokens(batch);
    for (let b = 0; b < 100; b++) {
      const { x, y } = example(tb, b);
      const p = x.indexOf(15);
      assert.ok(p <= T - 2 * k - 1);
      assert.equal(x[T - k], 15);
      const pattern = x.slice(p + 1, p + 1 + k);
      assert.deepEqual(scored(y), [T - 3, T - 2, T - 1]);
      assert.deepEqual(y.slice(T - k), pattern);
      assert.deepEqual(x.slice(T - k + 1), pattern.slice(0, k - 1));
    }
  });

  test("config validation names the field", () => {
    assert.throws(() => gen(inductionHeads, { seqLen: 2 }, 1), /seqLen/);
    assert.throws(() => gen(inductionHeads, { patternLength: 30 }, 1), /seqLen.*patternLength/);
  });
});

/** Removes the needle [start, start+len) and the BOS from the first part of the sequence: the haystack. */
function haystackOf(x: number[], start: number, needleLen: number, end: number): number[] {
  return [...x.slice(1, start), ...x.slice(start + needleLen, end)];
}

describe("passkey", () => {
  test("the needle sits at round(δ·h), the haystack is periodic, the answer is the passkey", () => {
    const T = 40, n = 4, f = 5;
    const h = T - 2 * n - 3;
    for (const depth of [0, 0.1, 0.5, 0.9, 1]) {
      const { config, batch } = gen(passkey, { seqLen: T, depth }, 30);
      const tb = tokens(batch);
      const tok = passkeyTokens(config);
      const starts = tb.meta!.needleStart as Int32Array;
      for (let b = 0; b < 30; b++) {
        const { x, y } = example(tb, b);
        const start = 1 + Math.round(depth * h);
        assert.equal(starts[b], start);
        assert.equal(x[0], tok.BOS);
        assert.equal(x[start], tok.KEY);
        const key = x.slice(start + 1, start + 1 + n);
        for (const d of key) assert.ok(d >= 0 && d <= 9);
        assert.equal(x[start + 1 + n], tok.END);
        assert.equal(x[T - n], tok.ASK);
        assert.deepEqual(scored(y), [T - 4, T - 3, T - 2, T - 1]);
        assert.deepEqual(y.slice(T - n), key, "answer = the passkey");
        assert.deepEqual(x.slice(T - n + 1), key.slice(0, n - 1), "teacher forcing");
        const hay = haystackOf(x, start, n + 2, T - n);
        assert.equal(hay.length, h);
        hay.forEach((v, i) => assert.equal(v, tok.filler0 + (i % f)));
      }
    }
  });

  test("uniform depth spreads the needle over the haystack", () => {
    const { batch } = gen(passkey, {}, 300);
    const starts = tokens(batch).meta!.needleStart as Int32Array;
    const h = 64 - 11;
    assert.ok(Math.min(...starts) <= 4 && Math.max(...starts) >= h - 3);
  });

  test("config validation names the field", () => {
    assert.throws(() => gen(passkey, { depth: 1.5 }, 1), /depth/);
    assert.throws(() => gen(passkey, { seqLen: 10 }, 1), /seqLen/);
    assert.throws(() => gen(passkey, { depth: "middle" }, 1), /depth/);
  });
});

describe("niah", () => {
  for (const variant of ["noise", "text", "uuid"] as const) {
    test(`${variant}: needle at the configured depth, key/value pools respected, answer = value`, () => {
      const T = 48, kl = 2, vl = 4;
      const h = T - 2 * kl - 2 * vl - 4;
      for (const depth of [0, 0.3, 1]) {
        const { config, batch } = gen(niah, { variant, seqLen: T, depth }, 30);
        const tb = tokens(batch);
        const tok = niahTokens(config);
        assert.equal(tok.vocabSize, 24 + 8 + (variant === "uuid" ? 16 : 10) + 5);
        for (let b = 0; b < 30; b++) {
          const { x, y } = example(tb, b);
          const start = 1 + Math.round(depth * h);
          assert.equal((tb.meta!.needleStart as Int32Array)[b], start);
          assert.equal(x[start], tok.NEEDLE);
          const key = x.slice(start + 1, start + 1 + kl);
          for (const k of key) assert.ok(k >= tok.key0 && k < tok.key0 + 8);
          assert.equal(x[start + 1 + kl], tok.IS);
          const value = x.slice(start + 2 + kl, start + 2 + kl + vl);
          for (const v of value) assert.ok(v >= tok.value0 && v < tok.value0 + tok.numValues);
          // question: ASK κ ANS, then (teacher-forced) the value
          assert.deepEqual(x.slice(T - vl - kl - 1, T - vl + 1), [tok.ASK, ...key, tok.ANS]);
          assert.deepEqual(scored(y), [T - 4, T - 3, T - 2, T - 1]);
          assert.deepEqual(y.slice(T - vl), value, "answer = the needle's value");
          const hay = haystackOf(x, start, kl + vl + 2, T - vl - kl - 1);
          assert.equal(hay.length, h);
          if (variant === "noise") hay.forEach((v, i) => assert.equal(v, i % 5));
          else for (const v of hay) assert.ok(v >= 0 && v < 24, "haystack only uses word tokens");
        }
      }
    });
  }

  test("config validation names the field", () => {
    assert.throws(() => gen(niah, { variant: "essay" }, 1), /variant/);
    assert.throws(() => gen(niah, { fillerPeriod: 30 }, 1), /fillerPeriod/);
    assert.throws(() => gen(niah, { seqLen: 15 }, 1), /seqLen/);
  });
});
