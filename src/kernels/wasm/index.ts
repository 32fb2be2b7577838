/**
 * The WebAssembly backend: f32 matmul in SIMD128 wasm (relaxed-SIMD FMA where the engine has it), emitted at
 * run time by `gemm_code.ts`; everything else, and any engine without SIMD, falls back to the JS kernels.
 */
import { jsKernels } from "../js/index.js";
import type { Kernels } from "../types.js";
import { hasRelaxedSimd, hasSimd128 } from "./features.js";
import { runGemm } from "./gemm.js";
import { WasmMatmul } from "./matmul.js";
import { WasmRuntime } from "./runtime.js";

export { hasRelaxedSimd, hasSimd128 } from "./features.js";

export interface WasmKernelOptions {
  /** Use relaxed-SIMD FMA (default: when the engine supports it). */
  fma?: boolean;
}

/** A wasm backend, or undefined when this engine cannot run it (no SIMD128, or compilation refused). */
export function createWasmKernels(options: WasmKernelOptions = {}): Kernels | undefined {
  if (!hasSimd128) return undefined;
  const fma = (options.fma ?? true) && hasRelaxedSimd;
  let rt: WasmRuntime;
  try {
    rt = WasmRuntime.create({ fma, shared: false });
  } catch {
    return undefined; // e.g. a browser main thread refusing synchronous compilation
  }
  const mm = new WasmMatmul(rt, 1, 1, (jobs) => { for (const j of jobs) runGemm(rt.gemm, j); });
  return {
    name: fma ? "wasm-relaxed-simd" : "wasm-simd128",
    matmul: (args) => mm.matmul(args),
    matmulF64: jsKernels.matmulF64,
    softmaxRows: jsKernels.softmaxRows,
    logSumExpRows: jsKernels.logSumExpRows,
  };
}
