import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import type { Tensor } from "../../src/core/tensor.js";
import { listOps, runOp, getOp } from "../../src/ops/index.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/io/checkpoint.js";
import { runOpCommand } from "../../src/cli/commands/op.js";

const bin = fileURLToPath(new URL("../../../bin/seqmix.js", import.meta.url));
const seqmix = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
const quiet = () => {};

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "seqmix-op-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertSame(what: string, a: Tensor, b: Tensor): void {
  assert.deepEqual([...a.shape], [...b.shape], `${what}: shape`);
  assert.deepEqual(Array.from(a.values()), Array.from(b.values()), what);
}

test("every registered op round-trips through `seqmix op` in each mode, with gradients", () => {
  const ops = listOps();
  assert.ok(ops.length > 0, "no ops registered");
  withDir((dir) => {
    for (const op of ops) {
      const inFile = join(dir, `${op.name}.in.safetensors`);
      runOpCommand(op.name, { example: inFile, mode: "chunk" }, quiet);
      const inputs = Object.fromEntries(loadCheckpoint(inFile).tensors);
      for (const mode of ["naive", "chunk", "recurrent"] as const) {
        const out = join(dir, `${op.name}.${mode}.out.safetensors`);
        runOpCommand(op.name, { in: inFile, out, mode, opts: '{"outputFinalState": true}' }, quiet);
        const written = loadCheckpoint(out);
        const direct = runOp(op, inputs, mode, { outputFinalState: true });
        assertSame(`${op.name} ${mode} o`, written.tensors.get("o")!, direct.o);
        assertSame(`${op.name} ${mode} final_state`, written.tensors.get("final_state")!, direct.finalState!);
        assert.equal(written.tensors.get("o")!.dtype, "f32", "f32 in, f32 out");
        assert.equal(written.metadata.op, op.name);
      }
      // gradients: d<name> for every input, equal to autodiff through the chunk form
      const dO = randn(runOp(op, inputs, "chunk").o.shape, new Random(1));
      const gradFile = join(dir, `${op.name}.do.safetensors`);
      saveCheckpoint(gradFile, { do: dO });
      const out = join(dir, `${op.name}.grad.safetensors`);
      runOpCommand(op.name, { in: inFile, out, mode: "chunk", grad: gradFile }, quiet);
      const written = loadCheckpoint(out).tensors;
      const leaves = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, t.clone().requireGrad()]));
      runOp(op, leaves, "chunk").o.mul(dO).sum().backward();
      for (const [k, t] of Object.entries(leaves)) assertSame(`${op.name} d${k}`, written.get(`d${k}`)!, t.grad!);
    }
  });
});

test("f64 inputs are computed and written in f64", () => {
  withDir((dir) => {
    const op = listOps()[0]!;
    const inFile = join(dir, "in.safetensors");
    saveCheckpoint(inFile, op.example(new Random(3), "f64"));
    const out = join(dir, "out.safetensors");
    runOpCommand(op.name, { in: inFile, out, mode: "chunk" }, quiet);
    assert.equal(loadCheckpoint(out).tensors.get("o")!.dtype, "f64");
  });
});

test("`seqmix op` errors name the problem and exit non-zero", () => {
  withDir((dir) => {
    const op = listOps()[0]!;
    const inFile = join(dir, "in.safetensors");
    const out = join(dir, "out.safetensors");
    const example = op.example(new Random(0), "f32");
    saveCheckpoint(inFile, example);
    const fails = (args: string[], pattern: RegExp) => {
      const r = seqmix("op", ...args);
      assert.equal(r.status, 1, `expected exit 1 for ${args.join(" ")}; stderr: ${r.stderr}`);
      assert.match(r.stderr, pattern);
    };
    fails(["no_such_op", "--in", inFile, "--out", out], /unknown op 'no_such_op'; available ops: .*attention|unknown op 'no_such_op'; available ops:/);
    fails([op.name, "--in", inFile, "--out", out, "--mode", "fast"], /--mode must be one of naive, chunk, recurrent; got 'fast'/);
    fails([op.name, "--in", inFile, "--out", out, "--opts", "{chunkSize: 3"], /--opts is not valid JSON/);
    fails([op.name, "--in", inFile, "--out", out, "--opts", '{"chunkSize": 0}'], new RegExp(`${op.name}: option 'chunkSize'`));
    fails([op.name, "--in", inFile, "--out", out, "--opts", '{"nonsense": 1}'], /unknown option\(s\) 'nonsense'/);
    fails([op.name, "--in", join(dir, "missing.safetensors"), "--out", out], /missing\.safetensors/);

    // a missing required tensor
    const required = op.inputs.find((s) => !s.optional)!;
    const withoutOne = { ...example };
    delete withoutOne[required.name];
    saveCheckpoint(join(dir, "missing-input.safetensors"), withoutOne);
    fails([op.name, "--in", join(dir, "missing-input.safetensors"), "--out", out], new RegExp(`missing input '${required.name}'`));

    // a mis-shaped tensor: drop the last axis of a required per-step input
    const perStep = op.inputs.find((s) => s.perStep && !s.optional)!;
    const bad = { ...example, [perStep.name]: example[perStep.name]!.slice(-1, 0, 1).squeeze(-1).contiguous() };
    saveCheckpoint(join(dir, "bad-shape.safetensors"), bad);
    fails([op.name, "--in", join(dir, "bad-shape.safetensors"), "--out", out], new RegExp(`${op.name}: .*${perStep.name}`));

    // a tensor the op does not take
    saveCheckpoint(join(dir, "extra.safetensors"), { ...example, bogus: example[required.name]! });
    fails([op.name, "--in", join(dir, "extra.safetensors"), "--out", out], /tensor\(s\) 'bogus' that the op does not take/);

    // --grad without `do`
    saveCheckpoint(join(dir, "nodo.safetensors"), { dx: example[required.name]! });
    fails([op.name, "--in", inFile, "--out", out, "--grad", join(dir, "nodo.safetensors")], /missing the upstream gradient tensor 'do'/);

    // success path through the real binary
    const ok = seqmix("op", op.name, "--in", inFile, "--out", out);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`${op.name} \\(chunk\\): wrote o`));
    const list = seqmix("op", "--list");
    assert.equal(list.status, 0);
    for (const o of listOps()) assert.match(list.stdout, new RegExp(`^${o.name} `, "m"));
    assert.ok(getOp(op.name));
  });
});
