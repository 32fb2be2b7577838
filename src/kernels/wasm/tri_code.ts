/**
 * The WebAssembly code of `Kernels.unitLowerInverse` (the reference is kernels/js/tri.ts): forward substitution
 * in f64, two entries of a row at a time (f64x2), with the reference's operations in its order — the same
 * product a = β_r·kk[r,c]·d[r,c], the same skip when a = 0, each update T[r,j] − a·T[c,j] rounded as there — so
 * the results are the reference's bit for bit.
 *
 * triInverse(kk, beta, d, L, t, hasD): kk, d [L×L], beta [L] and t [L×L] are f64 arrays at byte addresses (8-byte
 * aligned); t is written in full (zeros above the diagonal).
 */
import { Code, type Local } from "./encoder.js";

export const TRI_FUNCTIONS = ["triInverse"] as const;

export interface TriExports {
  triInverse(kk: number, beta: number, d: number, L: number, t: number, hasD: number): void;
}

function triInverse(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [kk, beta, d, L, t, hasD] = c.params as [Local, Local, Local, Local, Local, Local];
  const av = c.local("v128");
  const r = c.local("i32"), col = c.local("i32"), j = c.local("i32"), rowBytes = c.local("i32");
  const row = c.local("i32"), crow = c.local("i32"), pairEnd = c.local("i32"), entry = c.local("i32");
  const br = c.local("f64"), a = c.local("f64");
  c.get(L).i32(3).i32Shl().set(rowBytes);
  c.block(() => {
    c.get(L).i32(0).i32LeS().brIf(0);
    c.loop(() => {
      // row r of t: zeros, 1 on the diagonal
      c.get(r).get(rowBytes).i32Mul().set(row);
      c.get(t).get(row).i32Add().i32(0).get(rowBytes).memoryFill();
      c.get(t).get(row).i32Add().get(r).i32(3).i32Shl().i32Add().f64(1).f64Store();
      c.get(beta).get(r).i32(3).i32Shl().i32Add().f64Load().tee(br).f64(0).f64Ne();
      c.ifElse(() => {
        c.i32(0).set(col);
        c.block(() => {
          c.get(col).get(r).i32GeS().brIf(0);
          c.loop(() => {
            // a = β_r·kk[r,c]·d[r,c] (·1 without d, as the reference)
            c.get(row).get(col).i32(3).i32Shl().i32Add().set(entry);
            c.get(br).get(kk).get(entry).i32Add().f64Load().f64Mul().set(a);
            c.get(hasD).ifElse(() => c.get(a).get(d).get(entry).i32Add().f64Load().f64Mul().set(a), () => c.get(a).f64(1).f64Mul().set(a));
            c.get(a).f64(0).f64Ne().ifElse(() => {
              // T[r, 0..c] −= a·T[c, 0..c]: pairs, then the odd last entry
              c.get(col).get(rowBytes).i32Mul().set(crow);
              c.get(a).f64x2Splat().set(av);
              c.get(col).i32(1).i32Add().i32(-2).i32And().i32(3).i32Shl().set(pairEnd);
              c.i32(0).set(j);
              c.block(() => {
                c.get(j).get(pairEnd).i32GeS().brIf(0);
                c.loop(() => {
                  c.get(t).get(row).i32Add().get(j).i32Add();
                  c.get(t).get(row).i32Add().get(j).i32Add().v128Load();
                  c.get(av).get(t).get(crow).i32Add().get(j).i32Add().v128Load().f64x2Mul();
                  c.f64x2Sub().v128Store();
                  c.get(j).i32(16).i32Add().tee(j).get(pairEnd).i32LtS().brIf(0);
                });
              });
              c.get(col).i32(1).i32And().i32Eqz().ifElse(() => {
                // c even: c + 1 entries, the last one (j = c) alone
                c.get(t).get(row).i32Add().get(j).i32Add();
                c.get(t).get(row).i32Add().get(j).i32Add().f64Load();
                c.get(a).get(t).get(crow).i32Add().get(j).i32Add().f64Load().f64Mul();
                c.f64Sub().f64Store();
              });
            });
            c.get(col).i32(1).i32Add().tee(col).get(r).i32LtS().brIf(0);
          });
        });
      });
      c.get(r).i32(1).i32Add().tee(r).get(L).i32LtS().brIf(0);
    });
  });
  return c;
}

/** The function bodies, in TRI_FUNCTIONS order. */
export function triCodes(): Array<{ name: (typeof TRI_FUNCTIONS)[number]; code: Code }> {
  return [{ name: "triInverse", code: triInverse() }];
}
