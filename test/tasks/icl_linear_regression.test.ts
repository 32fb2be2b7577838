import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { iclLinearRegression, type RealBatch } from "../../src/tasks/index.js";
import { gen } from "./helpers.js";

function real(overrides: Record<string, unknown>, n: number, seed = 1): RealBatch {
  const { batch } = gen(iclLinearRegression, overrides, n, seed);
  if (batch.kind !== "real") throw new Error("expected a real batch");
  return batch;
}

describe("icl_linear_regression", () => {
  test("layout: x_i at 2(i−1), ỹ_i = (y_i, 0, …) after it; targets = w·x_i for the sequence's own w", () => {
    const d = 4, k = 12, B = 50, T = 2 * k;
    const batch = real({}, B);
    assert.deepEqual(batch.shape, [B, T]);
    assert.equal(batch.inputDim, d);
    assert.equal(batch.inputs.length, B * T * d);
    const W = batch.meta!.weights as Float32Array;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const feat = batch.inputs.subarray(i * d, (i + 1) * d);
        if (t % 2 === 0) {
          assert.equal(batch.mask[i], 1);
          let y = 0;
          for (let j = 0; j < d; j++) y += W[b * d + j]! * feat[j]!;
          assert.equal(batch.targets[i], Math.fround(y), `example ${b} position ${t}`);
          // the next token carries the same y in its first feature, zeros elsewhere
          const next = batch.inputs.subarray((i + 1) * d, (i + 2) * d);
          assert.deepEqual(Array.from(next), [batch.targets[i], 0, 0, 0]);
        } else {
          assert.equal(batch.mask[i], 0);
          assert.equal(batch.targets[i], 0);
        }
      }
    }
  });

  test("each sequence has its own w; x and w are standard normal (loosely)", () => {
    const batch = real({ dim: 3 }, 400, 2);
    const W = batch.meta!.weights as Float32Array;
    const mean = W.reduce((s, v) => s + v, 0) / W.length;
    const varW = W.reduce((s, v) => s + (v - mean) ** 2, 0) / W.length;
    assert.ok(Math.abs(mean) < 0.1 && Math.abs(varW - 1) < 0.15, `w mean ${mean} var ${varW}`);
    assert.notDeepEqual(Array.from(W.subarray(0, 3)), Array.from(W.subarray(3, 6)));
  });

  test("noise: y − w·x has standard deviation noiseStd, and the ỹ token carries the noisy y", () => {
    const d = 4, T = 24, B = 200, sigma = 0.5;
    const batch = real({ noiseStd: sigma }, B, 3);
    const W = batch.meta!.weights as Float32Array;
    let ss = 0, n = 0;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t += 2) {
        const i = b * T + t;
        let clean = 0;
        for (let j = 0; j < d; j++) clean += W[b * d + j]! * batch.inputs[i * d + j]!;
        ss += (batch.targets[i]! - clean) ** 2;
        n++;
        assert.equal(batch.inputs[(i + 1) * d], batch.targets[i]);
      }
    }
    const std = Math.sqrt(ss / n);
    assert.ok(Math.abs(std - sigma) < 0.05, `residual std ${std}`);
  });

  test("task metadata: real input of width dim, scalar MSE head", () => {
    const { config } = gen(iclLinearRegression, { dim: 5, numExamples: 7 }, 1);
    assert.equal(iclLinearRegression.inputDim!(config), 5);
    assert.equal(iclLinearRegression.seqLen(config), 14);
    assert.equal(iclLinearRegression.numClasses(config), 1);
    assert.equal(iclLinearRegression.metric, "mse");
  });

  test("config validation names the field", () => {
    assert.throws(() => gen(iclLinearRegression, { noiseStd: -1 }, 1), /noiseStd/);
    assert.throws(() => gen(iclLinearRegression, { dim: 0 }, 1), /dim/);
    assert.throws(() => gen(iclLinearRegression, { k: 3 }, 1), /unknown config field.*'k'/);
  });
});
