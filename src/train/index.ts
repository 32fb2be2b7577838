/** Training: the AdamW optimizer, gradient clipping, learning-rate schedules and gradient checks. */
export {
  AdamW, decayGroups, type AdamWOptions, type AdamWHyperparams, type AdamWParamGroup, type AdamWParamState,
  type AdamWStateDict,
} from "./adamw.js";
export { clipGradNorm, gradNorm, type ClipGradNormOptions } from "./clip.js";
export {
  constant, linearWarmupCosine, linearWarmupLinearDecay, schedule, SCHEDULE_NAMES, type Schedule, type ScheduleName,
  type ScheduleOptions, type ConstantOptions, type WarmupDecayOptions,
} from "./schedule.js";
export { assertFiniteGrads, gradsAreFinite, checkFiniteGrad, firstNonFinite, NonFiniteGradError } from "./finite.js";
