/**
 * `npm run bench -- train`: tokens/s of one training step (forward, cross-entropy, backward, AdamW) of the
 * 2-layer d=128 language model at B=64, T=256 for attention, gla, deltanet and mamba, next to the same model
 * in PyTorch CPU (bench/peers/torch_train.py; same layer shapes, parameter counts printed side by side), with
 * the ratio seqmix / torch (≥ 1 meets the target), at each thread count of SEQMIX_BENCH_THREADS (default 1).
 */
import { BufferArena } from "../src/core/arena.js";
import { crossEntropy } from "../src/core/ops/nn.js";
import { indices } from "../src/core/ops/shape.js";
import { Random } from "../src/core/random.js";
import { getKernels, getThreads, setThreads } from "../src/kernels/index.js";
import { LanguageModel } from "../src/models/index.js";
import { AdamW } from "../src/train/index.js";
import { benchThreads, findPython, pythonFile, runPython, threadEnv } from "./peers/load.js";
import { median, printTable } from "./timing.js";

const [B, T, D, VOCAB] = [64, 256, 128, 256];
const MIXERS = ["attention", "gla", "deltanet", "mamba"];

/** Steps before timing starts: the engine compiles the hot loops and the arena fills during the first two. */
const WARMUP = 2;

/** Median tokens/s over `steps` timed steps after WARMUP untimed ones. */
function seqmixTokensPerSecond(mixer: string, steps: number): { tokensPerSecond: number; params: number } {
  const model = new LanguageModel({ vocabSize: VOCAB, dModel: D, layers: [mixer, mixer], mlp: mixer === "mamba" ? "none" : "swiglu" }, { seed: 1 });
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const rng = new Random(0);
  const tokens = indices(Array.from({ length: B * T }, () => rng.integer(0, VOCAB)), [B, T]);
  const targets = Int32Array.from({ length: B * T }, () => rng.integer(0, VOCAB));
  const times: number[] = [];
  const arena = new BufferArena(); // as the trainer does: each step reuses the previous step's buffers
  for (let rep = 0; rep < WARMUP + steps; rep++) {
    const t0 = performance.now();
    arena.run(() => {
      const loss = crossEntropy(model.forward(tokens).logits, targets);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
    if (rep >= WARMUP) times.push(performance.now() - t0);
  }
  arena.clear(); // gives its buffers back to the kernels' memory for the next model
  return { tokensPerSecond: (B * T) / (median(times) / 1000), params: model.numParameters() };
}

interface TorchTrain { torch: string; tokens_per_s: Record<string, number>; params: Record<string, number> }

function torchTrain(threads: number): TorchTrain | undefined {
  const py = findPython("torch");
  return py ? runPython<TorchTrain>(py, [pythonFile("torch_train.py"), String(B), String(T), String(threads), MIXERS.join(",")], threadEnv(threads)) : undefined;
}

export async function run(): Promise<void> {
  const before = getThreads();
  const f = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(0));
  for (const threads of benchThreads()) {
    setThreads(threads);
    const seqmix = MIXERS.map((m) => seqmixTokensPerSecond(m, 3));
    const torch = torchTrain(threads);
    if (!torch) console.log("  (no python with torch: the PyTorch column is skipped; `npm run bench:peers`)");
    console.log(`\n${threads} thread(s): training step tokens/s, 2 layers d=${D}, vocab ${VOCAB}, B=${B}, T=${T}, f32, seqmix ${getKernels().name}${torch ? ` vs PyTorch ${torch.torch} CPU` : ""} (median of 3 steps after 2 warm-up steps, in a buffer arena; torch: of 3):`);
    printTable(["mixer", "params seqmix / torch", "seqmix", "torch", "seqmix / torch"], MIXERS.map((m, i) => {
      const s = seqmix[i]!;
      const t = torch?.tokens_per_s[m];
      return [m, `${s.params} / ${torch?.params[m] ?? "–"}`, f(s.tokensPerSecond), f(t), t === undefined ? "–" : `${(s.tokensPerSecond / t).toFixed(2)}×`];
    }));
  }
  setThreads(before);
}
