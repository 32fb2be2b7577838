/**
 * The WebAssembly code of the tiled attention's per-tile softmax (ops/attention/chunk.ts; the JS reference is
 * js/softmax_tile.ts), f32, four columns of a row per vector. The driver that stages a tile (or uses it in place)
 * and keeps the row statistics is `softmax_tile.ts`.
 *
 * Layouts (byte addresses, 16-aligned): a tile is [rows][ld] f32 with ld a multiple of 4 (columns cols … ld−1 are
 * padding: written, never read back); `stats` is [rows][4] f32. Row r sees columns [a, e) with
 * a = clamp(lo + r, 0, cols), e = clamp(hi + r, 0, cols); lanes outside are masked (per lane, so a lane's result
 * does not depend on where the vectors fall), and only the quads that meet [a, e) run exp.
 *
 * smTileForward(tile, stats, rows, ld, lo, hi, cols, scale): stats[r] = (m, ·, ·, ·) in,
 *   m' = max(m, max_visible scale·s), P = exp(scale·s − m') masked to 0 into the tile, stats[r] = (m', corr, ΣP, ·)
 *   out with corr = exp(m − m') (0 while m = −∞); a row that sees nothing gets P = 0 and (m, 1, 0).
 * smTileBackward(p, ds, stats, rows, ld, lo, hi, cols, scale): stats[r] = (L, D, ·, ·) in; P = exp(scale·s − L)
 *   masked to 0 into p (which held s), dS = (scale·P)·(dP − D) into ds (which held dP).
 *
 * Accuracy (u = 2⁻²⁴, f32's unit roundoff; every operation one rounding, no fused multiply-add, so every engine
 * gives the same bits; exp ≤ 2 ulp ≤ 4u; X = the largest visible finite |scale·s| of the row):
 * - x = scale·s with scale rounded to f32: |x̂ − x| ≤ 2u|x|. The max pass rounds x the same way, so m' is one of
 *   the x̂ (or the old m) and the largest P is exactly 1: x̂ − m' ≤ 0, nothing overflows; |m̂' − m'| ≤ 2uX.
 * - P = exp(fl(x̂ − m̂')): its argument is off by δ ≤ 2u|x| + 2uX + u|x − m'|, so |P̂ − P| ≤ P·(expm1(δ) + 4u·e^δ)
 *   (+ 2⁻¹⁴⁸ absolute for subnormal results). corr = exp(fl(m − m̂')) likewise with δ ≤ 2uX + u|m − m'|.
 * - ΣP over the row: four f32 lanes of ≤ ⌈cols/4⌉ terms each, the lanes added pairwise: ≤ (⌈cols/4⌉ + 2)·u·ΣP
 *   beyond the P's own errors. The driver keeps m and ℓ in f64 (ℓ' = ℓ·corr + ΣP in f64).
 * - backward: L and D rounded to f32 (u|L|, u|D|); P's argument off by δ ≤ 2u|x| + u|L| + u|x − L|;
 *   dS = fl(fl(scale·P)·fl(dP − D)): |dŜ − dS| ≤ |scale|·(|P̂ − P| + 2uP)·|dP − D| + |scale|·P·u(|D| + |dP − D|)
 *   + u|dS| (to first order; + 2⁻¹⁵⁰ per rounding into the subnormal range).
 * With C = 64 and |x| ≲ 20 that is P and ℓ to ~1e−5 relative.
 * The tests (test/kernels/softmax_tile.test.ts) check these bounds entry by entry against the f64 reference.
 */
import { Code, type Local } from "./encoder.js";
import { Vec, emitExp, reduceLanes } from "./vmath_code.js";
import { forStep } from "./loops.js";

export const SOFTMAX_TILE_FUNCTIONS = ["smTileForward", "smTileBackward"] as const;
export type SoftmaxTileFunction = (typeof SOFTMAX_TILE_FUNCTIONS)[number];

export interface SoftmaxTileExports {
  smTileForward(tile: number, stats: number, rows: number, ld: number, lo: number, hi: number, cols: number, scale: number): void;
  smTileBackward(p: number, ds: number, stats: number, rows: number, ld: number, lo: number, hi: number, cols: number, scale: number): void;
}


/** x = clamp(x, 0, hi) (i32). */
function clamp0(c: Code, x: Local, hi: Local): void {
  c.get(x).i32(0).get(x).i32(0).i32GtS().select().set(x);
  c.get(x).get(hi).get(x).get(hi).i32LtS().select().set(x);
}

/** The per-row set-up both functions share: rowAt, a, e (an empty range becomes [0, 0)), qa, qe (element indices). */
interface Row {
  rowAt: Local;
  a: Local;
  e: Local;
  qa: Local;
  qe: Local;
  /** byte offset of quad q in the row (loop variable) */
  off: Local;
  /** element index of the loop's quad */
  q: Local;
  /** lane masks: column index of each lane, a and e splatted */
  col: Local;
  aV: Local;
  eV: Local;
  mask: Local;
}

function rowLocals(c: Code, t: Vec): Row {
  return {
    rowAt: c.local("i32"), a: c.local("i32"), e: c.local("i32"), qa: c.local("i32"), qe: c.local("i32"),
    off: c.local("i32"), q: c.local("i32"), col: t.v("col"), aV: t.v("aV"), eV: t.v("eV"), mask: t.v("mask"),
  };
}

function rowSetup(c: Code, w: Row, base: Local, r: Local, ld: Local, lo: Local, hi: Local, cols: Local): void {
  c.get(r).get(ld).i32Mul().i32(2).i32Shl().get(base).i32Add().set(w.rowAt);
  c.get(lo).get(r).i32Add().set(w.a);
  clamp0(c, w.a, cols);
  c.get(hi).get(r).i32Add().set(w.e);
  clamp0(c, w.e, cols);
  c.get(w.a).get(w.e).i32GeS().ifElse(() => {
    c.i32(0).set(w.a);
    c.i32(0).set(w.e);
  });
  c.get(w.a).i32(-4).i32And().set(w.qa);
  c.get(w.e).i32(3).i32Add().i32(-4).i32And().set(w.qe);
  c.get(w.a).i32x4Splat().set(w.aV);
  c.get(w.e).i32x4Splat().set(w.eV);
}

/** Loop over the quads [from, to) of the row, with off, and (when masked) col and mask set for the body. */
function quads(c: Code, w: Row, from: Local | number, to: Local, masked: boolean, body: () => void): void {
  forStep(c, w.q, from, to, 4, () => {
    c.get(w.q).i32(2).i32Shl().get(w.rowAt).i32Add().set(w.off);
    if (masked) {
      c.get(w.q).i32x4Splat().i32x4ConstLanes([0, 1, 2, 3]).i32x4Add().set(w.col);
      c.get(w.col).get(w.aV).i32x4GeS().get(w.col).get(w.eV).i32x4LtS().v128And().set(w.mask);
    }
    body();
  });
}


function forward(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32"]);
  const [tile, stats, rows, ld, lo, hi, cols, scale] = c.params as [Local, Local, Local, Local, Local, Local, Local, Local];
  const t = new Vec(c);
  const w = rowLocals(c, t);
  const r = c.local("i32"), st = c.local("i32");
  const mOld = c.local("f32"), mNew = c.local("f32");
  const sV = t.v("scale"), vm = t.v("vmax"), x = t.v("x"), mV = t.v("m"), sum = t.v("sum"), cv = t.v("corr");
  c.get(scale).f32x4Splat().set(sV);
  forStep(c, r, 0, rows, 1, () => {
    rowSetup(c, w, tile, r, ld, lo, hi, cols);
    c.get(r).i32(4).i32Shl().get(stats).i32Add().set(st);
    // the quads no visible column falls in
    quads(c, w, 0, w.qa, false, () => c.get(w.off).v128Zero().v128Store());
    quads(c, w, w.qe, ld, false, () => c.get(w.off).v128Zero().v128Store());
    c.get(w.a).get(w.e).i32LtS().ifElse(
      () => {
        // row maximum of the visible scale·s
        c.f32x4Const(-Infinity).set(vm);
        quads(c, w, w.qa, w.qe, true, () => {
          c.get(vm);
          c.get(w.off).v128Load().get(sV).f32x4Mul();
          c.f32x4Const(-Infinity).get(w.mask).v128Bitselect().f32x4Max().set(vm);
        });
        c.get(st).f32Load(0).set(mOld);
        reduceLanes(c, vm, "max");
        c.get(mOld).f32Max().set(mNew);
        // corr = exp(m − m'), 0 while m = −∞
        c.get(mOld).get(mNew).f32Sub().f32x4Splat().set(cv);
        emitExp(c, t, cv, cv);
        c.get(st).f32(0).get(cv).f32x4ExtractLane(0).get(mOld).f32(-Infinity).f32Eq().select().f32Store(4);
        // P = exp(scale·s − m') on the visible lanes, 0 elsewhere; ΣP in four lanes
        c.get(mNew).f32x4Splat().set(mV);
        c.v128Zero().set(sum);
        quads(c, w, w.qa, w.qe, true, () => {
          c.get(w.off).v128Load().get(sV).f32x4Mul().get(mV).f32x4Sub().set(x);
          emitExp(c, t, x, x);
          c.get(x).get(w.mask).v128And().set(x);
          c.get(w.off).get(x).v128Store();
          c.get(sum).get(x).f32x4Add().set(sum);
        });
        c.get(st).get(mNew).f32Store(0);
        c.get(st);
        reduceLanes(c, sum, "add");
        c.f32Store(8);
      },
      () => {
        c.get(st).f32(1).f32Store(4);
        c.get(st).f32(0).f32Store(8);
      },
    );
  });
  return c;
}

function backward(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32"]);
  const [p, ds, stats, rows, ld, lo, hi, cols, scale] = c.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const t = new Vec(c);
  const w = rowLocals(c, t);
  const r = c.local("i32"), st = c.local("i32"), dOff = c.local("i32"), shift = c.local("i32");
  const sV = t.v("scale"), x = t.v("x"), LV = t.v("L"), DV = t.v("D");
  c.get(scale).f32x4Splat().set(sV);
  c.get(ds).get(p).i32Sub().set(shift); // ds's quad = p's quad + shift
  /** dS = (scale·P)·(dP − D) for the P in x, at the current quad */
  const grad = (): void => {
    c.get(w.off).get(shift).i32Add().set(dOff);
    c.get(dOff);
    c.get(sV).get(x).f32x4Mul();
    c.get(dOff).v128Load().get(DV).f32x4Sub();
    c.f32x4Mul().v128Store();
  };
  forStep(c, r, 0, rows, 1, () => {
    rowSetup(c, w, p, r, ld, lo, hi, cols);
    c.get(r).i32(4).i32Shl().get(stats).i32Add().set(st);
    c.get(st).v128Load32Splat(0).set(LV);
    c.get(st).v128Load32Splat(4).set(DV);
    const zeroQuad = (): void => {
      c.v128Zero().set(x);
      c.get(w.off).get(x).v128Store();
      grad();
    };
    quads(c, w, 0, w.qa, false, zeroQuad);
    quads(c, w, w.qa, w.qe, true, () => {
      c.get(w.off).v128Load().get(sV).f32x4Mul().get(LV).f32x4Sub().set(x);
      emitExp(c, t, x, x);
      c.get(x).get(w.mask).v128And().set(x);
      c.get(w.off).get(x).v128Store();
      grad();
    });
    quads(c, w, w.qe, ld, false, zeroQuad);
  });
  return c;
}

/** The function bodies, in SOFTMAX_TILE_FUNCTIONS order. */
export function softmaxTileCodes(): Array<{ name: SoftmaxTileFunction; code: Code }> {
  return [
    { name: "smTileForward", code: forward() },
    { name: "smTileBackward", code: backward() },
  ];
}
