/**
 * The buffer arena (src/core/arena.ts): buffers lent in one scope come back, zeroed, in the next; what must
 * outlive a step (parameter gradients, optimizer moments) stays out of it; and training every registered mixer
 * with the arena gives bit-for-bit the same losses and parameters as without it, while allocating nothing new
 * after the first step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BufferArena, activeArena, outsideArena } from "../../src/core/arena.js";
import { allocate } from "../../src/core/dtype.js";
import { crossEntropy } from "../../src/core/ops/nn.js";
import { indices } from "../../src/core/ops/shape.js";
import { Random } from "../../src/core/random.js";
import { listLayers } from "../../src/layers/index.js";
import { LanguageModel } from "../../src/models/index.js";
import { AdamW } from "../../src/train/adamw.js";

test("arena: a buffer lent in one scope is lent again, zeroed, for the same dtype and length", () => {
  const arena = new BufferArena({ minLength: 8 });
  const first = arena.run(() => {
    const a = allocate("f32", 16);
    a.fill(7);
    return a;
  });
  const second = arena.run(() => allocate("f32", 16));
  assert.equal(second, first, "the same buffer comes back");
  assert.ok(second.every((x) => x === 0), "and it is zeroed");
  assert.deepEqual(arena.stats, { reused: 1, fresh: 1, bytesHeld: 64 });
});

test("arena: dtype and length must both match; short arrays are not pooled", () => {
  const arena = new BufferArena({ minLength: 8 });
  const f32 = arena.run(() => allocate("f32", 16));
  const [f64, other, short] = arena.run(() => [allocate("f64", 16), allocate("f32", 17), allocate("f32", 4)]);
  assert.ok(f64 instanceof Float64Array);
  assert.notEqual(other, f32);
  assert.equal(other!.length, 17);
  assert.equal(short!.length, 4);
  assert.equal(arena.stats.fresh, 3, "f32×16, f64×16, f32×17 (the short one is not counted)");
  assert.equal(arena.stats.reused, 0);
});

test("arena: two requests in one scope never share a buffer", () => {
  const arena = new BufferArena({ minLength: 0 });
  arena.run(() => [allocate("f32", 10), allocate("f32", 10)]);
  const [a, b] = arena.run(() => [allocate("f32", 10), allocate("f32", 10), allocate("f32", 10)]);
  assert.notEqual(a, b);
  assert.deepEqual(arena.stats, { reused: 2, fresh: 3, bytesHeld: 120 });
});

test("arena: outsideArena allocates ordinary memory; no arena outside run; scopes do not nest", () => {
  const arena = new BufferArena({ minLength: 0 });
  assert.equal(activeArena(), null);
  const kept = arena.run(() => {
    assert.equal(activeArena(), arena);
    return outsideArena(() => {
      assert.equal(activeArena(), null);
      return allocate("f32", 10);
    });
  });
  const next = arena.run(() => allocate("f32", 10));
  assert.notEqual(next, kept, "a buffer made outside the arena is never lent");
  assert.throws(() => arena.run(() => new BufferArena().run(() => 1)), /already active/);
  assert.equal(activeArena(), null);
});

test("arena: buffers come back when the scope throws; clear() drops the free ones", () => {
  const arena = new BufferArena({ minLength: 0 });
  let lent: Float32Array | Float64Array | undefined;
  assert.throws(() => arena.run(() => {
    lent = allocate("f32", 5);
    throw new Error("boom");
  }), /boom/);
  assert.equal(activeArena(), null);
  assert.equal(arena.run(() => allocate("f32", 5)), lent);
  arena.clear();
  assert.equal(arena.stats.bytesHeld, 0);
  assert.notEqual(arena.run(() => allocate("f32", 5)), lent);
  assert.throws(() => new BufferArena({ minLength: -1 }), /minLength must be a non-negative integer, got -1/);
});

/** Losses of `steps` AdamW steps and the final parameters, with every step in `arena` (or none). */
function train(spec: { type: string; [k: string]: unknown }, arena: BufferArena | null, steps: number): { losses: number[]; params: Float32Array[]; freshAfter: number[] } {
  const model = new LanguageModel({ vocabSize: 11, dModel: 16, layers: [spec, spec], mlpHidden: 24 }, { seed: 3 });
  const opt = new AdamW(model.parameters(), { lr: 1e-2 });
  const rng = new Random(4);
  const [B, T] = [2, 9];
  const losses: number[] = [];
  const freshAfter: number[] = [];
  for (let s = 0; s < steps; s++) {
    const toks = indices(Array.from({ length: B * T }, () => rng.integer(0, 11)), [B, T]);
    const targets = Int32Array.from({ length: B * T }, () => rng.integer(0, 11));
    const body = () => {
      const loss = crossEntropy(model.forward(toks).logits.reshape(B * T, 11), targets);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      return loss.item();
    };
    losses.push(arena ? arena.run(body) : body());
    if (arena) freshAfter.push(arena.stats.fresh);
  }
  return { losses, params: model.parameters().map((p) => Float32Array.from(p.values())), freshAfter };
}

for (const def of listLayers().filter((l) => !l.type.startsWith("toy_"))) {
  test(`arena: training ${def.type} in an arena (every array pooled) = without one, bit for bit; nothing new after step 1`, () => {
    const spec = { type: def.type, ...(def.smallConfig ?? {}) };
    const plain = train(spec, null, 3);
    const arena = new BufferArena({ minLength: 0 });
    const pooled = train(spec, arena, 3);
    assert.deepEqual(pooled.losses, plain.losses);
    pooled.params.forEach((p, i) => assert.deepEqual(p, plain.params[i], `parameter ${i}`));
    assert.equal(pooled.freshAfter[2], pooled.freshAfter[0], `fresh allocations per step: ${pooled.freshAfter.join(", ")}`);
    assert.ok(arena.stats.reused > 0);
  });
}
