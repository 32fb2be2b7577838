import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Random, deterministicLog, type RandomState } from "../../src/core/random.js";

function take<T>(n: number, f: () => T): T[] {
  return Array.from({ length: n }, f);
}

describe("PCG32 reference stream", () => {
  test("seed 42 reproduces the published pcg32-demo output (initstate 42, initseq 54)", () => {
    // pcg-c-basic's pcg32-demo, "Round 1": the six 32-bit values, then 65 coin flips
    // (boundedrand(2)) and 33 dice rolls (boundedrand(6) + 1) from the same generator.
    const rng = new Random(42);
    assert.deepEqual(take(6, () => rng.nextUint32()), [
      0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e,
    ]);
    const coins = take(65, () => (rng.integer(0, 2) === 1 ? "H" : "T")).join("");
    assert.equal(coins, "HHTTTHTHHHTHTTTHHHHHTTTHHHTHTHTHTTHTTTHHHHHHTTTTHHTTTTTHTTTTTTTHT");
    const rolls = take(33, () => rng.integer(1, 7)).join(" ");
    assert.equal(rolls, "3 4 1 1 2 2 3 2 4 3 2 4 3 3 5 2 3 1 3 1 5 1 4 1 5 6 4 6 6 2 6 3 3");
  });

  test("numbers and bigints seed identically; negatives are 64-bit two's complement", () => {
    const a = new Random(42);
    const b = new Random(42n);
    assert.deepEqual(take(8, () => a.nextUint32()), take(8, () => b.nextUint32()));
    const c = new Random(-1);
    const d = new Random(2n ** 64n - 1n);
    assert.deepEqual(take(8, () => c.nextUint32()), take(8, () => d.nextUint32()));
    const e = new Random(-(2 ** 53) + 1);
    const f = new Random(BigInt(-(2 ** 53) + 1));
    assert.deepEqual(take(8, () => e.nextUint32()), take(8, () => f.nextUint32()));
    // bigints beyond 64 bits are reduced modulo 2^64
    const g = new Random(2n ** 64n + 42n);
    assert.equal(g.nextUint32(), 0xa15c02b7);
  });
});

describe("golden values (pinned; must never change across engines or versions)", () => {
  // uint32 for seed 42 is the published PCG32 vector; uniform and integer values were
  // reproduced by an independent Python PCG32; normals for seed 42 too (Python with a
  // correctly-rounded log). For seed 0 the first normal pair differs from that Python run in the
  // last bit, because ln(0.6171418964069807) lies almost halfway between two doubles
  // (deterministicLog, like Math.log, is ~0.8 ulp accurate, not correctly rounded).
  const golden = {
    42: {
      u32: [2707161783, 2068313097, 3122475824, 2211639955, 3215226955, 3421331566],
      uniform: [0.6303102186438938, 0.7270080560068604, 0.7486033647998483, 0.7491247468042271],
      normal: [
        -1.0263743236463887, -0.8304564045126385, -2.420644085063248, -0.6342103262735207,
        1.5205750940205232, 0.8895115948640083,
      ],
      int100: [83, 97, 24, 55, 55, 66, 85, 45],
      intWide: [788047328260, 325543878761, 390728272779, 1091420829172],
    },
    0: {
      u32: [1203932051, 3113183783, 2101201694, 4034269462, 2630041435, 3188618317],
      uniform: [0.2803122753265841, 0.4892241428740438, 0.6123542393923406, 0.34110672967546707],
      normal: [
        0.7011542723812862, -0.6882552530990061, 0.23609060569171472, -0.029291956871460058,
        -0.44588794139037063, -0.2962940754218073,
      ],
      int100: [51, 83, 94, 62, 35, 17, 62, 86],
      intWide: [581346696004, 86626429683, 353858943324, 644059361707],
    },
  } as const;

  for (const seed of [42, 0] as const) {
    const g = golden[seed];
    test(`seed ${seed}`, () => {
      let r = new Random(seed);
      assert.deepEqual(take(6, () => r.nextUint32()), g.u32);
      r = new Random(seed);
      assert.deepEqual(take(4, () => r.uniform()), g.uniform);
      r = new Random(seed);
      assert.deepEqual(take(6, () => r.normal()), g.normal);
      r = new Random(seed);
      assert.deepEqual(take(8, () => r.integer(0, 100)), g.int100);
      r = new Random(seed);
      assert.deepEqual(take(4, () => r.integer(-5, 2 ** 40)), g.intWide);
    });
  }
});

describe("argument validation", () => {
  test("bad seeds throw an error naming the seed", () => {
    for (const bad of [1.5, NaN, Infinity, -Infinity, 2 ** 53, -(2 ** 60)]) {
      assert.throws(() => new Random(bad), /seed/, `seed ${bad}`);
    }
    assert.throws(() => new Random("3" as unknown as number), /seed/);
    assert.throws(() => new Random(undefined as unknown as number), /seed/);
  });

  test("other methods reject bad arguments", () => {
    const r = new Random(1);
    assert.throws(() => r.integer(5, 5), RangeError);
    assert.throws(() => r.integer(0, 1.5), RangeError);
    assert.throws(() => r.integer(-(2 ** 52), 2 ** 52 + 1), RangeError); // span 2^53 + 1 (rounds to 2^53)
    assert.throws(() => r.integer(-(2 ** 52), 2 ** 52 + 2), RangeError); // span 2^53 + 2
    assert.throws(() => r.integer(0, 2 ** 53 + 2), RangeError);
    assert.throws(() => r.integer(-(2 ** 53), 0), RangeError); // lo not safe
    assert.throws(() => r.uniform(1, 0), RangeError);
    assert.throws(() => r.uniform(0, Infinity), RangeError);
    assert.throws(() => r.uniform(-Number.MAX_VALUE, Number.MAX_VALUE), RangeError);
    assert.throws(() => r.bernoulli(1.5), RangeError);
    assert.throws(() => r.bernoulli(NaN), RangeError);
    assert.throws(() => r.normal(0, -1), RangeError);
    assert.throws(() => r.choice([]), RangeError);
    assert.throws(() => r.choice([1, 2], [0, 0]), RangeError);
    assert.throws(() => r.choice([1, 2], [1]), RangeError);
    assert.throws(() => r.permutation(-1), RangeError);
    assert.throws(() => r.fork(0.5), /fork label/);
    assert.throws(() => Random.fromState({ algorithm: "pcg32", state: "xyz", inc: "1", spareNormal: null }));
  });
});

describe("deterministicLog", () => {
  test("special values", () => {
    assert.equal(deterministicLog(0), -Infinity);
    assert.equal(deterministicLog(-0), -Infinity);
    assert.ok(Number.isNaN(deterministicLog(-1)));
    assert.ok(Number.isNaN(deterministicLog(NaN)));
    assert.ok(Number.isNaN(deterministicLog(-Infinity)));
    assert.equal(deterministicLog(Infinity), Infinity);
    assert.equal(deterministicLog(1), 0);
    assert.equal(deterministicLog(2), Math.LN2);
    assert.equal(deterministicLog(10), Math.LN10);
    assert.equal(deterministicLog(Math.E), 1);
  });

  test("within 4e-16 relative error of Math.log over a wide sweep", () => {
    let maxRel = 0;
    let worst = NaN;
    const check = (x: number): void => {
      const a = deterministicLog(x);
      const b = Math.log(x);
      if (a === b) return;
      const rel = Math.abs(a - b) / Math.abs(b);
      if (rel > maxRel) {
        maxRel = rel;
        worst = x;
      }
    };
    const rng = new Random(123);
    // random doubles across every binade, subnormals included
    for (let i = 0; i < 200_000; i++) check(rng.uniform() * 2 ** rng.integer(-1074, 1024));
    // the neighbourhood of 1, where ln x ≈ x − 1 is tiny
    for (let i = 1; i < 20_000; i++) {
      check(1 + i * Number.EPSILON);
      check(1 - i * (Number.EPSILON / 2));
      check(1 + (rng.uniform() - 0.5) * 1e-4);
    }
    // folding boundaries √½, √2, powers of two and their neighbours
    for (const c of [Math.SQRT1_2, Math.SQRT2, 0.5, 2, 4, 1024]) {
      for (let k = -50; k <= 50; k++) check(c * (1 + k * Number.EPSILON));
    }
    for (const x of [Number.MIN_VALUE, 2 ** -1074 * 3, 2 ** -1023, 2 ** -1022, 1e-300, 1e300, Number.MAX_VALUE]) {
      check(x);
    }
    for (let i = 1; i <= 100_000; i++) check(i);
    assert.ok(maxRel <= 4e-16, `max relative error ${maxRel} at x = ${worst}`);
  });
});

describe("distributions", () => {
  test("uniform(): [0, 1), mean 1/2, variance 1/12", () => {
    const r = new Random(2024);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      assert.ok(u >= 0 && u < 1);
      sum += u;
      sumSq += u * u;
    }
    const mean = sum / n;
    const variance = sumSq / n - mean * mean;
    assert.ok(Math.abs(mean - 0.5) < 0.005, `mean ${mean}`);
    assert.ok(Math.abs(variance - 1 / 12) < 0.002, `variance ${variance}`);
  });

  test("uniform(lo, hi) stays in [lo, hi) and scales", () => {
    const r = new Random(5);
    let sum = 0;
    for (let i = 0; i < 20_000; i++) {
      const v = r.uniform(-3, 5);
      assert.ok(v >= -3 && v < 5);
      sum += v;
    }
    assert.ok(Math.abs(sum / 20_000 - 1) < 0.1);
    // a span of one ulp: only lo is in [lo, hi)
    const lo = 1;
    const hi = 1 + Number.EPSILON;
    for (let i = 0; i < 100; i++) assert.equal(r.uniform(lo, hi), lo);
  });

  test("normal(): mean ≈ 0, std ≈ 1; normal(m, s) scales", () => {
    const r = new Random(7);
    const n = 100_000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      sum += z;
      sumSq += z * z;
    }
    const mean = sum / n;
    const std = Math.sqrt(sumSq / n - mean * mean);
    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(std - 1) < 0.02, `std ${std}`);

    const a = new Random(9);
    const b = new Random(9);
    for (let i = 0; i < 100; i++) assert.equal(a.normal(3, 0.5), 3 + 0.5 * b.normal());
  });

  test("normal(): tail fractions match the Gaussian (|z| > 1, > 2)", () => {
    const r = new Random(8);
    const n = 100_000;
    let over1 = 0;
    let over2 = 0;
    for (let i = 0; i < n; i++) {
      const z = Math.abs(r.normal());
      if (z > 1) over1++;
      if (z > 2) over2++;
    }
    assert.ok(Math.abs(over1 / n - 0.3173) < 0.01, `P(|z|>1) = ${over1 / n}`);
    assert.ok(Math.abs(over2 / n - 0.0455) < 0.004, `P(|z|>2) = ${over2 / n}`);
  });

  test("integer(lo, hi) covers its range uniformly (chi-square)", () => {
    const r = new Random(11);
    const k = 10;
    const n = 100_000;
    const counts = new Array<number>(k).fill(0);
    for (let i = 0; i < n; i++) {
      const v = r.integer(-3, 7);
      assert.ok(Number.isInteger(v) && v >= -3 && v < 7);
      counts[v + 3]!++;
    }
    const expected = n / k;
    const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
    // 9 degrees of freedom: P(chi2 > 40) ≈ 7e-6
    assert.ok(chi2 < 40, `chi2 ${chi2}, counts ${counts}`);

    // a span that does not divide 2^32 and is close to it (rejection matters here)
    const big = 3 * 2 ** 30;
    const thirds = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) thirds[Math.floor(r.integer(0, big) / 2 ** 30)]!++;
    for (const c of thirds) assert.ok(Math.abs(c - 10_000) < 600, `thirds ${thirds}`);
  });

  test("integer() with spans above 2^32, up to 2^53", () => {
    const r = new Random(12);
    let maxSeen = 0;
    for (let i = 0; i < 10_000; i++) {
      const v = r.integer(0, 2 ** 53);
      assert.ok(Number.isSafeInteger(v) && v >= 0);
      maxSeen = Math.max(maxSeen, v);
    }
    assert.ok(maxSeen > 2 ** 52, "upper half of a 2^53 span is reached");
    for (let i = 0; i < 10_000; i++) {
      const v = r.integer(-(2 ** 40), 2 ** 40 + 3);
      assert.ok(Number.isSafeInteger(v) && v >= -(2 ** 40) && v < 2 ** 40 + 3);
    }
    const top = 2 ** 33 + 1;
    let upper = 0;
    for (let i = 0; i < 20_000; i++) if (r.integer(0, top) >= 2 ** 32) upper++;
    assert.ok(Math.abs(upper / 20_000 - 0.5) < 0.02, `upper half fraction ${upper / 20_000}`);
  });

  test("bernoulli(p)", () => {
    const r = new Random(13);
    let hits = 0;
    for (let i = 0; i < 50_000; i++) if (r.bernoulli(0.3)) hits++;
    assert.ok(Math.abs(hits / 50_000 - 0.3) < 0.01);
    for (let i = 0; i < 100; i++) {
      assert.equal(r.bernoulli(0), false);
      assert.equal(r.bernoulli(1), true);
    }
  });

  test("choice: uniform and weighted", () => {
    const r = new Random(14);
    const items = ["a", "b", "c"] as const;
    const counts = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 30_000; i++) counts[r.choice(items)]++;
    for (const c of Object.values(counts)) assert.ok(Math.abs(c - 10_000) < 500);

    const w = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 40_000; i++) w[r.choice(items, [1, 0, 3])]++;
    assert.equal(w.b, 0);
    assert.ok(Math.abs(w.a / 40_000 - 0.25) < 0.015, `weighted a ${w.a}`);
  });
});

describe("shuffle and permutation", () => {
  test("shuffle is an in-place permutation; permutation(n) contains 0..n-1 once", () => {
    const r = new Random(21);
    const arr = Array.from({ length: 100 }, (_, i) => i);
    const res = r.shuffle(arr);
    assert.equal(res, arr);
    assert.deepEqual([...arr].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
    assert.notDeepEqual(arr, Array.from({ length: 100 }, (_, i) => i));

    const p = r.permutation(1000);
    assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
    assert.deepEqual(r.permutation(0), []);
    assert.deepEqual(r.permutation(1), [0]);

    const typed = Float32Array.from([1, 2, 3, 4, 5]);
    r.shuffle(typed);
    assert.deepEqual([...typed].sort(), [1, 2, 3, 4, 5]);
  });

  test("all 6 orders of 3 items appear about equally often", () => {
    const r = new Random(22);
    const counts = new Map<string, number>();
    for (let i = 0; i < 60_000; i++) {
      const key = r.shuffle(["x", "y", "z"]).join("");
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    assert.equal(counts.size, 6);
    for (const c of counts.values()) assert.ok(Math.abs(c - 10_000) < 500, `counts ${[...counts]}`);
  });
});

describe("streams", () => {
  test("same seed → same stream; different seeds → different streams", () => {
    const a = new Random(99);
    const b = new Random(99);
    assert.deepEqual(take(1000, () => a.nextUint32()), take(1000, () => b.nextUint32()));
    const firsts = new Set<string>();
    for (let s = -50; s < 50; s++) {
      const r = new Random(s);
      firsts.add(take(3, () => r.nextUint32()).join(","));
    }
    assert.equal(firsts.size, 100);
  });

  test("fork: reproducible, differs from parent and from other labels", () => {
    const parent = new Random(5);
    const before = parent.state();
    const c1 = parent.fork("worker-1");
    assert.deepEqual(parent.state(), before, "a labelled fork does not advance the parent");
    const c1again = parent.fork("worker-1");
    const c2 = parent.fork("worker-2");
    const c3 = parent.fork(1);
    const c4 = parent.fork(-1);
    const streams = [parent.clone(), c1, c2, c3, c4].map((r) => take(16, () => r.nextUint32()).join(","));
    assert.equal(new Set(streams).size, 5);
    assert.deepEqual(take(16, () => c1again.nextUint32()).join(","), streams[1]);

    // the same derivation on a freshly built parent gives the same child
    const again = new Random(5).fork("worker-1");
    assert.equal(take(16, () => again.nextUint32()).join(","), streams[1]);

    // children live on their own PCG stream (different increment)
    assert.notEqual(c1.state().inc, parent.state().inc);

    // unlabelled forks advance the parent, so successive ones differ
    const p = new Random(6);
    const u1 = p.fork();
    const u2 = p.fork();
    assert.notDeepEqual(p.state(), new Random(6).state());
    assert.notDeepEqual(take(8, () => u1.nextUint32()), take(8, () => u2.nextUint32()));
    const q = new Random(6);
    const v1 = q.fork();
    const w1 = new Random(6).fork();
    assert.deepEqual(take(8, () => v1.nextUint32()), take(8, () => w1.nextUint32()));

    // many indexed forks are pairwise distinct
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(parent.fork(i).nextUint32());
    assert.ok(seen.size >= 999);
  });

  test("fork children are statistically sane", () => {
    const child = new Random(1).fork("x");
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += child.uniform();
    assert.ok(Math.abs(sum / 20_000 - 0.5) < 0.01);
  });

  test("state()/fromState() resumes exactly, spare normal included, through JSON", () => {
    const r = new Random(77);
    take(10, () => r.uniform());
    r.normal(); // leaves a cached spare
    const snap = JSON.parse(JSON.stringify(r.state())) as RandomState;
    assert.notEqual(snap.spareNormal, null);
    const resumed = Random.fromState(snap);
    assert.deepEqual(take(50, () => resumed.normal()), take(50, () => r.normal()));
    assert.deepEqual(take(50, () => resumed.nextUint32()), take(50, () => r.nextUint32()));

    const fresh = new Random(3);
    const s0 = fresh.state();
    assert.equal(s0.algorithm, "pcg32");
    assert.equal(s0.spareNormal, null);
    const clone = fresh.clone();
    assert.deepEqual(take(20, () => clone.integer(0, 1000)), take(20, () => fresh.integer(0, 1000)));
  });
});

describe("fill helpers", () => {
  test("fillUniform / fillNormal equal the scalar draws", () => {
    const a = new Random(31);
    const b = new Random(31);
    const out = a.fillUniform(new Float64Array(1000), -2, 2);
    for (let i = 0; i < out.length; i++) assert.equal(out[i], b.uniform(-2, 2));

    const c = new Random(32);
    const d = new Random(32);
    const nrm = c.fillNormal(new Float64Array(1001), 1, 3);
    for (let i = 0; i < nrm.length; i++) assert.equal(nrm[i], d.normal(1, 3));
    // the odd length left a spare; both generators must agree on it
    assert.equal(c.normal(), d.normal());

    const e = new Random(33);
    const f = new Random(33);
    const n32 = e.fillNormal(new Float32Array(100));
    for (let i = 0; i < n32.length; i++) assert.equal(n32[i], Math.fround(f.normal()));
  });

  test("Float32 fillUniform stays in [lo, hi)", () => {
    const r = new Random(34);
    const out = r.fillUniform(new Float32Array(100_000));
    let sum = 0;
    for (const v of out) {
      assert.ok(v >= 0 && v < 1);
      sum += v;
    }
    assert.ok(Math.abs(sum / out.length - 0.5) < 0.005);
  });
});
