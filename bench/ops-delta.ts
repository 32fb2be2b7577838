/**
 * `npm run bench:ops -- delta`: delta_rule and gated_delta_rule (spec/mixers.md §7) with the shared
 * matrix-state procedure (bench/matrix-state.ts): chunk forward and forward+backward at T = 256 … 16384 beside
 * the naive loop (gated_delta_rule, T ≤ 1024), the fitted exponent of time against T, and the decode time per
 * token of the step form.
 */
import { benchChunkScaling, decodeTable, NAIVE_MAX_T } from "./matrix-state.js";
import { deltaRule } from "../src/ops/delta_rule/index.js";
import { gatedDeltaRule } from "../src/ops/gated_delta_rule/index.js";

export async function run(): Promise<void> {
  const started = performance.now();
  benchChunkScaling(gatedDeltaRule, true);
  benchChunkScaling(deltaRule, false);
  console.log(`(naive loop: gated_delta_rule only, T ≤ ${NAIVE_MAX_T}; delta_rule's is the same loop without the decay)`);
  decodeTable([deltaRule, gatedDeltaRule]);
  console.log(`(delta section: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

// run directly: node dist/bench/ops-delta.js
if (import.meta.url === `file://${process.argv[1]}`) await run();
