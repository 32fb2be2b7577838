// The library example of README.md, run as written (through the package's public entry point).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Random, randn, gradcheck, crossEntropy, nn, train, io, BufferArena } from "../src/index.js";

test("the README arena loop runs and gives the same losses as the plain loop", () => {
  const losses = (arena: BufferArena | null): number[] => {
    const rng = new Random(0);
    const x = randn([8, 16], rng);
    const mlp = new nn.SwiGLU(16, { rng, hiddenSize: 32 });
    const head = new nn.Linear(16, 4, { rng });
    const opt = new train.AdamW([...mlp.parameters(), ...head.parameters()], { lr: 1e-3, weightDecay: 0.01 });
    const labels = Int32Array.from({ length: 8 }, (_, i) => i % 4);
    const out: number[] = [];
    for (let step = 0; step < 20; step++) {
      const body = () => {
        const loss = crossEntropy(head.forward(mlp.forward(x)), labels);
        opt.zeroGrad(); loss.backward(); opt.step();
        return loss.item();
      };
      out.push(arena ? arena.run(body) : body());
    }
    return out;
  };
  const arena = new BufferArena({ minLength: 0 });
  assert.deepEqual(losses(arena), losses(null));
  assert.ok(arena.stats.reused > 0);
});

test("the README library example runs and learns", () => {
  const dir = mkdtempSync(join(tmpdir(), "seqmix-readme-"));
  try {
    const rng = new Random(0);
    const x = randn([8, 16], rng);
    const mlp = new nn.SwiGLU(16, { rng, hiddenSize: 32 });
    const head = new nn.Linear(16, 4, { rng });
    const params = [...mlp.parameters(), ...head.parameters()];
    const opt = new train.AdamW(params, { lr: 1e-3, weightDecay: 0.01 });
    const labels = Int32Array.from({ length: 8 }, (_, i) => i % 4);
    let first = 0;
    let last = 0;
    for (let step = 0; step < 100; step++) {
      const loss = crossEntropy(head.forward(mlp.forward(x)), labels);
      if (step === 0) first = loss.item();
      last = loss.item();
      opt.zeroGrad();
      loss.backward();
      train.clipGradNorm(params, 1.0);
      opt.step();
    }
    assert.ok(last < 0.5 * first, `loss ${first} → ${last}`);
    const path = join(dir, "mlp.safetensors");
    io.saveCheckpoint(path, mlp.stateDict(), { config: JSON.stringify({ dim: 16 }) });
    const fresh = new nn.SwiGLU(16, { rng: new Random(9), hiddenSize: 32 });
    fresh.loadStateDict(io.loadCheckpoint(path).tensors);
    assert.deepEqual(fresh.forward(x).toArray(), mlp.forward(x).toArray());
    const a = randn([3, 4], rng, { dtype: "f64", requiresGrad: true });
    gradcheck((t) => t.softmax(-1).mul(t).sum(), [a]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the README model example runs: a gla/attention hybrid generates, reports its state size, saves and loads", async () => {
  const { LanguageModel, load, saveModel } = await import("../src/index.js");
  const dir = mkdtempSync(join(tmpdir(), "seqmix-readme-"));
  try {
    const model = new LanguageModel({ vocabSize: 256, dModel: 64, layers: { mixer: "gla", nLayers: 4, attentionEvery: 4 } }, { seed: 0 });
    assert.deepEqual(model.model.layers.items.map((b) => b.attn.type), ["gla", "gla", "gla", "attention"]);
    const B = 2;
    const T = 5;
    const tokens = Array.from({ length: B * T }, (_, i) => (i * 37) % 256);
    const { logits } = model.forward({ data: tokens, shape: [B, T] });
    assert.deepEqual(logits.shape, [B, T, 256]);
    const text = model.generate([1, 2, 3], { maxTokens: 50, temperature: 0.8, topK: 20, seed: 1 });
    assert.equal(text.length, 50);
    assert.ok(model.stateSize(4096) > model.stateSize(16), "the attention layer's cache grows");
    const path = join(dir, "m.safetensors");
    saveModel(model, path);
    const again = load(path);
    assert.deepEqual(again.generate([1, 2, 3], { maxTokens: 10, seed: 1 }), model.generate([1, 2, 3], { maxTokens: 10, seed: 1 }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
