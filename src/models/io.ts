/**
 * Saving and loading models: safetensors with the config in __metadata__ ("seqmix.config"), written atomically.
 * `load(path)` rebuilds the model from the stored config and loads every tensor strictly: a missing, unexpected
 * or mis-shaped tensor is an error that names it.
 */
import { loadCheckpoint, saveCheckpoint } from "../io/checkpoint.js";
import { LanguageModel } from "./lm.js";

export const MODEL_FORMAT = "seqmix.lm/1";

export function saveModel(model: LanguageModel, path: string): void {
  saveCheckpoint(path, model.stateDict(), { format: MODEL_FORMAT, "seqmix.config": JSON.stringify(model.config) });
}

export function loadModel(path: string): LanguageModel {
  const ckpt = loadCheckpoint(path);
  const configText = ckpt.metadata["seqmix.config"];
  if (configText === undefined) throw new Error(`load ${path}: no 'seqmix.config' entry in the safetensors __metadata__; is this a seqmix model?`);
  let config: unknown;
  try {
    config = JSON.parse(configText);
  } catch (e) {
    throw new Error(`load ${path}: the stored config is not valid JSON (${(e as Error).message})`);
  }
  const model = new LanguageModel(config as never);
  try {
    model.loadStateDict(ckpt.tensors, true);
  } catch (e) {
    throw new Error(`load ${path}: ${(e as Error).message}`);
  }
  return model;
}
