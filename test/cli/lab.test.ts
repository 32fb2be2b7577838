import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../../src/models/io.js";
import { getTask } from "../../src/tasks/index.js";

const bin = fileURLToPath(new URL("../../../bin/seqmix.js", import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "seqmix-cli-"));
}

test("seqmix lab run PRESET --quick runs every task × mixer of the preset, prints the table and writes the report", () => {
  const dir = tmp();
  try {
    const r = run("lab", "run", "recall-vs-state", "--quick", "--out", dir, "--workers", "2");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /report: .*index\.html/);
    assert.match(r.stdout, /attention/);
    assert.match(r.stdout, /deltanet/);
    const lines = readFileSync(join(dir, "results.jsonl"), "utf8").trim().split("\n");
    assert.equal(lines.length, 8, "8 mixers × 1 width × 1 lr × 1 seed");
    assert.ok(existsSync(join(dir, "index.html")));
    assert.ok(existsSync(join(dir, "mqar-state.svg")));
    // a second invocation resumes: nothing left to run
    const again = run("lab", "run", "recall-vs-state", "--quick", "--out", dir, "--workers", "2", "--no-report");
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stderr, /8 already in .*results\.jsonl \(skipped\); running 0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("seqmix lab run with a config file validates it and names the bad field", () => {
  const dir = tmp();
  try {
    const cfg = join(dir, "sweep.json");
    writeFileSync(cfg, JSON.stringify({ tasks: [{ task: "mqar" }], mixers: [{ label: "g", layer: "gla" }], lrs: ["fast"] }));
    const r = run("lab", "run", cfg, "--out", join(dir, "out"));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /sweep\.json: 'lrs\.0': .*number/);
    assert.match(run("lab", "run", "no-such-preset").stderr, /unknown preset 'no-such-preset'; presets: recall-vs-state/);
    assert.match(run("lab", "report", join(dir, "empty")).stderr, /results\.jsonl/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("seqmix lab list shows presets with their time, tasks and mixers", () => {
  const r = run("lab", "list");
  assert.equal(r.status, 0);
  for (const word of ["recall-vs-state", "set-order", "state-tracking", "selective-copy", "needle", "length-extrapolation", "min on 2 cores", "mqar", "icl_linear_regression", "deltanet", "mamba"]) {
    assert.ok(r.stdout.includes(word), word);
  }
});

test("seqmix train: one run with eval and a checkpoint that loads back", () => {
  const dir = tmp();
  try {
    const out = join(dir, "m.safetensors");
    const r = run("train", "--task", "parity", "--task-config", '{"variant":"running","maxLength":6,"seqLen":6}', "--mixer", "lstm", "--d-model", "8", "--steps", "5", "--batch-size", "4", "--eval-examples", "16", "--out", out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /after 5 steps .* held-out scaledAccuracy/);
    const model = loadModel(out);
    assert.equal(model.config.vocabSize, 3);
    const parity = getTask("parity");
    assert.equal(model.config.numClasses, parity.numClasses(parity.schema.parse({})));
    const bad = run("train", "--task", "mqar", "--mixer", "nope");
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /nope/);
    assert.match(run("train", "--task", "mqar", "--mixer", "gla", "--lr", "x").stderr, /--lr must be a number, got 'x'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
