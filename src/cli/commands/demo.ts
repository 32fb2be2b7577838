/**
 * `seqmix demo` (what `npm start` runs until the lab lands): trains a small next-token model — embeddings of
 * the two previous tokens → MLP → logits — on a random second-order Markov source, with a progress bar, then
 * reports what it learnt against the best achievable loss.
 */
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { Random } from "../../core/random.js";
import { noGrad } from "../../core/autograd.js";
import { crossEntropy } from "../../core/ops/nn.js";
import { softmax } from "../../core/ops/reduce.js";
import { indices } from "../../core/ops/shape.js";
import type { Tensor } from "../../core/tensor.js";
import { Embedding, Linear, Module } from "../../nn/index.js";
import { AdamW, clipGradNorm, linearWarmupCosine } from "../../train/index.js";
import { makeMarkovSource, markovProb, sampleMarkov, type MarkovSource } from "../../tasks/markov.js";

/** Bengio-style n-gram MLP: concat(emb(a), emb(b)) → Linear → GELU → Linear → logits. */
class NgramMLP extends Module {
  readonly embed: Embedding;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(readonly vocab: number, readonly context: number, dim: number, hidden: number, rng: Random) {
    super();
    this.embed = this.module("embed", new Embedding(vocab, dim, { rng }));
    this.fc1 = this.module("fc1", new Linear(context * dim, hidden, { rng }));
    this.fc2 = this.module("fc2", new Linear(hidden, vocab, { rng }));
  }

  /** contexts [B, context] (flat, row-major) → logits [B, vocab] */
  forward(contexts: Int32Array): Tensor {
    const B = contexts.length / this.context;
    const e = this.embed.forward(indices(contexts, [B, this.context])).reshape(B, -1);
    return this.fc2.forward(this.fc1.forward(e).gelu());
  }
}

interface Batch {
  contexts: Int32Array;
  targets: Int32Array;
}

function makeBatch(source: MarkovSource, size: number, rng: Random): Batch {
  const seq = sampleMarkov(source, size + 2, rng);
  const contexts = new Int32Array(size * 2);
  const targets = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    contexts[2 * i] = seq[i]!;
    contexts[2 * i + 1] = seq[i + 1]!;
    targets[i] = seq[i + 2]!;
  }
  return { contexts, targets };
}

export interface DemoOptions {
  steps: number;
  seed: number;
  batch: number;
  quiet?: boolean;
  log?: (line: string) => void;
}

export interface DemoResult {
  modelLoss: number;
  optimalLoss: number;
  uniformLoss: number;
  modelAccuracy: number;
  optimalAccuracy: number;
  validTransitions: number;
}

export function runDemo(options: DemoOptions): DemoResult {
  const log = options.log ?? ((line: string) => process.stdout.write(line + "\n"));
  const V = 16;
  const source = makeMarkovSource({ vocab: V, branching: 3, seed: options.seed });
  const rng = new Random(options.seed).fork("demo");
  const model = new NgramMLP(V, 2, 16, 64, rng.fork("init"));
  const schedule = linearWarmupCosine({ peakLr: 1e-2, warmupSteps: Math.ceil(options.steps / 20), totalSteps: options.steps, minLr: 1e-3 });
  const optimizer = new AdamW(model.parameters(), { lr: schedule(0), weightDecay: 0.01 });
  const data = rng.fork("data");
  log(`seqmix demo: a next-token MLP (${model.numParameters()} parameters) learns a random 2nd-order Markov source over ${V} tokens`);

  const interactive = process.stdout.isTTY && !options.quiet;
  const bar = interactive
    ? new cliProgress.SingleBar(
        { format: "train [{bar}] {value}/{total} steps | loss {loss} | acc {acc} | {speed} tok/s | ETA {eta_formatted}", hideCursor: true },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(options.steps, 0, { loss: "-", acc: "-", speed: "-" });
  const started = performance.now();
  for (let step = 0; step < options.steps; step++) {
    const batch = makeBatch(source, options.batch, data);
    optimizer.setLr(schedule(step));
    const logits = model.forward(batch.contexts);
    const loss = crossEntropy(logits, batch.targets);
    if (!Number.isFinite(loss.item())) throw new Error(`demo: the loss became ${loss.item()} at step ${step}`);
    optimizer.zeroGrad();
    loss.backward();
    clipGradNorm(model.parameters(), 1.0);
    optimizer.step();
    const speed = Math.round(((step + 1) * options.batch) / ((performance.now() - started) / 1000));
    if (bar) {
      const acc = accuracy(logits, batch.targets);
      bar.update(step + 1, { loss: loss.item().toFixed(3), acc: acc.toFixed(3), speed });
    } else if (!options.quiet && ((step + 1) % Math.max(1, Math.floor(options.steps / 5)) === 0 || step === 0)) {
      log(`  step ${String(step + 1).padStart(5)}/${options.steps}  loss ${loss.item().toFixed(4)}  ${speed} tok/s`);
    }
  }
  bar?.stop();

  // ---- what it learnt ----
  const evalSet = makeBatch(source, 8192, rng.fork("eval"));
  const result = noGrad(() => {
    const logits = model.forward(evalSet.contexts);
    const modelLoss = crossEntropy(logits, evalSet.targets).item();
    let optimalLoss = 0;
    let optimalHits = 0;
    for (let i = 0; i < evalSet.targets.length; i++) {
      const [a, b] = [evalSet.contexts[2 * i]!, evalSet.contexts[2 * i + 1]!];
      optimalLoss -= Math.log(markovProb(source, a, b, evalSet.targets[i]!));
      let best = 0;
      for (let c = 1; c < V; c++) if (markovProb(source, a, b, c) > markovProb(source, a, b, best)) best = c;
      if (best === evalSet.targets[i]) optimalHits++;
    }
    const n = evalSet.targets.length;
    return {
      modelLoss,
      optimalLoss: optimalLoss / n,
      uniformLoss: Math.log(V),
      modelAccuracy: accuracy(logits, evalSet.targets),
      optimalAccuracy: optimalHits / n,
      validTransitions: generatedValidity(model, source, rng.fork("sample")),
    };
  });
  log("");
  log("what it learnt (8192 held-out tokens):");
  log(`  cross-entropy  model ${result.modelLoss.toFixed(4)} nats | best possible ${result.optimalLoss.toFixed(4)} | uniform guess ${result.uniformLoss.toFixed(4)}`);
  log(`  top-1 accuracy model ${(100 * result.modelAccuracy).toFixed(1)}% | best possible ${(100 * result.optimalAccuracy).toFixed(1)}%`);
  log(`  text sampled from the model: ${(100 * result.validTransitions).toFixed(1)}% of its transitions are ones the source allows (chance ${(100 * 3 / V).toFixed(1)}%)`);
  showContexts(model, source, log);
  return result;
}

function accuracy(logits: Tensor, targets: Int32Array): number {
  const V = logits.shape[1]!;
  const v = logits.values();
  let hits = 0;
  for (let i = 0; i < targets.length; i++) {
    let best = 0;
    for (let c = 1; c < V; c++) if (v[i * V + c]! > v[i * V + best]!) best = c;
    if (best === targets[i]) hits++;
  }
  return hits / targets.length;
}

/** Samples 500 tokens from the model and returns the share of transitions the source gives non-zero probability. */
function generatedValidity(model: NgramMLP, source: MarkovSource, rng: Random): number {
  const V = model.vocab;
  const seq = [rng.integer(0, V), rng.integer(0, V)];
  let valid = 0;
  const n = 500;
  for (let t = 0; t < n; t++) {
    const probs = softmax(model.forward(Int32Array.of(seq[seq.length - 2]!, seq[seq.length - 1]!))).values();
    let u = rng.uniform();
    let c = 0;
    while (c < V - 1 && (u -= probs[c]!) >= 0) c++;
    if (markovProb(source, seq[seq.length - 2]!, seq[seq.length - 1]!, c) > 0) valid++;
    seq.push(c);
  }
  return valid / n;
}

function showContexts(model: NgramMLP, source: MarkovSource, log: (line: string) => void): void {
  const V = model.vocab;
  log("  a few contexts — true next-token probabilities vs the model's:");
  for (const [a, b] of [[0, 1], [5, 9], [12, 3]] as const) {
    const probs = softmax(model.forward(Int32Array.of(a, b))).values();
    const allowed = Array.from({ length: V }, (_, c) => c).filter((c) => markovProb(source, a, b, c) > 0);
    const parts = allowed.map((c) => `${c}: ${markovProb(source, a, b, c).toFixed(2)} vs ${probs[c]!.toFixed(2)}`);
    log(`    after (${a}, ${b}) → ${parts.join(", ")}`);
  }
}

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("train a small next-token model on a synthetic Markov source and report what it learnt (what `npm start` runs)")
    .option("--steps <n>", "training steps", "1500")
    .option("--batch <n>", "tokens per step", "256")
    .option("--seed <n>", "random seed", "0")
    .option("--quiet", "no progress output")
    .action((opts: { steps: string; batch: string; seed: string; quiet?: boolean }) => {
      const parse = (name: string, v: string, min: number) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < min) throw new Error(`demo: --${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
        return n;
      };
      runDemo({ steps: parse("steps", opts.steps, 1), batch: parse("batch", opts.batch, 1), seed: parse("seed", opts.seed, 0), quiet: opts.quiet ?? false });
    });
}
