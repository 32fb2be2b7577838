/** seqmix: sequence mixers for TypeScript. */
export * from "./core/index.js";
export * as nn from "./nn/index.js";
export * as train from "./train/index.js";
export * as io from "./io/index.js";
export * as kernels from "./kernels/index.js";
