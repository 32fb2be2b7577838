/**
 * The WebAssembly backend: f32 matmul in SIMD128 wasm (relaxed-SIMD FMA where the engine has it), emitted at
 * run time by `gemm_code.ts`, split over a worker pool for large products; in f32 SIMD also the elementwise
 * maps (`vmath_code.ts`), the row softmax (`rows_code.ts`) and the selective scan's units (`scan_code.ts`);
 * everything else, and any engine without SIMD, falls back to the JS kernels. The same pool runs the ops'
 * tasks (../parallel.ts).
 */
import { jsKernels } from "../js/index.js";
import type { Kernels } from "../types.js";
import { cpuCount, hasRelaxedSimd, hasSharedMemory, hasSimd128, nodeProcess } from "./features.js";
import { WasmMatmul } from "./matmul.js";
import { WorkerPool } from "./pool.js";
import { WasmRuntime } from "./runtime.js";
import { WasmTaskRunner } from "./task_runner.js";
import { WasmMaps } from "./vmath.js";
import { WasmRows } from "./rows.js";
import { WasmScan } from "./scan.js";
import { WasmNorm } from "./norm.js";
import { WasmTri } from "./tri.js";
import { WasmSoftmaxTile } from "./softmax_tile.js";
import { WasmGateChunk } from "./gate_chunk.js";
import { WasmShortConv } from "./short_conv.js";
import { WasmDeltaChunkBackward } from "./delta_chunk_backward.js";
import { WasmDeltaChunkForward } from "./delta_chunk_forward.js";

export { cpuCount, hasRelaxedSimd, hasSimd128 } from "./features.js";

export interface WasmKernelOptions {
  /** Use relaxed-SIMD FMA (default: when the engine supports it). */
  fma?: boolean;
  /**
   * Threads for large products and tasks, the calling thread included (default: SEQMIX_THREADS in Node, else every
   * logical processor). 1 never starts a worker; more need SharedArrayBuffer (in browsers: cross-origin
   * isolation), else the backend stays single-threaded.
   */
  threads?: number;
}

/** A kernel backend whose thread count can be changed at any time. */
export interface WasmKernels extends Kernels {
  threads: number;
  /** Workers started and ready to take jobs (they start on the first product or task large enough to split). */
  readonly workersReady: number;
  /** Runs the ops' tasks over the same workers (used by ../parallel.ts). */
  readonly tasks: WasmTaskRunner;
}

/** The thread count SEQMIX_THREADS asks for (undefined when unset); a bad value is an error. */
export function threadsFromEnv(): number | undefined {
  const raw = nodeProcess?.env.SEQMIX_THREADS;
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`SEQMIX_THREADS must be a positive integer, got "${raw}"`);
  return n;
}

export function checkThreads(n: number): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`threads must be a positive integer, got ${n}`);
  return n;
}

function createRuntime(fma: boolean, shared: boolean): WasmRuntime | undefined {
  try {
    return WasmRuntime.create({ fma, shared });
  } catch {
    return undefined; // e.g. a browser main thread refusing synchronous compilation, or no room for the memory
  }
}

/** A wasm backend, or undefined when this engine cannot run it (no SIMD128, or compilation refused). */
export function createWasmKernels(options: WasmKernelOptions = {}): WasmKernels | undefined {
  if (!hasSimd128) return undefined;
  const fma = (options.fma ?? true) && hasRelaxedSimd;
  const threads = checkThreads(options.threads ?? threadsFromEnv() ?? cpuCount);
  const rt = createRuntime(fma, hasSharedMemory) ?? (hasSharedMemory ? createRuntime(fma, false) : undefined);
  if (!rt) return undefined;
  const pool = rt.shared ? new WorkerPool(rt) : undefined;
  const mm = new WasmMatmul(rt, pool);
  const tasks = new WasmTaskRunner(rt, pool);
  const maps = new WasmMaps(rt);
  const rows = new WasmRows(rt);
  const scan = new WasmScan(rt);
  const norm = new WasmNorm(rt);
  const tri = new WasmTri(rt);
  const softmaxTile = new WasmSoftmaxTile(rt);
  const gateChunk = new WasmGateChunk(rt);
  const shortConv = new WasmShortConv(rt);
  const deltaBackward = new WasmDeltaChunkBackward(rt);
  const deltaChunkForward = new WasmDeltaChunkForward(rt);
  mm.threads = threads;
  tasks.threads = threads;
  return {
    name: fma ? "wasm-relaxed-simd" : "wasm-simd128",
    matmul: (args) => mm.matmul(args),
    matmulF64: jsKernels.matmulF64,
    softmaxRows: (x, out, r, c, lse) => rows.softmaxRows(x, out, r, c, lse),
    logSumExpRows: jsKernels.logSumExpRows,
    map: (name, inputs, outputs, n) => maps.map(name, inputs, outputs, n),
    lend: (length) => rt.lend(length),
    release: (array) => rt.release(array),
    zero: (array) => rt.zero(array),
    copyRows: (args) => rows.copyRows(args),
    scanForward: (args) => scan.forward(args),
    scanBackward: (args) => scan.backward(args),
    rmsNormRows: (args) => norm.forward(args),
    rmsNormBackwardRows: (args) => norm.backward(args),
    unitLowerInverse: (args) => tri.unitLowerInverse(args),
    softmaxTileForward: (args) => softmaxTile.forward(args),
    softmaxTileBackward: (args) => softmaxTile.backward(args),
    gateChunkPrepare: (args) => gateChunk.prepare(args),
    gateChunkBackward: (args) => gateChunk.backward(args),
    shortConvForward: (args) => shortConv.forward(args),
    shortConvBackward: (args) => shortConv.backward(args),
    deltaChunkBackwardPrep: (args) => deltaBackward.prep(args),
    deltaChunkBackwardMiddle: (args) => deltaBackward.middle(args),
    deltaChunkStateGrad: (args) => deltaBackward.stateGrad(args),
    deltaChunkForwardPrep: (args) => deltaChunkForward.prep(args),
    get threads() { return mm.threads; },
    set threads(n: number) { mm.threads = tasks.threads = checkThreads(n); },
    get workersReady() { return pool?.ready ?? 0; },
    tasks,
  };
}
