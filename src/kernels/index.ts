/**
 * The active kernel backend. Ops call `getKernels()` on every use, so `setKernels` (at start-up, e.g. once a
 * WebAssembly backend has loaded) switches all of them. The default is the plain-TypeScript backend.
 */
import { jsKernels } from "./js/index.js";
import type { Kernels } from "./types.js";

export type { FloatArray, Kernels, MatmulArgs } from "./types.js";
export { checkMatmulArgs } from "./check.js";
export { jsKernels } from "./js/index.js";

let active: Kernels = jsKernels;

/** The backend in use. */
export function getKernels(): Kernels {
  return active;
}

/** Makes `kernels` the backend for all subsequent ops. */
export function setKernels(kernels: Kernels): void {
  active = kernels;
}
