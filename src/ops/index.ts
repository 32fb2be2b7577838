/**
 * The mixer ops (design.md "Op contract"). Each op lives in its own folder (naive.ts, chunk.ts, recurrent.ts,
 * index.ts exporting its OpDefinition) and is registered here, in one list.
 */
import { registerOp } from "./registry.js";
import type { AnyOp } from "./types.js";
import { attention } from "./attention/index.js";
import { aaren } from "./aaren/index.js";
import { selectiveScan } from "./selective_scan/index.js";
import { deltaRule } from "./delta_rule/index.js";
import { gatedDeltaRule } from "./gated_delta_rule/index.js";
import { lstm } from "./lstm/index.js";
import { gru } from "./gru/index.js";
import { linearAttn } from "./linear_attn/index.js";
import { retention } from "./retention/index.js";
import { gla } from "./gla/index.js";
import { simpleGla } from "./simple_gla/index.js";
import { titansMemory } from "./titans_memory/index.js";

const ops: AnyOp[] = [
  // each op family adds its definitions here
  attention,
  aaren,
  selectiveScan,
  deltaRule,
  gatedDeltaRule,
  lstm,
  gru,
  linearAttn,
  retention,
  gla,
  simpleGla,
  titansMemory,
];
ops.forEach(registerOp);

export { getOp, listOps, registerOp } from "./registry.js";
export { runOp, runRecurrent, prepare, inputsAt } from "./run.js";
export { OpError, parseOptions, commonOptions } from "./options.js";
export type { OpDefinition, AnyOp, OpInputs, OpOutputs, OpMode, InputSpec, CommonOptions, RecurrentForm, ExampleSizes } from "./types.js";
export { OP_MODES } from "./types.js";
