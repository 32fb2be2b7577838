/**
 * Feature probes for the wasm backend: `WebAssembly.validate` on tiny modules that use SIMD128 and relaxed
 * SIMD. Node 20 validates SIMD128 by default but relaxed SIMD only behind the V8 flag
 * `--experimental-wasm-relaxed-simd`; in Node this module sets that flag from code (before any of our
 * modules is compiled) unless SEQMIX_RELAXED_SIMD=0. The flag only makes more modules valid; it changes
 * nothing for code that does not use relaxed instructions.
 */
import { Code, encodeModule } from "./encoder.js";

/** The Node `process` object, or undefined in a browser. */
export const nodeProcess: NodeJS.Process | undefined =
  typeof process !== "undefined" && typeof process.versions?.node === "string" ? process : undefined;

/** Imports a Node built-in by a computed name, so browser bundlers do not try to resolve it. */
export async function importNode<T>(name: string): Promise<T> {
  const specifier = `node:${name}`;
  return (await import(/* @vite-ignore */ /* webpackIgnore: true */ specifier)) as T;
}

function probe(build: (c: Code) => void): boolean {
  try {
    const c = new Code([]);
    build(c);
    return WebAssembly.validate(encodeModule({ initial: 1, shared: false }, [{ name: "f", code: c, results: ["v128"] }]));
  } catch {
    return false;
  }
}

if (nodeProcess && nodeProcess.env.SEQMIX_RELAXED_SIMD !== "0" && !probe((c) => c.v128Zero().v128Zero().v128Zero().f32x4RelaxedMadd())) {
  try {
    const v8 = await importNode<typeof import("node:v8")>("v8");
    v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  } catch {
    // Not fatal: the SIMD128 kernels are used instead.
  }
}

/** The engine runs fixed-width SIMD (v128). */
export const hasSimd128: boolean = typeof WebAssembly === "object" && probe((c) => c.v128Zero().v128Zero().f32x4Add());
/** The engine runs relaxed SIMD (checked after the Node flag above has been set), and it is not switched off. */
export const hasRelaxedSimd: boolean = hasSimd128 && nodeProcess?.env.SEQMIX_RELAXED_SIMD !== "0" && probe((c) => c.v128Zero().v128Zero().v128Zero().f32x4RelaxedMadd());
/** SharedArrayBuffer exists (browsers need cross-origin isolation for it), so workers can share memory. */
export const hasSharedMemory: boolean = typeof SharedArrayBuffer === "function";

/**
 * Node's worker_threads, loaded when this module loads: the pool then starts workers synchronously, in the
 * middle of a synchronous training loop that never returns to the event loop (an `await` there would put
 * the start off until the loop ends).
 */
export const nodeWorkerThreads: typeof import("node:worker_threads") | undefined = nodeProcess
  ? await importNode<typeof import("node:worker_threads")>("worker_threads").catch(() => undefined)
  : undefined;

/** Logical processors available to this process (1 where unknown). */
export const cpuCount: number = nodeProcess
  ? (await importNode<typeof import("node:os")>("os")).availableParallelism()
  : Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
