import { test } from "node:test";
import assert from "node:assert/strict";
import { LanguageModel } from "../../src/models/lm.js";
import { getTask } from "../../src/tasks/index.js";
import { batchInputs, batchLoss, isNoDecay, trainOnTask, TrainingDivergedError } from "../../src/train/trainer.js";
import { trainBatch } from "../../src/tasks/streams.js";
import { AdamW } from "../../src/train/adamw.js";
import { taskModelConfig } from "../../src/lab/run.js";
import { zeros } from "../../src/core/create.js";

const parity = getTask("parity");
const running = { variant: "running", minLength: 3, maxLength: 8, seqLen: 10 };

function lstmModel(seed = 0): LanguageModel {
  return new LanguageModel(taskModelConfig(parity, running, { layers: [{ type: "lstm" }], dModel: 16, mlp: "none" }), { seed });
}

test("training lowers the loss and lifts held-out accuracy; the run is a pure function of the seed", () => {
  const run = () => trainOnTask({ task: parity, taskConfig: running, model: lstmModel(), seed: 3, steps: 60, batchSize: 16, lr: 1e-2, evalExamples: 64, evalEvery: 20, earlyStop: false });
  const a = run();
  assert.equal(a.steps, 60);
  assert.equal(a.stoppedEarly, false);
  const first = a.curve[0]!.loss;
  const last = a.curve[a.curve.length - 1]!.loss;
  assert.ok(last < first - 0.1, `loss should fall by > 0.1 nats: ${first} → ${last}`);
  assert.ok(a.final.accuracy! > 0.6, `running parity accuracy after 60 steps: ${a.final.accuracy}`);
  // evaluations at 20, 40, 60 are on the curve
  assert.deepEqual(a.curve.filter((p) => p.eval !== undefined).map((p) => p.step), [20, 40, 60]);
  const b = run();
  assert.deepEqual(b.curve, a.curve);
  assert.equal(b.final.value, a.final.value);
});

test("early stop at the solved threshold ends the run at an evaluation", () => {
  const easy = { variant: "running", minLength: 2, maxLength: 3, seqLen: 3 };
  const model = new LanguageModel(taskModelConfig(parity, easy, { layers: [{ type: "lstm" }], dModel: 16, mlp: "none" }), { seed: 1 });
  const r = trainOnTask({ task: parity, taskConfig: easy, model, seed: 0, steps: 400, batchSize: 32, lr: 3e-2, evalExamples: 64, evalEvery: 10 });
  assert.ok(r.stoppedEarly, `expected to solve 2–3 bit running parity well before 400 steps (final ${r.final.value})`);
  assert.ok(r.final.solved);
  assert.equal(r.steps % 10, 0);
  assert.ok(r.steps < 400);
});

test("maxSeconds caps a run and says so", () => {
  const r = trainOnTask({ task: parity, taskConfig: running, model: lstmModel(), seed: 0, steps: 100000, batchSize: 4, lr: 1e-3, evalExamples: 8, evalEvery: 100000, maxSeconds: 0.2 });
  assert.ok(r.timedOut);
  assert.ok(r.steps < 100000);
  assert.equal(r.curve[r.curve.length - 1]!.step, r.steps, "the final evaluation is on the curve");
});

test("a non-finite loss stops training with an error naming the step", () => {
  const model = lstmModel();
  // poison one weight: the forward pass yields NaN logits
  const [, w] = [...model.namedParameters()].find(([n]) => n.endsWith("lm_head.weight"))!;
  w.data[w.offset] = NaN;
  assert.throws(
    () => trainOnTask({ task: parity, taskConfig: running, model, seed: 0, steps: 5, batchSize: 4, lr: 1e-3, evalExamples: 8 }),
    (e: unknown) => e instanceof TrainingDivergedError && e.step === 0 && /training loss is NaN at step 0/.test(e.message),
  );
});

test("bad arguments are rejected with the argument's name", () => {
  const model = lstmModel();
  assert.throws(() => trainOnTask({ task: parity, model, seed: 0, steps: 0, batchSize: 4, lr: 1e-3 }), /steps must be a positive integer, got 0/);
  assert.throws(() => trainOnTask({ task: parity, model, seed: 0, steps: 1, batchSize: 4, lr: -1 }), /lr must be a positive number, got -1/);
  assert.throws(() => trainOnTask({ task: parity, taskConfig: { nope: 1 }, model, seed: 0, steps: 1, batchSize: 4, lr: 1e-3 }), /parity: unknown config field\(s\) 'nope'/);
});

test("in-context regression: a real-valued read-in and an MSE head; the masked MSE loss trains them", () => {
  const icl = getTask("icl_linear_regression");
  const cfg = { dim: 2, numExamples: 6 };
  const model = new LanguageModel(taskModelConfig(icl, cfg, { layers: [{ type: "gla" }, { type: "gla" }], dModel: 16, mlp: "none" }), { seed: 0 });
  assert.ok(model.model.read_in && !model.model.embeddings && model.lm_head!.weight.shape[0] === 1);
  // one fixed batch: the loss is the mean squared error over the scored (x) positions only
  const batch = trainBatch(icl, cfg, 0, 0, 8);
  assert.equal(batch.kind, "real");
  const lossAt = () => batchLoss(model.forward(batchInputs(batch, "f32")).logits, batch);
  const start = lossAt().item();
  const opt = new AdamW(model.parameters(), { lr: 1e-2 });
  for (let i = 0; i < 30; i++) {
    opt.zeroGrad();
    lossAt().backward();
    opt.step();
  }
  const end = lossAt().item();
  assert.ok(end < start * 0.5, `fitting one batch should halve its MSE: ${start} → ${end}`);
  assert.ok(model.model.read_in!.weight.grad !== null, "the read-in gets gradients");
  const r = trainOnTask({ task: icl, taskConfig: cfg, model, seed: 0, steps: 3, batchSize: 8, lr: 1e-3, evalExamples: 16 });
  assert.equal(r.final.accuracy, null);
  assert.equal((r.final.summary as { count: number }).count, 16 * 6, "every x position of the eval set is scored");
});

test("no weight decay on vectors and SSM gate parameters", () => {
  assert.equal(isNoDecay("model.layers.0.attn.A_log", zeros([4, 2])), true);
  assert.equal(isNoDecay("model.layers.0.attn.dt_bias", zeros([4])), true);
  assert.equal(isNoDecay("model.layers.0.attn.q_proj.weight", zeros([4, 4])), false);
});
