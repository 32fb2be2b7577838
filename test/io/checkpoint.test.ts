import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { Linear } from "../../src/nn/index.js";
import { loadCheckpoint, saveCheckpoint } from "../../src/io/checkpoint.js";
import { SafetensorsError, writeSafetensorsFileSync } from "../../src/io/safetensors.js";

test("a module's state dict round-trips through a safetensors checkpoint with metadata", () => {
  const dir = mkdtempSync(join(tmpdir(), "seqmix-ckpt-"));
  try {
    const rng = new Random(0);
    const a = new Linear(4, 3, { rng });
    const b = new Linear(4, 3, { rng: new Random(1), dtype: "f64" });
    const path = join(dir, "m.safetensors");
    saveCheckpoint(path, a.stateDict(), { config: JSON.stringify({ in: 4, out: 3 }) });
    assert.deepEqual(readdirSync(dir), ["m.safetensors"]);
    const ckpt = loadCheckpoint(path);
    assert.deepEqual(JSON.parse(ckpt.metadata.config!), { in: 4, out: 3 });
    assert.equal(ckpt.tensors.get("weight")!.dtype, "f32");
    b.loadStateDict(ckpt.tensors);
    assert.deepEqual(b.weight.toArray(), a.weight.toArray());
    const x = randn([2, 4], rng);
    // b computes in f64, a in f32: equal to f32 rounding
    const ya = a.forward(x).toArray();
    b.forward(x).toArray().forEach((v, i) => assert.ok(Math.abs(v - ya[i]!) <= 1e-6, `${v} vs ${ya[i]}`));

    // f64 tensors stay f64; F16 storage loads as f32 within half precision
    const w64 = randn([5], rng, { dtype: "f64" });
    saveCheckpoint(path, { w: w64 });
    assert.deepEqual(loadCheckpoint(path).tensors.get("w")!.toArray(), w64.toArray());
    saveCheckpoint(path, { w: w64 }, {}, "F16");
    const back = loadCheckpoint(path).tensors.get("w")!;
    assert.equal(back.dtype, "f32");
    back.toArray().forEach((v, i) => assert.ok(Math.abs(v - w64.toArray()[i]!) <= 1e-3 * Math.max(1, Math.abs(v))));

    // an integer tensor where floats are expected is named
    writeSafetensorsFileSync(path, new Map([["ids", { dtype: "I32" as const, shape: [2], data: Int32Array.of(1, 2) }]]));
    assert.throws(() => loadCheckpoint(path), (e: unknown) => e instanceof SafetensorsError && /ids/.test(e.message) && /I32/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
