/**
 * The Titans section of `npm run bench:model -- titans` (spec/mixers.md §10): 2-layer models, d = 128, vocab 256,
 * f32, each layer type with its default config (MLP memory of depth 2, expansion 4, chunks of 16; MAC segments and
 * MAG/MAL windows of 64; 4 persistent tokens).
 *  1. chunk form against token by token: tokens/s of the parallel forward over T tokens (no gradients, B = 1)
 *     and of the step form right after it (4 warm-up steps, then 32 timed, two memory chunks' worth), for
 *     T = 512 … 8192; the state carried after T tokens.
 *  2. chunk size effect (titans_lmm and titans_mac): forward tokens/s at T = 2048, training tokens/s (forward +
 *     cross-entropy + backward at B = 1, T = 512) and step tokens/s for chunk sizes 1, 4, 16, 64.
 * Medians of a few repetitions where a run is short (timing.ts).
 */
import { Random } from "../src/core/random.js";
import { noGrad } from "../src/core/autograd.js";
import { indices } from "../src/core/ops/shape.js";
import { crossEntropy } from "../src/core/ops/nn.js";
import { LanguageModel, type ModelState } from "../src/models/index.js";
import { printTable, timeMs } from "./timing.js";

const D = 128;
const V = 256;
const LENGTHS = [512, 1024, 2048, 4096, 8192];
const CHUNKS = [1, 4, 16, 64];
const TYPES = ["titans_lmm", "titans_mac", "titans_mag", "titans_mal"];

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toPrecision(3));

function model(layer: Record<string, unknown> & { type: string }): LanguageModel {
  return new LanguageModel({ vocabSize: V, dModel: D, layers: [layer, layer] }, { seed: 1 });
}

const tokens = (rng: Random, n: number) => Array.from({ length: n }, () => rng.integer(0, V));

/** ms of a no-gradient forward over T tokens, and the state after it */
function forwardMs(m: LanguageModel, toks: number[]): { ms: number; state: ModelState } {
  let state: ModelState | undefined;
  const ms = noGrad(() => timeMs(() => (state = m.forward(indices(toks, [1, toks.length]), { outputState: true }).state)));
  return { ms, state: state! };
}

/** tokens/s of the step form from `state`: 4 warm-up steps, then 32 timed */
function stepRate(m: LanguageModel, state: ModelState): number {
  return noGrad(() => {
    let s = state;
    let token = 1;
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        s = m.step([token], s).state;
        token = (token * 31 + i) % V;
      }
    };
    run(4);
    const t0 = performance.now();
    run(32);
    return 32 / ((performance.now() - t0) / 1000);
  });
}

function trainRate(m: LanguageModel, rng: Random, T: number): number {
  const toks = tokens(rng, T);
  const targets = Int32Array.from(tokens(rng, T));
  const ms = timeMs(() => {
    const loss = crossEntropy(m.forward(indices(toks, [1, T])).logits, targets);
    m.zeroGrad();
    loss.backward();
  }, { reps: 3 });
  return T / (ms / 1000);
}

export function titansBench(filters: readonly string[]): void {
  const types = TYPES.filter((t) => filters.some((f) => t.includes(f)));
  console.log(`\nTitans — 2 layers, d=${D}, vocab ${V}, f32, default layer configs; node ${process.version}`);
  console.log("\n1. chunk form (parallel forward, no gradients, B = 1) against token by token (step form after the forward)\n");
  const rows: string[][] = [];
  for (const type of types) {
    const m = model({ type });
    const rng = new Random(0);
    for (const T of LENGTHS) {
      const { ms, state } = forwardMs(m, tokens(rng, T));
      const fwd = T / (ms / 1000);
      const step = stepRate(m, state);
      rows.push([type, String(T), fmt(fwd), fmt(step), fmt(fwd / step), fmt((m.stateSize(T) * 4) / 1024)]);
    }
  }
  printTable(["layer", "T", "forward tok/s", "step tok/s", "forward/step", "state KiB @T"], rows);

  console.log("\n2. chunk size (memory chunkSize; MAC segments of 64): forward at T = 2048, training at T = 512 (B = 1), step\n");
  const rows2: string[][] = [];
  for (const type of types.filter((t) => t === "titans_lmm" || t === "titans_mac")) {
    for (const chunkSize of CHUNKS) {
      const m = model({ type, chunkSize });
      const rng = new Random(0);
      const { ms, state } = forwardMs(m, tokens(rng, 2048));
      rows2.push([type, String(chunkSize), fmt(2048 / (ms / 1000)), fmt(trainRate(m, rng, 512)), fmt(stepRate(m, state))]);
    }
  }
  printTable(["layer", "chunk", "forward tok/s @2048", "train tok/s @512", "step tok/s"], rows2);
}
