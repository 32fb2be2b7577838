/** parity, modular_counting, s5_composition. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { modularCounting, parity, permutationGroup, s5Composition } from "../../src/tasks/index.js";
import { example, gen, IGNORE, tokens } from "./helpers.js";

function checkCounting(
  task: typeof parity | typeof modularCounting,
  overrides: Record<string, unknown>,
  modulus: number,
  offset: number,
  n: number,
): void {
  const { config, batch } = gen(task as typeof parity, overrides, n);
  const tb = tokens(batch);
  const lengths = tb.meta!.length as Int32Array;
  const seen = new Set<number>();
  for (let b = 0; b < n; b++) {
    const { x, y } = example(tb, b);
    const len = lengths[b]!;
    seen.add(len);
    assert.ok(len >= config.minLength && len <= config.maxLength);
    let ones = 0;
    for (let j = 0; j < config.seqLen; j++) {
      if (j <= len - 2) {
        assert.ok(x[j] === 1 || x[j] === 2, "bit tokens");
        if (x[j] === 2) ones++;
        const label = offset + (ones % modulus);
        if (config.variant === "running" || j === len - 2) assert.equal(y[j], label, `example ${b} position ${j}`);
        else assert.equal(y[j], IGNORE);
      } else {
        assert.equal(x[j], 0, "padding (the answer position is masked)");
        assert.equal(y[j], IGNORE);
      }
    }
  }
  assert.ok(seen.has(config.minLength) && seen.has(config.maxLength), "both length bounds occur");
}

describe("parity", () => {
  test("final: one scored position n−2 with label 1 + (ones mod 2), answer never in the input", () => {
    checkCounting(parity, {}, 2, 1, 300);
    checkCounting(parity, { minLength: 21, maxLength: 64, seqLen: 64 }, 2, 1, 200);
  });
  test("running: label = running parity at every bit position", () => {
    checkCounting(parity, { variant: "running" }, 2, 1, 300);
  });
  test("config validation names the field", () => {
    assert.throws(() => gen(parity, { maxLength: 30 }, 1), /maxLength.*seqLen/);
    assert.throws(() => gen(parity, { minLength: 10, maxLength: 5 }, 1), /maxLength.*minLength/);
    assert.throws(() => gen(parity, { minLength: 1 }, 1), /minLength/);
    assert.throws(() => gen(parity, { modulus: 3 }, 1), /unknown config field.*modulus/);
  });
});

describe("modular_counting", () => {
  test("label = count of ones mod k at every scored position", () => {
    checkCounting(modularCounting, {}, 3, 0, 300);
    checkCounting(modularCounting, { modulus: 5, variant: "running" }, 5, 0, 300);
    checkCounting(modularCounting, { modulus: 2, variant: "running", minLength: 2, maxLength: 24 }, 2, 0, 300);
  });
  test("config validation names the field", () => {
    assert.throws(() => gen(modularCounting, { modulus: 1 }, 1), /modulus/);
    assert.throws(() => gen(modularCounting, { variant: "prefix" }, 1), /variant/);
  });
});

/** All permutations of {0…n−1} by Heap's algorithm (not lexicographic), then sorted lexicographically. */
function lexPermutations(n: number): number[][] {
  const out: number[][] = [];
  const a = Array.from({ length: n }, (_, i) => i);
  const c = new Array<number>(n).fill(0);
  out.push([...a]);
  let i = 0;
  while (i < n) {
    if (c[i]! < i) {
      const j = i % 2 === 0 ? 0 : c[i]!;
      [a[j], a[i]] = [a[i]!, a[j]!];
      out.push([...a]);
      c[i]!++;
      i = 0;
    } else {
      c[i] = 0;
      i++;
    }
  }
  return out.sort((p, q) => {
    for (let k = 0; k < n; k++) if (p[k] !== q[k]) return p[k]! - q[k]!;
    return 0;
  });
}

function isEven(p: number[]): boolean {
  // parity from the cycle decomposition (a different method from the library's inversion count)
  const seen = new Array<boolean>(p.length).fill(false);
  let transpositions = 0;
  for (let i = 0; i < p.length; i++) {
    if (seen[i]) continue;
    let len = 0;
    for (let j = i; !seen[j]; j = p[j]!) {
      seen[j] = true;
      len++;
    }
    transpositions += len - 1;
  }
  return transpositions % 2 === 0;
}

describe("s5_composition", () => {
  test("group encoding: lexicographic one-line notation; A_n = the even ones", () => {
    const s5 = lexPermutations(5);
    assert.equal(s5.length, 120);
    assert.deepEqual(permutationGroup("S5").elements, s5);
    const a5 = s5.filter(isEven);
    assert.equal(a5.length, 60);
    assert.deepEqual(permutationGroup("A5").elements, a5);
    assert.deepEqual(permutationGroup("S3").elements, [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]);
    assert.equal(permutationGroup("A4").elements.length, 12);
    assert.equal(permutationGroup("A4xZ5").elements.length, 60);
    assert.equal(permutationGroup("Z7").elements.length, 7);
  });

  test("convention: P_j = g_j ∘ P_{j−1} (apply g_1 first), checked by hand in S3", () => {
    const G = permutationGroup("S3");
    // g1 = (0 1) = [1,0,2] (id 2), g2 = (1 2) = [0,2,1] (id 1); P2[i] = g2[g1[i]] = [2,0,1] (id 4)
    assert.equal(G.compose[1 * 6 + 2], 4);
  });

  for (const group of ["A5", "S5", "S3", "A4xZ5", "Z6"]) {
    test(`${group}: the target at every position is the composed permutation`, () => {
      const { batch } = gen(s5Composition, { group, seqLen: 12 }, 60);
      const tb = tokens(batch);
      const elements = group === "S5" ? lexPermutations(5) : group === "A5" ? lexPermutations(5).filter(isEven) : permutationGroup(group).elements.map((p) => [...p]);
      const key = (p: number[]) => p.join(",");
      const ids = new Map(elements.map((p, i) => [key(p), i]));
      for (let b = 0; b < 60; b++) {
        const { x, y } = example(tb, b);
        let state = elements[0]!.map((_, i) => i);
        for (let j = 0; j < 12; j++) {
          const g = elements[x[j]!]!;
          state = state.map((s) => g[s]!);
          assert.equal(y[j], ids.get(key(state)), `example ${b} position ${j}`);
        }
      }
      if (group === "Z6") {
        // cyclic group: the state is the running sum mod 6
        for (let b = 0; b < 60; b++) {
          const { x, y } = example(tb, b);
          let sum = 0;
          x.forEach((v, j) => {
            sum = (sum + v) % 6;
            assert.equal(y[j], sum);
          });
        }
      }
    });
  }

  test("target: final scores only the last position", () => {
    const { batch } = gen(s5Composition, { target: "final", seqLen: 5 }, 10);
    const all = gen(s5Composition, { seqLen: 5 }, 10).batch;
    const tb = tokens(batch);
    assert.deepEqual(tb.inputs, tokens(all).inputs);
    for (let b = 0; b < 10; b++) {
      const { y } = example(tb, b);
      assert.deepEqual(y.slice(0, 4), [IGNORE, IGNORE, IGNORE, IGNORE]);
      assert.equal(y[4], example(tokens(all), b).y[4]);
    }
  });

  test("config validation names the field", () => {
    assert.throws(() => gen(s5Composition, { group: "S6" }, 1), /group/);
    assert.throws(() => gen(s5Composition, { group: "Z1000" }, 1), /group/);
    assert.throws(() => gen(s5Composition, { seqLen: 0 }, 1), /seqLen/);
  });
});
