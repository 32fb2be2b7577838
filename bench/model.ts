/**
 * `npm run bench:model [-- mixer…]`: for each registered mixer in a 2-layer model with d = 128:
 *  - training throughput (tokens/s) at B = 4, T = 256: forward, cross-entropy, backward, AdamW step;
 *  - generation: tokens/s of the step form and state bytes per sequence after a context of 1k, 4k and 16k
 *    tokens (the context is prefilled with the parallel form, then 8 warm-up steps, then 64 timed steps).
 * Medians of a few repetitions; f32.
 * The Titans layers (slow at these lengths) have their own section instead, run when a filter names them
 * (`npm run bench:model -- titans`, or `-- mac`): chunk form against token by token at T = 512 … 8192 and the
 * effect of the memory's chunk size (model-titans.ts).
 */
import { BufferArena } from "../src/core/arena.js";
import { Random } from "../src/core/random.js";
import { noGrad } from "../src/core/autograd.js";
import { indices } from "../src/core/ops/shape.js";
import { crossEntropy } from "../src/core/ops/nn.js";
import { listLayers } from "../src/layers/index.js";
import { LanguageModel } from "../src/models/index.js";
import { AdamW } from "../src/train/index.js";
import { titansBench } from "./model-titans.js";

const D = 128;
const V = 256;
const B = 4;
const T = 256;
const CONTEXTS = [1024, 4096, 16384];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number, digits = 1) => (x >= 100 ? x.toFixed(0) : x.toFixed(digits));

function trainThroughput(model: LanguageModel, rng: Random): number {
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const toks = Array.from({ length: B * T }, () => rng.integer(0, V));
  const targets = Int32Array.from({ length: B * T }, () => rng.integer(0, V));
  const times: number[] = [];
  const arena = new BufferArena(); // as the trainer does
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    arena.run(() => {
      const loss = crossEntropy(model.forward(indices(toks, [B, T])).logits, targets);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
    if (rep > 1) times.push(performance.now() - t0);
  }
  arena.clear(); // gives its buffers back to the kernels' memory
  return (B * T) / (median(times) / 1000);
}

function generation(model: LanguageModel, rng: Random, context: number): { tokensPerSecond: number; stateBytes: number } {
  return noGrad(() => {
    const prompt = Array.from({ length: context }, () => rng.integer(0, V));
    let { state } = model.forward(indices(prompt, [1, context]), { outputState: true });
    let token = 1;
    const run = (steps: number) => {
      for (let i = 0; i < steps; i++) {
        const r = model.step([token], state!);
        state = r.state;
        token = (token * 31 + i) % V;
      }
    };
    run(8); // warm-up: compile the step path, let the prefill's garbage be collected
    const steps = 64;
    const t0 = performance.now();
    run(steps);
    const seconds = (performance.now() - t0) / 1000;
    return { tokensPerSecond: steps / seconds, stateBytes: model.stateSize(context + 8 + steps) * 4 };
  });
}

const filters = process.argv.slice(2);
const layers = listLayers().filter((l) => !l.type.startsWith("toy_") && !l.type.startsWith("titans_") && (filters.length === 0 || filters.some((f) => l.type.includes(f))));
if (layers.length > 0) {
  console.log(`seqmix model bench — 2 layers, d=${D}, vocab ${V}, f32, node ${process.version}`);
  console.log(`training: B=${B}, T=${T} (forward + cross-entropy + backward + AdamW); generation: prefill the context, 8 warm-up steps, then time 64 steps\n`);
  const header = ["mixer", "params", "train tok/s", ...CONTEXTS.flatMap((c) => [`gen tok/s @${c / 1024}k`, `state KiB @${c / 1024}k`])];
  console.log(header.join(" | "));
  console.log(header.map(() => "---").join(" | "));
  for (const def of layers) {
    const rng = new Random(0);
    const model = new LanguageModel({ vocabSize: V, dModel: D, layers: [def.type, def.type], mlp: def.type.startsWith("mamba") ? "none" : "swiglu" }, { seed: 1 });
    const row = [def.type, String(model.numParameters()), fmt(trainThroughput(model, rng), 0)];
    for (const c of CONTEXTS) {
      const g = generation(model, rng, c);
      row.push(fmt(g.tokensPerSecond), fmt(g.stateBytes / 1024));
    }
    console.log(row.join(" | "));
  }
}
if (filters.length > 0) titansBench(filters);
else console.log("\n(Titans layers: npm run bench:model -- titans)");
