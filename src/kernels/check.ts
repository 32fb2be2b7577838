/**
 * Argument validation shared by the kernel backends. It is O(1): it checks the sizes, strides and the
 * extreme indices each operand is read or written at, so a bad view fails loudly instead of reading
 * `undefined` (NaN) past the end of a typed array.
 */
import type { CopyRowsArgs, FloatArray, MatmulArgs } from "./types.js";

function checkCount(name: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name}: ${what} must be a non-negative integer, got ${v}`);
}

function checkExtent(name: string, operand: string, arr: FloatArray, offset: number, rows: number, rowStride: number, cols: number, colStride: number): void {
  checkCount(name, `${operand} offset`, offset);
  checkCount(name, `${operand} row stride`, rowStride);
  checkCount(name, `${operand} column stride`, colStride);
  if (rows === 0 || cols === 0) return;
  const last = offset + (rows - 1) * rowStride + (cols - 1) * colStride;
  if (last >= arr.length) {
    throw new RangeError(`${name}: operand ${operand} [${rows}×${cols}] at offset ${offset} with strides (${rowStride}, ${colStride}) reaches index ${last}, but its array has length ${arr.length}`);
  }
}

/** Throws a RangeError / TypeError if `args` do not describe a valid product. */
export function checkMatmulArgs(name: string, args: MatmulArgs<FloatArray>): void {
  const { m, n, k, a, b, c } = args;
  checkCount(name, "m", m);
  checkCount(name, "n", n);
  checkCount(name, "k", k);
  if (a.constructor !== c.constructor || b.constructor !== c.constructor) {
    throw new TypeError(`${name}: a, b and c must have the same element type, got ${a.constructor.name}, ${b.constructor.name}, ${c.constructor.name}`);
  }
  checkExtent(name, "a", a, args.aOffset, m, args.aRowStride, k, args.aColStride);
  checkExtent(name, "b", b, args.bOffset, k, args.bRowStride, n, args.bColStride);
  checkExtent(name, "c", c, args.cOffset, m, n, n, 1);
}

/** Throws a RangeError / TypeError if `args` do not describe a valid row copy. */
export function checkCopyRowsArgs(args: CopyRowsArgs): void {
  const name = "copyRows";
  checkCount(name, "rows", args.rows);
  checkCount(name, "cols", args.cols);
  if (args.src.constructor !== args.dst.constructor) {
    throw new TypeError(`${name}: src and dst must have the same element type, got ${args.src.constructor.name} and ${args.dst.constructor.name}`);
  }
  checkExtent(name, "src", args.src, args.srcOffset, args.rows, args.srcStride, args.cols, 1);
  checkExtent(name, "dst", args.dst, args.dstOffset, args.rows, args.dstStride, args.cols, 1);
}
