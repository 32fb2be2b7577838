/**
 * `runMap`: the kernel backend's elementwise map (`Kernels.map`) for core ops, split into blocks of BLOCK
 * elements that run as a memory-bound task (kernels/parallel.ts) when the call is large: on both cores when the
 * arrays are the buffer arena's (in the kernels' shared memory), else on the calling thread block by block.
 * A map's lanes never interact, so the results are the same bits however the blocks are split.
 */
import type { FloatArray } from "../dtype.js";
import { getKernels, type ElementwiseMap, type Operand } from "../../kernels/index.js";
import { defineTask, runTask } from "../../kernels/parallel.js";
import { MAP_ARITY } from "../../kernels/js/maps.js";

/** Elements from which a map runs as a task, and per unit of it. */
const SPLIT_MIN = 1 << 18;
const BLOCK = 1 << 16;

/** The maps by index (a task's arguments are numbers). */
const NAMES = Object.keys(MAP_ARITY) as ElementwiseMap[];

/**
 * Buffers: the inputs, then the outputs (an absent optional output: empty). Args: map index, n, input count, then
 * each operand's offset. Unit u: elements [u·BLOCK, …).
 */
const mapTask = defineTask("core.map", (buffers, args, next) => {
  const [code, n, inputCount] = args as [number, number, number];
  const offsets = args.slice(3);
  const name = NAMES[code]!;
  const kernels = getKernels();
  for (let u = next(); u >= 0; u = next()) {
    const start = u * BLOCK;
    const at = (i: number): Operand => ({ data: buffers[i]!, offset: offsets[i]! + start });
    const inputs = Array.from({ length: inputCount }, (_, i) => at(i));
    const outputs = buffers.slice(inputCount).map((b, j) => (b.length === 0 ? null : at(inputCount + j)));
    kernels.map(name, inputs, outputs, Math.min(BLOCK, n - start));
  }
});

const empty = (like: FloatArray): FloatArray => (like instanceof Float64Array ? new Float64Array(0) : new Float32Array(0));

/** `getKernels().map(name, inputs, outputs, n)`, over both cores when it is large and its arrays allow. */
export function runMap(name: ElementwiseMap, inputs: readonly Operand[], outputs: ReadonlyArray<Operand | null>, n: number): void {
  if (n < SPLIT_MIN) {
    getKernels().map(name, inputs, outputs, n);
    return;
  }
  const like = inputs[0]!.data;
  runTask(mapTask, {
    units: Math.ceil(n / BLOCK),
    work: 8 * n,
    args: [NAMES.indexOf(name), n, inputs.length, ...inputs.map((o) => o.offset), ...outputs.map((o) => o?.offset ?? 0)],
    inputs: inputs.map((o) => o.data),
    outputs: outputs.map((o) => o?.data ?? empty(like)),
    memoryBound: true,
  });
}
