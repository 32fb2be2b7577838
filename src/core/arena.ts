/**
 * Buffer reuse across training steps. Every op allocates its result (and the ops their scratch) with
 * `allocate`; a training step of a small model asks for 1–2 GB in a few hundred large arrays, and fresh large
 * typed arrays are expensive: the engine maps new pages and the OS zero-fills them on first touch (measured
 * here: ~35 ms to allocate and write a 22 MB Float32Array, against ~2 ms to zero a warm one), and the garbage
 * collector then has to find them again.
 *
 * A `BufferArena` lends the buffers of one scope (`arena.run(fn)`, e.g. one training step) and takes all of
 * them back when the scope ends; the next scope gets them again, zeroed, for requests of the same dtype and
 * length. Steps repeat their shapes, so after the first step a step allocates (nearly) nothing.
 *
 * The rule that makes it safe: **nothing allocated inside a scope may be used after the scope ends.** Read
 * what you need (the loss value, an accuracy) before `run` returns. The library keeps its own long-lived
 * buffers out of the arena with `outsideArena`: parameters' `.grad`, optimizer moments. Arrays shorter than
 * `minLength` elements are not pooled (young-generation garbage is cheap).
 */
import type { DType, FloatArray } from "./dtype.js";

export interface ArenaStats {
  /** requests served from the pool since the arena was made */
  reused: number;
  /** requests that allocated a new buffer */
  fresh: number;
  /** bytes of all buffers the arena owns (lent or free) */
  bytesHeld: number;
}

export interface ArenaOptions {
  /** smallest length (elements) the arena pools; shorter requests get a plain new array (default 4096) */
  minLength?: number;
}

let active: BufferArena | null = null;

export class BufferArena {
  readonly minLength: number;
  private readonly free = new Map<string, FloatArray[]>();
  private lent: FloatArray[] = [];
  private readonly counts = { reused: 0, fresh: 0, bytesHeld: 0 };

  constructor(options: ArenaOptions = {}) {
    const minLength = options.minLength ?? 4096;
    if (!Number.isInteger(minLength) || minLength < 0) throw new RangeError(`BufferArena: minLength must be a non-negative integer, got ${minLength}`);
    this.minLength = minLength;
  }

  /**
   * Runs `fn` with this arena serving `allocate`; when `fn` returns or throws, every buffer it lent is taken
   * back for the next scope. Scopes do not nest.
   */
  run<T>(fn: () => T): T {
    if (active !== null) throw new Error("BufferArena.run: an arena scope is already active (scopes do not nest)");
    active = this;
    try {
      return fn();
    } finally {
      active = null;
      this.reclaim();
    }
  }

  /** A zeroed buffer of `length` elements, lent until the scope ends. */
  take(dtype: DType, length: number): FloatArray {
    if (length < this.minLength) return fresh(dtype, length);
    const stack = this.free.get(key(dtype, length));
    let buf = stack?.pop();
    if (buf !== undefined) {
      buf.fill(0);
      this.counts.reused++;
    } else {
      buf = fresh(dtype, length);
      this.counts.fresh++;
      this.counts.bytesHeld += buf.byteLength;
    }
    this.lent.push(buf);
    return buf;
  }

  get stats(): ArenaStats {
    return { ...this.counts };
  }

  /** Drops every free buffer (lent ones stay lent until their scope ends). */
  clear(): void {
    for (const stack of this.free.values()) for (const b of stack) this.counts.bytesHeld -= b.byteLength;
    this.free.clear();
  }

  private reclaim(): void {
    for (const buf of this.lent) {
      const k = key(buf instanceof Float64Array ? "f64" : "f32", buf.length);
      let stack = this.free.get(k);
      if (stack === undefined) this.free.set(k, (stack = []));
      stack.push(buf);
    }
    this.lent = [];
  }
}

function key(dtype: DType, length: number): string {
  return `${dtype}:${length}`;
}

function fresh(dtype: DType, length: number): FloatArray {
  return dtype === "f64" ? new Float64Array(length) : new Float32Array(length);
}

/** The arena serving allocations now, if any. */
export function activeArena(): BufferArena | null {
  return active;
}

/** Runs `fn` with no arena: what it allocates is ordinary garbage-collected memory (for buffers that outlive a step). */
export function outsideArena<T>(fn: () => T): T {
  const saved = active;
  active = null;
  try {
    return fn();
  } finally {
    active = saved;
  }
}
