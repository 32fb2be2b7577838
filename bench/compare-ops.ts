/**
 * `npm run bench -- ops`: each op's forward+backward at B=8, H=4, K=V=64, T=1024 (f32, chunk 64) next to the
 * same computation in PyTorch CPU (bench/peers/torch_ops.py: plain attention for attention, the chunked
 * form for the linear family and the delta rules, the reference loop for the selective scan), at each thread
 * count of SEQMIX_BENCH_THREADS (default 1), each call in a buffer arena, with the ratio torch time / seqmix time (> 1: seqmix is faster)
 * and, from the second thread count on, seqmix's speed-up over the first. Skipped without a python that
 * imports torch (`npm run bench:peers` installs Debian's python3-torch).
 */
import { BufferArena, outsideArena } from "../src/core/arena.js";
import { full } from "../src/core/create.js";
import { Random } from "../src/core/random.js";
import type { Tensor } from "../src/core/tensor.js";
import { getThreads, setThreads } from "../src/kernels/index.js";
import { attention } from "../src/ops/attention/index.js";
import { deltaRule } from "../src/ops/delta_rule/index.js";
import { gatedDeltaRule } from "../src/ops/gated_delta_rule/index.js";
import { gla } from "../src/ops/gla/index.js";
import { linearAttn } from "../src/ops/linear_attn/index.js";
import { runOp } from "../src/ops/run.js";
import { selectiveScan } from "../src/ops/selective_scan/index.js";
import { simpleGla } from "../src/ops/simple_gla/index.js";
import type { AnyOp } from "../src/ops/types.js";
import { benchThreads, findPython, pythonFile, runPython, threadEnv } from "./peers/load.js";
import { printTable, timeMs } from "./timing.js";

const [B, T, H, K, V, CHUNK] = [8, 1024, 4, 64, 64, 64];
const OPS: AnyOp[] = [attention, linearAttn, simpleGla, gla, deltaRule, gatedDeltaRule, selectiveScan] as AnyOp[];

/**
 * One forward+backward, in a buffer arena (as the trainer runs a step; PyTorch's caching allocator does the
 * same for torch), so the figure is the op's arithmetic rather than the OS zero-filling fresh pages.
 */
/** The arenas of the timed calls, cleared after each round (they hold the kernels' shared memory). */
const arenas: BufferArena[] = [];

function forwardBackward(op: AnyOp): () => void {
  const x = op.example(new Random(1), "f32", { B, T, H, K, V });
  const arena = new BufferArena();
  arenas.push(arena);
  let dO: Tensor | undefined;
  return () => arena.run(() => {
    const leaves = Object.fromEntries(Object.entries(x).map(([k, t]) => [k, t.clone().requireGrad()]));
    const o = runOp(op, leaves, "chunk", { chunkSize: CHUNK }).o;
    dO ??= outsideArena(() => full(o.shape, 1, { dtype: "f32" })); // kept across calls
    o.backward(dO);
  });
}

interface TorchResult { torch: string; threads: number; ms: Record<string, number> }

function torchTimes(threads: number): TorchResult | undefined {
  const py = findPython("torch");
  if (!py) return undefined;
  const args = [B, T, H, K, V, CHUNK, threads].map(String);
  return runPython<TorchResult>(py, [pythonFile("torch_ops.py"), ...args, OPS.map((op) => op.name).join(",")], threadEnv(threads));
}

export async function run(): Promise<void> {
  const before = getThreads();
  const ms = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(0));
  let first: { threads: number; seqmix: number[] } | undefined;
  for (const threads of benchThreads()) {
    setThreads(threads);
    const seqmix = OPS.map((op) => {
      const time = timeMs(forwardBackward(op), { reps: 3, budgetMs: 8000 });
      for (const a of arenas.splice(0)) a.clear();
      return time;
    });
    first ??= { threads, seqmix };
    const base = first.threads !== threads ? first : undefined;
    const torch = torchTimes(threads);
    if (!torch) console.log("  (no python with torch: the PyTorch column is skipped; `npm run bench:peers`)");
    console.log(`\n${threads} thread(s): forward+backward ms at B=${B}, H=${H}, K=V=${K}, T=${T}, f32, seqmix chunk ${CHUNK}${torch ? ` vs PyTorch ${torch.torch} CPU` : ""} (median of 3; ratio = torch / seqmix, ≥ 1 meets the target):`);
    const speedup = base ? [`seqmix ${base.threads} thr / ${threads} thr`] : [];
    printTable(["op", "seqmix", "torch", "torch / seqmix", ...speedup], OPS.map((op, i) => {
      const t = torch?.ms[op.name];
      const row = [op.name, ms(seqmix[i]), ms(t), t === undefined ? "–" : `${(t / seqmix[i]!).toFixed(2)}×`];
      return base ? [...row, `${(base.seqmix[i]! / seqmix[i]!).toFixed(2)}×`] : row;
    }));
  }
  setThreads(before);
}
