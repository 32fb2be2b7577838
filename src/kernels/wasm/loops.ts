/**
 * Structured control flow for the kernels' function bodies (`Code` from encoder.ts), shared by the *_code.ts
 * files: counted loops that run nothing when the range is empty, a flag test, and an address sum.
 */
import type { Code, Local } from "./encoder.js";

/** A start or an end: a constant, a local, or a callback that pushes the i32 (evaluated once). */
export type Bound = number | Local | (() => void);

function push(c: Code, v: Bound): void {
  if (typeof v === "number") c.i32(v);
  else if (typeof v === "function") v();
  else c.get(v);
}

/** for (i = from; i < to; i += step) body() — nothing when from ≥ to. */
export function forStep(c: Code, i: Local, from: Bound, to: Local, step: number, body: () => void): void {
  push(c, from);
  c.set(i);
  c.block(() => {
    c.get(i).get(to).i32GeS().brIf(0);
    c.loop(() => {
      body();
      c.get(i).i32(step).i32Add().tee(i).get(to).i32LtS().brIf(0);
    });
  });
}

/** for (i = from; i < to; i++) body() — nothing when from ≥ to. */
export function forRange(c: Code, i: Local, from: Bound, to: Local, body: () => void): void {
  forStep(c, i, from, to, 1, body);
}

/** for (i = from; i ≥ to; i--) body() — nothing when from < to. */
export function forDown(c: Code, i: Local, from: Bound, to: Bound, body: () => void): void {
  push(c, from);
  c.set(i);
  c.block(() => {
    c.get(i);
    push(c, to);
    c.i32LtS().brIf(0);
    c.loop(() => {
      body();
      c.get(i).i32(1).i32Sub().tee(i);
      push(c, to);
      c.i32GeS().brIf(0);
    });
  });
}

/** if (flags & bit) then() else otherwise(). */
export function ifFlag(c: Code, flags: Local, bit: number, then: () => void, otherwise?: () => void): void {
  c.get(flags).i32(bit).i32And().ifElse(then, otherwise);
}

/** Pushes base + off (i32). */
export const at = (c: Code, base: Local, off: Local): Code => c.get(base).get(off).i32Add();
