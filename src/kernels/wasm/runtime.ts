/**
 * One instance of the wasm kernels: the compiled module, its memory (shared when worker threads will use it)
 * and typed views over that memory that follow its growth. Workers build their own `WasmRuntime` around the
 * same module and the same shared memory.
 */
import { CONTROL_BYTES } from "./control.js";
import { encodeModule, type MemoryImport } from "./encoder.js";
import { GEMM_FUNCTIONS, gemmCodes } from "./gemm_code.js";
import type { GemmExports } from "./gemm.js";
import { SCAN_FUNCTIONS, scanCodes, type ScanExports } from "./scan_code.js";
import { VMATH_FUNCTIONS, vmathCodes, type VmathExports } from "./vmath_code.js";

const PAGE = 65536;
/** Largest memory a shared runtime may grow to (1 GiB); shared memories must declare a maximum. */
const SHARED_MAX_PAGES = 16384;

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
  /** The selective scan's block kernels (scan_code.ts). */
  readonly scan: ScanExports;
  private f32View: Float32Array;
  /**
   * First byte free for a product's staging (matmul.ts): just past the control block, or, while a task runs,
   * past the task's own memory (so that products inside the calling thread's share do not overwrite it).
   */
  heapBase = CONTROL_BYTES;

  constructor(readonly module: WebAssembly.Module, readonly memory: WebAssembly.Memory, readonly fma: boolean) {
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    for (const name of [...GEMM_FUNCTIONS, ...VMATH_FUNCTIONS, ...SCAN_FUNCTIONS]) {
      if (typeof exports[name] !== "function") throw new Error(`wasm kernels: export ${name} is missing`);
    }
    this.gemm = exports as unknown as GemmExports;
    this.vmath = exports as unknown as VmathExports;
    this.scan = exports as unknown as ScanExports;
    this.f32View = new Float32Array(memory.buffer);
  }

  /** Compiles the module (synchronously) and creates its memory. */
  static create(options: RuntimeOptions): WasmRuntime {
    const limits: MemoryImport = options.shared
      ? { initial: 1, maximum: SHARED_MAX_PAGES, shared: true }
      : { initial: 1, shared: false };
    const module = new WebAssembly.Module(encodeModule(limits, [...gemmCodes({ fma: options.fma }), ...vmathCodes(), ...scanCodes()]));
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
    if (this.f32View.length * 4 !== this.memory.buffer.byteLength) this.f32View = new Float32Array(this.memory.buffer);
    return this.f32View;
  }

  /** Grows the memory to at least `bytes`; false if it cannot (beyond the maximum or out of memory). */
  reserve(bytes: number): boolean {
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
