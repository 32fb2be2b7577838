/**
 * One instance of the wasm kernels: the compiled module, its memory (shared when worker threads will use it)
 * and typed views over that memory that follow its growth. Workers build their own `WasmRuntime` around the
 * same module and the same shared memory.
 */
import { CONTROL_BYTES } from "./control.js";
import { encodeModule, type ExportedFunction, type MemoryImport } from "./encoder.js";
import { GEMM_FUNCTIONS, gemmCodes } from "./gemm_code.js";
import type { GemmExports } from "./gemm.js";
import { ROWS_FUNCTIONS, rowsCodes, type RowsExports } from "./rows_code.js";
import { SCAN_FUNCTIONS, scanCodes, type ScanExports } from "./scan_code.js";
import { SOFTMAX_TILE_FUNCTIONS, softmaxTileCodes, type SoftmaxTileExports } from "./softmax_tile_code.js";
import { SHORT_CONV_FUNCTIONS, shortConvCodes, type ShortConvExports } from "./short_conv_code.js";
import { VMATH_FUNCTIONS, vmathCodes, type VmathExports } from "./vmath_code.js";
import { NORM_FUNCTIONS, normCodes, type NormExports } from "./norm_code.js";
import { TRI_FUNCTIONS, triCodes, type TriExports } from "./tri_code.js";
import { GATE_CHUNK_FUNCTIONS, gateChunkCodes, type GateChunkExports } from "./gate_chunk_code.js";
import { DELTA_CHUNK_BACKWARD_FUNCTIONS, deltaChunkBackwardCodes, type DeltaChunkBackwardExports } from "./delta_chunk_backward_code.js";
import { DELTA_CHUNK_FORWARD_FUNCTIONS, deltaChunkForwardCodes, type DeltaChunkForwardExports } from "./delta_chunk_forward_code.js";

/**
 * The module's kernel families, in module order: each family's export names (checked in every instance) and its
 * function bodies (built once per module). The gemm functions come first: `macro` calls `kernel` by its index.
 */
const FAMILIES: ReadonlyArray<{ functions: readonly string[]; codes: (fma: boolean) => ExportedFunction[] }> = [
  { functions: GEMM_FUNCTIONS, codes: (fma) => gemmCodes({ fma }) },
  { functions: VMATH_FUNCTIONS, codes: vmathCodes },
  { functions: ROWS_FUNCTIONS, codes: rowsCodes },
  { functions: SCAN_FUNCTIONS, codes: scanCodes },
  { functions: NORM_FUNCTIONS, codes: normCodes },
  { functions: TRI_FUNCTIONS, codes: triCodes },
  { functions: SOFTMAX_TILE_FUNCTIONS, codes: softmaxTileCodes },
  { functions: GATE_CHUNK_FUNCTIONS, codes: gateChunkCodes },
  { functions: SHORT_CONV_FUNCTIONS, codes: shortConvCodes },
  { functions: DELTA_CHUNK_BACKWARD_FUNCTIONS, codes: deltaChunkBackwardCodes },
  { functions: DELTA_CHUNK_FORWARD_FUNCTIONS, codes: deltaChunkForwardCodes },
];

const PAGE = 65536;
/**
 * Largest memory a shared runtime may grow to (2 GiB; shared memories must declare a maximum). Below 2³¹
 * bytes every byte address is a non-negative i32, so JS can index the memory with `address >> 2`.
 */
const SHARED_MAX_PAGES = 32768;
const MAX_BYTES = SHARED_MAX_PAGES * PAGE;
/**
 * Lent blocks stop this far below the maximum, so that the staging of products, maps and tasks (which lives
 * above them) always has room: with the memory full of lent blocks every product would fall back to the JS
 * kernel (~10× slower). Beyond it, `lend` returns null and the arena uses ordinary arrays.
 */
const STAGING_HEADROOM = 512 * 1024 * 1024;

/**
 * `bytes` rounded up to a multiple of `to`, in plain arithmetic: addresses near the 2 GiB end of the memory
 * would turn negative through `(x + 15) & ~15` (an int32 operation), and a negative end passes any size check.
 */
export function alignUp(bytes: number, to: number): number {
  return Math.ceil(bytes / to) * to;
}

export interface RuntimeOptions {
  fma: boolean;
  shared: boolean;
}

/** What a worker needs to rebuild the same runtime (structured-cloneable). */
export interface RuntimeHandle {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** the module was compiled with relaxed-SIMD FMA */
  fma: boolean;
}

export class WasmRuntime {
  readonly gemm: GemmExports;
  /** The elementwise maps (vmath_code.ts). */
  readonly vmath: VmathExports;
  /** The row-wise softmax (rows_code.ts). */
  readonly rows: RowsExports;
  /** The selective scan's block kernels (scan_code.ts). */
  readonly scan: ScanExports;
  /** RMSNorm's row loops (norm_code.ts). */
  readonly norm: NormExports;
  /** The delta rule's triangular inverse (tri_code.ts). */
  readonly tri: TriExports;
  /** The tiled attention's softmax tiles (softmax_tile_code.ts). */
  readonly softmaxTile: SoftmaxTileExports;
  /** The vector-gate decay's chunk kernels (gate_chunk_code.ts). */
  readonly gateChunk: GateChunkExports;
  /** The delta layers' short conv – SiLU – L2 norm rows (short_conv_code.ts). */
  readonly shortConv: ShortConvExports;
  /** The delta-rule chunk engine's backward elementwise kernels (delta_chunk_backward_code.ts). */
  readonly deltaChunkBackward: DeltaChunkBackwardExports;
  /** The delta-rule chunk engine's forward elementwise work (delta_chunk_forward_code.ts). */
  readonly deltaChunkForward: DeltaChunkForwardExports;
  private f32View: Float32Array;
  /**
   * First byte free for a product's staging (matmul.ts): just past the control block and the lent blocks, or,
   * while a task runs, past the task's own memory (so that products inside the calling thread's share do not
   * overwrite it).
   */
  heapBase = CONTROL_BYTES;
  /** End of the lent blocks (`lend`): they occupy [CONTROL_BYTES, lentTop). */
  private lentTop = CONTROL_BYTES;
  /** Released blocks by byte size, for reuse. */
  private readonly released = new Map<number, number[]>();
  /** Blocks lent and not released: when none is left, the lent region starts afresh (sizes change between models). */
  private outstanding = 0;
  /** Every ArrayBuffer this memory has had (it changes on growth): a view of one of them is in this memory. */
  private readonly buffers = new WeakSet<ArrayBufferLike>();

  constructor(readonly module: WebAssembly.Module, readonly memory: WebAssembly.Memory, readonly fma: boolean) {
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    for (const name of FAMILIES.flatMap((f) => f.functions)) {
      if (typeof exports[name] !== "function") throw new Error(`wasm kernels: export ${name} is missing`);
    }
    this.gemm = exports as unknown as GemmExports;
    this.vmath = exports as unknown as VmathExports;
    this.rows = exports as unknown as RowsExports;
    this.scan = exports as unknown as ScanExports;
    this.norm = exports as unknown as NormExports;
    this.tri = exports as unknown as TriExports;
    this.softmaxTile = exports as unknown as SoftmaxTileExports;
    this.gateChunk = exports as unknown as GateChunkExports;
    this.shortConv = exports as unknown as ShortConvExports;
    this.deltaChunkBackward = exports as unknown as DeltaChunkBackwardExports;
    this.deltaChunkForward = exports as unknown as DeltaChunkForwardExports;
    this.f32View = new Float32Array(memory.buffer);
    this.buffers.add(memory.buffer);
  }

  /** Compiles the module (synchronously) and creates its memory. */
  static create(options: RuntimeOptions): WasmRuntime {
    const limits: MemoryImport = options.shared
      ? { initial: 1, maximum: SHARED_MAX_PAGES, shared: true }
      : { initial: 1, shared: false };
    const module = new WebAssembly.Module(encodeModule(limits, FAMILIES.flatMap((f) => f.codes(options.fma))));
    const memory = new WebAssembly.Memory(limits);
    return new WasmRuntime(module, memory, options.fma);
  }

  /** The memory can be shared with workers. */
  get shared(): boolean {
    return typeof SharedArrayBuffer === "function" && this.memory.buffer instanceof SharedArrayBuffer;
  }

  get handle(): RuntimeHandle {
    return { module: this.module, memory: this.memory, fma: this.fma };
  }

  /** Float32 view of the whole memory (renewed after growth). */
  get f32(): Float32Array {
    if (this.f32View.length * 4 !== this.memory.buffer.byteLength) {
      this.f32View = new Float32Array(this.memory.buffer);
      this.buffers.add(this.memory.buffer);
    }
    return this.f32View;
  }

  /**
   * A zeroed Float32Array of `length` elements that lives in this memory (so kernels use it in place, and
   * workers see it), or null when that cannot be: the memory is not shared (growing an unshared memory would
   * detach every view of it), a task's data is staged (heapBase is above the lent blocks), or the memory is
   * full. The block stays lent until `release`; staging happens above all lent blocks.
   */
  lend(length: number): Float32Array | null {
    if (!this.shared || this.heapBase !== this.lentTop || length <= 0) return null;
    const bytes = alignUp(4 * length, 64);
    let at = this.released.get(bytes)?.pop();
    if (at === undefined) {
      if (this.lentTop + bytes > MAX_BYTES - STAGING_HEADROOM || !this.reserve(this.lentTop + bytes)) return null;
      at = this.lentTop;
      this.lentTop = this.heapBase = this.lentTop + bytes;
    }
    const view = new Float32Array(this.memory.buffer, at, length);
    this.buffers.add(view.buffer);
    this.zero(view);
    this.outstanding++;
    return view;
  }

  /** Zeroes a view of this memory (a memset; `fill(0)` on a shared memory's view is several times slower). */
  zero(view: Float32Array): void {
    const at = this.addressOf(view);
    if (at < 0) throw new Error("WasmRuntime.zero: the array is not in this runtime's memory");
    this.rows.zeroBytes(at, view.byteLength);
  }

  /** Takes back a block from `lend` (its views must no longer be used). */
  release(view: Float32Array): void {
    const at = this.addressOf(view);
    if (at < 0) throw new Error("WasmRuntime.release: the array was not lent by this runtime");
    const bytes = alignUp(4 * view.length, 64);
    let list = this.released.get(bytes);
    if (list === undefined) this.released.set(bytes, (list = []));
    list.push(at);
    if (--this.outstanding === 0 && this.heapBase === this.lentTop) {
      this.released.clear();
      this.lentTop = this.heapBase = CONTROL_BYTES;
    }
  }

  /** The byte address of `array`'s first element if it is a view of this memory, else −1. */
  addressOf(array: Float32Array | Float64Array): number {
    return this.buffers.has(array.buffer) ? array.byteOffset : -1;
  }

  /** Grows the memory to at least `bytes`; false if it cannot (beyond the maximum or out of memory). */
  reserve(bytes: number): boolean {
    if (!(bytes >= 0 && bytes <= MAX_BYTES)) return false;
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    const pages = Math.ceil((bytes - have) / PAGE);
    try {
      // Grow geometrically so that a slowly growing workload does not grow the memory on every call.
      this.memory.grow(Math.max(pages, Math.ceil(have / PAGE / 2)));
    } catch {
      try {
        this.memory.grow(pages);
      } catch {
        return false;
      }
    }
    return true;
  }
}
