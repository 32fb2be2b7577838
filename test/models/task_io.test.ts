import { test } from "node:test";
import assert from "node:assert/strict";
import { maxDiff } from "./util.js";
import { Random } from "../../src/core/random.js";
import { randn } from "../../src/core/create.js";
import { indices, concat } from "../../src/core/ops/shape.js";
import type { Tensor } from "../../src/core/tensor.js";
import { LanguageModel, parseLMConfig } from "../../src/models/index.js";


test("numClasses gives a read-out of its own width, never tied to the embedding", () => {
  const m = new LanguageModel({ vocabSize: 7, numClasses: 3, dModel: 8, layers: ["gla"], mlp: "none" }, { seed: 0 });
  assert.deepEqual(m.lm_head!.weight.shape, [3, 8]);
  assert.equal(m.outputSize, 3);
  assert.deepEqual(m.forward(indices([1, 2, 3, 4], [2, 2])).logits.shape, [2, 2, 3]);
  const tied = new LanguageModel({ vocabSize: 7, numClasses: 7, dModel: 8, layers: ["gla"] });
  assert.equal(tied.lm_head, null);
});

test("real-valued inputs: a linear read-in instead of the embedding; tokens are refused and vice versa", () => {
  const m = new LanguageModel({ inputDim: 3, numClasses: 1, dModel: 8, layers: ["gla"], mlp: "none" }, { seed: 0 });
  const names = [...m.stateDict().keys()];
  assert.ok(names.includes("model.read_in.weight") && names.includes("model.read_in.bias"));
  assert.ok(!names.some((n) => n.includes("embeddings")));
  const x = randn([2, 5, 3], new Random(1));
  assert.deepEqual(m.forward(x).logits.shape, [2, 5, 1]);
  assert.throws(() => m.forward(indices([0, 1], [1, 2])), /reads real-valued inputs \(inputDim\)/);
  assert.throws(() => m.forward(randn([2, 5, 4], new Random(1))), /must have shape \[B,T,3\], got \[2,5,4\]/);
  const tok = new LanguageModel({ vocabSize: 5, dModel: 8, layers: ["gla"] });
  assert.throws(() => tok.forward(x), /reads tokens; pass indices/);
});

test("config: exactly one of vocabSize and inputDim; real inputs need numClasses", () => {
  assert.throws(() => parseLMConfig({ dModel: 8, layers: ["gla"] }), /give exactly one of vocabSize/);
  assert.throws(() => parseLMConfig({ vocabSize: 4, inputDim: 2, numClasses: 1, dModel: 8, layers: ["gla"] }), /give exactly one of vocabSize/);
  assert.throws(() => parseLMConfig({ inputDim: 2, dModel: 8, layers: ["gla"] }), /needs numClasses/);
});

test("inputConv: the block's short conv streams exactly (step = forward = two halves with carried state, f64)", () => {
  for (const type of ["linear_attn", "gla", "attention"]) {
    const m = new LanguageModel({ vocabSize: 9, dModel: 8, layers: [{ type, inputConv: 3 }, { type }], dtype: "f64", mlp: "none" }, { seed: 2 });
    assert.ok([...m.stateDict().keys()].includes("model.layers.0.input_conv.weight"));
    const rng = new Random(5);
    const B = 2;
    const T = 7;
    const toks = Array.from({ length: B * T }, () => rng.integer(0, 9));
    const full = m.forward(indices(toks, [B, T])).logits;
    let state = m.initState(B);
    const steps: Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const r = m.step([toks[t]!, toks[T + t]!], state);
      steps.push(r.logits.unsqueeze(1));
      state = r.state;
    }
    assert.ok(maxDiff(concat(steps, 1), full) < 1e-12, `${type}: step vs forward`);
    const first = m.forward(indices([...toks.slice(0, 3), ...toks.slice(T, T + 3)], [B, 3]), { outputState: true });
    const second = m.forward(indices([...toks.slice(3, T), ...toks.slice(T + 3)], [B, T - 3]), { state: first.state!, outputState: true });
    assert.ok(maxDiff(concat([first.logits, second.logits], 1), full) < 1e-12, `${type}: split vs whole`);
    const plain = new LanguageModel({ vocabSize: 9, dModel: 8, layers: [{ type }, { type }], dtype: "f64", mlp: "none" }, { seed: 2 });
    assert.equal(m.stateSize(T) - plain.stateSize(T), 2 * 8, `${type}: the conv keeps W−1 = 2 inputs of 8 channels`);
  }
  assert.throws(() => new LanguageModel({ vocabSize: 9, dModel: 8, layers: [{ type: "gla", inputConv: 1 }] }), /inputConv must be an integer kernel width ≥ 2, got 1/);
});
