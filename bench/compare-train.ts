/**
 * `npm run bench -- train`: tokens/s of one training step (forward, cross-entropy, backward, AdamW) of the
 * 2-layer d=128 language model at B=64, T=256 for attention, gla, deltanet and mamba, next to the same model
 * in PyTorch CPU (bench/peers/torch_train.py; same layer shapes, parameter counts printed side by side), with
 * the ratio seqmix / torch (≥ 1 meets the target). seqmix runs with the active thread count.
 */
import { crossEntropy } from "../src/core/ops/nn.js";
import { indices } from "../src/core/ops/shape.js";
import { Random } from "../src/core/random.js";
import { getKernels, getThreads } from "../src/kernels/index.js";
import { LanguageModel } from "../src/models/index.js";
import { AdamW } from "../src/train/index.js";
import { findPython, pythonFile, runPython, threadEnv } from "./peers/load.js";
import { median, printTable } from "./timing.js";

const [B, T, D, VOCAB] = [64, 256, 128, 256];
const MIXERS = ["attention", "gla", "deltanet", "mamba"];

/** Median tokens/s over `steps` timed steps after one warm-up step. */
function seqmixTokensPerSecond(mixer: string, steps: number): { tokensPerSecond: number; params: number } {
  const model = new LanguageModel({ vocabSize: VOCAB, dModel: D, layers: [mixer, mixer], mlp: mixer === "mamba" ? "none" : "swiglu" }, { seed: 1 });
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const rng = new Random(0);
  const tokens = indices(Array.from({ length: B * T }, () => rng.integer(0, VOCAB)), [B, T]);
  const targets = Int32Array.from({ length: B * T }, () => rng.integer(0, VOCAB));
  const times: number[] = [];
  for (let rep = 0; rep <= steps; rep++) {
    const t0 = performance.now();
    const loss = crossEntropy(model.forward(tokens).logits, targets);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    if (rep > 0) times.push(performance.now() - t0);
  }
  return { tokensPerSecond: (B * T) / (median(times) / 1000), params: model.numParameters() };
}

interface TorchTrain { torch: string; tokens_per_s: Record<string, number>; params: Record<string, number> }

function torchTrain(threads: number): TorchTrain | undefined {
  const py = findPython("torch");
  return py ? runPython<TorchTrain>(py, [pythonFile("torch_train.py"), String(B), String(T), String(threads), MIXERS.join(",")], threadEnv(threads)) : undefined;
}

export async function run(): Promise<void> {
  const threads = getThreads();
  const seqmix = MIXERS.map((m) => seqmixTokensPerSecond(m, 2));
  const torch1 = torchTrain(1);
  const torch2 = threads === 1 ? torch1 : torchTrain(threads);
  if (!torch1) console.log("  (no python with torch: the PyTorch columns are skipped; `npm run bench:peers`)");
  const f = (x: number | undefined) => (x === undefined ? "–" : x.toFixed(0));
  console.log(`\ntraining step tokens/s, 2 layers d=${D}, vocab ${VOCAB}, B=${B}, T=${T}, f32; seqmix ${getKernels().name} with ${threads} threads (median of 2 steps after a warm-up; torch: of 3):`);
  printTable(
    ["mixer", "params seqmix / torch", "seqmix", "torch 1T", `torch ${threads}T`, `seqmix / torch ${threads}T`],
    MIXERS.map((m, i) => {
      const s = seqmix[i]!;
      const t2 = torch2?.tokens_per_s[m];
      return [m, `${s.params} / ${torch1?.params[m] ?? "–"}`, f(s.tokensPerSecond), f(torch1?.tokens_per_s[m]), f(t2), t2 === undefined ? "–" : `${(s.tokensPerSecond / t2).toFixed(2)}×`];
    }),
  );
}
