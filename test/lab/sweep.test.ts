import { test } from "node:test";
import assert from "node:assert/strict";
import { expandSweep, parseSweep, runId } from "../../src/lab/sweep.js";
import { listPresets, quickSweep } from "../../src/lab/presets.js";
import { parseResults } from "../../src/lab/results.js";

const base = {
  name: "t",
  tasks: [{ task: "mqar", config: { seqLen: 16, numKvPairs: 2 } }],
  mixers: [{ label: "gla", layer: "gla" }, { label: "attn", layer: { type: "attention" }, lrs: [1e-2] }],
  dModels: [16, 32],
  lrs: [1e-3, 3e-3],
  seeds: [0, 1],
};

test("a sweep expands to tasks × mixers × widths × learning rates × seeds, with per-mixer overrides", () => {
  const runs = expandSweep(parseSweep(base));
  assert.equal(runs.length, 1 * (2 * 2 * 2 + 2 * 1 * 2));
  assert.ok(runs.filter((r) => r.mixer === "attn").every((r) => r.lr === 1e-2));
  assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
  assert.deepEqual(runs[0]!.layers, ["gla", "gla"], "a single layer spec is repeated nLayers (default 2) times");
  assert.equal(runs[0]!.taskConfig.vocabSize, 64, "task defaults are filled in");
});

test("run ids are stable, depend on what defines the numbers, and not on the time cap", () => {
  const a = expandSweep(parseSweep(base));
  const b = expandSweep(parseSweep({ ...base, maxRunSeconds: 99 }));
  assert.deepEqual(a.map((r) => r.id), b.map((r) => r.id));
  const c = expandSweep(parseSweep({ ...base, steps: 999 }));
  assert.notEqual(a[0]!.id, c[0]!.id);
  const { id: _id, sweep: _s, ...fields } = a[0]!;
  assert.equal(runId({ ...fields }), a[0]!.id);
  assert.match(a[0]!.id, /^[0-9a-f]{16}$/);
});

test("bad sweep configs fail with messages naming the field", () => {
  assert.throws(() => parseSweep({ ...base, tasks: [{ task: "nope" }] }), /'tasks\.0\.task': unknown task; known: mqar/);
  assert.throws(() => parseSweep({ ...base, lrs: [] }), /'lrs'/);
  assert.throws(() => parseSweep({ ...base, mixers: [{ label: "x" }] }), /'mixers\.0': give exactly one of 'layer' and 'layers'/);
  assert.throws(() => parseSweep({ ...base, colour: 1 }), /unknown field\(s\) 'colour'/);
  assert.throws(() => parseSweep({ ...base, tasks: [{ task: "mqar", config: { seqLen: 7 } }] }), /'tasks\.0': mqar: config field 'seqLen'/);
  assert.throws(() => parseSweep({ ...base, mixers: [{ label: "a", layer: "gla" }, { label: "a", layer: "gla" }] }), /mixer label 'a' is used twice/);
  assert.throws(() => expandSweep(parseSweep({ ...base, seeds: [0, 0] })), /two runs are identical/);
});

test("every preset parses, and its --quick form keeps every task and mixer with one width, lr and seed", () => {
  for (const p of listPresets()) {
    const full = parseSweep(p.sweep, p.name);
    const quick = parseSweep(quickSweep(p.sweep), `${p.name} quick`);
    const runs = expandSweep(quick);
    assert.equal(runs.length, full.tasks.length * full.mixers.length, p.name);
    assert.ok(runs.every((r) => r.steps <= 12 && r.evalExamples <= 32), p.name);
    assert.ok(p.minutes <= 15, `${p.name}: presets must fit in 15 minutes`);
  }
});

test("results.jsonl parsing keeps good records and reports bad lines (a truncated last line)", () => {
  const good = { id: "a", task: "mqar", mixer: "gla", status: "ok" };
  const text = `${JSON.stringify(good)}\n\n{"id": 3}\n${JSON.stringify({ ...good, id: "b" })}\n{"id":"c","ta`;
  const r = parseResults(text);
  assert.deepEqual(r.records.map((x) => x.id), ["a", "b"]);
  assert.deepEqual(r.malformed.map((m) => m.line), [3, 5]);
  assert.match(r.malformed[1]!.reason, /not JSON/);
});
