/**
 * The WebAssembly code of the vector-gate decay's per-chunk elementwise work (`Kernels.gateChunkPrepare` and
 * `gateChunkBackward`; the factors are defined in ops/decay_chunk/vector_gate.ts, the JS reference is
 * js/gate_chunk.ts): one head's chunk per call, f32, four channels per vector. Every channel-wise step runs
 * per channel quad with its running products in registers; only the diagonal blocks of A sum over channels
 * (all quads, then the four lanes). The driver that stages the chunk in and out is `gate_chunk.ts`.
 *
 * Layouts (byte addresses; rows of Kq channel quads, the K channels padded with zeros to 4·Kq — a padded
 * channel has g = 0, a = 1 and q = k = 0, so it adds nothing):
 * - op rows [L] × (own stride)  q, k, g, dq, dk, dg: staged (stride 16·Kq) or in place in the op layout
 * - rows    [L][4·Kq]          a, u, w, Qu, Kw, Qg, Ke; tq, tk, xq
 * - blocks  [nb][4·Kq]         G, Ê, a_{st_i}, D_i
 * - pairs   [i·nbMax + j][4·Kq] M_ij
 * - Kt, xk  [Σ_{i<nb} i·sub][4·Kq]  block i's rows from row sub·i(i−1)/2 on
 * - A, dA   [L][L]
 *
 * Accuracy (ε = 2⁻²⁴, one f32 rounding; no fused multiply-add, so every engine gives the same bits). exp is
 * within 2 ulp ≤ 4ε relative (vmath_code.ts), so a factor a_j carries ≤ 4ε + 1 rounding of its own. Every
 * decay is a product of factors a_j formed as running products in f32 — one rounding per product, one more per
 * sub-block boundary crossed (the products of the D_l) — so a decay across n rows (E_rs: n = r − s; Γ_r:
 * n = r + 1; e_s: n = L − 1 − s), including the few roundings of the stored factors it is assembled from
 * (u·M·w, u·G, w·Ê), is within (5n + nb + 4)·ε relative, plus an absolute (5n + nb + 4)·2⁻¹⁵⁰ where it passes
 * through the subnormal range. At C = 64: ≤ 327ε ≈ 2e−5 relative for the longest decay (the JS path forms the
 * products in f64 and rounds once: ~(sub + C/sub + 3)·ε). τ is rounded to f32 (one ε). Sums over channels
 * (A's diagonal blocks) are per lane, then the lanes in a pairwise tree: Kq + 1 roundings per term; the gradients' sums over the block's rows are sequential in f32 (≤ sub terms each, and ≤ nb terms
 * across blocks); the dg sums over the chunk's rows are f32 (≤ L terms), added to the later chunks' sum (kept
 * in f64 by the driver, rounded to f32 here: one more ε of it). The per-entry bounds are derived in
 * test/kernels/gate_chunk_bounds.ts.
 */
import { Code, type Local } from "./encoder.js";
import { Vec, emitExp, reduceLanes } from "./vmath_code.js";
import { at, forDown, forRange } from "./loops.js";

export const GATE_CHUNK_FUNCTIONS = ["gateChunkPrepare", "gateChunkBackward"] as const;
export type GateChunkFunction = (typeof GATE_CHUNK_FUNCTIONS)[number];

/** Pushes the vector at base + off. */
const load = (c: Code, base: Local, off: Local): Code => at(c, base, off).v128Load();
/** Stores the vector `value` pushes at base + off. */
function store(c: Code, base: Local, off: Local, value: () => void): void {
  at(c, base, off);
  value();
  c.v128Store();
}

/** Local `out` = min(a + b, lim) (a, b, lim locals). */
function minEnd(c: Code, out: Local, a: Local, b: Local, lim: Local): void {
  c.get(a).get(b).i32Add().set(out);
  c.get(out).get(lim).get(out).get(lim).i32LtS().select().set(out);
}

/**
 * gateChunkPrepare(q, qS, k, kS, g, gS, a, u, w, Qu, Kw, Qg, Ke, G, Eh, aSt, D, gl, M, Kt, A, xs, L, Kq, sub, nb,
 * nbMax, τ): the factors and rows of js/gate_chunk.ts `prepare` (gl: Γ_{L−1}, one row), then A = zeros with the
 * diagonal blocks (xs: one row of scratch). The rows of q, k, g are qS, kS, gS bytes apart (staged, or the op
 * layout in place), all other rows 16·Kq.
 */
function prepareCode(): Code {
  const c = new Code([...new Array<"i32">(27).fill("i32"), "f32"]);
  const [q, qS, k, kS, g, gS, a, u, w, Qu, Kw, Qg, Ke, G, Eh, aSt, D, gl, M, Kt, A, xs, L, Kq, sub, nb, nbMax, scale] = c.params as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const t = new Vec(c);
  const rowB = c.local("i32"), qd = c.local("i32"), qo = c.local("i32"), i = c.local("i32"), j = c.local("i32");
  const r = c.local("i32"), s = c.local("i32"), st = c.local("i32"), en = c.local("i32"), ro = c.local("i32");
  const rq = c.local("i32"), rk = c.local("i32"), rg = c.local("i32");
  const bo = c.local("i32"), ko = c.local("i32"), zero = c.local("i32"), last = c.local("i32");
  const sc = t.v("scale"), x = t.v("x"), run = t.v("run"), pu = t.v("pu"), pw = t.v("pw"), gi = t.v("gi"), ast = t.v("ast");
  const dv = t.v("dv"), qu = t.v("qu"), acc = t.v("acc");
  c.get(scale).f32x4Splat().set(sc);
  c.get(Kq).i32(4).i32Shl().set(rowB);
  c.get(nb).i32(1).i32Sub().set(last);
  forRange(c, qd, () => c.i32(0), Kq, () => {
    c.get(qd).i32(4).i32Shl().set(qo);
    c.f32x4Const(1).set(run); // Π_{l<i} D_l
    forRange(c, i, () => c.i32(0), nb, () => {
      c.get(i).get(sub).i32Mul().set(st);
      minEnd(c, en, st, sub, L);
      c.get(i).get(rowB).i32Mul().get(qo).i32Add().set(bo);
      // first row: a, u = 1, G_i
      c.get(st).get(rowB).i32Mul().get(qo).i32Add().set(ro);
      c.get(st).get(gS).i32Mul().get(qo).i32Add().set(rg);
      load(c, g, rg).set(x);
      emitExp(c, t, x, x);
      store(c, a, ro, () => c.get(x));
      store(c, aSt, bo, () => c.get(x));
      c.get(x).set(ast);
      c.get(run).get(x).f32x4Mul().set(gi);
      store(c, G, bo, () => c.get(gi));
      c.f32x4Const(1).set(pu);
      store(c, u, ro, () => c.get(pu));
      // later rows: a_r = exp(g_r), u_r = u_{r−1} a_r
      forRange(c, r, () => c.get(st).i32(1).i32Add(), en, () => {
        c.get(r).get(rowB).i32Mul().get(qo).i32Add().set(ro);
        c.get(r).get(gS).i32Mul().get(qo).i32Add().set(rg);
        load(c, g, rg).set(x);
        emitExp(c, t, x, x);
        store(c, a, ro, () => c.get(x));
        c.get(pu).get(x).f32x4Mul().set(pu);
        store(c, u, ro, () => c.get(pu));
      });
      // D_i = a_st u_en; carry Π D
      c.get(ast).get(pu).f32x4Mul().set(dv);
      store(c, D, bo, () => c.get(dv));
      c.get(run).get(dv).f32x4Mul().set(run);
      // back through the block: w_r = w_{r+1} a_{r+1}; Qu, Kw, Qg
      c.f32x4Const(1).set(pw);
      c.get(en).i32(1).i32Sub().set(en);
      forDown(c, r, () => c.get(en), st, () => {
        c.get(r).get(rowB).i32Mul().get(qo).i32Add().set(ro);
        c.get(r).get(kS).i32Mul().get(qo).i32Add().set(rk);
        c.get(r).get(qS).i32Mul().get(qo).i32Add().set(rq);
        store(c, w, ro, () => c.get(pw));
        store(c, Kw, ro, () => load(c, k, rk).get(pw).f32x4Mul());
        c.get(sc);
        load(c, q, rq).f32x4Mul();
        load(c, u, ro).f32x4Mul().set(qu);
        store(c, Qu, ro, () => c.get(qu));
        store(c, Qg, ro, () => c.get(qu).get(gi).f32x4Mul());
        c.get(pw);
        load(c, a, ro).f32x4Mul().set(pw);
      });
    });
    store(c, gl, qo, () => c.get(run));
    // Ê_j = Π_{l>j} D_l (suffix products), Ke = Kw ⊙ Ê
    c.f32x4Const(1).set(pw);
    forDown(c, j, () => c.get(last), zero, () => {
      c.get(j).get(rowB).i32Mul().get(qo).i32Add().set(bo);
      store(c, Eh, bo, () => c.get(pw));
      c.get(pw).set(x);
      c.get(pw);
      load(c, D, bo).f32x4Mul().set(pw);
      c.get(j).get(sub).i32Mul().set(st);
      minEnd(c, en, st, sub, L);
      forRange(c, r, () => c.get(st), en, () => {
        c.get(r).get(rowB).i32Mul().get(qo).i32Add().set(ro);
        store(c, Ke, ro, () => load(c, Kw, ro).get(x).f32x4Mul());
      });
    });
    // M_ij = a_{st_i} ⊙ Π_{j<l<i} D_l, and K̃ of query block i: Kw_s ⊙ M_ij for s in block j < i
    c.i32(0).set(ko);
    forRange(c, i, () => c.i32(1), nb, () => {
      c.get(i).get(rowB).i32Mul().get(qo).i32Add().set(bo);
      load(c, aSt, bo).set(pu);
      forDown(c, j, () => c.get(i).i32(1).i32Sub(), zero, () => {
        c.get(i).get(nbMax).i32Mul().get(j).i32Add().get(rowB).i32Mul().get(qo).i32Add().set(bo);
        store(c, M, bo, () => c.get(pu));
        c.get(pu).set(x);
        c.get(pu);
        c.get(j).get(rowB).i32Mul().get(qo).i32Add().set(bo);
        load(c, D, bo).f32x4Mul().set(pu);
        c.get(j).get(sub).i32Mul().set(st);
        c.get(st).get(sub).i32Add().set(en);
        forRange(c, s, () => c.get(st), en, () => {
          c.get(s).get(rowB).i32Mul().get(qo).i32Add().set(ro);
          c.get(Kt).get(ko).get(s).i32Add().get(rowB).i32Mul().i32Add().get(qo).i32Add();
          load(c, Kw, ro).get(x).f32x4Mul().v128Store();
        });
      });
      c.get(ko).get(i).get(sub).i32Mul().i32Add().set(ko);
    });
  });
  // A: zeros, then the diagonal blocks, x = τ k_s ⊙ Π_{s<j≤r} a_j running per row s, A[r,s] = q_r · x
  c.get(A).i32(0).get(L).get(L).i32Mul().i32(2).i32Shl().memoryFill();
  const qs = c.local("i32"), ks = c.local("i32"), rr = c.local("i32");
  const rowEnd = c.local("i32");
  c.get(rowB).set(rowEnd);
  forRange(c, i, () => c.i32(0), nb, () => {
    c.get(i).get(sub).i32Mul().set(st);
    minEnd(c, en, st, sub, L);
    forRange(c, s, () => c.get(st), en, () => {
      c.get(s).get(kS).i32Mul().set(ks);
      c.get(s).get(qS).i32Mul().set(qs);
      c.v128Zero().set(acc);
      forRange(c, qo, () => c.i32(0), rowEnd, () => {
        c.get(sc);
        c.get(k).get(ks).i32Add().get(qo).i32Add().v128Load();
        c.f32x4Mul().set(x);
        store(c, xs, qo, () => c.get(x));
        c.get(acc);
        c.get(q).get(qs).i32Add().get(qo).i32Add().v128Load();
        c.get(x).f32x4Mul().f32x4Add().set(acc);
        c.get(qo).i32(15).i32Add().set(qo); // step 16 (the loop adds 1)
      });
      c.get(A).get(s).get(L).i32Mul().get(s).i32Add().i32(2).i32Shl().i32Add();
      reduceLanes(c, acc, "add");
      c.f32Store();
      forRange(c, r, () => c.get(s).i32(1).i32Add(), en, () => {
        c.get(r).get(rowB).i32Mul().set(rr);
        c.get(r).get(qS).i32Mul().set(rq);
        c.v128Zero().set(acc);
        forRange(c, qo, () => c.i32(0), rowEnd, () => {
          load(c, xs, qo);
          c.get(a).get(rr).i32Add().get(qo).i32Add().v128Load();
          c.f32x4Mul().set(x);
          store(c, xs, qo, () => c.get(x));
          c.get(acc);
          c.get(q).get(rq).i32Add().get(qo).i32Add().v128Load();
          c.get(x).f32x4Mul().f32x4Add().set(acc);
          c.get(qo).i32(15).i32Add().set(qo);
        });
        c.get(A).get(r).get(L).i32Mul().get(s).i32Add().i32(2).i32Shl().i32Add();
        reduceLanes(c, acc, "add");
        c.f32Store();
      });
    });
  });
  return c;
}

/**
 * gateChunkBackward(q, qS, k, kS, dq, dqS, dk, dkS, dg, dgS, run, tot, a, u, w, G, Eh, M, dA, tq, tk, xq, xk, L, Kq, sub,
 * nb, nbMax, τ): per
 * channel quad, writes
 *   dq_r = (τ u_r) ⊙ (G_i ⊙ tq_r + xq_r)      (no xq in block 0)
 *   dk_s = w_s ⊙ (Ê_j ⊙ tk_s + Σ_{i>j} M_ij ⊙ xk_{i,s})
 * adds the diagonal blocks' terms (x running over r from s: dq_r += τ dA[r,s] x ⊙ k_s, dk_s += τ dA[r,s] x ⊙ q_r),
 * then dg_r = run + Σ_{t≥r} q_t ⊙ dq_t − k_t ⊙ dk_t over the chunk's rows, and tot = the whole sum (run and tot:
 * one row). The rows of q, k, dq, dk, dg are qS, kS, dqS, dkS, dgS bytes apart, all other rows 16·Kq.
 */
function backwardCode(): Code {
  const c = new Code([...new Array<"i32">(28).fill("i32"), "f32"]);
  const [q, qS, k, kS, dq, dqS, dk, dkS, dg, dgS, run, tot, a, u, w, G, Eh, M, dA, tq, tk, xq, xk, L, Kq, sub, nb, nbMax, scale] = c.params as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const t = new Vec(c);
  const rowB = c.local("i32"), qd = c.local("i32"), qo = c.local("i32"), i = c.local("i32"), j = c.local("i32");
  const r = c.local("i32"), s = c.local("i32"), st = c.local("i32"), en = c.local("i32"), ro = c.local("i32"), so = c.local("i32");
  const rq = c.local("i32"), rk = c.local("i32"), rdq = c.local("i32"), rdk = c.local("i32"), rdg = c.local("i32");
  const sq = c.local("i32"), sk = c.local("i32"), sdq = c.local("i32"), sdk = c.local("i32");
  const bo = c.local("i32"), kb = c.local("i32"), kr = c.local("i32"), zero = c.local("i32"), lastRow = c.local("i32");
  const sc = t.v("scale"), gi = t.v("gi"), acc = t.v("acc"), x = t.v("x"), cx = t.v("cx"), ksv = t.v("ks"), dks = t.v("dks");
  /** Each out ← the offset of row `row`'s quad in rows `stride` bytes apart (pairs [stride, out]). */
  const rowAt = (row: Local, ...pairs: Array<[Local, Local]>): void => {
    for (const [stride, out] of pairs) c.get(row).get(stride).i32Mul().get(qo).i32Add().set(out);
  };
  c.get(scale).f32x4Splat().set(sc);
  c.get(Kq).i32(4).i32Shl().set(rowB);
  c.get(L).i32(1).i32Sub().set(lastRow);
  forRange(c, qd, () => c.i32(0), Kq, () => {
    c.get(qd).i32(4).i32Shl().set(qo);
    // dq: the inter-chunk and pivoted terms
    forRange(c, i, () => c.i32(0), nb, () => {
      c.get(i).get(sub).i32Mul().set(st);
      minEnd(c, en, st, sub, L);
      c.get(i).get(rowB).i32Mul().get(qo).i32Add().set(bo);
      load(c, G, bo).set(gi);
      forRange(c, r, () => c.get(st), en, () => {
        rowAt(r, [rowB, ro], [dqS, rdq]);
        load(c, tq, ro).get(gi).f32x4Mul().set(acc);
        c.get(i).ifElse(() => {
          c.get(acc);
          load(c, xq, ro).f32x4Add().set(acc);
        });
        store(c, dq, rdq, () => {
          c.get(sc);
          load(c, u, ro).f32x4Mul().get(acc).f32x4Mul();
        });
      });
    });
    // dk: the inter-chunk and pivoted terms; kb = first row of block j+1's xk
    c.i32(0).set(kb);
    forRange(c, j, () => c.i32(0), nb, () => {
      c.get(j).get(sub).i32Mul().set(st);
      minEnd(c, en, st, sub, L);
      c.get(j).get(rowB).i32Mul().get(qo).i32Add().set(bo);
      load(c, Eh, bo).set(gi);
      forRange(c, s, () => c.get(st), en, () => {
        rowAt(s, [rowB, so], [dkS, sdk]);
        load(c, tk, so).get(gi).f32x4Mul().set(acc);
        c.get(kb).set(kr);
        forRange(c, i, () => c.get(j).i32(1).i32Add(), nb, () => {
          c.get(acc);
          c.get(M).get(i).get(nbMax).i32Mul().get(j).i32Add().get(rowB).i32Mul().i32Add().get(qo).i32Add().v128Load();
          c.get(xk).get(kr).get(s).i32Add().get(rowB).i32Mul().i32Add().get(qo).i32Add().v128Load();
          c.f32x4Mul().f32x4Add().set(acc);
          c.get(kr).get(i).get(sub).i32Mul().i32Add().set(kr);
        });
        store(c, dk, sdk, () => {
          load(c, w, so).get(acc).f32x4Mul();
        });
      });
      c.get(kb).get(j).i32(1).i32Add().get(sub).i32Mul().i32Add().set(kb);
    });
    // diagonal blocks
    forRange(c, i, () => c.i32(0), nb, () => {
      c.get(i).get(sub).i32Mul().set(st);
      minEnd(c, en, st, sub, L);
      forRange(c, s, () => c.get(st), en, () => {
        rowAt(s, [kS, sk], [dqS, sdq], [qS, sq], [dkS, sdk]);
        load(c, k, sk).set(ksv);
        // r = s: x = 1
        c.get(dA).get(s).get(L).i32Mul().get(s).i32Add().i32(2).i32Shl().i32Add().v128Load32Splat();
        c.get(sc).f32x4Mul().set(cx);
        store(c, dq, sdq, () => {
          load(c, dq, sdq).get(cx).get(ksv).f32x4Mul().f32x4Add();
        });
        c.get(cx);
        load(c, q, sq).f32x4Mul().set(dks);
        c.f32x4Const(1).set(x);
        forRange(c, r, () => c.get(s).i32(1).i32Add(), en, () => {
          rowAt(r, [rowB, ro], [dqS, rdq], [qS, rq]);
          c.get(x);
          load(c, a, ro).f32x4Mul().set(x);
          c.get(dA).get(r).get(L).i32Mul().get(s).i32Add().i32(2).i32Shl().i32Add().v128Load32Splat();
          c.get(sc).f32x4Mul().get(x).f32x4Mul().set(cx);
          store(c, dq, rdq, () => {
            load(c, dq, rdq).get(cx).get(ksv).f32x4Mul().f32x4Add();
          });
          c.get(dks).get(cx);
          load(c, q, rq).f32x4Mul().f32x4Add().set(dks);
        });
        store(c, dk, sdk, () => {
          load(c, dk, sdk).get(dks).f32x4Add();
        });
      });
    });
    // dg: the later chunks' sum plus the chunk's suffix sums of q ⊙ dq − k ⊙ dk; tot = the chunk's whole sum
    c.v128Zero().set(acc);
    load(c, run, qo).set(gi);
    forDown(c, r, () => c.get(lastRow), zero, () => {
      rowAt(r, [qS, rq], [dqS, rdq], [kS, rk], [dkS, rdk], [dgS, rdg]);
      c.get(acc);
      load(c, q, rq);
      load(c, dq, rdq).f32x4Mul();
      load(c, k, rk);
      load(c, dk, rdk).f32x4Mul();
      c.f32x4Sub().f32x4Add().set(acc);
      store(c, dg, rdg, () => c.get(gi).get(acc).f32x4Add());
    });
    store(c, tot, qo, () => c.get(acc));
  });
  return c;
}

/** The function bodies, in GATE_CHUNK_FUNCTIONS order. */
export function gateChunkCodes(): Array<{ name: GateChunkFunction; code: Code }> {
  return [
    { name: "gateChunkPrepare", code: prepareCode() },
    { name: "gateChunkBackward", code: backwardCode() },
  ];
}

/** The exported functions as the driver calls them (byte addresses, then counts, then τ). */
export type GateChunkExports = Record<GateChunkFunction, (...args: number[]) => void>;
