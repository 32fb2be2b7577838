import { test, describe } from "node:test";
import assert from "node:assert/strict";
import {
  constant, linearWarmupCosine, linearWarmupLinearDecay, schedule, SCHEDULE_NAMES, type Schedule,
} from "../../src/train/schedule.js";

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: got ${a}, expected ${b}`);

function assertMonotone(lr: Schedule, from: number, to: number, direction: 1 | -1): void {
  for (let s = from; s < to; s++) {
    const d = (lr(s + 1) - lr(s)) * direction;
    assert.ok(d >= 0, `step ${s} → ${s + 1}: ${lr(s)} → ${lr(s + 1)}`);
  }
}

// peak 1, 4 warm-up steps, decay over steps 4..12 (8 steps) to 0.1
const opts = { peakLr: 1, warmupSteps: 4, totalSteps: 12, minLr: 0.1 };

describe("linearWarmupCosine", () => {
  const lr = linearWarmupCosine(opts);
  test("warm-up, peak, midpoint, end, after the end", () => {
    close(lr(0), 0.25, "step 0 = peak·1/4");
    close(lr(1), 0.5, "step 1");
    close(lr(3), 1, "last warm-up step reaches the peak");
    close(lr(4), 1, "decay starts at the peak");
    close(lr(6), 0.1 + 0.9 * 0.5 * (1 + Math.SQRT1_2), "a quarter into the decay");
    close(lr(8), 0.55, "midpoint = (peak + min)/2");
    close(lr(12), 0.1, "minLr at totalSteps");
    close(lr(13), 0.1, "stays at minLr");
    close(lr(1_000_000), 0.1, "long after");
  });
  test("monotone: up during warm-up, down during decay", () => {
    assertMonotone(lr, 0, 4, 1);
    assertMonotone(lr, 4, 20, -1);
  });
  test("no warm-up, no floor", () => {
    const f = linearWarmupCosine({ peakLr: 2, totalSteps: 10 });
    close(f(0), 2, "step 0");
    close(f(5), 1, "midpoint");
    close(f(10), 0, "end");
  });
  test("warm-up as long as the whole schedule", () => {
    const f = linearWarmupCosine({ peakLr: 1, warmupSteps: 4, totalSteps: 4, minLr: 0.5 });
    assert.deepEqual([0, 1, 2, 3, 4, 5].map(f), [0.25, 0.5, 0.75, 1, 0.5, 0.5]);
  });
});

describe("linearWarmupLinearDecay", () => {
  const lr = linearWarmupLinearDecay(opts);
  test("warm-up, peak, midpoint, end, after the end", () => {
    close(lr(0), 0.25, "step 0");
    close(lr(3), 1, "end of warm-up");
    close(lr(4), 1, "decay starts at the peak");
    close(lr(6), 0.1 + 0.9 * 0.75, "a quarter into the decay");
    close(lr(8), 0.55, "midpoint");
    close(lr(11), 0.1 + 0.9 / 8, "one step before the end");
    close(lr(12), 0.1, "end");
    close(lr(50), 0.1, "after");
  });
  test("monotone", () => {
    assertMonotone(lr, 0, 4, 1);
    assertMonotone(lr, 4, 20, -1);
  });
});

describe("constant and schedule()", () => {
  test("constant, with and without warm-up", () => {
    const c = constant(3e-4);
    assert.deepEqual([0, 1, 1000].map(c), [3e-4, 3e-4, 3e-4]);
    const w = constant({ lr: 0.4, warmupSteps: 2 });
    assert.deepEqual([0, 1, 2, 10].map(w), [0.2, 0.4, 0.4, 0.4]);
  });
  test("schedule(name, opts) builds the same functions", () => {
    assert.deepEqual(SCHEDULE_NAMES, ["constant", "linearWarmupCosine", "linearWarmupLinearDecay"]);
    const byName = schedule("linearWarmupCosine", opts);
    const direct = linearWarmupCosine(opts);
    for (const s of [0, 3, 7, 12, 20]) assert.equal(byName(s), direct(s));
    assert.equal(schedule("linearWarmupLinearDecay", opts)(6), linearWarmupLinearDecay(opts)(6));
    assert.equal(schedule("constant", { lr: 0.1 })(5), 0.1);
    assert.throws(() => schedule("cosine" as never, opts as never), /unknown schedule "cosine" \(expected one of: constant, linearWarmupCosine, linearWarmupLinearDecay\)/);
  });
});

describe("schedule validation", () => {
  test("options: errors name the option and the value", () => {
    assert.throws(() => linearWarmupCosine({ ...opts, warmupSteps: 13 }), /linearWarmupCosine: warmupSteps \(13\) must be <= totalSteps \(12\)/);
    assert.throws(() => linearWarmupCosine({ ...opts, minLr: 2 }), /minLr \(2\) must be <= peakLr \(1\)/);
    assert.throws(() => linearWarmupLinearDecay({ ...opts, totalSteps: 0, warmupSteps: 0 }), /linearWarmupLinearDecay: totalSteps must be an integer >= 1, got 0/);
    assert.throws(() => linearWarmupCosine({ ...opts, warmupSteps: 1.5 }), /warmupSteps must be an integer >= 0, got 1.5/);
    assert.throws(() => linearWarmupCosine({ ...opts, peakLr: -1 }), /peakLr must be a finite number >= 0, got -1/);
    assert.throws(() => linearWarmupCosine({ ...opts, minLr: NaN }), /minLr must be a finite number >= 0, got NaN/);
    assert.throws(() => linearWarmupCosine({ ...opts, peak_lr: 1 } as never), /unknown option 'peak_lr'/);
    assert.throws(() => constant(-1), /constant: lr must be a finite number >= 0, got -1/);
    assert.throws(() => constant({ lr: 1, warmupSteps: -2 }), /warmupSteps must be an integer >= 0, got -2/);
  });
  test("steps must be integers >= 0", () => {
    const lr = linearWarmupCosine(opts);
    assert.throws(() => lr(-1), /linearWarmupCosine: step must be an integer >= 0, got -1/);
    assert.throws(() => lr(2.5), /step must be an integer >= 0, got 2.5/);
    assert.throws(() => lr(NaN), /got NaN/);
    assert.throws(() => constant(1)(-1), /constant: step must be/);
  });
});
