/**
 * The WebAssembly code of RMSNorm's row loops (the JS reference is kernels/js/norm.ts), emitted with
 * `encoder.ts`. f32 rows are read four floats at a time and widened to two f64x2 halves; all arithmetic is f64
 * with the JS loops' operation order per element, so a stored result equals the JS backend's unless a row sum
 * (Σx², Σu·x̂), added here in four f64 partial sums instead of one, rounds differently in its last bit — then
 * the f32 result may differ by one rounding. The weight gradient's partial sums stay f64 in memory.
 *
 * rmsForwardRows(x, w, out, inv, rows, width, eps, weighted): rows of `width` f32 at x and out (byte
 * addresses, row after row), w [width] f32, inv [rows] f64.
 * rmsBackwardRows(x, g, w, inv, dx, dw, rows, width, weighted): dw [width] f64, added into (weighted only).
 * Addresses need no alignment; widths that are not multiples of 4 finish with scalar steps.
 */
import { Code, type Local } from "./encoder.js";
import { HIGH_F32_PAIR, JOIN_F32_PAIRS, Vec } from "./vmath_code.js";
import { at, forStep } from "./loops.js";

export const NORM_FUNCTIONS = ["rmsForwardRows", "rmsBackwardRows"] as const;

export interface NormExports {
  rmsForwardRows(x: number, w: number, out: number, inv: number, rows: number, width: number, eps: number, weighted: number): void;
  rmsBackwardRows(x: number, g: number, w: number, inv: number, dx: number, dw: number, rows: number, width: number, weighted: number): void;
}


/** lo, hi ← the f32x4 at address base + off widened to two f64x2. */
function loadWide(c: Code, base: Local, off: Local, tmp: Local, lo: Local, hi: Local): void {
  at(c, base, off).v128Load().tee(tmp).f64x2PromoteLowF32x4().set(lo);
  c.get(tmp).get(tmp).i8x16Shuffle(HIGH_F32_PAIR).f64x2PromoteLowF32x4().set(hi);
}

/** Stores the two f64x2 halves lo, hi, rounded to f32, as one f32x4 at base + off. */
function storeNarrow(c: Code, base: Local, off: Local, lo: Local, hi: Local): void {
  at(c, base, off);
  c.get(lo).f32x4DemoteF64x2Zero().get(hi).f32x4DemoteF64x2Zero().i8x16Shuffle(JOIN_F32_PAIRS);
  c.v128Store();
}

/** The f32 at base + off, widened to f64, pushed. */
const loadScalar = (c: Code, base: Local, off: Local): Code => at(c, base, off).f32Load().f64PromoteF32();

/** Sum of the lanes of two f64x2, pushed as one f64: (a0 + a1) + (b0 + b1). */
function pushLaneSum(c: Code, a: Local, b: Local): void {
  c.get(a).f64x2ExtractLane(0).get(a).f64x2ExtractLane(1).f64Add();
  c.get(b).f64x2ExtractLane(0).get(b).f64x2ExtractLane(1).f64Add();
  c.f64Add();
}


/** for each of `rows` rows: body(), then every row pointer in `advance` moves on by rowBytes. */
function forRows(c: Code, rows: Local, rowBytes: Local, advance: Local[], body: () => void): void {
  const r = c.local("i32");
  c.block(() => {
    c.get(rows).i32(0).i32LeS().brIf(0);
    c.loop(() => {
      body();
      for (const p of advance) c.get(p).get(rowBytes).i32Add().set(p);
      c.get(r).i32(1).i32Add().tee(r).get(rows).i32LtS().brIf(0);
    });
  });
}

function forwardRows(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32", "f64", "i32"]);
  const [x, w, out, inv, rows, width, eps, weighted] = c.params as [Local, Local, Local, Local, Local, Local, Local, Local];
  const t = new Vec(c);
  const v = t.v("v"), lo = t.v("lo"), hi = t.v("hi"), wlo = t.v("wlo"), whi = t.v("whi"), a0 = t.v("a0"), a1 = t.v("a1"), irv = t.v("ir");
  const j = c.local("i32"), vend = c.local("i32"), end = c.local("i32"), rowBytes = c.local("i32"), invAt = c.local("i32");
  const ss = c.local("f64"), ir = c.local("f64"), wf = c.local("f64");
  c.get(width).i32(2).i32Shl().tee(rowBytes).set(end);
  c.get(width).i32(-4).i32And().i32(2).i32Shl().set(vend);
  c.get(inv).set(invAt);
  forRows(c, rows, rowBytes, [x, out], () => {
    // ss = Σ x², in two f64x2 accumulators and then the tail
    c.v128Zero().set(a0);
    c.v128Zero().set(a1);
    forStep(c, j, 0, vend, 16, () => {
      loadWide(c, x, j, v, lo, hi);
      c.get(a0).get(lo).get(lo).f64x2Mul().f64x2Add().set(a0);
      c.get(a1).get(hi).get(hi).f64x2Mul().f64x2Add().set(a1);
    });
    pushLaneSum(c, a0, a1);
    c.set(ss);
    forStep(c, j, j, end, 4, () => {
      loadScalar(c, x, j).tee(wf).get(wf).f64Mul().get(ss).f64Add().set(ss);
    });
    // ir = 1/√(ss/width + eps)
    c.f64(1).get(ss).get(width).f64ConvertI32S().f64Div().get(eps).f64Add().f64Sqrt().f64Div().set(ir);
    c.get(invAt).get(ir).f64Store();
    c.get(invAt).i32(8).i32Add().set(invAt);
    c.get(ir).f64x2Splat().set(irv);
    // out = x·ir (·w)
    c.get(weighted).ifElse(
      () => {
        forStep(c, j, 0, vend, 16, () => {
          loadWide(c, x, j, v, lo, hi);
          loadWide(c, w, j, v, wlo, whi);
          c.get(lo).get(irv).f64x2Mul().get(wlo).f64x2Mul().set(lo);
          c.get(hi).get(irv).f64x2Mul().get(whi).f64x2Mul().set(hi);
          storeNarrow(c, out, j, lo, hi);
        });
        forStep(c, j, j, end, 4, () => {
          c.get(out).get(j).i32Add();
          loadScalar(c, x, j).get(ir).f64Mul();
          loadScalar(c, w, j).f64Mul().f32DemoteF64().f32Store();
        });
      },
      () => {
        forStep(c, j, 0, vend, 16, () => {
          loadWide(c, x, j, v, lo, hi);
          c.get(lo).get(irv).f64x2Mul().set(lo);
          c.get(hi).get(irv).f64x2Mul().set(hi);
          storeNarrow(c, out, j, lo, hi);
        });
        forStep(c, j, j, end, 4, () => {
          c.get(out).get(j).i32Add();
          loadScalar(c, x, j).get(ir).f64Mul().f32DemoteF64().f32Store();
        });
      },
    );
  });
  return c;
}

function backwardRows(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [x, g, w, inv, dx, dw, rows, width, weighted] = c.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const t = new Vec(c);
  const v = t.v("v"), xl = t.v("xl"), xh = t.v("xh"), gl = t.v("gl"), gh = t.v("gh"), wl = t.v("wl"), wh = t.v("wh");
  const a0 = t.v("a0"), a1 = t.v("a1"), irv = t.v("ir"), dotv = t.v("dot");
  const j = c.local("i32"), vend = c.local("i32"), end = c.local("i32"), rowBytes = c.local("i32"), invAt = c.local("i32"), dwAt = c.local("i32");
  const ir = c.local("f64"), dot = c.local("f64"), xs = c.local("f64"), gs = c.local("f64");
  c.get(width).i32(2).i32Shl().tee(rowBytes).set(end);
  c.get(width).i32(-4).i32And().i32(2).i32Shl().set(vend);
  c.get(inv).set(invAt);
  /** x̂ halves (x·ir), g halves, and (weighted) u = g·w halves into gl, gh */
  const loadRow = (withWeight: boolean): void => {
    loadWide(c, x, j, v, xl, xh);
    c.get(xl).get(irv).f64x2Mul().set(xl);
    c.get(xh).get(irv).f64x2Mul().set(xh);
    loadWide(c, g, j, v, gl, gh);
    if (withWeight) loadWide(c, w, j, v, wl, wh);
  };
  forRows(c, rows, rowBytes, [x, g, dx], () => {
    c.get(invAt).f64Load().tee(ir).f64x2Splat().set(irv);
    c.get(invAt).i32(8).i32Add().set(invAt);
    c.v128Zero().set(a0);
    c.v128Zero().set(a1);
    c.get(weighted).ifElse(
      () => {
        // dot = Σ (g·w)·x̂ ; dw += g·x̂
        forStep(c, j, 0, vend, 16, () => {
          loadRow(true);
          c.get(a0).get(gl).get(wl).f64x2Mul().get(xl).f64x2Mul().f64x2Add().set(a0);
          c.get(a1).get(gh).get(wh).f64x2Mul().get(xh).f64x2Mul().f64x2Add().set(a1);
          // f64 element e sits at dw + 8e = dw + 2·(4e)
          c.get(j).i32(1).i32Shl().get(dw).i32Add().set(dwAt);
          c.get(dwAt).get(dwAt).v128Load().get(gl).get(xl).f64x2Mul().f64x2Add().v128Store();
          c.get(dwAt).get(dwAt).v128Load(16).get(gh).get(xh).f64x2Mul().f64x2Add().v128Store(16);
        });
        pushLaneSum(c, a0, a1);
        c.set(dot);
        forStep(c, j, j, end, 4, () => {
          loadScalar(c, x, j).get(ir).f64Mul().set(xs);
          loadScalar(c, g, j).set(gs);
          c.get(gs);
          loadScalar(c, w, j).f64Mul().get(xs).f64Mul().get(dot).f64Add().set(dot);
          c.get(j).i32(1).i32Shl().get(dw).i32Add().set(dwAt);
          c.get(dwAt).get(dwAt).f64Load().get(gs).get(xs).f64Mul().f64Add().f64Store();
        });
        c.get(dot).get(width).f64ConvertI32S().f64Div().tee(dot).f64x2Splat().set(dotv);
        // dx = ir·(g·w − x̂·dot)
        forStep(c, j, 0, vend, 16, () => {
          loadRow(true);
          c.get(irv).get(gl).get(wl).f64x2Mul().get(xl).get(dotv).f64x2Mul().f64x2Sub().f64x2Mul().set(gl);
          c.get(irv).get(gh).get(wh).f64x2Mul().get(xh).get(dotv).f64x2Mul().f64x2Sub().f64x2Mul().set(gh);
          storeNarrow(c, dx, j, gl, gh);
        });
        forStep(c, j, j, end, 4, () => {
          c.get(dx).get(j).i32Add();
          c.get(ir);
          loadScalar(c, g, j);
          loadScalar(c, w, j).f64Mul();
          loadScalar(c, x, j).get(ir).f64Mul().get(dot).f64Mul();
          c.f64Sub().f64Mul().f32DemoteF64().f32Store();
        });
      },
      () => {
        // dot = Σ g·x̂
        forStep(c, j, 0, vend, 16, () => {
          loadRow(false);
          c.get(a0).get(gl).get(xl).f64x2Mul().f64x2Add().set(a0);
          c.get(a1).get(gh).get(xh).f64x2Mul().f64x2Add().set(a1);
        });
        pushLaneSum(c, a0, a1);
        c.set(dot);
        forStep(c, j, j, end, 4, () => {
          loadScalar(c, g, j);
          loadScalar(c, x, j).get(ir).f64Mul().f64Mul().get(dot).f64Add().set(dot);
        });
        c.get(dot).get(width).f64ConvertI32S().f64Div().tee(dot).f64x2Splat().set(dotv);
        // dx = ir·(g − x̂·dot)
        forStep(c, j, 0, vend, 16, () => {
          loadRow(false);
          c.get(irv).get(gl).get(xl).get(dotv).f64x2Mul().f64x2Sub().f64x2Mul().set(gl);
          c.get(irv).get(gh).get(xh).get(dotv).f64x2Mul().f64x2Sub().f64x2Mul().set(gh);
          storeNarrow(c, dx, j, gl, gh);
        });
        forStep(c, j, j, end, 4, () => {
          c.get(dx).get(j).i32Add();
          c.get(ir);
          loadScalar(c, g, j);
          loadScalar(c, x, j).get(ir).f64Mul().get(dot).f64Mul();
          c.f64Sub().f64Mul().f32DemoteF64().f32Store();
        });
      },
    );
  });
  return c;
}

/** The function bodies, in NORM_FUNCTIONS order. */
export function normCodes(): Array<{ name: (typeof NORM_FUNCTIONS)[number]; code: Code }> {
  return [
    { name: "rmsForwardRows", code: forwardRows() },
    { name: "rmsBackwardRows", code: backwardRows() },
  ];
}
