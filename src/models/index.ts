export { LanguageModel, Backbone, type ModelState, type ModelForwardOptions } from "./lm.js";
export { Block } from "./block.js";
export { parseLMConfig, expandSchedule, lmConfigSchema, type LMConfig, type LMConfigInput, type LayerSpec } from "./config.js";
export { generate, stream, sampleToken, type GenerateOptions } from "./generate.js";
export { saveModel, loadModel, loadModel as load, MODEL_FORMAT } from "./io.js";
