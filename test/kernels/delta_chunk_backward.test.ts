/**
 * The delta-rule chunk engine's backward kernels (`Kernels.deltaChunkBackwardPrep` / `Middle` / `StateGrad`): the
 * wasm f32 SIMD kernels against the JS routine run in f64 on the same (f32) inputs, entry by entry, on odd shapes —
 * L = 1, 3, 17, 64 with K, V = 1, 5, 16, 64 (widths that are not multiples of 4 take the one-column paths), gated
 * (moderate decays, and strong ones whose D underflows) and not; the head's rows strided inside wider arrays (k, q,
 * v, dbeta as in the op layout, the workspace blocks with spare columns). The bound of each entry is derived in
 * delta_chunk_backward_bounds.ts; each test reports the largest |error| / bound it saw. Also: operands lent by the
 * wasm memory (used in place) give the same bits as staged ones, and f64 calls on the wasm backend are the JS
 * routine bit for bit.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type FloatArray, type Kernels } from "../../src/kernels/index.js";
import type { DeltaChunkBackwardMiddleArgs, StridedRows } from "../../src/kernels/types.js";
import { middleBounds, prepBounds, stateGradBounds, type BoundInputs } from "./delta_chunk_backward_bounds.js";
import { makeRng } from "./rng.js";
import { within } from "./within.js";

const wasm = createWasmKernels({ threads: 1 });

interface Case {
  L: number;
  K: number;
  V: number;
  /** log decay range, or null for the plain rule */
  g: readonly [number, number] | null;
}

const CASES: Case[] = [];
for (const [L, K, V] of [[1, 1, 1], [3, 5, 1], [3, 1, 5], [17, 5, 16], [17, 16, 5], [17, 64, 64], [64, 64, 64], [64, 5, 17], [64, 16, 1]] as const) {
  for (const g of [null, [-0.3, 0], [-8, -3]] as const) CASES.push({ L, K, V, g });
}

/** A matrix operand: its f32 array (rows `stride` apart from `offset`, with junk around them) and shape. */
interface Operand {
  data: Float32Array;
  offset: number;
  stride: number;
  rows: number;
  width: number;
}

function operand(rows: number, width: number, pad: number, fill: () => number): Operand {
  const stride = width + pad;
  const offset = 2 + pad;
  const data = Float32Array.from({ length: offset + rows * stride + 3 }, () => fill());
  return { data, offset, stride, rows, width };
}

/** Dense f64 rows of an operand. */
function dense(o: Operand): Float64Array {
  const out = new Float64Array(o.rows * o.width);
  for (let r = 0; r < o.rows; r++) for (let j = 0; j < o.width; j++) out[r * o.width + j] = o.data[o.offset + r * o.stride + j]!;
  return out;
}

/** The operand's rows in an array of the given kind (f64 copy, f32 copy, or a copy lent by the wasm memory). */
function as(o: Operand, kind: "f64" | "f32" | "lent"): StridedRows {
  let data: FloatArray;
  if (kind === "f64") data = Float64Array.from(o.data);
  else if (kind === "f32") data = Float32Array.from(o.data);
  else {
    const lent = wasm!.lend!(o.data.length);
    assert.ok(lent, "wasm memory lends");
    lent.set(o.data);
    data = lent;
  }
  return { data, offset: o.offset, stride: o.stride };
}

interface Problem {
  c: Case;
  scale: number;
  R: Operand; KK: Operand; k: Operand; q: Operand; v: Operand; y: Operand; dvb: Operand;
  beta: Float64Array; betaOffset: number; gam: Float64Array; e: Float64Array; D: Float64Array | null;
  /** output layouts (contents are junk, overwritten) */
  out: Operand; dkq: Operand; dq: Operand; dk: Operand; dv: Operand; qg: Operand; dbeta: Operand;
  ds: Operand; upd: Operand; s0: Operand;
}

function problem(c: Case, seed: number): Problem {
  const rng = makeRng(seed);
  const { L, K, V } = c;
  const u = (): number => 2 * rng() - 1;
  const H = 3;
  // k, q, v, dbeta as rows of one head in the op layout [T,H,·]; the workspace blocks with a few spare columns
  const head = (width: number): Operand => operand(L, width, (H - 1) * width, u);
  const betaOffset = 5;
  const beta = Float64Array.from({ length: betaOffset + L }, () => rng());
  const gam = new Float64Array(L).fill(1), e = new Float64Array(L).fill(1);
  let D: Float64Array | null = null;
  if (c.g) {
    const [lo, hi] = c.g;
    const bc = new Float64Array(L);
    let acc = 0;
    for (let r = 0; r < L; r++) bc[r] = acc += lo + (hi - lo) * rng();
    D = new Float64Array(L * L);
    for (let r = 0; r < L; r++) {
      gam[r] = Math.exp(bc[r]!);
      e[r] = Math.exp(acc - bc[r]!);
      for (let s = 0; s <= r; s++) D[r * L + s] = Math.exp(bc[r]! - bc[s]!);
    }
  }
  return {
    c, scale: 1 / Math.sqrt(K) + 0.01,
    R: operand(2 * L, K + L, 1, u), KK: operand(2 * L, L, 2, u),
    k: head(K), q: head(K), v: head(V), y: operand(L, K, 0, u), dvb: operand(L, V, 3, u),
    beta, betaOffset, gam, e, D,
    out: operand(L, K + L, 1, u), dkq: operand(L, 2 * L, 0, u), dq: operand(L, K, 2, u),
    dk: operand(L, K, 0, u), dv: operand(L, V, 1, u), qg: operand(L, K, 0, u), dbeta: operand(L, 1, H - 1, u),
    ds: operand(K, V, 1, u), upd: operand(K, V, 0, u), s0: operand(K, V, 2, u),
  };
}

type Kind = "f64" | "f32" | "lent";

interface Results {
  out: StridedRows;
  mid: DeltaChunkBackwardMiddleArgs;
  ds: StridedRows;
  upd: StridedRows;
  s0: StridedRows;
  dot: number;
}

/** Runs the three kernels on `kern` with every matrix operand of `kind`. */
function run(kern: Kernels, p: Problem, kind: Kind): Results {
  const { L, K, V } = p.c;
  const a = (o: Operand): StridedRows => as(o, kind);
  const out = a(p.out), kk = a(p.KK), k = a(p.k);
  kern.deltaChunkBackwardPrep({ L, K, scale: p.scale, k, qk: { data: kk.data, offset: kk.offset + L * kk.stride, stride: kk.stride }, e: p.e, d: p.D, out });
  const mid: DeltaChunkBackwardMiddleArgs = {
    L, K, V, scale: p.scale, r: a(p.R), kk, k, q: a(p.q), v: a(p.v), y: a(p.y), dvb: a(p.dvb),
    beta: p.beta, betaOffset: p.betaOffset, gam: p.gam, e: p.e, d: p.D,
    dkq: a(p.dkq), dq: a(p.dq), dk: a(p.dk), dv: a(p.dv), qg: a(p.qg), dbeta: a(p.dbeta),
    dGam: new Float64Array(L), de: new Float64Array(L), rowM: new Float64Array(L).fill(7), colM: new Float64Array(L).fill(7),
  };
  kern.deltaChunkBackwardMiddle(mid);
  const ds = a(p.ds), upd = a(p.upd), s0 = a(p.s0);
  const gl = p.gam[L - 1]!;
  const dot = kern.deltaChunkStateGrad({ K, V, gated: p.D !== null, gl, ds, upd, s0 });
  return { out, mid, ds, upd, s0, dot };
}

/** Dense f64 rows of a result. */
function rowsOf(x: StridedRows, rows: number, width: number): Float64Array {
  const out = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) out[r * width + j] = x.data[x.offset + r * x.stride + j]!;
  return out;
}

function release(res: Results): void {
  const m = res.mid;
  for (const x of [res.out, res.ds, res.upd, res.s0, m.r, m.kk, m.k, m.q, m.v, m.y, m.dvb, m.dkq, m.dq, m.dk, m.dv, m.qg, m.dbeta]) wasm!.release!(x.data as Float32Array);
}

const label = (c: Case): string => `L=${c.L} K=${c.K} V=${c.V} ${c.g ? `g∈[${c.g}]` : "plain"}`;

test("deltaChunkBackward*: wasm f32 = JS f64 within the derived per-entry bounds (odd L, K, V; strided rows; gated, strong decay, plain)", { skip: !wasm }, () => {
  let worst = 0;
  let seed = 1;
  for (const c of CASES) {
    const p = problem(c, seed++);
    const { L, K, V } = c;
    const got = run(wasm!, p, "f32");
    const ref = run(jsKernels, p, "f64");
    const inputs: BoundInputs = {
      L, K, V, scale: p.scale, gated: p.D !== null, R: dense(p.R), KK: dense(p.KK), k: dense(p.k), q: dense(p.q), v: dense(p.v),
      y: dense(p.y), dvb: dense(p.dvb), beta: p.beta.subarray(p.betaOffset), gam: p.gam, e: p.e, D: p.D ?? new Float64Array(L * L).fill(1),
    };
    const w = (what: string, g: ArrayLike<number>, r: ArrayLike<number>, b: ArrayLike<number>): void => {
      const x = within(`${label(c)} ${what}`, g, r, b);
      if (process.env.DEBUG_BOUNDS && x > 0.3) console.log(label(c), what, x.toFixed(3));
      worst = Math.max(worst, x);
    };
    w("prep out", rowsOf(got.out, L, K + L), rowsOf(ref.out, L, K + L), prepBounds(inputs));
    const mb = middleBounds(inputs);
    const gm = got.mid, rm = ref.mid;
    w("dkq", rowsOf(gm.dkq, L, 2 * L), rowsOf(rm.dkq, L, 2 * L), mb.dkq);
    w("dq", rowsOf(gm.dq, L, K), rowsOf(rm.dq, L, K), mb.dq);
    w("qg", rowsOf(gm.qg, L, K), rowsOf(rm.qg, L, K), mb.qg);
    w("dk", rowsOf(gm.dk, L, K), rowsOf(rm.dk, L, K), mb.dk);
    w("dv", rowsOf(gm.dv, L, V), rowsOf(rm.dv, L, V), mb.dv);
    w("dbeta", rowsOf(gm.dbeta, L, 1), rowsOf(rm.dbeta, L, 1), mb.dbeta);
    w("dGam", gm.dGam, rm.dGam, mb.dGam);
    w("de", gm.de, rm.de, mb.de);
    if (p.D) {
      w("rowM", gm.rowM, rm.rowM, mb.rowM);
      w("colM", gm.colM, rm.colM, mb.colM);
    } else {
      assert.ok(gm.rowM.every((x) => x === 7) && gm.colM.every((x) => x === 7), `${label(c)}: rowM, colM untouched when not gated`);
    }
    const sb = stateGradBounds(K, V, p.D !== null, p.gam[L - 1]!, dense(p.ds), dense(p.upd), dense(p.s0));
    w("ds", rowsOf(got.ds, K, V), rowsOf(ref.ds, K, V), sb.ds);
    w("⟨S₀, dS⟩", [got.dot], [ref.dot], [sb.dot]);
    // nothing outside the rows is written
    for (const [name, o, x] of [["out", p.out, got.out], ["dq", p.dq, gm.dq], ["dv", p.dv, gm.dv], ["dbeta", p.dbeta, gm.dbeta], ["ds", p.ds, got.ds]] as const) {
      for (let i = 0; i < o.data.length; i++) {
        const r = Math.floor((i - o.offset) / o.stride), j = i - o.offset - r * o.stride;
        if (r >= 0 && r < o.rows && j < o.width) continue;
        assert.equal(x.data[i], o.data[i], `${label(c)} ${name}[${i}] outside the rows`);
      }
    }
  }
  console.log(`deltaChunkBackward*: largest |error| / bound ${worst.toFixed(3)}`);
});

test("deltaChunkBackward*: operands in the wasm memory (in place) give the same bits as staged ones", { skip: !wasm?.lend }, () => {
  let seed = 100;
  for (const c of CASES) {
    const p = problem(c, seed++);
    const { L, K, V } = c;
    const staged = run(wasm!, p, "f32");
    const inPlace = run(wasm!, p, "lent");
    const same = (what: string, a: ArrayLike<number>, b: ArrayLike<number>): void => {
      assert.deepEqual(Float64Array.from(a), Float64Array.from(b), `${label(c)} ${what}`);
    };
    same("out", rowsOf(inPlace.out, L, K + L), rowsOf(staged.out, L, K + L));
    for (const [name, w] of [["dkq", 2 * L], ["dq", K], ["dk", K], ["dv", V], ["qg", K], ["dbeta", 1]] as const) {
      same(name, rowsOf(inPlace.mid[name], L, w), rowsOf(staged.mid[name], L, w));
    }
    for (const name of ["dGam", "de", "rowM", "colM"] as const) same(name, inPlace.mid[name], staged.mid[name]);
    same("ds", rowsOf(inPlace.ds, K, V), rowsOf(staged.ds, K, V));
    assert.equal(inPlace.dot, staged.dot, `${label(c)} dot`);
    release(inPlace);
  }
});

test("deltaChunkBackward*: f64 calls on the wasm backend are the JS routine, bit for bit", { skip: !wasm }, () => {
  let seed = 200;
  for (const c of CASES) {
    const p = problem(c, seed++);
    const a = run(wasm!, p, "f64");
    const b = run(jsKernels, p, "f64");
    assert.deepEqual(a.out.data, b.out.data, label(c));
    for (const name of ["dkq", "dq", "dk", "dv", "qg", "dbeta"] as const) assert.deepEqual(a.mid[name].data, b.mid[name].data, `${label(c)} ${name}`);
    for (const name of ["dGam", "de", "rowM", "colM"] as const) assert.deepEqual(a.mid[name], b.mid[name], `${label(c)} ${name}`);
    assert.deepEqual(a.ds.data, b.ds.data, label(c));
    assert.equal(a.dot, b.dot);
  }
});
