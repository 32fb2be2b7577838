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
 *
 * f32 buffers come from the kernel backend's `lend` when it has one: the wasm backend then lends blocks of its
 * shared memory, which its kernels and worker threads use in place, without staging copies. Such blocks return
 * to the backend when the arena is cleared (`clear`) or garbage-collected.
 */
import type { DType, FloatArray } from "./dtype.js";
import { getKernels, type Kernels } from "../kernels/index.js";

/** f32 buffers an arena got from a kernel backend's `lend`, each with the backend to give it back to. */
type Borrowed = Map<FloatArray, Kernels>;

/** Gives back what a collected arena had borrowed (an arena that is cleared first has nothing left here). */
const returnOnCollect = new FinalizationRegistry<Borrowed>((borrowed) => giveBack(borrowed));

function giveBack(borrowed: Borrowed, which?: ReadonlySet<FloatArray>): void {
  for (const [buf, kernels] of borrowed) {
    if (which && !which.has(buf)) continue;
    kernels.release?.(buf as Float32Array);
    borrowed.delete(buf);
  }
}

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
  /** The buffers of this arena that a kernel backend lent (given back on `clear` or when collected). */
  private readonly borrowed: Borrowed = new Map();

  constructor(options: ArenaOptions = {}) {
    const minLength = options.minLength ?? 4096;
    if (!Number.isInteger(minLength) || minLength < 0) throw new RangeError(`BufferArena: minLength must be a non-negative integer, got ${minLength}`);
    this.minLength = minLength;
    returnOnCollect.register(this, this.borrowed, this);
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

  /**
   * A buffer of `length` elements, lent until the scope ends: zeroed, unless `zero` is false and it is a
   * reused one (then it holds what it held; see `allocateForOverwrite`).
   */
  take(dtype: DType, length: number, zero = true): FloatArray {
    if (length < this.minLength) return fresh(dtype, length);
    const stack = this.free.get(key(dtype, length));
    let buf = stack?.pop();
    if (buf !== undefined) {
      const lender = this.borrowed.get(buf);
      if (!zero) {
        // the caller overwrites every element
      } else if (lender?.zero) lender.zero(buf as Float32Array);
      else buf.fill(0);
      this.counts.reused++;
    } else {
      buf = this.borrow(dtype, length) ?? fresh(dtype, length);
      this.counts.fresh++;
      this.counts.bytesHeld += buf.byteLength;
    }
    this.lent.push(buf);
    return buf;
  }

  get stats(): ArenaStats {
    return { ...this.counts };
  }

  /**
   * Drops every free buffer (lent ones stay lent until their scope ends); those a kernel backend lent go back
   * to it. Call it when an arena is done with, to give back the backend's memory at once.
   */
  clear(): void {
    const dropped = new Set<FloatArray>();
    for (const stack of this.free.values()) {
      for (const b of stack) {
        this.counts.bytesHeld -= b.byteLength;
        dropped.add(b);
      }
    }
    this.free.clear();
    giveBack(this.borrowed, dropped);
  }

  /** An f32 buffer from the active kernel backend's `lend`, if it gives one. */
  private borrow(dtype: DType, length: number): FloatArray | null {
    if (dtype !== "f32") return null;
    const kernels = getKernels();
    const buf = kernels.lend?.(length) ?? null;
    if (buf !== null) this.borrowed.set(buf, kernels);
    return buf;
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
