export { Module, ModuleList, StateDictError, type StateDict, type LoadResult } from "./module.js";
export { Linear, type LinearOptions } from "./linear.js";
export { Embedding, type EmbeddingOptions } from "./embedding.js";
export { RMSNorm } from "./rmsnorm.js";
export { SwiGLU, defaultSwiGLUHidden, type SwiGLUOptions } from "./swiglu.js";
export { ShortConv, type ShortConvOptions } from "./shortconv.js";
export { type ModuleOptions } from "./options.js";
export * as init from "./init.js";
