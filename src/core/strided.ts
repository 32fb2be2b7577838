/**
 * Walks the elements of a logical shape row by row for several operands that each have their own strides and
 * offset into their storage (stride 0 = broadcast). Adjacent axes that are laid out contiguously for every
 * operand are merged first, so a contiguous tensor is one long row and the inner loops stay tight.
 */
import type { Shape } from "./shape.js";

export interface StridedOperand {
  readonly strides: readonly number[];
  readonly offset: number;
}

interface Plan {
  shape: number[];
  strides: number[][]; // per operand, per merged axis
}

function coalesce(shape: Shape, operands: readonly StridedOperand[]): Plan {
  const dims: number[] = [];
  const strides: number[][] = operands.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d];
    if (size === 1) continue;
    const last = dims.length - 1;
    const canMerge =
      last >= 0 && operands.every((op, k) => strides[k][last] === op.strides[d] * size);
    if (canMerge) {
      dims[last] = dims[last] * size;
      operands.forEach((op, k) => (strides[k][last] = op.strides[d]));
    } else {
      dims.push(size);
      operands.forEach((op, k) => strides[k].push(op.strides[d]));
    }
  }
  return { shape: dims, strides };
}

/**
 * Calls `row(pos, len, step)` once per innermost row: pos[k] is operand k's storage offset of the row's first
 * element, step[k] its stride along the row. `pos` is reused between calls; do not keep it.
 */
export function forEachRow(
  shape: Shape,
  operands: readonly StridedOperand[],
  row: (pos: number[], len: number, step: readonly number[]) => void,
): void {
  for (const d of shape) if (d === 0) return;
  const plan = coalesce(shape, operands);
  const pos = operands.map((op) => op.offset);
  const ndim = plan.shape.length;
  if (ndim === 0) {
    row(pos, 1, operands.map(() => 0));
    return;
  }
  const len = plan.shape[ndim - 1];
  const step = plan.strides.map((s) => s[ndim - 1]);
  const outer = ndim - 1;
  const counter = new Array<number>(outer).fill(0);
  let rows = 1;
  for (let d = 0; d < outer; d++) rows *= plan.shape[d];
  for (let r = 0; r < rows; r++) {
    row(pos, len, step);
    // advance the odometer over the outer axes
    for (let d = outer - 1; d >= 0; d--) {
      const c = ++counter[d];
      if (c < plan.shape[d]) {
        for (let k = 0; k < pos.length; k++) pos[k] += plan.strides[k][d];
        break;
      }
      counter[d] = 0;
      for (let k = 0; k < pos.length; k++) pos[k] -= plan.strides[k][d] * (plan.shape[d] - 1);
    }
  }
}
