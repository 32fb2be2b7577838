/**
 * `npm run bench:ops -- linear`: gla, simple_gla and linear_attn (spec/mixers.md §0.4, §3, §6) with the shared
 * matrix-state procedure (bench/matrix-state.ts): chunk forward and forward+backward at T = 256 … 16384 beside
 * the naive loop (gla and simple_gla, T ≤ 1024), the fitted exponent of time against T, and the decode time per
 * token of the step form for all four ops of the family.
 */
import { benchChunkScaling, decodeTable, NAIVE_MAX_T } from "./matrix-state.js";
import { gla } from "../src/ops/gla/index.js";
import { linearAttn } from "../src/ops/linear_attn/index.js";
import { retention } from "../src/ops/retention/index.js";
import { simpleGla } from "../src/ops/simple_gla/index.js";

export async function run(): Promise<void> {
  const started = performance.now();
  benchChunkScaling(gla, true);
  benchChunkScaling(simpleGla, true);
  benchChunkScaling(linearAttn, false);
  console.log(`(naive loop: gla and simple_gla at T ≤ ${NAIVE_MAX_T}; linear_attn's is the same loop without the decay; retention runs simple_gla's chunk path)`);
  decodeTable([linearAttn, retention, simpleGla, gla]);
  console.log(`(linear section: ${((performance.now() - started) / 1000).toFixed(0)} s)`);
}

// run directly: node dist/bench/ops-linear.js
if (import.meta.url === `file://${process.argv[1]}`) await run();
