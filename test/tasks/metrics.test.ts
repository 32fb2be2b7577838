import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Tensor } from "../../src/core/tensor.js";
import {
  AccuracyMeter, MseMeter, accuracy, argmaxPredictions, getTask, isSolved, maskedMse, parseTaskConfig, scaledAccuracy,
  scoreBatch, solvedMetricValue,
} from "../../src/tasks/index.js";

const X = -100;

/** One-hot-ish logits [B·T·C] that predict `pred` at each position (value 2 at the class, 0 elsewhere). */
function logitsFor(pred: number[], C: number): Float32Array {
  const out = new Float32Array(pred.length * C);
  pred.forEach((p, i) => {
    if (p >= 0) out[i * C + p] = 2;
  });
  return out;
}

describe("accuracy metrics", () => {
  test("accuracy counts scored positions only; exact match per sequence; per-position accuracy", () => {
    // B = 2, T = 3, C = 4
    const targets = Int32Array.from([X, 1, 2, 3, X, 0]);
    const logits = logitsFor([0, 1, 3, 3, 2, 0], 4); // position 2 of sequence 0 wrong
    const s = accuracy(logits, targets, [2, 3]);
    assert.equal(s.scored, 4);
    assert.equal(s.correct, 3);
    assert.equal(s.accuracy, 0.75);
    assert.equal(s.sequences, 2);
    assert.equal(s.exactSequences, 1);
    assert.equal(s.exactMatch, 0.5);
    assert.deepEqual(Array.from(s.positionAccuracy), [1, 1, 0.5]);
    assert.equal(s.minPositionAccuracy, 0.5);
  });

  test("Tensor logits [B, T, C] (including a non-contiguous view) give the same result", () => {
    const targets = Int32Array.from([X, 1, 2, 3, X, 0]);
    const flat = logitsFor([0, 1, 3, 3, 2, 0], 4);
    const t = new Tensor(flat, [2, 3, 4]);
    assert.deepEqual(accuracy(t, targets), accuracy(flat, targets, [2, 3]));
    // the same logits stored as [C, B, T] and viewed back as [B, T, C] through strides
    const cbt = new Float32Array(24);
    for (let i = 0; i < 6; i++) for (let c = 0; c < 4; c++) cbt[c * 6 + i] = flat[i * 4 + c]!;
    const view = new Tensor(cbt, [2, 3, 4], [3, 1, 6]);
    assert.deepEqual(accuracy(view, targets), accuracy(flat, targets, [2, 3]));
  });

  test("argmax takes the first maximum; NaN rows are wrong; bad targets throw", () => {
    assert.deepEqual(Array.from(argmaxPredictions(Float32Array.from([1, 3, 3, 0]), 1)), [1]);
    assert.deepEqual(Array.from(argmaxPredictions(Float64Array.from([NaN, NaN, 0, 1]), 2)), [-1, 1]);
    const s = accuracy(Float32Array.from([NaN, NaN]), Int32Array.from([0]));
    assert.equal(s.correct, 0);
    assert.throws(() => accuracy(Float32Array.from([0, 1]), Int32Array.from([2])), /outside \[0, 2\)/);
    assert.throws(() => argmaxPredictions(Float32Array.from([0, 1, 2]), 2), /do not split/);
  });

  test("the meter micro-averages over batches; a batch with nothing scored changes nothing", () => {
    const m = new AccuracyMeter();
    m.add(logitsFor([1, 1], 2), Int32Array.from([1, 0]), [1, 2]); // 1 of 2
    m.add(logitsFor([0, 0, 0, 0], 2), Int32Array.from([0, 0, 0, 1]), [2, 2]); // 3 of 4
    m.add(logitsFor([0], 2), Int32Array.from([X]), [1, 1]);
    const s = m.summary();
    assert.equal(s.accuracy, 4 / 6);
    assert.equal(s.sequences, 3);
    assert.equal(s.exactSequences, 1);
    assert.ok(Number.isNaN(accuracy(logitsFor([0], 2), Int32Array.from([X])).accuracy));
  });

  test("scaled accuracy maps chance to 0 and perfect to 1", () => {
    assert.equal(scaledAccuracy(0.5, 0.5), 0);
    assert.equal(scaledAccuracy(1, 0.5), 1);
    assert.equal(scaledAccuracy(0.75, 0.5), 0.5);
    assert.ok(Math.abs(scaledAccuracy(1 / 3, 1 / 3)) < 1e-15);
  });
});

describe("MSE metrics", () => {
  test("masked MSE overall and per position", () => {
    // B = 2, T = 2
    const targets = Float32Array.from([1, 5, -1, 7]);
    const mask = Uint8Array.from([1, 0, 1, 0]);
    const preds = Float32Array.from([2, 0, 1, 0]); // errors 1 and 2 at position 0
    const s = maskedMse(preds, { targets, mask, shape: [2, 2] });
    assert.equal(s.count, 2);
    assert.equal(s.mse, 2.5);
    assert.equal(s.positionMse[0], 2.5);
    assert.ok(Number.isNaN(s.positionMse[1]!));
    const t = maskedMse(new Tensor(preds, [2, 2, 1]), { targets, mask, shape: [2, 2] });
    assert.equal(t.mse, 2.5);
    const m = new MseMeter().add(preds, targets, mask, [2, 2]).add(Float32Array.from([1, 1]), Float32Array.from([1, 3]), Uint8Array.from([1, 1]), [1, 2]);
    assert.equal(m.summary().mse, (1 + 4 + 0 + 4) / 4);
    assert.throws(() => maskedMse(Float32Array.from([1]), { targets, mask, shape: [2, 2] }), /differ/);
  });
});

describe("solved rules", () => {
  test("each task's solved metric is read from the right statistic", () => {
    const parity = getTask("parity");
    const pc = parseTaskConfig(parity, {});
    const half = accuracy(logitsFor([1, 2], 3), Int32Array.from([1, 1]), [2, 1]);
    assert.equal(solvedMetricValue(parity, pc, half), 0);
    const perfect = accuracy(logitsFor([1, 2], 3), Int32Array.from([1, 2]), [2, 1]);
    assert.equal(isSolved(parity, pc, perfect), true);

    const pk = getTask("passkey");
    const twoOfThree = accuracy(logitsFor([1, 1, 1, 2], 3), Int32Array.from([1, 1, 1, 1]), [2, 2]);
    assert.equal(solvedMetricValue(pk, {}, twoOfThree), 0.5); // exact match
    assert.equal(solvedMetricValue(getTask("mqar"), {}, twoOfThree), 0.75);
    assert.equal(solvedMetricValue(getTask("s5_composition"), {}, twoOfThree), 0.5); // worst position

    const icl = getTask("icl_linear_regression");
    const ic = parseTaskConfig(icl, { dim: 2, numExamples: 5 }); // positions 0,2,4,6,8; solved rule from i ≥ 4 → t ≥ 6
    const preds = Float32Array.from([9, 0, 9, 0, 9, 0, 0.2, 0, 0.1, 0]);
    const batch = { targets: new Float32Array(10), mask: Uint8Array.from([1, 0, 1, 0, 1, 0, 1, 0, 1, 0]), shape: [1, 10] as const };
    const s = maskedMse(preds, batch);
    assert.ok(Math.abs(solvedMetricValue(icl, ic, s) - Math.fround(0.2) ** 2 / 2) < 1e-12);
    assert.equal(isSolved(icl, ic, s), true);
    const scoredReal = scoreBatch({ kind: "real", inputs: new Float32Array(20), inputDim: 2, ...batch }, preds);
    assert.ok("positionMse" in scoredReal);
    assert.equal(scoredReal.count, 5);
  });
});
