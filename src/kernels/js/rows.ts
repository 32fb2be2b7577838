/**
 * Row-wise softmax and log-sum-exp over dense row-major [rows×cols] matrices (see `Kernels` for the contract
 * on −∞, +∞ and NaN). Both shift by the row maximum, so large entries cannot overflow exp.
 */
import type { FloatArray } from "../types.js";

/** f64 scratch for one row of exponentials, so an f32 output is rounded once (after the division). */
let expRow = new Float64Array(256);

function checkRows(name: string, x: FloatArray, rows: number, cols: number): void {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new RangeError(`${name}: rows and cols must be non-negative integers, got ${rows}, ${cols}`);
  }
  if (rows * cols > x.length) throw new RangeError(`${name}: ${rows}×${cols} needs ${rows * cols} elements but x has ${x.length}`);
}

/** Maximum of x[off .. off+cols); NaN if any entry is NaN, −∞ if cols = 0. */
function rowMax(x: FloatArray, off: number, cols: number): number {
  let mx = -Infinity;
  for (let j = 0; j < cols; j++) {
    const v = x[off + j]!;
    if (v > mx || v !== v) mx = v; // once mx is NaN, neither test passes again
  }
  return mx;
}

export function softmaxRows(x: FloatArray, out: FloatArray, rows: number, cols: number, logSumExp?: FloatArray): void {
  checkSoftmaxArgs(x, out, rows, cols, logSumExp);
  if (expRow.length < cols) expRow = new Float64Array(cols);
  const e = expRow;
  for (let r = 0, off = 0; r < rows; r++, off += cols) {
    const mx = rowMax(x, off, cols);
    if (mx === -Infinity) {
      out.fill(0, off, off + cols); // fully masked row: no probability mass anywhere
      if (logSumExp) logSumExp[r] = -Infinity;
      continue;
    }
    // mx = +∞ or NaN: x − mx is NaN somewhere, so the row comes out NaN (as exp/sum would).
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += e[j] = Math.exp(x[off + j]! - mx);
    for (let j = 0; j < cols; j++) out[off + j] = e[j]! / sum;
    if (logSumExp) logSumExp[r] = Number.isFinite(mx) ? mx + Math.log(sum) : mx;
  }
}

/** The size checks of softmaxRows (shared with the wasm backend's driver). */
export function checkSoftmaxArgs(x: FloatArray, out: FloatArray, rows: number, cols: number, logSumExp?: FloatArray): void {
  checkRows("softmaxRows", x, rows, cols);
  if (rows * cols > out.length) throw new RangeError(`softmaxRows: ${rows}×${cols} needs ${rows * cols} elements but out has ${out.length}`);
  if (logSumExp && rows > logSumExp.length) throw new RangeError(`softmaxRows: ${rows} rows need ${rows} log-sum-exp outputs but logSumExp has ${logSumExp.length}`);
}

export function logSumExpRows(x: FloatArray, out: FloatArray, rows: number, cols: number): void {
  checkRows("logSumExpRows", x, rows, cols);
  if (rows > out.length) throw new RangeError(`logSumExpRows: ${rows} rows need ${rows} outputs but out has ${out.length}`);
  for (let r = 0, off = 0; r < rows; r++, off += cols) {
    const mx = rowMax(x, off, cols);
    if (mx === -Infinity || mx === Infinity || mx !== mx) {
      out[r] = mx; // empty / all −∞ → −∞; any +∞ → +∞; NaN → NaN
      continue;
    }
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += Math.exp(x[off + j]! - mx);
    out[r] = mx + Math.log(sum);
  }
}
