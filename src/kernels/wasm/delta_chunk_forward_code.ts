/**
 * The WebAssembly code of `Kernels.deltaChunkForwardPrep` (the JS reference is js/delta_chunk_forward.ts; the
 * math is in ops/delta_common/engine.ts): one head's chunk per call, f32, four columns per vector, the last
 * width mod 4 columns of a row one at a time (so rows of any width and any stride are read and written in place,
 * and nothing outside the rows is touched). The driver that places the arrays is `delta_chunk_forward.ts`.
 *
 * deltaChunkForwardPrep(k, kS, q, qS, v, vS, qk, qkS, fac, d, kb, kbS, vb, vbS, ke, keS, qp, qpS, s, sS, so, soS,
 * L, K, V, flags, τ, sScale): byte addresses of each operand's first row and its rows' distance in bytes; `fac`
 * holds per row r four f32 factors (−β_rΓ_r, β_r, e_r, τΓ_r), each rounded once from the f64 decays by the
 * driver; d is D in f64 [L×L]; flags: 1 = write ke, 2 = multiply P by D; τ is f64, sScale (Γ_{L−1}) f32.
 *
 * Accuracy (ε = 2⁻²⁴, one f32 rounding; no fused multiply-add, so every engine gives the same bits):
 * - the row scalings kb, vb, ke, qp's left part and sOut = f32(factor)·x: the factor's rounding and the
 *   product's, |error| ≤ 2ε|exact| (+ 2⁻¹⁴⁹ in the subnormal range, where a rounding is absolute);
 * - P = τ·qk·D is formed in f64 with the reference's operations in its order (qk widens exactly) and rounded
 *   once to f32: the reference's bits, within ε|P| (+ 2⁻¹⁵⁰) of the exact value.
 * The per-entry bounds are checked in test/kernels/delta_chunk_forward.test.ts.
 */
import { Code, type Local } from "./encoder.js";
import { forStep, ifFlag } from "./loops.js";
import { HIGH_F32_PAIR, JOIN_F32_PAIRS } from "./vmath_code.js";

export const DELTA_CHUNK_FORWARD_FUNCTIONS = ["deltaChunkForwardPrep"] as const;

export interface DeltaChunkForwardExports {
  deltaChunkForwardPrep(
    k: number, kS: number, q: number, qS: number, v: number, vS: number, qk: number, qkS: number, fac: number, d: number,
    kb: number, kbS: number, vb: number, vbS: number, ke: number, keS: number, qp: number, qpS: number,
    s: number, sS: number, so: number, soS: number, L: number, K: number, V: number, flags: number, scale: number, sScale: number,
  ): void;
}

/**
 * Emits dst[j] = f·src[j] for j < n (f32 lanes; src, dst byte addresses of the rows; nQ = n & ~3 and n in bytes
 * as locals; f a splat vector local): whole quads with vectors, the rest one float at a time.
 */
function scaleRow(c: Code, src: Local, dst: Local, quadBytes: Local, bytes: Local, f: Local, j: Local): void {
  forStep(c, j, 0, quadBytes, 16, () => {
    c.get(dst).get(j).i32Add();
    c.get(src).get(j).i32Add().v128Load().get(f).f32x4Mul();
    c.v128Store();
  });
  forStep(c, j, quadBytes, bytes, 4, () => {
    c.get(dst).get(j).i32Add();
    c.get(src).get(j).i32Add().f32Load().get(f).f32x4ExtractLane(0).f32Mul();
    c.f32Store();
  });
}

function prepCode(): Code {
  const c = new Code([...new Array<"i32">(26).fill("i32"), "f64", "f32"]);
  const [k, kS, q, qS, v, vS, qk, qkS, fac, d, kb, kbS, vb, vbS, ke, keS, qp, qpS, s, sS, so, soS, L, K, V, flags, scale, sScale] =
    c.params as Local[] as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
  const i32 = (): Local => c.local("i32");
  const r = i32(), j = i32(), ksrc = i32(), src = i32(), dst = i32(), drow = i32(), f = i32();
  const kQ = i32(), kB = i32(), vQ = i32(), vB = i32(), pQ = i32(), pB = i32(), lB = i32();
  const fk = c.local("v128"), fv = c.local("v128"), fe = c.local("v128"), fq = c.local("v128"), x = c.local("v128");
  const tau = c.local("v128"), lo = c.local("v128"), hi = c.local("v128");
  const p1 = c.local("f64");
  c.get(K).i32(2).i32Shl().set(kB);
  c.get(kB).i32(-16).i32And().set(kQ);
  c.get(V).i32(2).i32Shl().set(vB);
  c.get(vB).i32(-16).i32And().set(vQ);
  c.get(L).i32(2).i32Shl().set(lB);
  c.get(scale).f64x2Splat().set(tau);
  forStep(c, r, 0, L, 1, () => {
    c.get(fac).get(r).i32(4).i32Shl().i32Add().set(f);
    c.get(f).v128Load32Splat(0).set(fk);
    c.get(f).v128Load32Splat(4).set(fv);
    c.get(f).v128Load32Splat(8).set(fe);
    c.get(f).v128Load32Splat(12).set(fq);
    // −Kb, Diag(e)K, Vb
    c.get(k).get(r).get(kS).i32Mul().i32Add().set(ksrc);
    c.get(kb).get(r).get(kbS).i32Mul().i32Add().set(dst);
    scaleRow(c, ksrc, dst, kQ, kB, fk, j);
    ifFlag(c, flags, 1, () => {
      c.get(ke).get(r).get(keS).i32Mul().i32Add().set(dst);
      scaleRow(c, ksrc, dst, kQ, kB, fe, j);
    });
    c.get(v).get(r).get(vS).i32Mul().i32Add().set(src);
    c.get(vb).get(r).get(vbS).i32Mul().i32Add().set(dst);
    scaleRow(c, src, dst, vQ, vB, fv, j);
    // Diag(τΓ)Q
    c.get(q).get(r).get(qS).i32Mul().i32Add().set(src);
    c.get(qp).get(r).get(qpS).i32Mul().i32Add().set(dst);
    scaleRow(c, src, dst, kQ, kB, fq, j);
    // P row r: columns 0 … r in f64 as the reference (τ·qk, then ·D when gated), zeros after
    c.get(dst).get(kB).i32Add().set(dst);
    c.get(qk).get(r).get(qkS).i32Mul().i32Add().set(src);
    c.get(d).get(r).get(L).i32Mul().i32(3).i32Shl().i32Add().set(drow);
    c.get(r).i32(1).i32Add().i32(2).i32Shl().set(pB);
    c.get(pB).i32(-16).i32And().set(pQ);
    forStep(c, j, 0, pQ, 16, () => {
      c.get(src).get(j).i32Add().v128Load().set(x);
      c.get(x).f64x2PromoteLowF32x4().get(tau).f64x2Mul().set(lo);
      c.get(x).get(x).i8x16Shuffle(HIGH_F32_PAIR).f64x2PromoteLowF32x4().get(tau).f64x2Mul().set(hi);
      ifFlag(c, flags, 2, () => {
        c.get(lo).get(drow).get(j).i32(1).i32Shl().i32Add().v128Load().f64x2Mul().set(lo);
        c.get(hi).get(drow).get(j).i32(1).i32Shl().i32Add().v128Load(16).f64x2Mul().set(hi);
      });
      c.get(dst).get(j).i32Add();
      c.get(lo).f32x4DemoteF64x2Zero().get(hi).f32x4DemoteF64x2Zero().i8x16Shuffle(JOIN_F32_PAIRS);
      c.v128Store();
    });
    forStep(c, j, pQ, pB, 4, () => {
      c.get(src).get(j).i32Add().f32Load().f64PromoteF32().get(scale).f64Mul().set(p1);
      ifFlag(c, flags, 2, () => {
        c.get(p1).get(drow).get(j).i32(1).i32Shl().i32Add().f64Load().f64Mul().set(p1);
      });
      c.get(dst).get(j).i32Add().get(p1).f32DemoteF64().f32Store();
    });
    c.get(dst).get(pB).i32Add().i32(0).get(lB).get(pB).i32Sub().memoryFill();
  });
  // Γ_{L−1} S₀
  c.get(sScale).f32x4Splat().set(fk);
  forStep(c, r, 0, K, 1, () => {
    c.get(s).get(r).get(sS).i32Mul().i32Add().set(src);
    c.get(so).get(r).get(soS).i32Mul().i32Add().set(dst);
    scaleRow(c, src, dst, vQ, vB, fk, j);
  });
  return c;
}

/** The function bodies, in DELTA_CHUNK_FORWARD_FUNCTIONS order. */
export function deltaChunkForwardCodes(): Array<{ name: (typeof DELTA_CHUNK_FORWARD_FUNCTIONS)[number]; code: Code }> {
  return [{ name: "deltaChunkForwardPrep", code: prepCode() }];
}
