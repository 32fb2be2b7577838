/**
 * The f32 `matmul` of the wasm backend: stages the operands in the module's memory, runs the packed GEMM
 * (split across threads when it is large enough to gain) and copies C back.
 *
 * Memory map: [control block | packing scratch, one per thread | A | B | C]. The control block belongs to
 * the worker pool; the rest starts at the runtime's `heapBase` (moved up while a task's data is in memory).
 * A and B are copied as the contiguous span their views cover (one memcpy, strides kept) unless that span is
 * much larger than the operand, in which case they are gathered densely. C is staged
 * with its rows padded to whole micro-tiles; with `accumulate` its old values are staged first.
 *
 * Accuracy: sums are accumulated in f32 (with FMA where relaxed SIMD exists), so each entry's error is
 * bounded by about k·ε_f32·Σ_p|A[i,p]·B[p,j]| (ε_f32 = 2⁻²³), instead of one rounding as in the JS kernel.
 */
import { checkMatmulArgs } from "../check.js";
import { matmulFast } from "../js/matmul.js";
import type { MatmulArgs } from "../types.js";
import { MR, NR } from "./gemm_code.js";
import { SCRATCH_BYTES, runGemm, type GemmJob } from "./gemm.js";
import type { WorkerPool } from "./pool.js";
import { alignUp, type WasmRuntime } from "./runtime.js";

/**
 * Below this m·n·k, and for a single output column (n = 1), the JS kernel is as fast: staging costs more than
 * it saves. A single row (m = 1, the decode step's x·W) still gains ~2.5× (measured at 1×128×128 … 1×1024²):
 * B is copied and packed with vector moves, and the 4-row kernel wastes 3/4 of its lanes but stays SIMD.
 */
const SMALL_VOLUME = 4096;
/** A view whose span exceeds this multiple of its element count is gathered instead of copied whole. */
const MAX_SPAN_RATIO = 4;
/**
 * Below this m·n·k a product stays on one thread: handing a job to a worker costs ~5–15 µs, about what a
 * 96³ product takes on one core.
 */
export const THREAD_MIN_VOLUME = 96 * 96 * 96;

const align16 = (bytes: number): number => alignUp(bytes, 16);
const roundUp = (v: number, to: number): number => Math.ceil(v / to) * to;

/** An operand in the module's memory: byte address of element (0, 0) and its strides. */
interface Staged {
  at: number;
  rowStride: number;
  colStride: number;
}

export class WasmMatmul {
  /** Threads a product may be split over (the calling thread included). */
  threads = 1;

  constructor(
    private readonly rt: WasmRuntime,
    /** Workers for the other threads; undefined when memory cannot be shared. */
    private readonly pool: WorkerPool | undefined,
  ) {}

  /** C (+)= A·B (see `MatmulArgs`); validates its arguments. */
  matmul(args: MatmulArgs<Float32Array>): void {
    checkMatmulArgs("matmul", args);
    const { m, n, k } = args;
    if (n === 1 || k === 0 || m * n * k < SMALL_VOLUME) {
      matmulFast(args);
      return;
    }
    // Operands that live in this memory (lent by `WasmRuntime.lend`) are used where they are. C is written in
    // place for its whole MR-row strips and NR-column tiles (the micro-kernel stores whole tiles, so nothing
    // past C's last row may be touched); its last m mod MR rows are a staged product of their own.
    const cAt = this.rt.addressOf(args.c);
    const inPlace = cAt >= 0 && n >= NR && m >= MR;
    if (inPlace && m % MR !== 0) {
      const top = m - (m % MR);
      this.product({ ...args, m: top }, cAt);
      this.product({ ...args, m: m - top, aOffset: args.aOffset + top * args.aRowStride, cOffset: args.cOffset + top * n }, -1);
      return;
    }
    this.product(args, inPlace ? cAt : -1);
  }

  /** The product, with C staged (cAt < 0) or written in place at byte address cAt (then m is a multiple of MR). */
  private product(args: MatmulArgs<Float32Array>, cAt: number): void {
    const { m, n, k } = args;
    const parts = this.parts(m, n, k);
    // C is staged with row stride n, so it comes back in one copy. The micro-kernel stores whole NR-column
    // tiles, so the last n mod NR columns (when n ≥ NR) are a second, thin product into a padded block of
    // their own; only those few columns are copied row by row. (n < NR: one padded block.)
    const tail = n >= NR ? n % NR : 0;
    const main = n - tail;
    const ldc = n < NR ? NR : n;
    const rowsPadded = roundUp(m, MR);
    const base = this.rt.heapBase;
    const aOwn = this.rt.addressOf(args.a);
    const bOwn = this.rt.addressOf(args.b);
    const aAddr = base + parts * SCRATCH_BYTES;
    const aBytes = aOwn >= 0 ? 0 : align16(4 * this.spanOrDense(m, args.aRowStride, k, args.aColStride));
    const bAddr = aAddr + aBytes;
    const bBytes = bOwn >= 0 ? 0 : align16(4 * this.spanOrDense(k, args.bRowStride, n, args.bColStride));
    const cAddr = cAt >= 0 ? cAt + 4 * args.cOffset : bAddr + bBytes;
    const tailAddr = align16(bAddr + bBytes + (cAt >= 0 ? 0 : 4 * rowsPadded * ldc));
    if (!this.rt.reserve(tailAddr + (tail > 0 ? 4 * rowsPadded * NR : 0))) {
      matmulFast(args); // does not fit in the module's memory
      return;
    }
    const heap = this.rt.f32;
    const a = aOwn >= 0 ? { at: aOwn + 4 * args.aOffset, rowStride: args.aRowStride, colStride: args.aColStride } : this.stage(heap, args.a, args.aOffset, m, args.aRowStride, k, args.aColStride, aAddr);
    const b = bOwn >= 0 ? { at: bOwn + 4 * args.bOffset, rowStride: args.bRowStride, colStride: args.bColStride } : this.stage(heap, args.b, args.bOffset, k, args.bRowStride, n, args.bColStride, bAddr);
    if (args.accumulate) {
      if (cAt < 0) copyRows(args.c, args.cOffset, n, heap, cAddr >> 2, ldc, m, n);
      if (tail > 0) copyRows(args.c, args.cOffset + main, n, heap, tailAddr >> 2, NR, m, tail);
    }
    const job: GemmJob = {
      m, n: main, k,
      a: a.at, aRowStride: a.rowStride, aColStride: a.colStride,
      b: b.at, bRowStride: b.rowStride, bColStride: b.colStride,
      c: cAddr, ldc, accumulate: args.accumulate,
      scratch: base,
    };
    if (main > 0) {
      if (parts === 1) runGemm(this.rt.gemm, job);
      else this.pool!.run(split(job, parts));
    }
    if (tail > 0) runGemm(this.rt.gemm, { ...job, n: tail, b: b.at + 4 * main * b.colStride, c: tailAddr, ldc: NR });
    if (cAt < 0) copyRows(heap, cAddr >> 2, ldc, args.c, args.cOffset, n, m, n);
    if (tail > 0) copyRows(heap, tailAddr >> 2, NR, args.c, args.cOffset + main, n, m, tail);
  }

  /**
   * Threads to split this product over: 1 below THREAD_MIN_VOLUME or while the workers run a task; otherwise
   * as many as are configured and ready (asking the pool to start the missing workers in the background).
   */
  private parts(m: number, n: number, k: number): number {
    if (this.threads < 2 || !this.pool || this.pool.busy || m * n * k < THREAD_MIN_VOLUME) return 1;
    this.pool.grow(this.threads - 1);
    const units = m >= n ? Math.ceil(m / MR) : Math.ceil(n / NR);
    return Math.max(1, Math.min(this.threads, 1 + this.pool.ready, units));
  }

  /** Elements a staged operand occupies: its span, or rows·cols when it will be gathered. */
  private spanOrDense(rows: number, rowStride: number, cols: number, colStride: number): number {
    const span = (rows - 1) * rowStride + (cols - 1) * colStride + 1;
    return span <= MAX_SPAN_RATIO * rows * cols ? span : rows * cols;
  }

  private stage(heap: Float32Array, src: Float32Array, offset: number, rows: number, rowStride: number, cols: number, colStride: number, addr: number): Staged {
    const span = (rows - 1) * rowStride + (cols - 1) * colStride + 1;
    const at = addr >> 2;
    if (span <= MAX_SPAN_RATIO * rows * cols) {
      heap.set(src.subarray(offset, offset + span), at);
      return { at: addr, rowStride, colStride };
    }
    for (let i = 0, q = at; i < rows; i++) {
      for (let j = 0, s = offset + i * rowStride; j < cols; j++, s += colStride) heap[q++] = src[s]!;
    }
    return { at: addr, rowStride: cols, colStride: 1 };
  }

}

/**
 * Splits a product into `parts` jobs along its longer side of C (rows in multiples of MR, columns in multiples
 * of NR, so no two jobs share a padded tile), each with its own packing scratch; each job packs what it needs.
 */
function split(job: GemmJob, parts: number): GemmJob[] {
  const byRows = job.m >= job.n;
  const unit = byRows ? MR : NR;
  const size = byRows ? job.m : job.n;
  const units = Math.ceil(size / unit);
  const jobs: GemmJob[] = [];
  for (let t = 0, start = 0; t < parts; t++) {
    const count = Math.floor(units / parts) + (t < units % parts ? 1 : 0);
    const from = start * unit;
    const to = Math.min((start + count) * unit, size);
    start += count;
    const scratch = job.scratch + t * SCRATCH_BYTES;
    jobs.push(byRows
      ? { ...job, m: to - from, a: job.a + 4 * from * job.aRowStride, c: job.c + 4 * from * job.ldc, scratch }
      : { ...job, n: to - from, b: job.b + 4 * from * job.bColStride, c: job.c + 4 * from, scratch });
  }
  return jobs;
}

/**
 * Copies an m×n block between row-major layouts with row strides srcLd and dstLd: one memcpy when dense, a
 * copy per row for long rows, and a plain loop for short ones (a view per row would cost more than the row).
 */
function copyRows(src: Float32Array, srcAt: number, srcLd: number, dst: Float32Array, dstAt: number, dstLd: number, m: number, n: number): void {
  if (srcLd === n && dstLd === n) {
    dst.set(src.subarray(srcAt, srcAt + m * n), dstAt);
  } else if (n >= 64) {
    for (let i = 0; i < m; i++) dst.set(src.subarray(srcAt + i * srcLd, srcAt + i * srcLd + n), dstAt + i * dstLd);
  } else {
    for (let i = 0; i < m; i++) {
      for (let j = 0, s = srcAt + i * srcLd, d = dstAt + i * dstLd; j < n; j++) dst[d + j] = src[s + j]!;
    }
  }
}
