/**
 * attention (spec/mixers.md §1). Tolerances, all stated here and scaled by max(1, max|reference|) as in
 * harness.assertClose:
 *   f64 forms (naive = chunk = recurrent, outputs, final state, every input gradient): 1e-9
 *   splits (pieces with the carried state = whole, f64): 1e-9
 *   gradcheck of the chunk form (f64, central differences, eps 1e-6): atol 1e-6, rtol 1e-5
 *   f32 chunk against f64 chunk (outputs and gradients): 1e-4
 *   worked checks (literal numbers from the spec, 6 decimals): 1e-6
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Random } from "../../src/core/random.js";
import { randn, tensor } from "../../src/core/create.js";
import { attentionInputs, type AttentionSizes } from "./attention_inputs.js";
import { concat, slice } from "../../src/core/ops/shape.js";
import type { Tensor } from "../../src/core/tensor.js";
import { attention } from "../../src/ops/attention/index.js";
import { runOp } from "../../src/ops/run.js";
import { assertClose, castInputs, checkForms, checkGradcheck, checkSplit, runBackward, type Inputs } from "./harness.js";

const TOL = 1e-9;

type Sizes = AttentionSizes;

function maker(s: Sizes, seed: number, dtype: "f32" | "f64" = "f64"): () => Inputs {
  return () => attentionInputs(s, seed, dtype);
}

const ODD: Sizes = { B: 2, T: 45, H: 4, Hkv: 2, K: 20, V: 12, S: 0 };
const TINY: Sizes = { B: 1, T: 7, H: 2, Hkv: 1, K: 3, V: 2, S: 0 };

// each option, with a tile (chunkSize) that does not divide T
const CASES: Array<{ label: string; options: Record<string, unknown>; sizes?: Partial<Sizes> }> = [
  { label: "causal, full, GQA (H=4, Hkv=2)", options: { chunkSize: 16 } },
  { label: "causal, MHA (H=Hkv=3), default tile 64 > T", options: {}, sizes: { H: 3, Hkv: 3 } },
  { label: "causal, MQA (H=3, Hkv=1), tile 7", options: { chunkSize: 7 }, sizes: { H: 3, Hkv: 1 } },
  { label: "window 7", options: { window: 7, chunkSize: 16 } },
  { label: "window 1 (each query sees only itself)", options: { window: 1, chunkSize: 16 } },
  { label: "window 20 > tile", options: { window: 20, chunkSize: 8 } },
  { label: "scale 0.3", options: { scale: 0.3, chunkSize: 16 } },
];

for (const c of CASES) {
  const sizes = { ...ODD, ...c.sizes };
  test(`attention forms agree (f64, tol ${TOL}): ${c.label}`, () => {
    checkForms({ op: attention, make: maker(sizes, 1), options: c.options, tol: TOL });
  });
  test(`attention forms agree with initial_state (S=9) (f64, tol ${TOL}): ${c.label}`, () => {
    checkForms({ op: attention, make: maker({ ...sizes, S: 9 }, 2), options: c.options, tol: TOL });
  });
  test(`attention split at 17 = whole (f64, tol ${TOL}): ${c.label}`, () => {
    checkSplit({ op: attention, make: maker(sizes, 3), options: c.options, tol: TOL }, 17);
    checkSplit({ op: attention, make: maker({ ...sizes, S: 5 }, 4), options: c.options, tol: TOL }, 30, [["chunk", "chunk"], ["recurrent", "chunk"]]);
  });
}

test(`attention non-causal: naive = chunk (f64, tol ${TOL}), incl. final state (the cache)`, () => {
  checkForms({ op: attention, make: maker(ODD, 5), options: { causal: false, chunkSize: 16 }, tol: TOL }, ["naive", "chunk"]);
  checkForms({ op: attention, make: maker({ ...ODD, H: 3, Hkv: 1 }, 6), options: { causal: false }, tol: TOL }, ["naive", "chunk"]);
});

test(`attention forms agree from an explicit empty cache [B,0,Hkv,K+V] (f64, tol ${TOL})`, () => {
  const base = maker(ODD, 15);
  const make = () => {
    const x = base();
    return { ...x, initial_state: attention.recurrent.init(x, attention.options.parse({})) };
  };
  assert.deepEqual([...make().initial_state.shape], [2, 0, 2, 32]);
  checkForms({ op: attention, make, options: { chunkSize: 16, window: 9 }, tol: TOL });
  const withEmpty = runOp(attention, make(), "chunk", { chunkSize: 16 });
  const without = runOp(attention, base(), "chunk", { chunkSize: 16 });
  assertClose("empty cache = no cache", withEmpty.o, without.o, 0);
});

const GRADCHECK = { atol: 1e-6, rtol: 1e-5 };
test("attention chunk gradcheck (f64, tiny: B=1 T=7 H=2 Hkv=1 K=3 V=2, tile 3)", () => {
  checkGradcheck({ op: attention, make: maker(TINY, 7), options: { chunkSize: 3 }, tol: TOL }, "chunk", GRADCHECK);
  checkGradcheck({ op: attention, make: maker({ ...TINY, S: 2 }, 8), options: { chunkSize: 3 }, tol: TOL }, "chunk", GRADCHECK);
  checkGradcheck({ op: attention, make: maker({ ...TINY, S: 4 }, 9), options: { chunkSize: 3, window: 3 }, tol: TOL }, "chunk", GRADCHECK);
  checkGradcheck({ op: attention, make: maker(TINY, 10), options: { chunkSize: 3, causal: false, scale: 0.7 }, tol: TOL }, "chunk", GRADCHECK);
});

/** Output and input gradients of one run (upstream gradients from a fixed seed). */
const runGrads = (inputs: Inputs, options: Record<string, unknown>) => runBackward(attention, inputs, "chunk", options, 11);

test("attention f32 chunk matches f64 chunk (outputs and gradients, tol 1e-4)", () => {
  for (const options of [{ chunkSize: 16 }, { window: 9, chunkSize: 16 }]) {
    const s = { ...ODD, S: 6 };
    const values = maker(s, 12, "f64")();
    const f64 = runGrads(values, options);
    // the same values rounded to f32, computed in f32
    const as32 = runGrads(castInputs(values, "f32"), options);
    assert.equal(as32.o.dtype, "f32");
    assertClose("f32 vs f64: o", as32.o.to("f64"), f64.o, 1e-4);
    assertClose("f32 vs f64: final state", as32.finalState.to("f64"), f64.finalState, 1e-4);
    for (const name of Object.keys(f64.grads)) assertClose(`f32 vs f64: d${name}`, as32.grads[name]!.to("f64"), f64.grads[name]!, 1e-4);
  }
});

test("attention worked check (spec §1): T=1 gives o = v; the T=2 example gives o_2 = (2.339523, −0.009285)", () => {
  for (const mode of ["naive", "chunk", "recurrent"] as const) {
    const one = runOp(attention, { q: tensor([[[[0.3, -2]]]]), k: tensor([[[[5, 1]]]]), v: tensor([[[[1.5, -4]]]]) }, mode);
    assertClose(`T=1 ${mode}`, one.o, tensor([[[[1.5, -4]]]]), 1e-6);
    // one head, K = 2 (τ = 2^-1/2), no RoPE: q_2 = (0,1), k = (1,0),(1,1), v = (1,2),(3,−1)
    const inputs = {
      q: tensor([[[[7, 7]], [[0, 1]]]], undefined, { dtype: "f64" }),
      k: tensor([[[[1, 0]], [[1, 1]]]], undefined, { dtype: "f64" }),
      v: tensor([[[[1, 2]], [[3, -1]]]], undefined, { dtype: "f64" }),
    };
    const o = runOp(attention, inputs, mode, { chunkSize: 1 }).o;
    assertClose(`T=2 ${mode}: o_2`, slice(o, 1, 1), tensor([[[[2.339523, -0.009285]]]], undefined, { dtype: "f64" }), 1e-6);
  }
});

test("attention KV cache: recurrent state grows by one position per token, or stays at the window", () => {
  const inputs = maker({ ...ODD, T: 12 }, 13)();
  const full = runOp(attention, inputs, "recurrent", { outputFinalState: true }).finalState!;
  assert.deepEqual([...full.shape], [2, 12, 2, 32]);
  const win = runOp(attention, inputs, "recurrent", { outputFinalState: true, window: 5 }).finalState!;
  assert.deepEqual([...win.shape], [2, 5, 2, 32]);
  // the cache holds the post-input keys then values of the most recent positions, in order
  assertClose("window cache keys", slice(win, 3, 0, 20), slice(inputs.k!, 1, 7), 0);
  assertClose("window cache values", slice(win, 3, 20), slice(inputs.v!, 1, 7), 0);
  const shapes = { q: [2, 12, 4, 20], k: [2, 12, 2, 20], v: [2, 12, 2, 12] };
  const parse = (o: Record<string, unknown>) => attention.options.parse(o);
  assert.equal(attention.stateSize(shapes, parse({}), 1000), 2 * 32 * 1000);
  assert.equal(attention.stateSize(shapes, parse({ window: 256 }), 1000), 2 * 32 * 256);
  assert.equal(attention.stateSize(shapes, parse({ window: 256 }), 100), 2 * 32 * 100);
});

test("attention errors name the problem", () => {
  const good = maker({ ...TINY, H: 4, Hkv: 2 }, 14)();
  const throwsWith = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (e: Error) => {
    assert.match(e.message, pattern);
    return true;
  });
  throwsWith(() => runOp(attention, { k: good.k, v: good.v }, "chunk"), /attention: missing input 'q' \(expected shape \[B,T,H,K\]\)/);
  throwsWith(() => runOp(attention, { ...good, k: randn([1, 7, 2, 4], new Random(0), { dtype: "f64" }) }, "chunk"), /attention: k must have shape \[1,7,\*,3\].*got \[1,7,2,4\]/);
  throwsWith(() => runOp(attention, { ...good, v: randn([1, 6, 2, 2], new Random(0), { dtype: "f64" }) }, "naive"), /attention: v must have shape \[1,7,2,\*\].*got \[1,6,2,2\]/);
  throwsWith(() => runOp(attention, { ...good, k: randn([1, 7, 3, 3], new Random(0), { dtype: "f64" }), v: randn([1, 7, 3, 2], new Random(0), { dtype: "f64" }) }, "chunk"), /H=4 heads, which is not a multiple of the Hkv=3 heads of k/);
  throwsWith(() => runOp(attention, { ...good, initial_state: randn([1, 3, 2, 4], new Random(0), { dtype: "f64" }) }, "chunk"), /attention: initial_state must have shape \[1,\*,2,5\].*got \[1,3,2,4\]/);
  throwsWith(() => runOp(attention, good, "chunk", { causal: false, window: 4 }), /option 'window' \(4\) needs causal=true/);
  throwsWith(() => runOp(attention, { ...good, initial_state: randn([1, 3, 2, 5], new Random(0), { dtype: "f64" }) }, "naive", { causal: false }), /initial_state \(a KV cache\) needs causal=true/);
  throwsWith(() => runOp(attention, good, "recurrent", { causal: false }), /recurrent form \(KV cache\) needs causal=true/);
  throwsWith(() => runOp(attention, good, "chunk", { window: 0 }), /attention: option 'window'/);
  throwsWith(() => runOp(attention, good, "chunk", { window: 2.5 }), /attention: option 'window'/);
  throwsWith(() => runOp(attention, good, "chunk", { scale: -1 }), /attention: option 'scale'/);
  throwsWith(() => runOp(attention, good, "chunk", { chunkSize: 0 }), /attention: option 'chunkSize'/);
  throwsWith(() => runOp(attention, good, "chunk", { windw: 3 }), /attention: unknown option\(s\) 'windw'/);
  throwsWith(() => runOp(attention, { ...good, q: good.q!.to("f32") }, "chunk"), /all inputs must share one dtype/);
});

// ---- the decoding path: without gradients the step appends into a buffer with spare capacity ----

/** Steps tokens from..to−1 of x from `state` (no gradients: the in-place append path). o per step [B,1,H,V]. */
function decode(state: Tensor, x: Inputs, from: number, to: number, options: Record<string, unknown>): { o: Tensor; state: Tensor } {
  const parsed = attention.options.parse(options);
  const outs: Tensor[] = [];
  for (let t = from; t < to; t++) {
    const at = { q: slice(x.q!, 1, t, t + 1).squeeze(1), k: slice(x.k!, 1, t, t + 1).squeeze(1), v: slice(x.v!, 1, t, t + 1).squeeze(1) };
    const r = attention.recurrent.step(state, at, parsed);
    outs.push(r.o.unsqueeze(1));
    state = r.state;
  }
  return { o: concat(outs, 1), state };
}

test("decoding without gradients (in-place cache append) equals the parallel form across buffer reallocations, with and without a window (f64, 1e-12)", () => {
  const x = attention.example(new Random(40), "f64", { B: 2, T: 70, H: 4, K: 5, V: 3 });
  for (const window of [null, 5]) {
    const options = { window, outputFinalState: true };
    const whole = runOp(attention, x, "chunk", options);
    const r = decode(attention.recurrent.init(x, attention.options.parse(options)), x, 0, 70, options);
    assertClose(`o, window ${window}`, r.o, whole.o, 1e-12);
    assertClose(`final cache, window ${window}`, r.state.contiguous(), whole.finalState!, 1e-12);
  }
});

test("decoding branches stepped from one older state do not overwrite each other", () => {
  const x = attention.example(new Random(41), "f64", { B: 1, T: 14, H: 2, K: 3, V: 2 });
  const y = attention.example(new Random(42), "f64", { B: 1, T: 14, H: 2, K: 3, V: 2 });
  const options = { outputFinalState: true };
  const prefix = decode(attention.recurrent.init(x, attention.options.parse(options)), x, 0, 10, options).state;
  // both branches append right after the same prefix, interleaved
  const a1 = decode(prefix, x, 10, 11, options);
  const b1 = decode(prefix, y, 10, 11, options);
  const a = decode(a1.state, x, 11, 14, options);
  const b = decode(b1.state, y, 11, 14, options);
  const xy: Inputs = {};
  for (const k of ["q", "k", "v"]) xy[k] = concat([slice(x[k]!, 1, 0, 10), slice(y[k]!, 1, 10, 14)], 1);
  const refA = runOp(attention, x, "chunk", options);
  const refB = runOp(attention, xy, "chunk", options);
  assertClose("branch A cache", a.state.contiguous(), refA.finalState!, 1e-12);
  assertClose("branch B cache", b.state.contiguous(), refB.finalState!, 1e-12);
  assertClose("branch A outputs", a.o, slice(refA.o, 1, 11, 14), 1e-12);
  assertClose("branch B outputs", b.o, slice(refB.o, 1, 11, 14), 1e-12);
});
