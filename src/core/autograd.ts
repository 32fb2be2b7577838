/**
 * Reverse-mode autodiff. A tensor made by an op while gradients are enabled carries a GradNode: the op's name,
 * its inputs and a backward rule (output gradient → input gradients). There is no global tape: the graph is
 * held only by the tensors that reference it, so it is freed with them, and `backward()` releases it as it goes.
 */
import type { Tensor } from "./tensor.js";
import type { FloatArray } from "./dtype.js";

/**
 * A gradient that touches only part of its input (the backward of a slice): instead of a full tensor of zeros
 * with a small filled region, it adds itself into a dense row-major buffer of `shape`. This keeps a loop of T
 * slices O(T) in backward rather than O(T²).
 */
export class SparseGrad {
  constructor(
    readonly shape: readonly number[],
    /** adds this gradient into `dst`, a dense row-major buffer of `shape` */
    readonly addInto: (dst: FloatArray) => void,
  ) {}
}

export type BackwardRule = (grad: Tensor) => ReadonlyArray<Tensor | SparseGrad | null | undefined>;

export interface GradNode {
  readonly op: string;
  inputs: readonly Tensor[];
  /** null once the graph has been released by a backward pass */
  backward: BackwardRule | null;
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Runs `fn` without recording any graph (inference, optimizer updates, backward rules). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

/** Attaches a node to `out` when gradients are on and some input needs one. Returns `out`. */
export function record(out: Tensor, op: string, inputs: readonly Tensor[], backward: BackwardRule): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

/** Post-order of the graph under `root` (inputs before the tensors made from them), without recursion. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: Array<{ t: Tensor; next: number }> = [{ t: root, next: 0 }];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const inputs = top.t.node?.inputs ?? [];
    if (top.next < inputs.length) {
      const child = inputs[top.next++]!;
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push({ t: child, next: 0 });
      }
    } else {
      order.push(top.t);
      stack.pop();
    }
  }
  return order;
}

export interface BackwardOptions {
  /** keep the graph so backward can run through it again (default false: the graph is released) */
  retainGraph?: boolean;
}

/**
 * Propagates `seed` (d root) through the graph. Leaves (tensors without a node) that require grad accumulate
 * into `.grad`; intermediate gradients live only in a local map and are dropped as soon as they are used.
 */
export function runBackward(
  root: Tensor,
  seed: Tensor,
  add: (a: Tensor, b: Tensor) => Tensor,
  dense: (shape: readonly number[], like: Tensor, from?: Tensor) => Tensor,
  options: BackwardOptions = {},
): void {
  const order = topologicalOrder(root);
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  // gradients created here and not yet handed to any backward rule: safe to accumulate into in place
  const owned = new Set<Tensor>();
  const accumulate = (input: Tensor, gi: Tensor | SparseGrad): void => {
    const prev = grads.get(input);
    if (gi instanceof SparseGrad) {
      let target = prev;
      if (target === undefined || !owned.has(target)) {
        target = dense(input.shape, input, prev);
        owned.add(target);
        grads.set(input, target);
      }
      gi.addInto(target.data);
      return;
    }
    if (prev === undefined) {
      grads.set(input, gi);
    } else if (owned.has(prev) && prev.dtype === gi.dtype) {
      const acc = prev.data;
      const src = gi.values();
      for (let j = 0; j < acc.length; j++) acc[j] += src[j]!;
    } else {
      const sum = add(prev, gi);
      owned.add(sum);
      grads.set(input, sum);
    }
  };
  noGrad(() => {
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      grads.delete(t);
      if (g === undefined) continue;
      owned.delete(g);
      const node = t.node;
      if (node === null) {
        t.accumulateGrad(g);
        continue;
      }
      if (t.retainsGrad) t.accumulateGrad(g);
      if (node.backward === null) {
        throw new Error(
          `backward: the graph through '${node.op}' was already released by an earlier backward(); pass {retainGraph: true} to the first call to run backward twice`,
        );
      }
      const inputGrads = node.backward(g);
      node.inputs.forEach((input, k) => {
        const gi = inputGrads[k];
        if (gi === null || gi === undefined || !input.requiresGrad) return;
        if (gi.shape.length !== input.shape.length || gi.shape.some((d, j) => d !== input.shape[j])) {
          throw new Error(`backward of '${node.op}': gradient for input ${k} has shape [${gi.shape}] but the input has [${input.shape}]`);
        }
        accumulate(input, gi);
      });
      if (!options.retainGraph) {
        node.backward = null;
        node.inputs = [];
      }
    }
  });
}

/**
 * Records one backward rule for several outputs computed together (e.g. an op's output and its final state):
 * the outputs are packed into one flat tensor carrying the node, and views of it are returned, so the
 * gradients of all outputs reach `backward` in a single call (zeros for outputs that received none).
 */
export function recordMulti(
  outputs: readonly Tensor[],
  op: string,
  inputs: readonly Tensor[],
  backward: (grads: readonly Tensor[]) => ReadonlyArray<Tensor | null | undefined>,
  pack: (outputs: readonly Tensor[]) => Tensor,
  unpack: (packed: Tensor, like: readonly Tensor[]) => Tensor[],
): Tensor[] {
  if (!(gradEnabled && inputs.some((t) => t.requiresGrad))) return [...outputs];
  const packed = pack(outputs);
  record(packed, op, inputs, (g) => backward(unpack(g, outputs)));
  return unpack(packed, outputs);
}
