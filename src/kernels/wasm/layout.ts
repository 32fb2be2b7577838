/** Bump allocator of 16-byte-aligned f32 areas in a wasm memory from `base` on (a driver's staging plan). */
import { alignUp } from "./runtime.js";

export class Layout {
  end: number;
  constructor(base: number) {
    this.end = alignUp(base, 16);
  }
  /** The byte address of a new area of `floats` f32 values. */
  take(floats: number): number {
    const a = this.end;
    this.end += alignUp(4 * floats, 16);
    return a;
  }
}
