import { test } from "node:test";
import assert from "node:assert/strict";
import { maxDiff } from "./util.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Random } from "../../src/core/random.js";
import { indices, slice, concat } from "../../src/core/ops/shape.js";
import { crossEntropy } from "../../src/core/ops/nn.js";
import type { Tensor } from "../../src/core/tensor.js";
import { registerLayer, listLayers } from "../../src/layers/index.js";
import { LanguageModel, expandSchedule, parseLMConfig, saveModel, loadModel } from "../../src/models/index.js";
import { saveCheckpoint } from "../../src/io/checkpoint.js";
import { AdamW } from "../../src/train/index.js";
import { toyEma } from "./toy-layer.js";

if (!listLayers().some((l) => l.type === "toy_ema")) registerLayer(toyEma);

const config = { vocabSize: 11, dModel: 8, layers: ["toy_ema", "toy_ema"], dtype: "f64" as const, mlpHidden: 12 };

function randomTokens(rng: Random, B: number, T: number, V: number): number[] {
  return Array.from({ length: B * T }, () => rng.integer(0, V));
}


test("parameter names follow fla's causal LM layout", () => {
  const m = new LanguageModel(config);
  const names = [...m.stateDict().keys()];
  // a module's own parameters come before its sub-modules', as in PyTorch's named_parameters
  assert.deepEqual(names.slice(0, 5), ["model.embeddings.weight", "model.layers.0.attn_norm.weight", "model.layers.0.attn.decay", "model.layers.0.attn.in_proj.weight", "model.layers.0.attn.out_proj.weight"]);
  assert.ok(names.includes("model.layers.1.mlp.down_proj.weight"));
  assert.equal(names.at(-1), "model.norm.weight", "tied head: no lm_head.weight");
  const untied = new LanguageModel({ ...config, tieEmbeddings: false });
  assert.equal([...untied.stateDict().keys()].at(-1), "lm_head.weight");
  const noMlp = new LanguageModel({ ...config, mlp: "none" });
  assert.ok(![...noMlp.stateDict().keys()].some((n) => n.includes("mlp")));
});

test("parallel logits = token-by-token logits = prefill-then-step logits (f64, 1e-12)", () => {
  const m = new LanguageModel(config, { seed: 1 });
  const rng = new Random(2);
  const B = 2;
  const T = 9;
  const toks = randomTokens(rng, B, T, 11);
  const full = m.forward(indices(toks, [B, T])).logits;
  let state = m.initState(B);
  const stepped: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const r = m.step([toks[t]!, toks[T + t]!], state);
    stepped.push(r.logits.unsqueeze(1));
    state = r.state;
  }
  assert.ok(maxDiff(concat(stepped, 1), full) < 1e-12);
  const split = 4;
  const prefix = [...toks.slice(0, split), ...toks.slice(T, T + split)];
  const pre = m.forward(indices(prefix, [B, split]), { outputState: true });
  let s = pre.state!;
  const rest: Tensor[] = [pre.logits];
  for (let t = split; t < T; t++) {
    const r = m.step([toks[t]!, toks[T + t]!], s);
    rest.push(r.logits.unsqueeze(1));
    s = r.state;
  }
  assert.ok(maxDiff(concat(rest, 1), full) < 1e-12);
  // a second parallel piece continuing from the state also matches
  const suffix = [...toks.slice(split, T), ...toks.slice(T + split)];
  const cont = m.forward(indices(suffix, [B, T - split]), { state: pre.state! });
  assert.ok(maxDiff(cont.logits, slice(full, 1, split)) < 1e-12);
});

test("generate: prefill + step, reproducible for a seed, greedy at temperature 0, validated options", () => {
  const m = new LanguageModel(config, { seed: 3 });
  const a = m.generate([1, 2, 3], { maxTokens: 12, seed: 5 });
  const b = m.generate([1, 2, 3], { maxTokens: 12, seed: 5 });
  assert.deepEqual(a, b);
  assert.equal(a.length, 12);
  assert.ok(a.every((t) => Number.isInteger(t) && t >= 0 && t < 11));
  // greedy generation equals argmax of the parallel forward over the growing sequence
  const greedy = m.generate([4, 5], { maxTokens: 5, temperature: 0 });
  const seq = [4, 5];
  for (let i = 0; i < 5; i++) {
    const logits = m.forward(indices(seq, [1, seq.length])).logits.slice(1, seq.length - 1).values();
    let best = 0;
    for (let c = 1; c < 11; c++) if (logits[c]! > logits[best]!) best = c;
    assert.equal(greedy[i], best);
    seq.push(best);
  }
  assert.deepEqual([...m.stream([4, 5], { maxTokens: 5, temperature: 0 })], greedy);
  const top1 = m.generate([4, 5], { maxTokens: 5, topK: 1, seed: 9 });
  assert.deepEqual(top1, greedy, "topK = 1 is greedy");
  assert.throws(() => m.generate([1], { maxTokens: 2, topK: 0 }), /topK must be an integer in 1\.\.11, got 0/);
  assert.throws(() => m.generate([1], { maxTokens: -1 }), /maxTokens must be a non-negative integer/);
  assert.throws(() => m.generate([11], { maxTokens: 1 }), /token 11 at position 0 is outside the vocabulary 0\.\.10/);
});

test("stateSize is the sum over layers and stays constant for recurrent mixers", () => {
  const m = new LanguageModel(config);
  assert.equal(m.stateSize(10), 16);
  assert.equal(m.stateSize(10_000), 16);
});

test("save → load gives identical logits; bad files name the tensor", () => {
  const dir = mkdtempSync(join(tmpdir(), "seqmix-lm-"));
  try {
    const m = new LanguageModel({ ...config, dtype: "f32" }, { seed: 4 });
    const path = join(dir, "m.safetensors");
    saveModel(m, path);
    const back = loadModel(path);
    const toks = indices([1, 2, 3, 4, 5, 6], [2, 3]);
    assert.deepEqual(back.forward(toks).logits.toArray(), m.forward(toks).logits.toArray());
    assert.deepEqual(back.config, m.config);

    const sd = new Map(m.stateDict());
    sd.delete("model.layers.1.attn.decay");
    saveCheckpoint(join(dir, "missing.safetensors"), sd, { "seqmix.config": JSON.stringify(m.config) });
    assert.throws(() => loadModel(join(dir, "missing.safetensors")), /missing: model\.layers\.1\.attn\.decay/);
    const wrong = new Map(m.stateDict()).set("model.norm.weight", m.stateDict().get("model.layers.0.attn.in_proj.weight")!);
    saveCheckpoint(join(dir, "wrong.safetensors"), wrong, { "seqmix.config": JSON.stringify(m.config) });
    assert.throws(() => loadModel(join(dir, "wrong.safetensors")), /'model\.norm\.weight' has shape \[8,8\] but the module expects \[8\]/);
    saveCheckpoint(join(dir, "noconfig.safetensors"), m.stateDict());
    assert.throws(() => loadModel(join(dir, "noconfig.safetensors")), /no 'seqmix\.config'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("config validation names the field; schedules expand", () => {
  assert.throws(() => parseLMConfig({ ...config, dModel: 0 }), /'dModel': /);
  assert.throws(() => parseLMConfig({ ...config, colour: "red" }), /unknown field\(s\) 'colour'/);
  assert.throws(() => new LanguageModel({ ...config, layers: ["nope"] }), /unknown layer type 'nope'/);
  assert.throws(() => new LanguageModel({ ...config, layers: [{ type: "toy_ema", width: 3 }] }), /layers\[0\] \(toy_ema\): unknown field\(s\) 'width'/);
  assert.deepEqual(
    expandSchedule(parseLMConfig({ ...config, layers: { mixer: "gla", nLayers: 4, attentionEvery: 2 } }).layers).map((s) => s.type),
    ["gla", "attention", "gla", "attention"],
  );
});

test("a small model trains: next-token loss falls on a repeating pattern", () => {
  const m = new LanguageModel({ ...config, dtype: "f32" }, { seed: 6 });
  const opt = new AdamW(m.parameters(), { lr: 1e-2 });
  const seq = Array.from({ length: 2 * 13 }, (_, i) => [1, 5, 2, 7, 3][i % 5]!);
  const x = indices(seq.slice(0, 24), [2, 12]);
  const targets = Int32Array.from({ length: 24 }, (_, i) => seq[Math.floor(i / 12) * 12 + (i % 12) + 1]!);
  let first = 0;
  let last = 0;
  for (let stepIdx = 0; stepIdx < 60; stepIdx++) {
    const loss = crossEntropy(m.forward(x).logits, targets);
    if (stepIdx === 0) first = loss.item();
    last = loss.item();
    opt.zeroGrad();
    loss.backward();
    opt.step();
  }
  assert.ok(last < 0.3 * first, `loss ${first} → ${last}`);
});
