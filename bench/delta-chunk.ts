/**
 * `node dist/bench/delta-chunk.js`: forward + backward of the delta_rule and gated_delta_rule chunk forms at the ops
 * bench's shape (B=8, T=1024, H=4, K=V=64, chunk 64), f32, on the wasm backend inside a BufferArena (inputs and
 * results lent by the wasm memory, as in a training step; the upstream gradient o·0 + 1 too), with the engine's elementwise work and row copies by
 * the JS reference loops ("js loops": `deltaChunkForwardPrep`, `deltaChunkBackwardPrep/Middle`,
 * `deltaChunkStateGrad` and `copyRows` of the JS backend, the products still wasm) and by the wasm kernels.
 * Threads: SEQMIX_BENCH_THREADS (default 1).
 */
import { BufferArena } from "../src/core/arena.js";
import { Random } from "../src/core/random.js";
import type { Tensor } from "../src/core/tensor.js";
import { createWasmKernels, jsKernels, withKernels, type Kernels } from "../src/kernels/index.js";
import { deltaRule } from "../src/ops/delta_rule/index.js";
import { gatedDeltaRule } from "../src/ops/gated_delta_rule/index.js";
import { runOp } from "../src/ops/run.js";
import type { AnyOp } from "../src/ops/types.js";
import { printTable, timeMs } from "./timing.js";

const [B, T, H, K, V] = [8, 1024, 4, 64, 64];
const threads = Number(process.env.SEQMIX_BENCH_THREADS ?? 1);

function stepMs(kernels: Kernels, op: AnyOp): number {
  return withKernels(kernels, () => {
    const inputs = op.example(new Random(1), "f32", { B, T, H, K, V });
    const arena = new BufferArena();
    const body = (): void => {
      // leaves made in the scope (their gradients too), and ·1 puts the inputs in the arena (lent memory), as a
      // layer's activations are
      const lent: Record<string, Tensor> = Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, t.clone().requireGrad().mul(1)]));
      const o = runOp(op, lent, "chunk", { chunkSize: 64 }).o;
      o.backward(o.mul(0).add(1).detach());
    };
    const ms = timeMs(() => arena.run(body), { reps: 9 });
    arena.clear();
    return ms;
  });
}

const wasm = createWasmKernels({ threads });
if (!wasm) {
  console.log("delta-chunk: no wasm backend on this engine; skipped");
} else {
  const jsLoops: Kernels = {
    ...wasm,
    deltaChunkForwardPrep: jsKernels.deltaChunkForwardPrep,
    deltaChunkBackwardPrep: jsKernels.deltaChunkBackwardPrep,
    deltaChunkBackwardMiddle: jsKernels.deltaChunkBackwardMiddle,
    deltaChunkStateGrad: jsKernels.deltaChunkStateGrad,
    copyRows: jsKernels.copyRows,
  };
  const rows: string[][] = [];
  for (const [name, op] of [["delta_rule", deltaRule], ["gated_delta_rule", gatedDeltaRule]] as const) {
    const js = stepMs(jsLoops, op as AnyOp);
    const kernels = stepMs(wasm, op as AnyOp);
    rows.push([name, js.toFixed(0), kernels.toFixed(0), (js / kernels).toFixed(2)]);
  }
  console.log(`delta chunk forward + backward (with inputs·1 and dO = o·0 + 1), ms, B=${B} T=${T} H=${H} K=V=${K}, chunk 64, threads ${threads}:`);
  printTable(["op", "js loops", "wasm kernels", "js / wasm"], rows);
}
