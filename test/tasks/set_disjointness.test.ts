import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { setDisjointness, SET_ANSWER, SET_SEP, SET_START } from "../../src/tasks/index.js";
import { example, gen, IGNORE, scored, tokens } from "./helpers.js";

/** Splits one example into its passes of (first list, second list); checks the separators. */
function parse(x: number[], numPasses: number): { first: number[]; second: number[] }[] {
  const T = x.length;
  assert.equal(x[T - 1], SET_ANSWER);
  const passes: { first: number[]; second: number[] }[] = [];
  let t = 0;
  for (let p = 0; p < numPasses; p++) {
    assert.equal(x[t++], SET_START);
    const first: number[] = [];
    while (x[t] !== SET_SEP) first.push(x[t++]!);
    t++;
    const second: number[] = [];
    while (x[t] !== SET_START && x[t] !== SET_ANSWER) second.push(x[t++]!);
    passes.push({ first, second });
  }
  assert.equal(t, T - 1);
  return passes;
}

function check(overrides: Record<string, unknown>, n: number, expectFirst: number | null, seed = 1): Int32Array {
  const { config, batch } = gen(setDisjointness, overrides, n, seed);
  const tb = tokens(batch);
  const T = setDisjointness.seqLen(config);
  assert.deepEqual(tb.shape, [n, T]);
  for (let b = 0; b < n; b++) {
    const { x, y } = example(tb, b);
    const passes = parse(x, config.numPasses);
    const { first, second } = passes[0]!;
    for (const p of passes) assert.deepEqual(p, passes[0], "JRT passes repeat the lists verbatim");
    assert.equal(first.length + second.length, config.listA + config.listB);
    if (expectFirst !== null) assert.equal(first.length, expectFirst);
    assert.equal((tb.meta!.firstLength as Int32Array)[b], first.length);
    for (const v of [...first, ...second]) assert.ok(v >= 4 && v < config.vocabSize, `content token ${v}`);
    assert.equal(new Set(first).size, first.length, "first list has distinct tokens");
    assert.equal(new Set(second).size, second.length, "second list has distinct tokens");
    // brute-force intersection
    const common = first.filter((v) => second.includes(v));
    assert.equal(common.length, 1, "exactly one shared element");
    assert.deepEqual(scored(y), [T - 1]);
    assert.equal(y[T - 1], common[0]);
    for (let t = 0; t < T - 1; t++) assert.equal(y[t], IGNORE);
  }
  return tb.meta!.firstLength as Int32Array;
}

describe("set_disjointness", () => {
  test("label = the single common element (brute-force check), lists as configured", () => {
    check({}, 200, 4);
    check({ listA: 16, listB: 4 }, 200, 16);
    check({ listA: 8, listB: 24 }, 100, 8);
  });

  test("the spec's (4, 32) and (32, 4) slices fit V = 64", () => {
    check({ listA: 4, listB: 32 }, 50, 4);
    check({ listA: 32, listB: 4 }, 50, 32);
  });

  test("order: small-first / large-first / random", () => {
    check({ listA: 16, listB: 4, order: "small-first" }, 50, 4);
    check({ listA: 4, listB: 16, order: "small-first" }, 50, 4);
    check({ listA: 4, listB: 16, order: "large-first" }, 50, 16);
    check({ listA: 16, listB: 4, order: "as-given" }, 50, 16);
    const firsts = check({ listA: 4, listB: 16, order: "random" }, 200, null);
    const small = firsts.filter((v) => v === 4).length;
    assert.ok(small > 60 && small < 140, `${small}/200 small-first`);
  });

  test("JRT repetition shows both lists numPasses times before the question", () => {
    check({ numPasses: 2 }, 50, 4);
    check({ numPasses: 3, order: "large-first" }, 30, 16);
    const { config } = gen(setDisjointness, { numPasses: 2 }, 1);
    assert.equal(setDisjointness.seqLen(config), 2 * (4 + 16 + 2) + 1);
  });

  test("the common element is uniformly placed in both lists", () => {
    const { batch } = gen(setDisjointness, { listA: 4, listB: 4 }, 800, 3);
    const tb = tokens(batch);
    const inFirst = [0, 0, 0, 0];
    const inSecond = [0, 0, 0, 0];
    for (let b = 0; b < 800; b++) {
      const { x, y } = example(tb, b);
      const w = y[x.length - 1]!;
      inFirst[x.slice(1, 5).indexOf(w)]!++;
      inSecond[x.slice(6, 10).indexOf(w)]!++;
    }
    for (const c of [...inFirst, ...inSecond]) assert.ok(c > 140 && c < 260, `${inFirst} / ${inSecond}`);
  });

  test("config validation names the field", () => {
    assert.throws(() => gen(setDisjointness, { listA: 40, listB: 30 }, 1), /vocabSize/);
    assert.throws(() => gen(setDisjointness, { order: "shortest-first" }, 1), /order/);
    assert.throws(() => gen(setDisjointness, { listA: 0 }, 1), /listA/);
  });
});
