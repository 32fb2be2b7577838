/**
 * The fast plain-TypeScript matrix product C (+)= A·B (see `MatmulArgs` for the layout conventions).
 *
 * Scheme (the classic packed-panel GEMM, sized for what V8's scalar code can use):
 * - B is packed, per block of NC columns, into strips NR columns wide: for each k-block of KC rows, a strip
 *   is KC consecutive groups of NR values. A is packed, per block of MC rows and one k-block, into strips MR
 *   rows tall: KC groups of MR values. Edges are padded with zeros, so the micro-kernel never branches.
 * - Packed buffers are Float64Array whatever the input type (conversion happens once, while packing), so the
 *   micro-kernel only ever sees Float64Array and stays monomorphic for both dtypes.
 * - The MR×NR micro-kernel keeps its 12 sums in locals (registers) across a whole k-block. Results go to an
 *   f64 scratch tile of the C block, which carries the sums across k-blocks; C itself is written once per
 *   block, so an f32 C is rounded exactly once per element, like the reference loop.
 * - Vector-shaped products (m = 1 or n = 1: padding to 4×3 tiles would waste most of the work, and each
 *   element is used once, so packing does not pay) and tiny ones skip packing and use direct loops.
 *
 * Block sizes were picked by measurement on Zen 4 / Node 20: 4×3 beat 4×4 (register pressure: 16
 * accumulators spill), unrolling k lost, and f64 packed buffers matched or beat f32 ones.
 * Scratch buffers live in this module, grow on demand and are reused; the kernel is not re-entrant, which is
 * fine for single-threaded JS.
 */
import { checkMatmulArgs } from "../check.js";
import type { FloatArray, MatmulArgs } from "../types.js";

/** Micro-tile rows (A strip height). */
const MR = 4;
/** Micro-tile columns (B strip width). */
const NR = 3;
/** k-block: a B strip of KC×NR f64 (6 KiB) stays in L1 while it meets every A strip of the block. */
const KC = 256;
/** Rows of A per packed block (multiple of MR): MC×KC f64 = 128 KiB sits in L2. */
const MC = 64;
/** Columns of B per packed panel (multiple of NR), lowered for very large k to bound the panel's memory. */
const NC = 384;
/** Largest packed B panel, in elements (8 MiB of f64). */
const MAX_PANEL = 1 << 20;
/** Up to this m·n·k the packing costs more than it saves (measured: packing already wins at 3×3×3). */
const SMALL_VOLUME = 16;

let packedA: Float64Array = new Float64Array(MC * KC);
let packedB: Float64Array = new Float64Array(NC * KC);
let cTile: Float64Array = new Float64Array(MC * NC);
let rowAcc: Float64Array = new Float64Array(256);

function grow(buf: Float64Array, size: number): Float64Array {
  return buf.length >= size ? buf : new Float64Array(Math.max(size, 2 * buf.length));
}

/** C (+)= A·B for Float32Array or Float64Array operands; validates its arguments. */
export function matmulFast<T extends FloatArray>(args: MatmulArgs<T>): void {
  checkMatmulArgs("matmul", args);
  const { m, n, k } = args;
  if (m === 0 || n === 0) return;
  if (k === 0) {
    if (!args.accumulate) args.c.fill(0, args.cOffset, args.cOffset + m * n);
    return;
  }
  if (m === 1 || n === 1 || m * n * k <= SMALL_VOLUME) matmulDirect(args);
  else matmulPacked(args);
}

/**
 * Unpacked loops for tiny or vector-shaped products. When n > 1 and B's columns are closer together than its
 * rows (the usual row-major case) each row of C is built as an f64 axpy over rows of B; otherwise each
 * element is one dot product.
 */
function matmulDirect(args: MatmulArgs<FloatArray>): void {
  const { m, n, k, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, c, cOffset, accumulate } = args;
  if (n > 1 && bColStride <= bRowStride) {
    rowAcc = grow(rowAcc, n);
    const acc = rowAcc;
    for (let i = 0; i < m; i++) {
      const cRow = cOffset + i * n;
      if (accumulate) for (let j = 0; j < n; j++) acc[j] = c[cRow + j]!;
      else acc.fill(0, 0, n);
      const aRow = aOffset + i * aRowStride;
      for (let p = 0; p < k; p++) {
        const av = a[aRow + p * aColStride]!;
        let q = bOffset + p * bRowStride;
        for (let j = 0; j < n; j++, q += bColStride) acc[j]! += av * b[q]!;
      }
      for (let j = 0; j < n; j++) c[cRow + j] = acc[j]!;
    }
  } else {
    for (let i = 0; i < m; i++) {
      const aRow = aOffset + i * aRowStride;
      for (let j = 0; j < n; j++) {
        const q = cOffset + i * n + j;
        let sum = accumulate ? c[q]! : 0;
        let qa = aRow;
        let qb = bOffset + j * bColStride;
        for (let p = 0; p < k; p++, qa += aColStride, qb += bRowStride) sum += a[qa]! * b[qb]!;
        c[q] = sum;
      }
    }
  }
}

function matmulPacked(args: MatmulArgs<FloatArray>): void {
  const { m, n, k, a, aOffset, aRowStride, aColStride, b, bOffset, bRowStride, bColStride, c, cOffset, accumulate } = args;
  // Panel width: NC columns, fewer when k is so large that a k×NC panel would exceed MAX_PANEL.
  const nc = Math.max(NR * 8, Math.min(NC, Math.floor(MAX_PANEL / k / NR) * NR));
  for (let j0 = 0; j0 < n; j0 += nc) {
    const ncb = Math.min(nc, n - j0);
    const nStrips = Math.ceil(ncb / NR);
    const ldt = nStrips * NR; // row stride of the C tile and width of a packed k-row of the B panel
    packedB = grow(packedB, k * ldt);
    packB(b, bOffset + j0 * bColStride, bRowStride, bColStride, k, ncb, nStrips, packedB);
    for (let i0 = 0; i0 < m; i0 += MC) {
      const mcb = Math.min(MC, m - i0);
      const mStrips = Math.ceil(mcb / MR);
      cTile = grow(cTile, mStrips * MR * ldt);
      loadTile(c, cOffset + i0 * n + j0, n, mcb, ncb, accumulate, cTile, mStrips * MR, ldt);
      for (let p0 = 0; p0 < k; p0 += KC) {
        const kc = Math.min(KC, k - p0);
        packA(a, aOffset + i0 * aRowStride + p0 * aColStride, aRowStride, aColStride, mcb, kc, mStrips, packedA);
        const bBlock = p0 * ldt; // the k-block starting at row p0 of the panel
        for (let s = 0; s < nStrips; s++) {
          const bi = bBlock + s * NR * kc;
          for (let r = 0; r < mStrips; r++) {
            kernel4x3(packedA, r * MR * kc, packedB, bi, kc, cTile, r * MR * ldt + s * NR, ldt);
          }
        }
      }
      storeTile(cTile, ldt, c, cOffset + i0 * n + j0, n, mcb, ncb);
    }
  }
}

/**
 * Packs B[0..k, 0..ncb) (given by offset and strides) into k-blocks of KC rows; within a block, strip s holds
 * for each row p the NR values B[p, s*NR .. s*NR+NR), zero-padded past ncb.
 */
function packB(b: FloatArray, off: number, rs: number, cs: number, k: number, ncb: number, nStrips: number, out: Float64Array): void {
  let q = 0;
  for (let p0 = 0; p0 < k; p0 += KC) {
    const kc = Math.min(KC, k - p0);
    for (let s = 0; s < nStrips; s++) {
      const j0 = s * NR;
      const w = Math.min(NR, ncb - j0);
      let src = off + p0 * rs + j0 * cs;
      if (w === NR) {
        for (let p = 0; p < kc; p++, src += rs, q += NR) {
          out[q] = b[src]!;
          out[q + 1] = b[src + cs]!;
          out[q + 2] = b[src + 2 * cs]!;
        }
      } else {
        for (let p = 0; p < kc; p++, src += rs) {
          let jj = 0;
          for (; jj < w; jj++) out[q++] = b[src + jj * cs]!;
          for (; jj < NR; jj++) out[q++] = 0;
        }
      }
    }
  }
}

/** Packs A[0..mcb, 0..kc) into strips: strip r holds for each p the MR values A[r*MR .. r*MR+MR, p], zero-padded. */
function packA(a: FloatArray, off: number, rs: number, cs: number, mcb: number, kc: number, mStrips: number, out: Float64Array): void {
  let q = 0;
  for (let r = 0; r < mStrips; r++) {
    const i0 = r * MR;
    const h = Math.min(MR, mcb - i0);
    let src = off + i0 * rs;
    if (h === MR) {
      for (let p = 0; p < kc; p++, src += cs, q += MR) {
        out[q] = a[src]!;
        out[q + 1] = a[src + rs]!;
        out[q + 2] = a[src + 2 * rs]!;
        out[q + 3] = a[src + 3 * rs]!;
      }
    } else {
      for (let p = 0; p < kc; p++, src += cs) {
        let ii = 0;
        for (; ii < h; ii++) out[q++] = a[src + ii * rs]!;
        for (; ii < MR; ii++) out[q++] = 0;
      }
    }
  }
}

/** Fills the f64 C tile (tileRows×ldt, padding included) with the C block (accumulate) or zeros. */
function loadTile(c: FloatArray, off: number, n: number, mcb: number, ncb: number, accumulate: boolean, tile: Float64Array, tileRows: number, ldt: number): void {
  tile.fill(0, 0, tileRows * ldt);
  if (!accumulate) return;
  for (let i = 0; i < mcb; i++) {
    const src = off + i * n;
    const dst = i * ldt;
    for (let j = 0; j < ncb; j++) tile[dst + j] = c[src + j]!;
  }
}

/** Writes the valid mcb×ncb part of the f64 tile into C (rounding once to C's element type). */
function storeTile(tile: Float64Array, ldt: number, c: FloatArray, off: number, n: number, mcb: number, ncb: number): void {
  for (let i = 0; i < mcb; i++) {
    const dst = off + i * n;
    const src = i * ldt;
    for (let j = 0; j < ncb; j++) c[dst + j] = tile[src + j]!;
  }
}

/**
 * The 4×3 micro-kernel: tile[ci + i*ldt + j] += Σ_p A[i,p]·B[p,j] over one k-block, A and B read from their
 * packed strips starting at ai and bi. The 12 sums stay in locals for the whole loop.
 */
function kernel4x3(pa: Float64Array, ai: number, pb: Float64Array, bi: number, kc: number, t: Float64Array, ci: number, ldt: number): void {
  const r1 = ci + ldt;
  const r2 = r1 + ldt;
  const r3 = r2 + ldt;
  let c00 = t[ci]!, c01 = t[ci + 1]!, c02 = t[ci + 2]!;
  let c10 = t[r1]!, c11 = t[r1 + 1]!, c12 = t[r1 + 2]!;
  let c20 = t[r2]!, c21 = t[r2 + 1]!, c22 = t[r2 + 2]!;
  let c30 = t[r3]!, c31 = t[r3 + 1]!, c32 = t[r3 + 2]!;
  for (let p = 0; p < kc; p++) {
    const a0 = pa[ai]!, a1 = pa[ai + 1]!, a2 = pa[ai + 2]!, a3 = pa[ai + 3]!;
    let bv = pb[bi]!;
    c00 += a0 * bv; c10 += a1 * bv; c20 += a2 * bv; c30 += a3 * bv;
    bv = pb[bi + 1]!;
    c01 += a0 * bv; c11 += a1 * bv; c21 += a2 * bv; c31 += a3 * bv;
    bv = pb[bi + 2]!;
    c02 += a0 * bv; c12 += a1 * bv; c22 += a2 * bv; c32 += a3 * bv;
    ai += MR;
    bi += NR;
  }
  t[ci] = c00; t[ci + 1] = c01; t[ci + 2] = c02;
  t[r1] = c10; t[r1 + 1] = c11; t[r1 + 2] = c12;
  t[r2] = c20; t[r2 + 1] = c21; t[r2 + 2] = c22;
  t[r3] = c30; t[r3 + 1] = c31; t[r3 + 2] = c32;
}
