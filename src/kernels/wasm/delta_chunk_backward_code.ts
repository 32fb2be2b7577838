/**
 * The WebAssembly code of the delta-rule chunk engine's backward elementwise work (`Kernels.deltaChunkBackwardPrep`,
 * `deltaChunkBackwardMiddle`, `deltaChunkStateGrad`; the math is in ops/delta_common/engine.ts, the JS reference is
 * js/delta_chunk_backward.ts): one chunk per call, f32, four columns per vector (the last width mod 4 columns one
 * at a time), mul and add (no fused multiply-add, so every engine gives the same bits). The driver that places the
 * operands is `delta_chunk_backward.ts`.
 *
 * Layouts: every matrix operand is a byte address and a row stride in bytes (rows in place in the caller's arrays or
 * staged); the per-row factors β, Γ, e are f32 rows of L (the driver rounds the f64 ones once), D is f32 L×L dense;
 * dGam, de, rowM, colM are f32 rows of L. Transposed entries (d(QKᵀ)ᵀ, the upper half of d(KKᵀ) + d(KKᵀ)ᵀ) are
 * stored one lane at a time.
 *
 * Accuracy (ε = 2⁻²⁴, one f32 rounding, relative to the JS routine computing in f64 on the same inputs): every
 * stored product of n factors carries one rounding per factor rounded to f32 (τ, β, Γ, e, D) and one per product
 * (elementwise entries: 2–5 ε relative). Sums (the row dots over K or V, Σ_c over the lower triangle) run in four
 * f32 lanes, then the lanes (two levels) and the leftover columns one by one: a term passes ≤ ⌈n/4⌉ + 5 additions,
 * so such a sum is within (its factors' roundings + ⌈n/4⌉ + 5)·ε of Σ|terms|; colM sums its ≤ 2L terms in sequence.
 * ⟨S₀, dS⟩ is summed in f64 from exact f64 products (≤ (KV/4 + 4)·2⁻⁵³ Σ|terms|). Subnormal results add an absolute
 * 2⁻¹⁴⁹ per rounding. The per-entry bounds are derived in test/kernels/delta_chunk_backward_bounds.ts.
 */
import { Code, type Local } from "./encoder.js";
import { Vec, reduceLanes } from "./vmath_code.js";
import { at, forRange, forStep } from "./loops.js";

export const DELTA_CHUNK_BACKWARD_FUNCTIONS = ["deltaChunkBackwardPrep", "deltaChunkBackwardMiddle", "deltaChunkStateGrad"] as const;
export type DeltaChunkBackwardFunction = (typeof DELTA_CHUNK_BACKWARD_FUNCTIONS)[number];


/**
 * For the byte offsets jb of a row of n columns (nb4 = 16·⌊n/4⌋ and nb = 4·n bytes, locals): quad(jb) for each
 * whole quad, then one(jb) for each leftover column.
 */
function columns(c: Code, jb: Local, nb4: Local, nb: Local, quad: () => void, one: () => void): void {
  forStep(c, jb, 0, nb4, 16, quad);
  forStep(c, jb, nb4, nb, 4, one);
}

/** Sets nb4 = 16·⌊n/4⌋ and nb = 4·n bytes from the column count pushed by `n`. */
function widths(c: Code, n: () => void, nb4: Local, nb: Local): void {
  n();
  c.i32(2).i32Shl().tee(nb).i32(-16).i32And().set(nb4);
}


/** Stores the four lanes of vector x at ta, ta + step, ta + 2·step, ta + 3·step (byte addresses; ta advances). */
function scatter(c: Code, x: Local, ta: Local, step: Local): void {
  for (let l = 0; l < 4; l++) {
    c.get(ta).get(x).f32x4ExtractLane(l).f32Store();
    c.get(ta).get(step).i32Add().set(ta);
  }
}

/**
 * deltaChunkBackwardPrep(k, kS, qk, qkS, e, d, out, oS, L, K, gated, τ): out = [Diag(e) K | Pᵀ], Pᵀ[r,c] =
 * (τ QK[c,r]) D[c,r] for c ≥ r, 0 for c < r (ungated: out = [K | τ QKᵀ] on the upper triangle).
 */
function prepCode(): Code {
  const c = new Code([...new Array<"i32">(11).fill("i32"), "f32"]);
  const [k, kS, qk, qkS, e, d, out, oS, L, K, gated, scale] = c.params as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const t = new Vec(c);
  const r = c.local("i32"), cc = c.local("i32"), jb = c.local("i32"), nb4 = c.local("i32"), nb = c.local("i32");
  const row = c.local("i32"), src = c.local("i32"), rb = c.local("i32"), Lb = c.local("i32");
  const er = t.v("er");
  widths(c, () => c.get(K), nb4, nb);
  c.get(L).i32(2).i32Shl().set(Lb);
  forRange(c, r, 0, L, () => {
    c.get(r).i32(2).i32Shl().set(rb);
    c.get(r).get(oS).i32Mul().get(out).i32Add().set(row);
    c.get(r).get(kS).i32Mul().get(k).i32Add().set(src);
    c.get(gated).ifElse(() => {
      at(c, e, rb).v128Load32Splat().set(er);
      columns(c, jb, nb4, nb, () => {
        at(c, row, jb);
        at(c, src, jb).v128Load().get(er).f32x4Mul();
        c.v128Store();
      }, () => {
        at(c, row, jb);
        at(c, src, jb).f32Load().get(er).f32x4ExtractLane(0).f32Mul();
        c.f32Store();
      });
    }, () => {
      columns(c, jb, nb4, nb, () => {
        at(c, row, jb);
        at(c, src, jb).v128Load().v128Store();
      }, () => {
        at(c, row, jb);
        at(c, src, jb).f32Load().f32Store();
      });
    });
    c.get(row).get(nb).i32Add().set(row); // the Pᵀ part
    c.get(row).i32(0).get(rb).memoryFill();
    // Pᵀ[r,c] = τ QK[c,r] (D[c,r]) for c ≥ r: QK's column r, one entry at a time
    c.get(gated).ifElse(() => {
      forRange(c, cc, () => c.get(r), L, () => {
        c.get(row).get(cc).i32(2).i32Shl().i32Add();
        c.get(scale);
        c.get(cc).get(qkS).i32Mul().get(qk).i32Add().get(rb).i32Add().f32Load().f32Mul();
        c.get(cc).get(Lb).i32Mul().get(d).i32Add().get(rb).i32Add().f32Load().f32Mul();
        c.f32Store();
      });
    }, () => {
      forRange(c, cc, () => c.get(r), L, () => {
        c.get(row).get(cc).i32(2).i32Shl().i32Add();
        c.get(scale);
        c.get(cc).get(qkS).i32Mul().get(qk).i32Add().get(rb).i32Add().f32Load().f32Mul();
        c.f32Store();
      });
    });
  });
  return c;
}

/**
 * deltaChunkBackwardMiddle(R, rS, kk, kkS, k, kS, q, qS, v, vS, y, yS, dvb, vbS, beta, gam, e, d, dkq, dkqS, dq, dqS,
 * dk, dkS, dv, dvS, qg, qgS, db, dbS, dGam, de, rowM, colM, L, K, V, gated, τ): per row r, in one pass (see
 * `DeltaChunkBackwardMiddleArgs`; X = −dA is R's lower right block, used as is with −β_r: da·β = X·(−β) exactly):
 *   d(QKᵀ)[r,c] = (τ dP[r,c]) D[r,c] for c ≤ r into dkq[c, L+r], m = d(QKᵀ)[r,c] QK[r,c] into rowM[r], colM[c];
 *   dq_r = (τΓ_r) G_r, qg_r = (τΓ_r) q_r, dGam_r = τ (q_r·G_r);
 *   dk_r = e_r y_r − (β_rΓ_r) z_r, de_r = k_r·y_r, dv_r = β_r dVb_r, dGam_r −= β_r (k_r·z_r);
 *   for c < r: kkd = KK[r,c] D[r,c], dab = X[r,c](−β_r), d(KKᵀ) = dab D[r,c] into dkq[r,c] and dkq[c,r],
 *   m = dab kkd into rowM[r], colM[c];  db_r = (v_r·dVb_r − Γ_r (k_r·z_r)) − Σ_c X[r,c] kkd.
 * dkq's rows (2L columns) are zeroed first; rowM, colM too when gated (ungated: D = 1, rowM, colM not touched).
 */
function middleCode(): Code {
  const c = new Code([...new Array<"i32">(38).fill("i32"), "f32"]);
  const [R, rS, kk, kkS, k, kS, q, qS, v, vS, y, yS, dvb, vbS, beta, gam, e, d, dkq, dkqS, dq, dqS, dk, dkS, dv, dvS,
    qg, qgS, db, dbS, dGam, de, rowM, colM, L, K, V, gated, scale] = c.params as Local[] as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    Local, Local, Local, Local, Local, Local, Local,
  ];
  const t = new Vec(c);
  const i32 = (): Local => c.local("i32");
  const f32 = (): Local => c.local("f32");
  const r = i32(), rb = i32(), jb = i32(), Kb4 = i32(), Kb = i32(), Vb4 = i32(), Vb = i32(), cb4 = i32(), cbE = i32();
  const Lb = i32(), ta = i32(), step = i32();
  const Rr = i32(), Zr = i32(), qkr = i32(), kkr = i32(), drow = i32(), qr = i32(), kr = i32(), yr = i32(), vr = i32();
  const vbr = i32(), dqr = i32(), dkr = i32(), dvr = i32(), qgr = i32(), dkqr = i32(), tcol = i32();
  const s = f32(), s2 = f32(), s3 = f32(), fS = f32(), btS = f32(), nbtS = f32(), grS = f32(), kz = f32(), x1 = f32(), m1 = f32();
  const kk1 = f32(), dab1 = f32(), d1 = f32();
  const sc = t.v("sc"), acc = t.v("acc"), acc2 = t.v("acc2"), acc3 = t.v("acc3"), x = t.v("x"), m = t.v("m"), f = t.v("f");
  const bt = t.v("bt"), nbt = t.v("nbt"), bg = t.v("bg"), er = t.v("er"), dd = t.v("dd"), kkd = t.v("kkd"), dab = t.v("dab");
  const z = t.v("z"), yv = t.v("y"), kx = t.v("kx");
  const gatedIf = (then: () => void, otherwise: () => void): void => {
    c.get(gated).ifElse(then, otherwise);
  };
  /** colM[cb] += value (one lane, f32). */
  const colAdd1 = (value: Local): void => {
    at(c, colM, jb);
    at(c, colM, jb).f32Load().get(value).f32Add();
    c.f32Store();
  };
  c.get(scale).f32x4Splat().set(sc);
  widths(c, () => c.get(K), Kb4, Kb);
  widths(c, () => c.get(V), Vb4, Vb);
  c.get(L).i32(2).i32Shl().set(Lb);
  c.get(dkqS).set(step);
  forRange(c, r, 0, L, () => {
    c.get(r).get(dkqS).i32Mul().get(dkq).i32Add().i32(0).get(Lb).i32(1).i32Shl().memoryFill();
  });
  c.get(gated).ifElse(() => {
    c.get(rowM).i32(0).get(Lb).memoryFill();
    c.get(colM).i32(0).get(Lb).memoryFill();
  });
  forRange(c, r, 0, L, () => {
    c.get(r).i32(2).i32Shl().set(rb);
    c.get(r).get(rS).i32Mul().get(R).i32Add().set(Rr);
    c.get(r).get(L).i32Add().get(rS).i32Mul().get(R).i32Add().set(Zr);
    c.get(r).get(L).i32Add().get(kkS).i32Mul().get(kk).i32Add().set(qkr);
    c.get(r).get(kkS).i32Mul().get(kk).i32Add().set(kkr);
    c.get(r).get(Lb).i32Mul().get(d).i32Add().set(drow);
    c.get(r).get(qS).i32Mul().get(q).i32Add().set(qr);
    c.get(r).get(kS).i32Mul().get(k).i32Add().set(kr);
    c.get(r).get(yS).i32Mul().get(y).i32Add().set(yr);
    c.get(r).get(vS).i32Mul().get(v).i32Add().set(vr);
    c.get(r).get(vbS).i32Mul().get(dvb).i32Add().set(vbr);
    c.get(r).get(dqS).i32Mul().get(dq).i32Add().set(dqr);
    c.get(r).get(dkS).i32Mul().get(dk).i32Add().set(dkr);
    c.get(r).get(dvS).i32Mul().get(dv).i32Add().set(dvr);
    c.get(r).get(qgS).i32Mul().get(qg).i32Add().set(qgr);
    c.get(r).get(dkqS).i32Mul().get(dkq).i32Add().set(dkqr);
    // column L + r of dkq (d(QKᵀ)ᵀ), and column r (the transposed d(KKᵀ))
    c.get(dkq).get(Lb).i32Add().get(rb).i32Add().set(tcol);
    c.get(rb).i32(-16).i32And().set(cb4);
    c.get(rb).set(cbE);
    // d(QKᵀ) = τ dP ⊙ D (c ≤ r) transposed, and M's part from it
    gatedIf(() => {
      c.v128Zero().set(acc);
      c.f32(0).set(s);
      c.get(tcol).set(ta);
      forStep(c, jb, 0, cb4, 16, () => {
        c.get(sc);
        c.get(Rr).get(Kb).i32Add().get(jb).i32Add().v128Load().f32x4Mul();
        at(c, drow, jb).v128Load().f32x4Mul().set(x);
        scatter(c, x, ta, step);
        c.get(x);
        at(c, qkr, jb).v128Load().f32x4Mul().set(m);
        c.get(acc).get(m).f32x4Add().set(acc);
        at(c, colM, jb);
        at(c, colM, jb).v128Load().get(m).f32x4Add();
        c.v128Store();
      });
      forStep(c, jb, cb4, cbE, 4, () => {
        c.get(scale);
        c.get(Rr).get(Kb).i32Add().get(jb).i32Add().f32Load().f32Mul();
        at(c, drow, jb).f32Load().f32Mul().set(x1);
        c.get(ta).get(x1).f32Store();
        c.get(ta).get(step).i32Add().set(ta);
        c.get(x1);
        at(c, qkr, jb).f32Load().f32Mul().set(m1);
        c.get(s).get(m1).f32Add().set(s);
        colAdd1(m1);
      });
      at(c, rowM, rb);
      reduceLanes(c, acc, "add");
      c.get(s).f32Add().f32Store();
      // the diagonal
      c.get(ta);
      c.get(scale);
      c.get(Rr).get(Kb).i32Add().get(rb).i32Add().f32Load().f32Mul();
      at(c, drow, rb).f32Load().f32Mul();
      c.f32Store();
    }, () => {
      c.get(tcol).set(ta);
      c.get(rb).i32(4).i32Add().set(cbE); // c ≤ r
      c.get(cbE).i32(-16).i32And().set(cb4);
      forStep(c, jb, 0, cb4, 16, () => {
        c.get(sc);
        c.get(Rr).get(Kb).i32Add().get(jb).i32Add().v128Load().f32x4Mul().set(x);
        scatter(c, x, ta, step);
      });
      forStep(c, jb, cb4, cbE, 4, () => {
        c.get(ta);
        c.get(scale);
        c.get(Rr).get(Kb).i32Add().get(jb).i32Add().f32Load().f32Mul();
        c.f32Store();
        c.get(ta).get(step).i32Add().set(ta);
      });
      c.get(rb).i32(-16).i32And().set(cb4);
      c.get(rb).set(cbE);
    });
    // dq = (τΓ) G, qg = (τΓ) q, dGam = τ (q·G)
    c.get(scale);
    at(c, gam, rb).f32Load().f32Mul().set(fS);
    c.get(fS).f32x4Splat().set(f);
    c.v128Zero().set(acc);
    c.f32(0).set(s);
    columns(c, jb, Kb4, Kb, () => {
      at(c, Rr, jb).v128Load().set(x);
      at(c, qr, jb).v128Load().set(m);
      c.get(acc).get(m).get(x).f32x4Mul().f32x4Add().set(acc);
      at(c, dqr, jb);
      c.get(f).get(x).f32x4Mul().v128Store();
      at(c, qgr, jb);
      c.get(f).get(m).f32x4Mul().v128Store();
    }, () => {
      at(c, Rr, jb).f32Load().set(x1);
      at(c, qr, jb).f32Load().set(m1);
      c.get(s).get(m1).get(x1).f32Mul().f32Add().set(s);
      at(c, dqr, jb);
      c.get(fS).get(x1).f32Mul().f32Store();
      at(c, qgr, jb);
      c.get(fS).get(m1).f32Mul().f32Store();
    });
    at(c, dGam, rb);
    c.get(scale);
    reduceLanes(c, acc, "add");
    c.get(s).f32Add().f32Mul().f32Store();
    // dk = e y − (βΓ) z, de = k·y, kz = k·z
    at(c, beta, rb).f32Load().set(btS);
    c.f32(-0).get(btS).f32Sub().set(nbtS);
    at(c, gam, rb).f32Load().set(grS);
    c.get(btS).f32x4Splat().set(bt);
    c.get(nbtS).f32x4Splat().set(nbt);
    c.get(btS).get(grS).f32Mul().f32x4Splat().set(bg);
    at(c, e, rb).v128Load32Splat().set(er);
    c.v128Zero().set(acc);
    c.v128Zero().set(acc2);
    c.f32(0).set(s);
    c.f32(0).set(s2);
    columns(c, jb, Kb4, Kb, () => {
      at(c, Zr, jb).v128Load().set(z);
      at(c, yr, jb).v128Load().set(yv);
      at(c, kr, jb).v128Load().set(kx);
      c.get(acc).get(kx).get(z).f32x4Mul().f32x4Add().set(acc);
      c.get(acc2).get(kx).get(yv).f32x4Mul().f32x4Add().set(acc2);
      at(c, dkr, jb);
      c.get(er).get(yv).f32x4Mul().get(bg).get(z).f32x4Mul().f32x4Sub().v128Store();
    }, () => {
      at(c, Zr, jb).v128Load32Splat().set(z);
      at(c, yr, jb).v128Load32Splat().set(yv);
      at(c, kr, jb).v128Load32Splat().set(kx);
      c.get(s).get(kx).get(z).f32x4Mul().f32x4ExtractLane(0).f32Add().set(s);
      c.get(s2).get(kx).get(yv).f32x4Mul().f32x4ExtractLane(0).f32Add().set(s2);
      at(c, dkr, jb);
      c.get(er).get(yv).f32x4Mul().get(bg).get(z).f32x4Mul().f32x4Sub().f32x4ExtractLane(0).f32Store();
    });
    reduceLanes(c, acc, "add");
    c.get(s).f32Add().set(kz);
    at(c, de, rb);
    reduceLanes(c, acc2, "add");
    c.get(s2).f32Add().f32Store();
    // dv = β dVb, vd = v·dVb (into s3)
    c.v128Zero().set(acc);
    c.f32(0).set(s);
    columns(c, jb, Vb4, Vb, () => {
      at(c, vbr, jb).v128Load().set(x);
      c.get(acc);
      at(c, vr, jb).v128Load().get(x).f32x4Mul().f32x4Add().set(acc);
      at(c, dvr, jb);
      c.get(bt).get(x).f32x4Mul().v128Store();
    }, () => {
      at(c, vbr, jb).f32Load().set(x1);
      c.get(s);
      at(c, vr, jb).f32Load().get(x1).f32Mul().f32Add().set(s);
      at(c, dvr, jb);
      c.get(btS).get(x1).f32Mul().f32Store();
    });
    reduceLanes(c, acc, "add");
    c.get(s).f32Add().set(s3);
    // the lower triangle c < r: d(KKᵀ) into row r and (transposed) column r, Σ X kkd (into acc / s), M's part
    c.v128Zero().set(acc);
    c.v128Zero().set(acc3);
    c.f32(0).set(s);
    c.f32(0).set(s2);
    c.get(dkq).get(rb).i32Add().set(ta);
    gatedIf(() => {
      forStep(c, jb, 0, cb4, 16, () => {
        at(c, Zr, jb).get(Kb).i32Add().v128Load().set(x);
        at(c, drow, jb).v128Load().set(dd);
        at(c, kkr, jb).v128Load().get(dd).f32x4Mul().set(kkd);
        c.get(acc).get(x).get(kkd).f32x4Mul().f32x4Add().set(acc);
        c.get(x).get(nbt).f32x4Mul().set(dab);
        c.get(dab).get(dd).f32x4Mul().set(x);
        at(c, dkqr, jb);
        c.get(x).v128Store();
        scatter(c, x, ta, step);
        c.get(dab).get(kkd).f32x4Mul().set(m);
        c.get(acc3).get(m).f32x4Add().set(acc3);
        at(c, colM, jb);
        at(c, colM, jb).v128Load().get(m).f32x4Add();
        c.v128Store();
      });
      forStep(c, jb, cb4, cbE, 4, () => {
        at(c, Zr, jb).get(Kb).i32Add().f32Load().set(x1);
        at(c, drow, jb).f32Load().set(d1);
        at(c, kkr, jb).f32Load().get(d1).f32Mul().set(kk1);
        c.get(s).get(x1).get(kk1).f32Mul().f32Add().set(s);
        c.get(x1).get(nbtS).f32Mul().set(dab1);
        c.get(dab1).get(d1).f32Mul().set(x1);
        at(c, dkqr, jb).get(x1).f32Store();
        c.get(ta).get(x1).f32Store();
        c.get(ta).get(step).i32Add().set(ta);
        c.get(dab1).get(kk1).f32Mul().set(m1);
        c.get(s2).get(m1).f32Add().set(s2);
        colAdd1(m1);
      });
      at(c, rowM, rb);
      at(c, rowM, rb).f32Load();
      reduceLanes(c, acc3, "add");
      c.get(s2).f32Add().f32Add().f32Store();
    }, () => {
      forStep(c, jb, 0, cb4, 16, () => {
        at(c, Zr, jb).get(Kb).i32Add().v128Load().set(x);
        c.get(acc).get(x);
        at(c, kkr, jb).v128Load().f32x4Mul().f32x4Add().set(acc);
        c.get(x).get(nbt).f32x4Mul().set(x);
        at(c, dkqr, jb);
        c.get(x).v128Store();
        scatter(c, x, ta, step);
      });
      forStep(c, jb, cb4, cbE, 4, () => {
        at(c, Zr, jb).get(Kb).i32Add().f32Load().set(x1);
        c.get(s).get(x1);
        at(c, kkr, jb).f32Load().f32Mul().f32Add().set(s);
        c.get(x1).get(nbtS).f32Mul().set(x1);
        at(c, dkqr, jb).get(x1).f32Store();
        c.get(ta).get(x1).f32Store();
        c.get(ta).get(step).i32Add().set(ta);
      });
    });
    // db = (vd − Γ kz) − Σ X kkd;  dGam −= β kz
    c.get(r).get(dbS).i32Mul().get(db).i32Add();
    c.get(s3).get(grS).get(kz).f32Mul().f32Sub();
    reduceLanes(c, acc, "add");
    c.get(s).f32Add().f32Sub().f32Store();
    at(c, dGam, rb);
    at(c, dGam, rb).f32Load().get(btS).get(kz).f32Mul().f32Sub();
    c.f32Store();
  });
  return c;
}

/**
 * deltaChunkStateGrad(ds, dsS, upd, uS, s0, sS, K, V, gated, gl) → f64: ds ← upd + gl·ds and ⟨S₀, ds⟩ (the old ds;
 * exact f64 products summed in four f64 lanes) when gated, else ds ← upd + ds and 0.
 */
function stateGradCode(): Code {
  const c = new Code([...new Array<"i32">(9).fill("i32"), "f32"]);
  const [ds, dsS, upd, uS, s0, sS, K, V, gated, gl] = c.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const t = new Vec(c);
  const i = c.local("i32"), jb = c.local("i32"), nb4 = c.local("i32"), nb = c.local("i32");
  const dr = c.local("i32"), ur = c.local("i32"), sr = c.local("i32"), tail = c.local("f64"), x1 = c.local("f32");
  const g = t.v("g"), x = t.v("x"), sv = t.v("s"), lo = t.v("lo"), hi = t.v("hi");
  const HIGH = [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];
  widths(c, () => c.get(V), nb4, nb);
  c.get(gl).f32x4Splat().set(g);
  forRange(c, i, 0, K, () => {
    c.get(i).get(dsS).i32Mul().get(ds).i32Add().set(dr);
    c.get(i).get(uS).i32Mul().get(upd).i32Add().set(ur);
    c.get(i).get(sS).i32Mul().get(s0).i32Add().set(sr);
    c.get(gated).ifElse(() => {
      columns(c, jb, nb4, nb, () => {
        at(c, dr, jb).v128Load().set(x);
        at(c, sr, jb).v128Load().set(sv);
        c.get(lo).get(sv).f64x2PromoteLowF32x4().get(x).f64x2PromoteLowF32x4().f64x2Mul().f64x2Add().set(lo);
        c.get(hi);
        c.get(sv).get(sv).i8x16Shuffle(HIGH).f64x2PromoteLowF32x4();
        c.get(x).get(x).i8x16Shuffle(HIGH).f64x2PromoteLowF32x4();
        c.f64x2Mul().f64x2Add().set(hi);
        at(c, dr, jb);
        at(c, ur, jb).v128Load().get(g).get(x).f32x4Mul().f32x4Add().v128Store();
      }, () => {
        at(c, dr, jb).f32Load().set(x1);
        c.get(tail);
        at(c, sr, jb).f32Load().f64PromoteF32().get(x1).f64PromoteF32().f64Mul().f64Add().set(tail);
        at(c, dr, jb);
        at(c, ur, jb).f32Load().get(gl).get(x1).f32Mul().f32Add().f32Store();
      });
    }, () => {
      columns(c, jb, nb4, nb, () => {
        at(c, dr, jb);
        at(c, ur, jb).v128Load();
        at(c, dr, jb).v128Load().f32x4Add().v128Store();
      }, () => {
        at(c, dr, jb);
        at(c, ur, jb).f32Load();
        at(c, dr, jb).f32Load().f32Add().f32Store();
      });
    });
  });
  c.get(lo).f64x2ExtractLane(0).get(lo).f64x2ExtractLane(1).f64Add();
  c.get(hi).f64x2ExtractLane(0).get(hi).f64x2ExtractLane(1).f64Add().f64Add();
  c.get(tail).f64Add();
  return c;
}

/** The function bodies, in DELTA_CHUNK_BACKWARD_FUNCTIONS order (deltaChunkStateGrad returns an f64). */
export function deltaChunkBackwardCodes(): Array<{ name: DeltaChunkBackwardFunction; code: Code; results?: Array<"f64"> }> {
  return [
    { name: "deltaChunkBackwardPrep", code: prepCode() },
    { name: "deltaChunkBackwardMiddle", code: middleCode() },
    { name: "deltaChunkStateGrad", code: stateGradCode(), results: ["f64"] },
  ];
}

/** The exported functions as the driver calls them (byte addresses and strides, then counts, flags, τ or gl). */
export type DeltaChunkBackwardExports = Record<DeltaChunkBackwardFunction, (...args: number[]) => number>;
