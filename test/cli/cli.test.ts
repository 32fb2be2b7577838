import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { runDemo } from "../../src/cli/commands/demo.js";

const bin = fileURLToPath(new URL("../../../bin/seqmix.js", import.meta.url));
const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });

test("seqmix --version and --help", () => {
  const v = run("--version");
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), pkg.version);
  const h = run("--help");
  assert.equal(h.status, 0);
  assert.match(h.stdout, /Usage: seqmix/);
  assert.match(h.stdout, /demo/);
});

test("an unknown command or a bad option value exits non-zero with a message", () => {
  const r = run("no-such-command");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown command 'no-such-command'/);
  const bad = run("demo", "--steps", "abc");
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--steps must be an integer ≥ 1, got "abc"/);
});

test("the demo model learns the Markov source (loss close to the best possible)", () => {
  const lines: string[] = [];
  const r = runDemo({ steps: 600, batch: 256, seed: 0, quiet: true, log: (l) => lines.push(l) });
  // the source's own cross-entropy is the floor; the model must get well below the uniform guess and near it
  assert.ok(r.modelLoss < r.optimalLoss + 0.15, `model ${r.modelLoss} vs optimal ${r.optimalLoss}`);
  assert.ok(r.modelLoss < 0.6 * r.uniformLoss);
  assert.ok(r.validTransitions > 0.9, `valid transitions ${r.validTransitions}`);
  assert.ok(lines.some((l) => l.includes("what it learnt")));
});
