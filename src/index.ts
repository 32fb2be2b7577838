/** seqmix: sequence mixers for TypeScript. */
export * from "./core/index.js";
export * as nn from "./nn/index.js";
export * as train from "./train/index.js";
export * as io from "./io/index.js";
export * as kernels from "./kernels/index.js";
export * as ops from "./ops/index.js";
export * as layers from "./layers/index.js";
export * as models from "./models/index.js";
export { LanguageModel, load, saveModel } from "./models/index.js";
export * as tasks from "./tasks/index.js";
