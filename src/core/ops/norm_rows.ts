/**
 * The row loops of RMSNorm (forward and backward; the math is in nn.ts `rmsNorm`), as tasks over blocks of
 * ROWS_PER_UNIT rows (kernels/parallel.ts), each block one call of the kernel backend's `rmsNormRows` /
 * `rmsNormBackwardRows` (f64x2 SIMD on the wasm backend). They are memory-bound, so they use the second core only when their
 * large buffers already live in the backend's shared memory (the buffer arena's do); otherwise they run on the
 * calling thread. The weight gradient Σ_rows g·x̂ is summed per unit in f64 and the units' sums are added in
 * order, so the result does not depend on the thread count.
 */
import type { FloatArray } from "../dtype.js";
import { defineTask, runTask } from "../../kernels/parallel.js";
import { getKernels } from "../../kernels/index.js";

const ROWS_PER_UNIT = 64;

const units = (rows: number): number => Math.ceil(rows / ROWS_PER_UNIT);

/** Buffers: x [rows·width], weight [width] or empty → out [rows·width], inv [rows] (f64). Args: rows, width, eps. */
const forwardTask = defineTask("core.rmsNorm.forward", (buffers, args, next) => {
  const [x, wv, out, inv] = buffers as [FloatArray, FloatArray, FloatArray, Float64Array];
  const [rows, width, eps] = args as [number, number, number];
  const weight = wv.length > 0 ? wv : null;
  const kernels = getKernels();
  for (let u = next(); u >= 0; u = next()) {
    kernels.rmsNormRows({ x, weight, out, inv, r0: u * ROWS_PER_UNIT, r1: Math.min(rows, (u + 1) * ROWS_PER_UNIT), width, eps });
  }
});

/**
 * Buffers: x, g [rows·width], weight [width] or empty, inv [rows] → dx [rows·width], dwParts [units·width] (f64,
 * empty without a weight). Args: rows, width.
 */
const backwardTask = defineTask("core.rmsNorm.backward", (buffers, args, next) => {
  const [x, g, wv, inv, dx, dwParts] = buffers as [FloatArray, FloatArray, FloatArray, Float64Array, FloatArray, Float64Array];
  const [rows, width] = args as [number, number];
  const weight = wv.length > 0 ? wv : null;
  const kernels = getKernels();
  for (let u = next(); u >= 0; u = next()) {
    const dw = weight ? dwParts.subarray(u * width, (u + 1) * width) : null;
    kernels.rmsNormBackwardRows({ x, g, weight, inv, dx, dw, r0: u * ROWS_PER_UNIT, r1: Math.min(rows, (u + 1) * ROWS_PER_UNIT), width });
  }
});

const empty = (like: FloatArray): FloatArray => (like instanceof Float64Array ? new Float64Array(0) : new Float32Array(0));

/** out = x·r·w row by row (r = 1/√(mean x² + eps), kept in inv). */
export function rmsNormRows(xv: FloatArray, wv: FloatArray | null, out: FloatArray, inv: Float64Array, rows: number, width: number, eps: number): void {
  runTask(forwardTask, {
    units: units(rows),
    work: 4 * rows * width,
    args: [rows, width, eps],
    inputs: [xv, wv ?? empty(xv)],
    outputs: [out, inv],
    memoryBound: true,
  });
}

/** dx row by row, and dw = Σ_rows g·x̂ when there is a weight (returned in f64, else null). */
export function rmsNormBackwardRows(xv: FloatArray, gv: FloatArray, wv: FloatArray | null, inv: Float64Array, dx: FloatArray, rows: number, width: number): Float64Array | null {
  const n = units(rows);
  const parts = wv ? new Float64Array(n * width) : new Float64Array(0);
  runTask(backwardTask, {
    units: n,
    work: 6 * rows * width,
    args: [rows, width],
    inputs: [xv, gv, wv ?? empty(xv), inv],
    outputs: [dx, parts],
    memoryBound: true,
  });
  if (!wv) return null;
  const dw = new Float64Array(width);
  for (let u = 0; u < n; u++) for (let j = 0; j < width; j++) dw[j] += parts[u * width + j]!;
  return dw;
}
