/**
 * A random second-order Markov source over a small vocabulary: each context (a, b) allows a few next tokens
 * with skewed probabilities. Its true conditional probabilities are known, so a model's loss can be compared
 * with the best achievable (the source's own cross-entropy on the same data). Pure function of (config, seed).
 */
import { Random } from "../core/random.js";

export interface MarkovConfig {
  vocab: number;
  /** how many next tokens each context allows */
  branching: number;
  seed: number;
}

export interface MarkovSource {
  readonly config: MarkovConfig;
  /** probs[(a·V + b)·V + c] = P(next = c | a, b) */
  readonly probs: Float64Array;
}

export function makeMarkovSource(config: MarkovConfig): MarkovSource {
  const { vocab: V, branching } = config;
  if (!Number.isInteger(V) || V < 2) throw new RangeError(`markov: vocab must be an integer ≥ 2, got ${V}`);
  if (!Number.isInteger(branching) || branching < 1 || branching > V) throw new RangeError(`markov: branching must be an integer in 1..${V}, got ${branching}`);
  const rng = new Random(config.seed);
  const probs = new Float64Array(V * V * V);
  for (let ctx = 0; ctx < V * V; ctx++) {
    const next = rng.permutation(V).slice(0, branching);
    const weights = next.map(() => Math.exp(1.5 * rng.normal()));
    const total = weights.reduce((a, b) => a + b, 0);
    next.forEach((c, i) => (probs[ctx * V + c] = weights[i]! / total));
  }
  return { config, probs };
}

function sampleNext(source: MarkovSource, a: number, b: number, rng: Random): number {
  const V = source.config.vocab;
  const base = (a * V + b) * V;
  let u = rng.uniform();
  for (let c = 0; c < V; c++) {
    u -= source.probs[base + c]!;
    if (u < 0) return c;
  }
  // rounding left a sliver: the last allowed token
  for (let c = V - 1; c >= 0; c--) if (source.probs[base + c]! > 0) return c;
  return 0;
}

/** A sequence of `length` tokens, starting from two uniform tokens. */
export function sampleMarkov(source: MarkovSource, length: number, rng: Random): Int32Array {
  const V = source.config.vocab;
  const out = new Int32Array(length);
  for (let t = 0; t < length; t++) {
    out[t] = t < 2 ? rng.integer(0, V) : sampleNext(source, out[t - 2]!, out[t - 1]!, rng);
  }
  return out;
}

/** P(next = c | a, b) under the source. */
export function markovProb(source: MarkovSource, a: number, b: number, c: number): number {
  const V = source.config.vocab;
  return source.probs[(a * V + b) * V + c]!;
}
