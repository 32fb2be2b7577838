/** The synthetic task registry (tasks.md): `getTask(name)`, `listTasks()`, and re-exports. */
import { mqar } from "./mqar.js";
import { selectiveCopy } from "./selective_copy.js";
import { inductionHeads } from "./induction_heads.js";
import { passkey } from "./passkey.js";
import { niah } from "./niah.js";
import { setDisjointness } from "./set_disjointness.js";
import { parity } from "./parity.js";
import { modularCounting } from "./modular_counting.js";
import { s5Composition } from "./s5_composition.js";
import { iclLinearRegression } from "./icl_linear_regression.js";
import type { AnyTask } from "./types.js";

/** Every task, keyed by its registry name. */
export const TASKS = {
  mqar,
  selective_copy: selectiveCopy,
  induction_heads: inductionHeads,
  passkey,
  niah,
  set_disjointness: setDisjointness,
  parity,
  modular_counting: modularCounting,
  s5_composition: s5Composition,
  icl_linear_regression: iclLinearRegression,
} as const;

export type TaskName = keyof typeof TASKS;

export class UnknownTaskError extends Error {
  override name = "UnknownTaskError";
}

/** The task registered under `name`; unknown names throw an error listing the known ones. */
export function getTask<N extends TaskName>(name: N): (typeof TASKS)[N];
export function getTask(name: string): AnyTask;
export function getTask(name: string): AnyTask {
  if (Object.prototype.hasOwnProperty.call(TASKS, name)) return TASKS[name as TaskName];
  throw new UnknownTaskError(`unknown task '${name}'; known tasks: ${Object.keys(TASKS).join(", ")}`);
}

/** All tasks in registry order. */
export function listTasks(): AnyTask[] {
  return Object.values(TASKS);
}

export * from "./types.js";
export * from "./metrics.js";
export * from "./streams.js";
export { mqar, mqarSchema, mqarGapWeights, mqarContextLength, type MqarConfig } from "./mqar.js";
export { selectiveCopy, selectiveCopySchema, type SelectiveCopyConfig } from "./selective_copy.js";
export { inductionHeads, inductionHeadsSchema, type InductionHeadsConfig } from "./induction_heads.js";
export { passkey, passkeySchema, passkeyTokens, type PasskeyConfig } from "./passkey.js";
export { niah, niahSchema, niahTokens, type NiahConfig } from "./niah.js";
export {
  setDisjointness, setDisjointnessSchema, listLengths, SET_START, SET_SEP, SET_ANSWER, SET_FIRST_CONTENT,
  type SetDisjointnessConfig,
} from "./set_disjointness.js";
export { parity, paritySchema, type ParityConfig } from "./parity.js";
export { modularCounting, modularCountingSchema, type ModularCountingConfig } from "./modular_counting.js";
export {
  s5Composition, s5CompositionSchema, permutationGroup, permutationSign, type PermutationGroup, type S5CompositionConfig,
} from "./s5_composition.js";
export { iclLinearRegression, iclLinearRegressionSchema, type IclLinearRegressionConfig } from "./icl_linear_regression.js";
