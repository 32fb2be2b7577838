import { test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn, tensor } from "../../src/core/create.js";
import { gradcheck } from "../../src/core/gradcheck.js";
import { concat, indices, slice } from "../../src/core/ops/shape.js";
import { Embedding, Linear, Module, ModuleList, RMSNorm, ShortConv, StateDictError, SwiGLU } from "../../src/nn/index.js";
import type { Tensor } from "../../src/core/tensor.js";

class Block extends Module {
  readonly norm: RMSNorm;
  readonly mlp: SwiGLU;
  constructor(rng: Random) {
    super();
    this.norm = this.module("norm", new RMSNorm(8));
    this.mlp = this.module("mlp", new SwiGLU(8, { rng, hiddenSize: 12 }));
  }
}

class Tiny extends Module {
  readonly embed: Embedding;
  readonly layers: ModuleList<Block>;
  readonly head: Linear;
  constructor(rng: Random) {
    super();
    this.embed = this.module("embed", new Embedding(10, 8, { rng }));
    this.layers = this.module("layers", new ModuleList([new Block(rng), new Block(rng)]));
    this.head = this.module("head", new Linear(8, 10, { rng, bias: false }));
  }
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `element ${i}: ${a[i]} vs ${b[i]}`);
}

test("parameter names are dotted paths in registration order", () => {
  const m = new Tiny(new Random(0));
  assert.deepEqual([...m.stateDict().keys()], [
    "embed.weight",
    "layers.0.norm.weight",
    "layers.0.mlp.gate_proj.weight",
    "layers.0.mlp.up_proj.weight",
    "layers.0.mlp.down_proj.weight",
    "layers.1.norm.weight",
    "layers.1.mlp.gate_proj.weight",
    "layers.1.mlp.up_proj.weight",
    "layers.1.mlp.down_proj.weight",
    "head.weight",
  ]);
  assert.deepEqual(m.stateDict().get("layers.1.mlp.down_proj.weight")!.shape, [8, 12]);
  assert.equal(m.numParameters(), 10 * 8 + 2 * (8 + 3 * 8 * 12) + 8 * 10);
  assert.ok(m.parameters().every((p) => p.requiresGrad));
});

test("loadStateDict copies values into the same tensors and reports mismatches by name", () => {
  const a = new Tiny(new Random(1));
  const b = new Tiny(new Random(2));
  const before = b.head.weight;
  b.loadStateDict(a.stateDict());
  assert.equal(b.head.weight, before, "parameter identity is kept (optimizers hold them)");
  for (const [name, p] of a.stateDict()) assert.deepEqual(b.stateDict().get(name)!.toArray(), p.toArray(), name);

  const missing = new Map(a.stateDict());
  missing.delete("layers.0.norm.weight");
  assert.throws(() => b.loadStateDict(missing), (e: unknown) => e instanceof StateDictError && /missing: layers\.0\.norm\.weight/.test(e.message));
  const extra = new Map(a.stateDict()).set("layers.2.norm.weight", tensor([1]));
  assert.throws(() => b.loadStateDict(extra), /unexpected: layers\.2\.norm\.weight/);
  assert.deepEqual(b.loadStateDict(missing, false), { missing: ["layers.0.norm.weight"], unexpected: [] });
  const wrong = new Map(a.stateDict()).set("head.weight", randn([10, 9], new Random(0)));
  assert.throws(() => b.loadStateDict(wrong, false), /'head\.weight' has shape \[10,9\] but the module expects \[10,8\]/);
});

test("train/eval mode reaches every sub-module", () => {
  const m = new Tiny(new Random(0));
  m.eval();
  assert.ok([...m.namedModules()].every(([, x]) => !x.training));
  m.train();
  assert.ok([...m.namedModules()].every(([, x]) => x.training));
});

test("Linear computes x Wᵀ + b with weight [out, in] and PyTorch's default init bounds", () => {
  const rng = new Random(3);
  const lin = new Linear(5, 3, { rng, dtype: "f64" });
  const bound = 1 / Math.sqrt(5);
  assert.ok(lin.weight.toArray().every((v) => Math.abs(v) <= bound));
  assert.ok(lin.bias!.toArray().every((v) => Math.abs(v) <= bound));
  const x = randn([2, 4, 5], rng, { dtype: "f64" });
  const y = lin.forward(x);
  assert.deepEqual(y.shape, [2, 4, 3]);
  const xv = x.values();
  const w = lin.weight.values();
  const b = lin.bias!.values();
  const expected: number[] = [];
  for (let r = 0; r < 8; r++) for (let o = 0; o < 3; o++) {
    let acc = b[o]!;
    for (let i = 0; i < 5; i++) acc += xv[r * 5 + i]! * w[o * 5 + i]!;
    expected.push(acc);
  }
  close(y.values(), expected, 1e-12);
  assert.throws(() => lin.forward(randn([2, 4], rng)), /Linear: input must end with 5 features, got \[2,4\]/);
  gradcheck((xx, ww, bb) => {
    void ww; void bb;
    return lin.forward(xx);
  }, [x.requireGrad(), lin.weight, lin.bias!]);
});

test("Embedding looks up rows; gradients of repeated ids add up", () => {
  const rng = new Random(4);
  const emb = new Embedding(6, 3, { rng, dtype: "f64" });
  const ids = indices([1, 4, 1, 0], [2, 2]);
  const e = emb.forward(ids);
  assert.deepEqual(e.shape, [2, 2, 3]);
  assert.deepEqual(slice(e.reshape(4, 3), 0, 2, 3).toArray(), slice(emb.weight, 0, 1, 2).toArray());
  gradcheck(() => emb.forward(ids).square(), [emb.weight]);
  assert.throws(() => emb.forward(indices([6])), /index 6 at position 0 is out of range for an axis of size 6/);
});

test("RMSNorm and SwiGLU pass a gradcheck through all their parameters", () => {
  const rng = new Random(5);
  const norm = new RMSNorm(7, 1e-5, { dtype: "f64" });
  norm.weight.data.set(randn([7], rng, { dtype: "f64" }).values());
  const x = randn([3, 7], rng, { dtype: "f64", requiresGrad: true });
  gradcheck((xx) => norm.forward(xx), [x, norm.weight]);
  const mlp = new SwiGLU(7, { rng, dtype: "f64", hiddenSize: 5 });
  gradcheck((xx) => mlp.forward(xx), [x, ...mlp.parameters()]);
  assert.equal(new SwiGLU(512, { rng }).hiddenSize, 1536);
});

test("ShortConv: stepping token by token and feeding in pieces equal the whole-sequence forward", () => {
  const rng = new Random(6);
  const conv = new ShortConv(5, 4, { rng, dtype: "f64", bias: true });
  const x = randn([2, 9, 5], rng, { dtype: "f64" });
  const whole = conv.forward(x);
  // pieces of 2 and 7 with the carried state
  const first = conv.forward(slice(x, 1, 0, 2));
  const second = conv.forward(slice(x, 1, 2), first.state);
  close(concat([first.y, second.y], 1).values(), whole.y.values(), 1e-12);
  close(second.state.values(), whole.state.values(), 0);
  // token by token
  let state: Tensor = conv.initState(2);
  const outs: Tensor[] = [];
  for (let t = 0; t < 9; t++) {
    const r = conv.step(slice(x, 1, t, t + 1).reshape(2, 5), state);
    outs.push(r.y.unsqueeze(1));
    state = r.state;
  }
  close(concat(outs, 1).values(), whole.y.values(), 1e-12);
  gradcheck((xx) => conv.forward(xx).y, [x.requireGrad(), ...conv.parameters()]);
});

test("constructors validate their sizes with named errors", () => {
  const rng = new Random(0);
  assert.throws(() => new Linear(0, 3, { rng }), /Linear: inFeatures must be a positive integer, got 0/);
  assert.throws(() => new Embedding(10, 2.5, { rng }), /Embedding: dim must be a positive integer, got 2.5/);
  assert.throws(() => new RMSNorm(4, -1), /RMSNorm: eps must be a positive finite number, got -1/);
});
