/**
 * The WebAssembly code of the delta layers' short conv – SiLU – L2 norm branch (math in layers/delta_branch.ts)
 * over one batch row, f32, four channels per vector. The driver that stages a row and adds the partial sums up
 * is `short_conv.ts`.
 *
 * Layouts (byte addresses, 16-aligned; the row's C channels padded to Cp = 4·Cq, row stride 4·Cp bytes):
 * - rows   [T][Cp]     z, a, σ, y, g (the upstream gradient, overwritten with gc), gz
 * - state  [P][Cp]     the W−1 = P inputs before z (zeros when absent); gs, the gradient of the state, alike
 * - taps   [W][Cp]     the conv weight transposed (tap j's channels), and the gw block sums
 * - chan   [Cp]        bias, and the gbias block sums
 * - rinv   [T][heads]  1/√(Σa² + ε) per (row, head), f32
 * x̂ row s (the conv's input, concat(state, z)) is state row s when s < P, else z row s − P. Lanes never interact
 * except in the norm's sums over a head: with `normVec` (normWidth a multiple of 4, so Cp = C) a head is a run of
 * whole vectors, summed lane-wise and then across the lanes; otherwise a head is summed by scalar f32 loads.
 *
 * Accuracy (u = 2⁻²⁴, the unit roundoff of f32; every operation one rounding, no fused multiply-add):
 * - c = bias + Σ_{j<W} w_j·x̂_j summed in tap order, as the JS loop: |c − c_exact| ≤ (W + 1)·u·(|bias| + Σ|w_j·x̂_j|)
 *   (W products and W additions; the JS path rounds once, u·|c|).
 * - σ(c) = 1/(1 + e^(−c)) with exp to ≤ 2 ulp (vmath_code.ts): relative error ≤ ~6u (exp 2 ulp · the factor
 *   e^(−c)/(1 + e^(−c)) ≤ 1, one add, one divide); a = c·σ one more rounding; both also inherit c's error through
 *   σ' ≤ 1/4 and |a'| = |σ(1 + c(1 − σ))| ≤ 1.1.
 * - Σa² per head of width n: ≤ (n/4 + 3)·u·Σa² (lane sums of n/4 terms, then three adds; scalar path n·u), all
 *   terms positive, so r = 1/√(Σa² + ε) is relative-accurate to about half that plus 3u (add, sqrt, divide).
 * - the backward's ⟨a, g⟩ per head ≤ (n/4 + 3)·u·Σ|a·g|, g ← r·(g − a·(⟨a,g⟩·r²)) a few u of its terms; the SiLU
 *   factor σ + a(1 − σ) three roundings of |σ| + |a|(1 − σ); gx̂ = Σ_j gc_{s−j}·w_j ≤ 2W·u·Σ|gc·w|.
 * - gw, gbias: per block of L rows (the driver's ROW_BLOCK = 64) each lane sums ≤ L terms in f32, adding at most
 *   L·u·Σ|terms| (≈ 4e−6 relative to the block's Σ|terms|); the driver then adds each block sum into the row's
 *   f64 partial (next to no error), so a whole gradient entry is off by ≤ L·u·Σ_all|terms| beyond the f32
 *   rounding of its terms (each ~2u of |gc·x̂|, plus gc's own error). The per-entry bounds, with gc's error
 *   carried through, are derived in test/kernels/short_conv_bounds.ts and checked by test/kernels/short_conv.test.ts.
 */
import { L2_EPS } from "../js/short_conv.js";
import { Code, type Local } from "./encoder.js";
import { Vec, emitSigmoid } from "./vmath_code.js";
import { at, forStep, ifFlag } from "./loops.js";

export const SHORT_CONV_FUNCTIONS = ["shortConvForwardRows", "shortConvBackwardRows"] as const;
export type ShortConvFunction = (typeof SHORT_CONV_FUNCTIONS)[number];

/** Flags of both functions (bits of the last argument). */
export const SHORT_CONV_FLAGS = { conv: 1, norm: 2, normVec: 4 } as const;


/** Pushes the byte address of x̂ row s: state + s·rs when s < P, else z + (s − P)·rs. */
function xhatRow(c: Code, s: Local, P: Local, rs: Local, state: Local, z: Local): void {
  c.get(state).get(s).get(rs).i32Mul().i32Add();
  c.get(z).get(s).get(P).i32Sub().get(rs).i32Mul().i32Add();
  c.get(s).get(P).i32LtS().select();
}

/** Pushes Σ of the four f32 lanes of v, ((l0 + l1) + l2) + l3. */
function laneSum(c: Code, v: Local): void {
  c.get(v).f32x4ExtractLane(0).get(v).f32x4ExtractLane(1).f32Add();
  c.get(v).f32x4ExtractLane(2).f32Add().get(v).f32x4ExtractLane(3).f32Add();
}

/**
 * shortConvForwardRows(z, state, wT, bias, a, sig, y, rinv, T, Cq, W, normWidth, heads, flags): per row t,
 * c = bias + Σ_j wT[j]·x̂[t+j] (flag conv; else c = z), σ = σ(c) into sig, a = c·σ, and (flag norm) per head
 * r = 1/√(Σa² + ε) into rinv, y = a·r.
 */
function forwardRows(): Code {
  const c = new Code(new Array(14).fill("i32"));
  const [z, state, wT, bias, a, sig, y, rinv, T, Cq, W, normWidth, heads, flags] = c.params as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const t = new Vec(c);
  const r = c.local("i32"), off = c.local("i32"), j = c.local("i32"), s = c.local("i32"), src = c.local("i32"), wRow = c.local("i32");
  const rs = c.local("i32"), P = c.local("i32"), ro = c.local("i32"), aRow = c.local("i32"), cRow = c.local("i32"), yRow = c.local("i32");
  const h = c.local("i32"), hb = c.local("i32"), h0 = c.local("i32"), h1 = c.local("i32");
  const ss = c.local("f32"), rf = c.local("f32");
  const cv = t.v("c"), sg = t.v("sg"), acc = t.v("acc"), v = t.v("v"), rv = t.v("r");
  c.get(Cq).i32(4).i32Shl().set(rs);
  c.get(W).i32(1).i32Sub().set(P);
  c.get(normWidth).i32(2).i32Shl().set(hb);
  forStep(c, r, () => c.i32(0), T, 1, () => {
    c.get(r).get(rs).i32Mul().set(ro);
    at(c, a, ro).set(aRow);
    ifFlag(c, flags, SHORT_CONV_FLAGS.conv, () => {
      forStep(c, off, () => c.i32(0), rs, 16, () => {
        at(c, aRow, off);
        at(c, bias, off).v128Load().v128Store();
      });
      forStep(c, j, () => c.i32(0), W, 1, () => {
        c.get(r).get(j).i32Add().set(s);
        xhatRow(c, s, P, rs, state, z);
        c.set(src);
        c.get(wT).get(j).get(rs).i32Mul().i32Add().set(wRow);
        forStep(c, off, () => c.i32(0), rs, 16, () => {
          at(c, aRow, off);
          at(c, aRow, off).v128Load();
          at(c, wRow, off).v128Load();
          at(c, src, off).v128Load();
          c.f32x4Mul().f32x4Add().v128Store();
        });
      });
      c.get(aRow).set(cRow);
    }, () => {
      at(c, z, ro).set(cRow);
    });
    // σ and a = c·σ
    forStep(c, off, () => c.i32(0), rs, 16, () => {
      at(c, cRow, off).v128Load().set(cv);
      emitSigmoid(c, t, cv, sg);
      c.get(sig).get(ro).i32Add().get(off).i32Add().get(sg).v128Store();
      at(c, aRow, off).get(cv).get(sg).f32x4Mul().v128Store();
    });
    ifFlag(c, flags, SHORT_CONV_FLAGS.norm, () => {
      at(c, y, ro).set(yRow);
      forStep(c, h, () => c.i32(0), heads, 1, () => {
        c.get(h).get(hb).i32Mul().tee(h0).get(hb).i32Add().set(h1);
        ifFlag(c, flags, SHORT_CONV_FLAGS.normVec, () => {
          c.v128Zero().set(acc);
          forStep(c, off, () => c.get(h0), h1, 16, () => {
            at(c, aRow, off).v128Load().set(v);
            c.get(acc).get(v).get(v).f32x4Mul().f32x4Add().set(acc);
          });
          laneSum(c, acc);
          c.set(ss);
        }, () => {
          c.f32(0).set(ss);
          forStep(c, off, () => c.get(h0), h1, 4, () => {
            c.get(ss);
            at(c, aRow, off).f32Load();
            at(c, aRow, off).f32Load();
            c.f32Mul().f32Add().set(ss);
          });
        });
        // r = 1/√(Σa² + ε), in all four lanes
        c.f32x4Const(1).get(ss).f32x4Splat().f32x4Const(L2_EPS).f32x4Add().f32x4Sqrt().f32x4Div().set(rv);
        c.get(rinv).get(r).get(heads).i32Mul().get(h).i32Add().i32(2).i32Shl().i32Add();
        c.get(rv).f32x4ExtractLane(0).f32Store();
        ifFlag(c, flags, SHORT_CONV_FLAGS.normVec, () => {
          forStep(c, off, () => c.get(h0), h1, 16, () => {
            at(c, yRow, off);
            at(c, aRow, off).v128Load().get(rv).f32x4Mul().v128Store();
          });
        }, () => {
          c.get(rv).f32x4ExtractLane(0).set(rf);
          forStep(c, off, () => c.get(h0), h1, 4, () => {
            at(c, yRow, off);
            at(c, aRow, off).f32Load().get(rf).f32Mul().f32Store();
          });
        });
      });
    });
  });
  return c;
}

/**
 * shortConvBackwardRows(g, a, sig, rinv, z, state, wT, gz, gs, gw, gb, t0, t1, T, Cq, W, normWidth, heads, flags):
 * for rows t0 ≤ t < t1 in order, g row t ← gc (the norm's backward with flag norm, then SiLU's), and with flag
 * conv: gx̂ row t = Σ_{j ≤ min(t, P)} gc[t − j]·wT[j] (into gs row t when t < P, else gz row t − P), gb += gc[t],
 * gw[j] += gc[t]·x̂[t + j]; when t1 = T also the rows s = T … T + P − 1 of gx̂ (taps j ≥ s − T + 1).
 */
function backwardRows(): Code {
  const c = new Code(new Array(19).fill("i32"));
  const [g, a, sig, rinv, z, state, wT, gz, gs, gw, gb, t0, t1, T, Cq, W, normWidth, heads, flags] = c.params as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    Local, Local, Local,
  ];
  const t = new Vec(c);
  const r = c.local("i32"), off = c.local("i32"), j = c.local("i32"), s = c.local("i32"), src = c.local("i32"), wRow = c.local("i32");
  const rs = c.local("i32"), P = c.local("i32"), ro = c.local("i32"), gRow = c.local("i32"), aRow = c.local("i32"), out = c.local("i32");
  const h = c.local("i32"), hb = c.local("i32"), h0 = c.local("i32"), h1 = c.local("i32"), jFirst = c.local("i32"), jEnd = c.local("i32");
  const end = c.local("i32"), gSrc = c.local("i32");
  const dot = c.local("f32"), rf = c.local("f32"), df = c.local("f32");
  const acc = t.v("acc"), rv = t.v("r"), dv = t.v("d"), sg = t.v("sg"), gv = t.v("g");
  c.get(Cq).i32(4).i32Shl().set(rs);
  c.get(W).i32(1).i32Sub().set(P);
  c.get(normWidth).i32(2).i32Shl().set(hb);

  /** gx̂ row s = Σ_{jFirst ≤ j < jEnd} gc[s − j]·wT[j], the first tap stored, the others added, into `out`. */
  const gxRow = (): void => {
    c.get(s).get(P).i32LtS().ifElse(
      () => c.get(gs).get(s).get(rs).i32Mul().i32Add().set(out),
      () => c.get(gz).get(s).get(P).i32Sub().get(rs).i32Mul().i32Add().set(out),
    );
    forStep(c, j, () => c.get(jFirst), jEnd, 1, () => {
      c.get(g).get(s).get(j).i32Sub().get(rs).i32Mul().i32Add().set(gSrc);
      c.get(wT).get(j).get(rs).i32Mul().i32Add().set(wRow);
      c.get(j).get(jFirst).i32Eq().ifElse(() => {
        forStep(c, off, () => c.i32(0), rs, 16, () => {
          at(c, out, off);
          at(c, gSrc, off).v128Load();
          at(c, wRow, off).v128Load();
          c.f32x4Mul().v128Store();
        });
      }, () => {
        forStep(c, off, () => c.i32(0), rs, 16, () => {
          at(c, out, off);
          at(c, out, off).v128Load();
          at(c, gSrc, off).v128Load();
          at(c, wRow, off).v128Load();
          c.f32x4Mul().f32x4Add().v128Store();
        });
      });
    });
  };

  forStep(c, r, () => c.get(t0), t1, 1, () => {
    c.get(r).get(rs).i32Mul().set(ro);
    at(c, g, ro).set(gRow);
    at(c, a, ro).set(aRow);
    // the norm's backward: g ← r·(g − a·(⟨a, g⟩·r²)) per head
    ifFlag(c, flags, SHORT_CONV_FLAGS.norm, () => {
      forStep(c, h, () => c.i32(0), heads, 1, () => {
        c.get(h).get(hb).i32Mul().tee(h0).get(hb).i32Add().set(h1);
        ifFlag(c, flags, SHORT_CONV_FLAGS.normVec, () => {
          c.v128Zero().set(acc);
          forStep(c, off, () => c.get(h0), h1, 16, () => {
            c.get(acc);
            at(c, aRow, off).v128Load();
            at(c, gRow, off).v128Load();
            c.f32x4Mul().f32x4Add().set(acc);
          });
          laneSum(c, acc);
          c.set(dot);
        }, () => {
          c.f32(0).set(dot);
          forStep(c, off, () => c.get(h0), h1, 4, () => {
            c.get(dot);
            at(c, aRow, off).f32Load();
            at(c, gRow, off).f32Load();
            c.f32Mul().f32Add().set(dot);
          });
        });
        c.get(rinv).get(r).get(heads).i32Mul().get(h).i32Add().i32(2).i32Shl().i32Add().f32Load().set(rf);
        c.get(dot).get(rf).get(rf).f32Mul().f32Mul().set(df);
        ifFlag(c, flags, SHORT_CONV_FLAGS.normVec, () => {
          c.get(rf).f32x4Splat().set(rv);
          c.get(df).f32x4Splat().set(dv);
          forStep(c, off, () => c.get(h0), h1, 16, () => {
            at(c, gRow, off);
            c.get(rv);
            at(c, gRow, off).v128Load();
            at(c, aRow, off).v128Load();
            c.get(dv).f32x4Mul().f32x4Sub().f32x4Mul().v128Store();
          });
        }, () => {
          forStep(c, off, () => c.get(h0), h1, 4, () => {
            at(c, gRow, off);
            c.get(rf);
            at(c, gRow, off).f32Load();
            at(c, aRow, off).f32Load();
            c.get(df).f32Mul().f32Sub().f32Mul().f32Store();
          });
        });
      });
    });
    // SiLU's backward: g ← g·(σ + a·(1 − σ))
    forStep(c, off, () => c.i32(0), rs, 16, () => {
      c.get(sig).get(ro).i32Add().get(off).i32Add().v128Load().set(sg);
      at(c, gRow, off);
      at(c, gRow, off).v128Load();
      c.get(sg);
      at(c, aRow, off).v128Load();
      c.f32x4Const(1).get(sg).f32x4Sub().f32x4Mul().f32x4Add().f32x4Mul().v128Store();
    });
    ifFlag(c, flags, SHORT_CONV_FLAGS.conv, () => {
      // gx̂ row r from gc rows r − j, j ≤ min(r, P)
      c.get(r).set(s);
      c.i32(0).set(jFirst);
      c.get(r).get(P).get(r).get(P).i32LtS().select().i32(1).i32Add().set(jEnd);
      gxRow();
      // gb += gc[r]; gw[j] += gc[r]·x̂[r + j]
      forStep(c, off, () => c.i32(0), rs, 16, () => {
        at(c, gb, off);
        at(c, gb, off).v128Load();
        at(c, gRow, off).v128Load();
        c.f32x4Add().v128Store();
      });
      forStep(c, j, () => c.i32(0), W, 1, () => {
        c.get(r).get(j).i32Add().set(s);
        xhatRow(c, s, P, rs, state, z);
        c.set(src);
        c.get(gw).get(j).get(rs).i32Mul().i32Add().set(wRow);
        forStep(c, off, () => c.i32(0), rs, 16, () => {
          at(c, gRow, off).v128Load().set(gv);
          at(c, wRow, off);
          at(c, wRow, off).v128Load();
          c.get(gv);
          at(c, src, off).v128Load();
          c.f32x4Mul().f32x4Add().v128Store();
        });
      });
    });
  });
  // the last P rows of gx̂, from the ends of gc (only in the call that reaches t = T)
  ifFlag(c, flags, SHORT_CONV_FLAGS.conv, () => {
    c.get(t1).get(T).i32Eq().ifElse(() => {
      c.get(T).get(P).i32Add().set(end);
      forStep(c, s, () => c.get(T), end, 1, () => {
        c.get(s).get(T).i32Sub().i32(1).i32Add().set(jFirst);
        c.get(s).get(P).get(s).get(P).i32LtS().select().i32(1).i32Add().set(jEnd);
        gxRow();
      });
    });
  });
  return c;
}

/** The function bodies, in SHORT_CONV_FUNCTIONS order. */
export function shortConvCodes(): Array<{ name: ShortConvFunction; code: Code }> {
  return [
    { name: "shortConvForwardRows", code: forwardRows() },
    { name: "shortConvBackwardRows", code: backwardRows() },
  ];
}

/** The exported functions as the driver calls them (byte addresses, then counts and flags). */
export type ShortConvExports = Record<ShortConvFunction, (...args: number[]) => void>;
