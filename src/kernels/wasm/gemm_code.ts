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
  const row = c.local("i32"), p = c.local("i32"), col = c.local("i32");
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
    bump(c, j0, NR);
    c.get(j0).get(ncb).i32LtS().brIf(0);
  });
  return c;
}

/** packA(src, rowStride, colStride, mcb, kc, dst): packs the mcb×kc block of A at src. */
function packA(): Code {
  const c = new Code(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, rs, cs, mcb, kc, dst] = c.params as [Local, Local, Local, Local, Local, Local];
  const rs4 = c.local("i32"), cs4 = c.local("i32"), i0 = c.local("i32"), h = c.local("i32");
  const base = c.local("i32"), p = c.local("i32");
  const rows = Array.from({ length: MR }, () => c.local("i32"));
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
      () => countdown(c, p, () => {
        for (let i = 0; i < MR; i++) {
          c.get(dst).get(rows[i]!).f32Load().f32Store(4 * i);
          bump(c, rows[i]!, cs4);
        }
        bump(c, dst, 4 * MR);
      }),
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
