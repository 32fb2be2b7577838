import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runLab } from "../../src/lab/runner.js";
import { parseSweep } from "../../src/lab/sweep.js";
import { readResults } from "../../src/lab/results.js";

const sweep = parseSweep({
  name: "tiny",
  tasks: [{ task: "parity", config: { variant: "running", maxLength: 8, seqLen: 8 }, evals: [{ label: "T=16", config: { maxLength: 16, seqLen: 16 } }] }],
  mixers: [{ label: "lstm", layer: "lstm" }, { label: "gla", layer: { type: "gla" } }],
  dModels: [8],
  lrs: [1e-2],
  steps: 6,
  evals: 2,
  evalExamples: 16,
});

const quiet = { progress: false, log: () => {} };

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "seqmix-lab-"));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

test("a sweep on worker threads writes one record per run, with extrapolation slices; rerunning resumes", () =>
  withDir(async (dir) => {
    const first = await runLab(sweep, { outDir: dir, workers: 2, ...quiet });
    assert.equal(first.ran, 2);
    assert.equal(first.failed, 0);
    const { records } = readResults(dir);
    assert.equal(records.length, 2);
    for (const r of records) {
      assert.equal(r.status, "ok");
      assert.equal(r.steps, 6);
      assert.equal(r.metric, "scaledAccuracy", "parity is judged on scaled accuracy (chance = 0)");
      assert.ok(r.value !== null && r.value >= -1 && r.value <= 1);
      assert.deepEqual(r.slices.map((s) => [s.label, s.seqLen]), [["T=16", 16]]);
      assert.ok(r.stateFloats > 0 && r.params > 0);
      assert.equal(r.curve.at(-1)!.step, 6);
    }
    assert.ok(JSON.parse(readFileSync(join(dir, "sweep.json"), "utf8")).name === "tiny");
    const again = await runLab(sweep, { outDir: dir, workers: 2, ...quiet });
    assert.equal(again.ran, 0);
    assert.equal(again.skipped, 2);
    assert.equal(again.records.length, 2);
    assert.equal(readResults(dir).records.length, 2, "nothing appended on a resume with nothing to do");
  }));

test("the same run gives the same record in a worker thread and in this thread; a killed run is redone", () =>
  withDir(async (dir) => {
    await runLab(sweep, { outDir: dir, workers: 1, ...quiet });
    const threaded = readResults(dir).records;
    // simulate a kill during the second append: keep the first record and half of the second line
    const lines = readFileSync(join(dir, "results.jsonl"), "utf8").split("\n");
    writeFileSync(join(dir, "results.jsonl"), `${lines[0]}\n${lines[1]!.slice(0, 40)}`);
    const logs: string[] = [];
    const resumed = await runLab(sweep, { outDir: dir, workers: 0, progress: false, log: (l) => logs.push(l) });
    assert.equal(resumed.ran, 1);
    assert.ok(logs.some((l) => /line 2 skipped: not JSON/.test(l)));
    const { records, malformed } = readResults(dir);
    assert.equal(records.length, 2);
    assert.equal(malformed.length, 1, "the cut line stays on a line of its own");
    const redone = records.find((r) => r.id === threaded[1]!.id)!;
    assert.equal(redone.value, threaded[1]!.value);
    assert.deepEqual(redone.curve, threaded[1]!.curve);
  }));

test("a run that fails is recorded with its error and does not stop the sweep", () =>
  withDir(async (dir) => {
    const bad = parseSweep({ ...sweep, name: "bad", mixers: [{ label: "broken", layer: { type: "gla", numHeads: 3 } }, { label: "lstm", layer: "lstm" }] });
    const s = await runLab(bad, { outDir: dir, workers: 0, ...quiet });
    assert.equal(s.failed, 1);
    const broken = s.records.find((r) => r.mixer === "broken")!;
    assert.equal(broken.status, "error");
    assert.match(broken.error!, /numHeads|divide/);
    assert.equal(s.records.find((r) => r.mixer === "lstm")!.status, "ok");
  }));
