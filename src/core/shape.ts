/** Shape arithmetic shared by every op: sizes, strides, broadcasting, axis normalisation. */
export type Shape = readonly number[];

export function shapeString(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function validateShape(shape: Shape, what: string): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${what} must be an array of non-negative integers, got ${String(shape)}`);
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new RangeError(`${what} must be non-negative integers, got ${shapeString(shape)}`);
    }
  }
  return [...shape];
}

/** NumPy broadcasting: align trailing axes; each pair must be equal or contain a 1. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const ndim = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(ndim).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const axis = ndim - s.length + i;
      const d = s[i];
      const cur = out[axis];
      if (cur === d || d === 1) continue;
      if (cur === 1) out[axis] = d;
      else throw new RangeError(`${op}: shapes ${shapes.map(shapeString).join(" and ")} cannot be broadcast together (axis ${axis - ndim}: ${cur} vs ${d})`);
    }
  }
  return out;
}

/** Strides that read a tensor of `shape`/`strides` as if it had `outShape` (stride 0 on broadcast axes). */
export function broadcastStrides(shape: Shape, strides: Shape, outShape: Shape): number[] {
  const result = new Array<number>(outShape.length).fill(0);
  const lead = outShape.length - shape.length;
  for (let i = 0; i < shape.length; i++) result[lead + i] = shape[i] === 1 ? 0 : strides[i];
  return result;
}

export function normalizeAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= Math.max(ndim, 1)) {
    throw new RangeError(`${op}: axis ${axis} is out of range for a tensor with ${ndim} dimension(s) (expected -${ndim}..${ndim - 1})`);
  }
  return axis < 0 ? axis + ndim : axis;
}

export function normalizeAxes(op: string, axes: number | readonly number[] | undefined, ndim: number): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = (typeof axes === "number" ? [axes] : [...axes]).map((a) => normalizeAxis(op, a, ndim));
  if (new Set(list).size !== list.length) throw new RangeError(`${op}: repeated axis in ${JSON.stringify(axes)}`);
  return list.sort((a, b) => a - b);
}
