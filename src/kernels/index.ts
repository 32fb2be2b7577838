/**
 * The active kernel backend. Ops call `getKernels()` on every use, so `setKernels` switches all of them.
 * At start-up the wasm backend is chosen when the engine runs WebAssembly SIMD, else the plain-TypeScript
 * one; SEQMIX_KERNELS=js (in Node) forces the latter.
 */
import { jsKernels } from "./js/index.js";
import type { Kernels } from "./types.js";
import { checkThreads, createWasmKernels, type WasmKernels } from "./wasm/index.js";
import { nodeProcess } from "./wasm/features.js";

export type { ElementwiseMap, FloatArray, Kernels, MatmulArgs, Operand, RmsNormBackwardRowsArgs, RmsNormRowsArgs, ScanBackwardArgs, ScanForwardArgs, ScanUnit, UnitLowerInverseArgs } from "./types.js";
export type { GateChunkArgs, GateChunkBackwardArgs, GateChunkPrepareArgs, GateChunkScratch } from "./types.js";
export type { ShortConvBackwardArgs, ShortConvForwardArgs, ShortConvRow } from "./types.js";
export type { CopyRowsArgs, DeltaChunkBackwardMiddleArgs, DeltaChunkBackwardPrepArgs, DeltaChunkForwardPrepArgs, DeltaChunkStateGradArgs, StridedRows } from "./types.js";
export { checkMatmulArgs } from "./check.js";
export { jsKernels } from "./js/index.js";
export { createWasmKernels, hasRelaxedSimd, hasSimd128, type WasmKernelOptions, type WasmKernels } from "./wasm/index.js";

let active: Kernels = (nodeProcess?.env.SEQMIX_KERNELS === "js" ? undefined : createWasmKernels()) ?? jsKernels;

/** The backend in use. */
export function getKernels(): Kernels {
  return active;
}

/** Makes `kernels` the backend for all subsequent ops. */
export function setKernels(kernels: Kernels): void {
  active = kernels;
}

/** Runs `fn` with `kernels` as the backend, then restores the one before (also when fn throws). */
export function withKernels<T>(kernels: Kernels, fn: () => T): T {
  const before = active;
  active = kernels;
  try {
    return fn();
  } finally {
    active = before;
  }
}

/**
 * Threads the active backend may use for large products (the calling thread included): 1 for the JS backend.
 * The wasm backend starts with SEQMIX_THREADS, else every logical processor.
 */
export function getThreads(): number {
  return (active as Partial<WasmKernels>).threads ?? 1;
}

/** Sets the thread count of the active backend (ignored by a single-threaded one). */
export function setThreads(threads: number): void {
  checkThreads(threads);
  if ("threads" in active) (active as WasmKernels).threads = threads;
}
