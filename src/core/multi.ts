/** Multi-output ops: one backward rule for several outputs (see recordMulti in autograd.ts). */
import { allocate } from "./dtype.js";
import { recordMulti } from "./autograd.js";
import { Tensor } from "./tensor.js";
import { reshape, slice } from "./ops/shape.js";

function pack(outputs: readonly Tensor[]): Tensor {
  const total = outputs.reduce((n, t) => n + t.size, 0);
  const data = allocate(outputs[0]!.dtype, total);
  let at = 0;
  for (const t of outputs) {
    data.set(t.values(), at);
    at += t.size;
  }
  return new Tensor(data, [total]);
}

function unpack(packed: Tensor, like: readonly Tensor[]): Tensor[] {
  let at = 0;
  return like.map((t) => {
    const part = reshape(slice(packed, 0, at, at + t.size), t.shape);
    at += t.size;
    return part;
  });
}

/**
 * Attaches one backward rule to several outputs of the same dtype. `backward` receives the gradient of each
 * output (zeros where an output was not used) and returns one gradient (or null) per input.
 */
export function withGradMulti(
  op: string,
  outputs: readonly Tensor[],
  inputs: readonly Tensor[],
  backward: (grads: readonly Tensor[]) => ReadonlyArray<Tensor | null | undefined>,
): Tensor[] {
  return recordMulti(outputs, op, inputs, backward, pack, unpack);
}
