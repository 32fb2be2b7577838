/**
 * Generation: the prompt is prefilled with the parallel form (one forward pass that returns every layer's
 * state), then tokens are produced one at a time with the step form, carrying those states.
 */
import { noGrad } from "../core/autograd.js";
import { indices } from "../core/ops/shape.js";
import { Random } from "../core/random.js";
import type { ModelState } from "./lm.js";
import type { Tensor } from "../core/tensor.js";

export interface GenerateOptions {
  maxTokens: number;
  /** softmax temperature; 0 = greedy (default 1) */
  temperature?: number;
  /** sample only among the k most likely tokens */
  topK?: number;
  seed?: number;
  /** stop after producing this token */
  stopToken?: number;
}

/** What stream/generate need from a model (LanguageModel implements it). */
export interface Steppable {
  /** logits per position (the vocabulary for a token model) */
  readonly outputSize: number;
  forward(tokens: ReturnType<typeof indices>, options: { outputState: boolean }): { logits: Tensor; state?: ModelState };
  step(tokens: ArrayLike<number>, state: ModelState): { logits: Tensor; state: ModelState };
}

function validate(options: GenerateOptions, vocab: number): void {
  if (!Number.isInteger(options.maxTokens) || options.maxTokens < 0) throw new RangeError(`generate: maxTokens must be a non-negative integer, got ${options.maxTokens}`);
  const t = options.temperature ?? 1;
  if (!(t >= 0) || !Number.isFinite(t)) throw new RangeError(`generate: temperature must be a finite number ≥ 0, got ${t}`);
  if (options.topK !== undefined && (!Number.isInteger(options.topK) || options.topK < 1 || options.topK > vocab)) {
    throw new RangeError(`generate: topK must be an integer in 1..${vocab}, got ${options.topK}`);
  }
}

/** Draws a token from one row of logits. */
export function sampleToken(logits: ArrayLike<number>, temperature: number, topK: number | undefined, rng: Random): number {
  const n = logits.length;
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature === 0) return best;
  let allowed = Array.from({ length: n }, (_, i) => i);
  if (topK !== undefined && topK < n) allowed = allowed.sort((a, b) => logits[b]! - logits[a]!).slice(0, topK);
  const weights = allowed.map((i) => Math.exp((logits[i]! - logits[best]!) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.uniform() * total;
  for (let j = 0; j < allowed.length; j++) {
    u -= weights[j]!;
    if (u < 0) return allowed[j]!;
  }
  return allowed[allowed.length - 1]!;
}

/** Yields generated tokens one by one (batch of one sequence). */
export function* stream(model: Steppable, prompt: ArrayLike<number>, options: GenerateOptions): Generator<number, void, undefined> {
  const vocab = model.outputSize;
  validate(options, vocab);
  if (prompt.length === 0) throw new RangeError("generate: the prompt must hold at least one token");
  const rng = new Random(options.seed ?? 0);
  const temperature = options.temperature ?? 1;
  let { logits, state } = noGrad(() => model.forward(indices(prompt, [1, prompt.length]), { outputState: true }));
  let last = logits.slice(1, prompt.length - 1).values();
  for (let produced = 0; produced < options.maxTokens; produced++) {
    const token = sampleToken(last, temperature, options.topK, rng);
    yield token;
    if (token === options.stopToken || produced === options.maxTokens - 1) return;
    const r = noGrad(() => model.step([token], state!));
    state = r.state;
    last = r.logits.values();
  }
}

export function generate(model: Steppable, prompt: ArrayLike<number>, options: GenerateOptions): number[] {
  return [...stream(model, prompt, options)];
}
