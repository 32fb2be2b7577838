/** Properties every task shares: registry, determinism, value ranges, config errors, streams, plain-data batches. */
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import {
  concatBatches, evalSet, getTask, listTasks, parseTaskConfig, presetConfig, sliceBatch, trainBatch, trainStream,
  type AnyTask, type TaskBatch,
} from "../../src/tasks/index.js";

const NAMES = [
  "mqar", "selective_copy", "induction_heads", "passkey", "niah", "set_disjointness", "parity", "modular_counting",
  "s5_composition", "icl_linear_regression",
];

function same(a: TaskBatch, b: TaskBatch): boolean {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

describe("registry", () => {
  test("getTask / listTasks", () => {
    assert.deepEqual(listTasks().map((t) => t.name), NAMES);
    for (const n of NAMES) assert.equal(getTask(n).name, n);
    assert.throws(() => getTask("copying"), (e: Error) => e.message.includes("unknown task 'copying'") && NAMES.every((n) => e.message.includes(n)));
  });
});

for (const name of NAMES) {
  const task: AnyTask = getTask(name);
  describe(name, () => {
    const config = parseTaskConfig(task, {});

    test("same seed → identical batch; different seed → different batch", () => {
      const a = task.generate(config, new Random(7), 8);
      const b = task.generate(config, new Random(7), 8);
      const c = task.generate(config, new Random(8), 8);
      assert.deepEqual(a, b);
      assert.ok(!same(a, c), "seed 8 gave the same batch as seed 7");
    });

    test("examples are drawn one after another: 2n at once = n, then n more", () => {
      const whole = task.generate(config, new Random(3), 6);
      const rng = new Random(3);
      const parts = concatBatches([task.generate(config, rng, 4), task.generate(config, rng, 2)]);
      assert.deepEqual(parts, whole);
      assert.deepEqual(sliceBatch(whole, 4, 6), task.generate(config, (() => { const r = new Random(3); task.generate(config, r, 4); return r; })(), 2));
    });

    test("shape, value ranges and ignore labels agree with the task's sizes", () => {
      const batch = task.generate(config, new Random(11), 16);
      const T = task.seqLen(config);
      assert.deepEqual(batch.shape, [16, T]);
      if (batch.kind === "tokens") {
        const V = task.vocabSize(config);
        const C = task.numClasses(config);
        assert.equal(batch.inputs.length, 16 * T);
        for (const v of batch.inputs) assert.ok(v >= 0 && v < V, `input ${v} outside [0, ${V})`);
        let scoredCount = 0;
        for (const y of batch.targets) {
          if (y === -100) continue;
          scoredCount++;
          assert.ok(y >= 0 && y < C, `target ${y} outside [0, ${C})`);
        }
        assert.ok(scoredCount >= 16, "every example has a scored position");
        assert.equal(task.metric, "accuracy");
      } else {
        assert.equal(batch.inputDim, task.inputDim!(config));
        assert.equal(batch.inputs.length, 16 * T * batch.inputDim);
        assert.equal(task.metric, "mse");
      }
      assert.ok(task.describe(config).length > 10);
      assert.match(task.spec, /tasks\.md/);
    });

    test("batches are plain data (survive structuredClone)", () => {
      const batch = task.generate(config, new Random(5), 3);
      assert.deepEqual(structuredClone(batch), batch);
    });

    test("config errors name the field; presets parse", () => {
      assert.throws(() => parseTaskConfig(task, { notAField: 1 }), (e: Error) => e.message.startsWith(`${name}: `) && e.message.includes("'notAField'"));
      assert.throws(() => parseTaskConfig(task, { seqLen: -3 }), /seqLen|unknown config field/);
      for (const preset of Object.keys(task.presets)) {
        if (name === "selective_copy" && preset === "mamba") continue; // valid but long (T = 4096)
        const c = presetConfig(task, preset);
        task.generate(c, new Random(1), 1);
      }
      assert.throws(() => presetConfig(task, "nope"), /unknown preset 'nope'/);
    });

    test("train and eval streams are disjoint and reproducible", () => {
      const b0 = trainBatch(task, {}, 42, 0, 4);
      assert.deepEqual(trainBatch(task, {}, 42, 0, 4), b0);
      assert.ok(!same(trainBatch(task, {}, 42, 1, 4), b0), "steps differ");
      assert.ok(!same(trainBatch(task, {}, 43, 0, 4), b0), "seeds differ");
      const it = trainStream(task, {}, 42, 4);
      assert.deepEqual(it.next().value, b0);
      assert.deepEqual(it.next().value, trainBatch(task, {}, 42, 1, 4));
      const resumed = trainStream(task, {}, 42, 4, 1);
      assert.deepEqual(resumed.next().value, trainBatch(task, {}, 42, 1, 4));

      const ev = evalSet(task, {}, 42, 10);
      assert.equal(ev.length, 1);
      assert.equal(ev[0]!.shape[0], 10);
      assert.ok(!same(sliceBatch(ev[0]!, 0, 4), b0), "eval ≠ first train batch");
      const chunked = evalSet(task, {}, 42, 10, 4);
      assert.deepEqual(chunked.map((b) => b.shape[0]), [4, 4, 2]);
      assert.deepEqual(concatBatches(chunked), ev[0]);
    });
  });
}
