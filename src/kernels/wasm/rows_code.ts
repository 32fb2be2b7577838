/**
 * The WebAssembly code of the row-wise softmax (four f32 lanes at a time), emitted with `encoder.ts`; the
 * driver that stages rows and applies the contract's special cases is `rows.ts`. Also `zeroBytes`, a memset, and
 * `copyRowsBytes`, a strided block copy (the driver of `Kernels.copyRows` is in `index.ts`).
 *
 * vSoftmaxRows(x, out, stats, rows, ld): for each of `rows` rows of `ld` floats (ld a multiple of 4; the
 * driver pads each row with −∞, which adds exp(−∞) = 0):
 *   m = max_j x[j] (NaN if any entry is NaN: f32x4.max and f32.max propagate it)
 *   e_j = exp(x[j] − m'), m' = m except 0 when m = −∞ (a fully masked row then gives e = 0, not NaN)
 *   s = Σ_j e_j, summed in four f32 lanes (lane k takes every 4th entry) and the lanes added pairwise
 *   out[j] = e_j · (s = 0 ? 0 : 1/s)
 *   stats[2r] = m, stats[2r + 1] = s
 * Error of s: each lane is a recursive sum of ld/4 positive terms, so s is within (ld/4 + 2)·2⁻²⁴ of its
 * exact value relative to itself, besides exp's 2 ulp per term.
 */
import { Code, type Local } from "./encoder.js";
import { emitExp, reduceLanes, Vec } from "./vmath_code.js";

export const ROWS_FUNCTIONS = ["vSoftmaxRows", "zeroBytes", "copyRowsBytes"] as const;

export interface RowsExports {
  vSoftmaxRows(x: number, out: number, stats: number, rows: number, ld: number): void;
  /** Sets `bytes` bytes from byte address `at` to zero (bulk `memory.fill`: a memset; a JS fill of a shared
   * memory's view is ~5× slower). */
  zeroBytes(at: number, bytes: number): void;
  /** For r < rows: `bytes` bytes from src + r·srcStride to dst + r·dstStride (byte addresses and strides; one
   * bulk `memory.copy` per row). */
  copyRowsBytes(src: number, srcStride: number, dst: number, dstStride: number, rows: number, bytes: number): void;
}

function zeroBytes(): Code {
  const c = new Code(["i32", "i32"]);
  const [at, bytes] = c.params as [Local, Local];
  c.get(at).i32(0).get(bytes).memoryFill();
  return c;
}

function copyRowsBytes(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, srcStride, dst, dstStride, rows, bytes] = c.params as [Local, Local, Local, Local, Local, Local];
  c.block(() => {
    c.get(rows).i32Eqz().brIf(0);
    c.loop(() => {
      c.get(dst).get(src).get(bytes).memoryCopy();
      c.get(src).get(srcStride).i32Add().set(src);
      c.get(dst).get(dstStride).i32Add().set(dst);
      c.get(rows).i32(1).i32Sub().tee(rows).brIf(0);
    });
  });
  return c;
}

function softmaxRows(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32"]);
  const [x, out, stats, rows, ld] = c.params as [Local, Local, Local, Local, Local];
  const t = new Vec(c);
  const vm = t.v("max"), vs = t.v("sum"), e = t.v("e"), shift = t.v("shift"), f = t.v("factor");
  const off = c.local("i32"), end = c.local("i32");
  const m = c.local("f32"), s = c.local("f32");
  c.get(ld).i32(2).i32Shl().set(end);
  c.block(() => {
    c.get(rows).i32Eqz().brIf(0);
    c.loop(() => {
      // row maximum
      c.f32x4Const(-Infinity).set(vm);
      c.i32(0).set(off);
      c.loop(() => {
        c.get(vm).get(x).get(off).i32Add().v128Load().f32x4Max().set(vm);
        c.get(off).i32(16).i32Add().tee(off).get(end).i32LtS().brIf(0);
      });
      reduceLanes(c, vm, "max");
      c.set(m);
      // e = exp(x − m'), summed
      c.f32(0).get(m).get(m).f32(-Infinity).f32Eq().select().f32x4Splat().set(shift);
      c.v128Zero().set(vs);
      c.i32(0).set(off);
      c.loop(() => {
        c.get(x).get(off).i32Add().v128Load().get(shift).f32x4Sub().set(e);
        emitExp(c, t, e, e);
        c.get(out).get(off).i32Add().get(e).v128Store();
        c.get(vs).get(e).f32x4Add().set(vs);
        c.get(off).i32(16).i32Add().tee(off).get(end).i32LtS().brIf(0);
      });
      reduceLanes(c, vs, "add");
      c.set(s);
      // normalise: out · (s = 0 ? 0 : 1/s) (a NaN s keeps the row NaN)
      c.f32(0).f32(1).get(s).f32Div().get(s).f32(0).f32Eq().select().f32x4Splat().set(f);
      c.i32(0).set(off);
      c.loop(() => {
        c.get(out).get(off).i32Add().get(out).get(off).i32Add().v128Load().get(f).f32x4Mul().v128Store();
        c.get(off).i32(16).i32Add().tee(off).get(end).i32LtS().brIf(0);
      });
      c.get(stats).get(m).f32Store(0);
      c.get(stats).get(s).f32Store(4);
      c.get(stats).i32(8).i32Add().set(stats);
      c.get(x).get(end).i32Add().set(x);
      c.get(out).get(end).i32Add().set(out);
      c.get(rows).i32(1).i32Sub().tee(rows).brIf(0);
    });
  });
  return c;
}

/** The function bodies, in ROWS_FUNCTIONS order. */
export function rowsCodes(): Array<{ name: string; code: Code }> {
  return [{ name: "vSoftmaxRows", code: softmaxRows() }, { name: "zeroBytes", code: zeroBytes() }, { name: "copyRowsBytes", code: copyRowsBytes() }];
}
