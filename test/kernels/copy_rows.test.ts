/**
 * `Kernels.copyRows` (the strided row copy of the chunk engines' gathers and scatters): on both backends, for
 * f32 and f64, with either side, both or neither lent from the wasm memory, the copied rows equal the source
 * bit for bit (NaN payloads and −0 included) and nothing outside them is written; bad arguments are errors
 * that name them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createWasmKernels, jsKernels, type FloatArray, type Kernels } from "../../src/kernels/index.js";
import { makeRng } from "./rng.js";

const wasm = createWasmKernels({ threads: 1 });
const backends: Kernels[] = [jsKernels, ...(wasm ? [wasm] : [])];

/** Arrays the test borrowed with `lend`, to give back. */
const lentArrays = new Set<FloatArray>();

/** An array of n random values (with a −0 and a NaN), lent by `k` when `lend` and it can; else plain. */
function filled(k: Kernels, f64: boolean, n: number, lend: boolean, seed: number): FloatArray {
  const rng = makeRng(seed);
  const lent = lend && !f64 ? k.lend?.(n) ?? null : null;
  if (lend && !f64 && k.lend) assert.ok(lent, `${k.name} lends an f32 array of ${n} (the wasm copy path is tested)`);
  if (lent) lentArrays.add(lent);
  const a = lent ?? (f64 ? new Float64Array(n) : new Float32Array(n));
  for (let i = 0; i < n; i++) a[i] = 2 * rng() - 1;
  if (n > 3) {
    a[1] = -0;
    a[3] = NaN;
  }
  return a;
}

const same = (x: number, y: number): boolean => Object.is(x, y);

const SHAPES = [
  { rows: 0, cols: 5 }, { rows: 3, cols: 0 }, { rows: 1, cols: 1 }, { rows: 7, cols: 3 }, { rows: 5, cols: 15 },
  { rows: 4, cols: 16 }, { rows: 9, cols: 17 }, { rows: 33, cols: 64 },
];

test("copyRows: rows copied bit for bit, nothing else written, every backend, type and lending", () => {
  let seed = 1;
  for (const k of backends) {
    for (const f64 of [false, true]) {
      for (const [lendSrc, lendDst] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        for (const { rows, cols } of SHAPES) {
          const srcOffset = 3, srcStride = cols + 5, dstOffset = 2, dstStride = cols + 2;
          const srcLen = srcOffset + rows * srcStride + 1, dstLen = dstOffset + rows * dstStride + 4;
          const src = filled(k, f64, srcLen, lendSrc, seed++);
          const dst = filled(k, f64, dstLen, lendDst, seed++);
          const before = dst.slice();
          k.copyRows({ src, srcOffset, srcStride, dst, dstOffset, dstStride, rows, cols });
          const label = `${k.name} ${f64 ? "f64" : "f32"} lent ${lendSrc}/${lendDst} ${rows}×${cols}`;
          const expected = before.slice();
          for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) expected[dstOffset + r * dstStride + j] = src[srcOffset + r * srcStride + j]!;
          for (let i = 0; i < dstLen; i++) assert.ok(same(dst[i]!, expected[i]!), `${label}: dst[${i}] = ${dst[i]}, expected ${expected[i]}`);
          for (const a of [src, dst]) if (lentArrays.delete(a)) k.release!(a as Float32Array);
        }
      }
    }
  }
});

test("copyRows: bad arguments are errors that name them, on both backends", () => {
  const base = { src: new Float32Array(12), srcOffset: 0, srcStride: 4, dst: new Float32Array(12), dstOffset: 0, dstStride: 4, rows: 3, cols: 4 };
  for (const k of backends) {
    assert.throws(() => k.copyRows({ ...base, rows: -1 }), /copyRows: rows must be a non-negative integer, got -1/);
    assert.throws(() => k.copyRows({ ...base, cols: 1.5 }), /copyRows: cols must be a non-negative integer/);
    assert.throws(() => k.copyRows({ ...base, src: new Float32Array(11) }), /copyRows: operand src \[3×4\] .* reaches index 11, but its array has length 11/);
    assert.throws(() => k.copyRows({ ...base, dstOffset: 1 }), /copyRows: operand dst/);
    assert.throws(() => k.copyRows({ ...base, dst: new Float64Array(12) }), /copyRows: src and dst must have the same element type, got Float32Array and Float64Array/);
  }
});
