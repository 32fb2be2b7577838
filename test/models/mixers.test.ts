/**
 * Every registered mixer layer inside a 2-layer model with random weights (spec §0.7, issue "Layers and
 * models"): the parallel forward, stepping token by token, and prefill-then-step give the same logits (f64,
 * tolerance 1e-9 relative to max |logit|); recurrent mixers carry the same number of state floats after 10 and
 * after 10,000 tokens; the model state is exactly what stateSize reports.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { indices, concat } from "../../src/core/ops/shape.js";
import { noGrad } from "../../src/core/autograd.js";
import type { Tensor } from "../../src/core/tensor.js";
import { listLayers } from "../../src/layers/index.js";
import { LanguageModel } from "../../src/models/index.js";
import { maxRelDiff as maxRelDiffBy, modelStateFloats } from "../layers/checks.js";

const TOL = 1e-9;
const V = 13;

/** max |a − b| / max(1, max |b|) */
const maxRelDiff = (a: Tensor, b: Tensor) => maxRelDiffBy(a, b, 1);

const real = listLayers().filter((l) => !l.type.startsWith("toy_"));

test("there are mixer layers to check", () => {
  assert.ok(real.length > 0);
});

for (const def of real) {
  const spec = { type: def.type, ...(def.smallConfig ?? {}) };

  test(`${def.type}: parallel = step-by-step = prefill+step logits in a 2-layer model (f64, ${TOL})`, () => {
    noGrad(() => {
      const model = new LanguageModel({ vocabSize: V, dModel: 16, layers: [spec, spec], dtype: "f64", mlpHidden: 24 }, { seed: 11 });
      const rng = new Random(12);
      const B = 2;
      const T = 11;
      const toks = Array.from({ length: B * T }, () => rng.integer(0, V));
      const full = model.forward(indices(toks, [B, T])).logits;
      let state = model.initState(B);
      const stepped: Tensor[] = [];
      for (let t = 0; t < T; t++) {
        const r = model.step([toks[t]!, toks[T + t]!], state);
        stepped.push(r.logits.unsqueeze(1));
        state = r.state;
      }
      assert.ok(maxRelDiff(concat(stepped, 1), full) < TOL, `step vs parallel: ${maxRelDiff(concat(stepped, 1), full)}`);
      const split = 5;
      const pre = model.forward(indices([...toks.slice(0, split), ...toks.slice(T, T + split)], [B, split]), { outputState: true });
      let s = pre.state!;
      const parts: Tensor[] = [pre.logits];
      for (let t = split; t < T; t++) {
        const r = model.step([toks[t]!, toks[T + t]!], s);
        parts.push(r.logits.unsqueeze(1));
        s = r.state;
      }
      assert.ok(maxRelDiff(concat(parts, 1), full) < TOL, `prefill+step vs parallel: ${maxRelDiff(concat(parts, 1), full)}`);
      assert.equal(modelStateFloats(s), B * model.stateSize(T), "state floats = batch × stateSize(T)");
    });
  });

  test(`${def.type}: state floats after 10 and after 10,000 generated tokens`, () => {
    noGrad(() => {
      const model = new LanguageModel({ vocabSize: V, dModel: 16, layers: [spec], dtype: "f32", mlp: "none" }, { seed: 3 });
      let state = model.initState(1);
      const sizes: number[] = [];
      let token = 1;
      for (let t = 1; t <= 10_000; t++) {
        const r = model.step([token], state);
        state = r.state;
        token = (token * 7 + t) % V;
        if (t === 10 || t === 10_000) sizes.push(modelStateFloats(state));
      }
      const grows = model.stateSize(10_000) > model.stateSize(10);
      if (grows) assert.ok(sizes[1]! > sizes[0]!, "a growing state (attention) should grow");
      else assert.equal(sizes[1], sizes[0], `${def.type}: the recurrent state must not grow with generated length`);
      assert.equal(sizes[0], model.stateSize(10));
      assert.equal(sizes[1], model.stateSize(10_000));
    });
  });
}
