/**
 * The WebAssembly code of the f32 matrix product: packing routines and the register-blocked micro-kernel,
 * emitted with `encoder.ts`. The blocking loops that call them live in `gemm.ts` (plain TypeScript: they run
 * a handful of times per product, and the same driver runs on the main thread and in the workers).
 *
 * Layouts (all addresses are byte addresses in the module's memory, strides are in elements):
 * - packed A: strips of MR rows; strip r holds, for each p of the k-block, the MR values A[r·MR + i, p]
 *   (zero past the last row), so the kernel reads MR consecutive floats per step of p.
 * - packed B: strips of NR columns; strip s holds, for each p, the NR values B[p, s·NR + j] (zero past the
 *   last column), i.e. NR/4 vectors per step of p.
 * - C: row-major with row stride `ldc` bytes, padded so that whole MR×NR tiles can be loaded and stored.
 *
 * The micro-kernel keeps the MR×NR tile of C in MR·NR/4 vector registers for the whole k-block:
 * acc[i][v] += splat(A[i,p]) · B[p, 4v .. 4v+4), as one relaxed FMA or as a multiply and an add.
 */
import { Code, type Local } from "./encoder.js";

/**
 * Micro-tile: MR rows × NR columns (NR a multiple of 4), i.e. 8 vector accumulators. Measured on Zen 4 /
 * Node 20 (GFLOP/s per CPU-second at 512³, FMA): 4×8 58, 2×16 60 (but wasteful on short m), 6×8 30,
 * 4×12 29, 8×8 34, 4×16 35 — V8's register allocator spills beyond about 8 accumulators + 2 B vectors.
 */
export const MR = 4;
export const NR = 8;
const NV = NR / 4;

/** Names and indices of the exported functions (a function's index is its position here). */
export const GEMM_FUNCTIONS = ["packA", "packB", "kernel", "macro"] as const;
const KERNEL_INDEX = GEMM_FUNCTIONS.indexOf("kernel");

/** `loop { body; counter -= 1; br_if counter ≠ 0 }`: runs body `counter` times (counter ≥ 1). */
function countdown(c: Code, counter: Local, body: () => void): void {
  c.loop(() => {
    body();
    c.get(counter).i32(1).i32Sub().tee(counter).brIf(0);
  });
}

/** local += delta (i32). */
function bump(c: Code, l: Local, delta: number | Local): void {
  c.get(l);
  if (typeof delta === "number") c.i32(delta);
  else c.get(delta);
  c.i32Add().set(l);
}

/** packB(src, rowStride, colStride, kc, ncb, dst): packs the kc×ncb block of B at src. */
function packB(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, rs, cs, kc, ncb, dst] = c.params as [Local, Local, Local, Local, Local, Local];
  const rs4 = c.local("i32"), cs4 = c.local("i32"), j0 = c.local("i32"), w = c.local("i32");
  const row = c.local("i32"), p = c.local("i32"), col = c.local("i32"), quad = c.local("i32");
  const cols = Array.from({ length: NR }, () => c.local("i32"));
  c.get(rs).i32(2).i32Shl().set(rs4);
  c.get(cs).i32(2).i32Shl().set(cs4);
  c.loop(() => {
    c.get(ncb).get(j0).i32Sub().set(w);
    c.get(src).get(j0).get(cs4).i32Mul().i32Add().set(row);
    c.get(kc).set(p);
    c.get(w).i32(NR).i32GeS().get(cs).i32(1).i32Eq().i32And(); // full strip and unit column stride
    c.ifElse(
      () => countdown(c, p, () => {
        for (let v = 0; v < NV; v++) c.get(dst).get(row).v128Load(16 * v).v128Store(16 * v);
        bump(c, dst, 4 * NR);
        bump(c, row, rs4);
      }),
      () => {
        // full strip of a transposed B (unit row stride): each column's values are adjacent
        c.get(w).i32(NR).i32GeS().get(rs).i32(1).i32Eq().i32And();
        c.ifElse(
          () => {
            for (let j = 0; j < NR; j++) c.get(row).i32(j).get(cs4).i32Mul().i32Add().set(cols[j]!);
            packAdjacentStrip(c, cols, p, dst, quad);
          },
          () => countdown(c, p, () => {
            c.get(row).set(col);
            for (let j = 0; j < NR; j++) {
              c.i32(j).get(w).i32LtS();
              c.ifElse(() => c.get(dst).get(col).f32Load().f32Store(4 * j), () => c.get(dst).f32(0).f32Store(4 * j));
              bump(c, col, cs4);
            }
            bump(c, dst, 4 * NR);
            bump(c, row, rs4);
          }),
        );
      },
    );
    bump(c, j0, NR);
    c.get(j0).get(ncb).i32LtS().brIf(0);
  });
  return c;
}

/** i8x16.shuffle byte indices of f32 lanes (0–3 from the first operand, 4–7 from the second). */
const lanes = (...ls: number[]): number[] => ls.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);

/**
 * Four vectors of four consecutive floats, one from each of the pointers `from` (each moved on by 16 bytes),
 * transposed in registers (two rounds of shuffles) and stored as four vectors at dst + offset + q·pStride,
 * q = 0…3: vector q holds the q-th float of every pointer. `r`, `t`: four v128 scratch locals each.
 */
function transpose4(c: Code, from: Local[], r: Local[], t: Local[], dst: Local, offset: number, pStride: number): void {
  for (let i = 0; i < 4; i++) {
    c.get(from[i]!).v128Load().set(r[i]!);
    bump(c, from[i]!, 16);
  }
  // t0 = [r0₀ r1₀ r0₁ r1₁], t1 = [r2₀ r3₀ r2₁ r3₁], t2 and t3 the same for floats 2 and 3
  c.get(r[0]!).get(r[1]!).i8x16Shuffle(lanes(0, 4, 1, 5)).set(t[0]!);
  c.get(r[2]!).get(r[3]!).i8x16Shuffle(lanes(0, 4, 1, 5)).set(t[1]!);
  c.get(r[0]!).get(r[1]!).i8x16Shuffle(lanes(2, 6, 3, 7)).set(t[2]!);
  c.get(r[2]!).get(r[3]!).i8x16Shuffle(lanes(2, 6, 3, 7)).set(t[3]!);
  c.get(dst).get(t[0]!).get(t[1]!).i8x16Shuffle(lanes(0, 1, 4, 5)).v128Store(offset);
  c.get(dst).get(t[0]!).get(t[1]!).i8x16Shuffle(lanes(2, 3, 6, 7)).v128Store(offset + pStride);
  c.get(dst).get(t[2]!).get(t[3]!).i8x16Shuffle(lanes(0, 1, 4, 5)).v128Store(offset + 2 * pStride);
  c.get(dst).get(t[2]!).get(t[3]!).i8x16Shuffle(lanes(2, 3, 6, 7)).v128Store(offset + 3 * pStride);
}

/**
 * One full strip of `ptrs.length` (MR or NR, a multiple of 4) lines, each with its kc = `p` values adjacent
 * in memory (row-major A, or a transposed B), into dst as [p][line]: four p at a time by 4×4 transposes, the
 * last kc mod 4 one value at a time. Leaves dst past the strip. `quad` is scratch.
 */
function packAdjacentStrip(c: Code, ptrs: Local[], p: Local, dst: Local, quad: Local): void {
  const width = ptrs.length;
  if (width % 4 !== 0) throw new Error("packAdjacentStrip transposes 4×4 blocks: the strip width must be a multiple of 4");
  const r = [0, 1, 2, 3].map(() => c.local("v128"));
  const t = [0, 1, 2, 3].map(() => c.local("v128"));
  c.get(p).i32(2).i32ShrS().set(quad);
  c.block(() => {
    c.get(quad).i32Eqz().brIf(0);
    countdown(c, quad, () => {
      for (let g = 0; g < width; g += 4) transpose4(c, ptrs.slice(g, g + 4), r, t, dst, 4 * g, 4 * width);
      bump(c, dst, 16 * width);
    });
  });
  c.get(p).i32(3).i32And().set(p);
  c.block(() => {
    c.get(p).i32Eqz().brIf(0);
    countdown(c, p, () => {
      for (let i = 0; i < width; i++) {
        c.get(dst).get(ptrs[i]!).f32Load().f32Store(4 * i);
        bump(c, ptrs[i]!, 4);
      }
      bump(c, dst, 4 * width);
    });
  });
}

/** packA(src, rowStride, colStride, mcb, kc, dst): packs the mcb×kc block of A at src. */
function packA(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, rs, cs, mcb, kc, dst] = c.params as [Local, Local, Local, Local, Local, Local];
  const rs4 = c.local("i32"), cs4 = c.local("i32"), i0 = c.local("i32"), h = c.local("i32");
  const base = c.local("i32"), p = c.local("i32");
  const rows = Array.from({ length: MR }, () => c.local("i32"));
  const quad = c.local("i32");
  c.get(rs).i32(2).i32Shl().set(rs4);
  c.get(cs).i32(2).i32Shl().set(cs4);
  c.loop(() => {
    c.get(mcb).get(i0).i32Sub().set(h);
    c.get(src).get(i0).get(rs4).i32Mul().i32Add().set(base);
    c.get(kc).set(p);
    // Row pointers of the strip (rows past the last one are never read).
    for (let i = 0; i < MR; i++) c.get(base).i32(i).get(rs4).i32Mul().i32Add().set(rows[i]!);
    c.get(h).i32(MR).i32GeS();
    c.ifElse(
      () => {
        c.get(rs).i32(1).i32Eq();
        c.ifElse(
          // the strip's MR values of each p are adjacent (A is a transposed row-major matrix): one vector
          () => countdown(c, p, () => {
            c.get(dst).get(rows[0]!).v128Load().v128Store();
            bump(c, rows[0]!, cs4);
            bump(c, dst, 4 * MR);
          }),
          () => {
            c.get(cs).i32(1).i32Eq();
            c.ifElse(
              // each row's values are adjacent (row-major A): 4×4 blocks transposed in registers, then the rest
              () => packAdjacentStrip(c, rows, p, dst, quad),
              () => countdown(c, p, () => {
                for (let i = 0; i < MR; i++) {
                  c.get(dst).get(rows[i]!).f32Load().f32Store(4 * i);
                  bump(c, rows[i]!, cs4);
                }
                bump(c, dst, 4 * MR);
              }),
            );
          },
        );
      },
      () => countdown(c, p, () => {
        for (let i = 0; i < MR; i++) {
          c.i32(i).get(h).i32LtS();
          c.ifElse(() => c.get(dst).get(rows[i]!).f32Load().f32Store(4 * i), () => c.get(dst).f32(0).f32Store(4 * i));
          bump(c, rows[i]!, cs4);
        }
        bump(c, dst, 4 * MR);
      }),
    );
    bump(c, i0, MR);
    c.get(i0).get(mcb).i32LtS().brIf(0);
  });
  return c;
}

/**
 * kernel(pa, pb, pc, kc, ldc, load): the MR×NR tile at pc (row stride ldc bytes) becomes
 * (load ? tile : 0) + Σ_p packedA[·, p] ⊗ packedB[p, ·] over kc ≥ 1 steps.
 */
function kernel(fma: boolean): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [pa, pb, pc, kc, ldc, load] = c.params as [Local, Local, Local, Local, Local, Local];
  const acc = Array.from({ length: MR * NV }, () => c.local("v128"));
  const b = Array.from({ length: NV }, () => c.local("v128"));
  const a = c.local("v128");
  const row = c.local("i32");
  // Locals start at zero, so without `load` the accumulators are already the zero tile.
  c.get(load).ifElse(() => {
    c.get(pc).set(row);
    for (let i = 0; i < MR; i++) {
      for (let v = 0; v < NV; v++) c.get(row).v128Load(16 * v).set(acc[i * NV + v]!);
      bump(c, row, ldc);
    }
  });
  countdown(c, kc, () => {
    for (let v = 0; v < NV; v++) c.get(pb).v128Load(16 * v).set(b[v]!);
    for (let i = 0; i < MR; i++) {
      c.get(pa).v128Load32Splat(4 * i).set(a);
      for (let v = 0; v < NV; v++) {
        const t = acc[i * NV + v]!;
        if (fma) c.get(a).get(b[v]!).get(t).f32x4RelaxedMadd().set(t);
        else c.get(a).get(b[v]!).f32x4Mul().get(t).f32x4Add().set(t);
      }
    }
    bump(c, pa, 4 * MR);
    bump(c, pb, 4 * NR);
  });
  c.get(pc).set(row);
  for (let i = 0; i < MR; i++) {
    for (let v = 0; v < NV; v++) c.get(row).get(acc[i * NV + v]!).v128Store(16 * v);
    bump(c, row, ldc);
  }
  return c;
}

/**
 * macro(pa, pb, pc, mStrips, nStrips, kc, ldc, load): every tile of a packed A block (mStrips strips) times
 * a packed B block (nStrips strips) into C at pc. B strips outside, A strips inside: one B strip (kc·NR
 * floats) stays in L1 while the A block streams from L2.
 */
function macro(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [pa, pb, pc, mStrips, nStrips, kc, ldc, load] = c.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local];
  const aStrip = c.local("i32"), cTile = c.local("i32"), r = c.local("i32");
  const aStep = c.local("i32"), cStep = c.local("i32"), bStep = c.local("i32");
  c.get(kc).i32(4 * MR).i32Mul().set(aStep);
  c.get(kc).i32(4 * NR).i32Mul().set(bStep);
  c.get(ldc).i32(MR).i32Mul().set(cStep);
  countdown(c, nStrips, () => {
    c.get(pa).set(aStrip);
    c.get(pc).set(cTile);
    c.get(mStrips).set(r);
    countdown(c, r, () => {
      c.get(aStrip).get(pb).get(cTile).get(kc).get(ldc).get(load).call(KERNEL_INDEX);
      bump(c, aStrip, aStep);
      bump(c, cTile, cStep);
    });
    bump(c, pb, bStep);
    bump(c, pc, 4 * NR);
  });
  return c;
}

/** The gemm functions, in GEMM_FUNCTIONS order (they must come first in the module: `macro` calls `kernel` by index). */
export function gemmCodes(options: { fma: boolean }): Array<{ name: string; code: Code }> {
  const codes: Record<(typeof GEMM_FUNCTIONS)[number], Code> = {
    packA: packA(),
    packB: packB(),
    kernel: kernel(options.fma),
    macro: macro(),
  };
  return GEMM_FUNCTIONS.map((name) => ({ name, code: codes[name] }));
}
