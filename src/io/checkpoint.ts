/**
 * Tensors ↔ safetensors: state dicts saved as checkpoints (atomically) with the config in __metadata__.
 * Floats keep their dtype (F32 ↔ f32, F64 ↔ f64); F16/BF16 files load as f32.
 */
import { Tensor } from "../core/tensor.js";
import type { FloatArray } from "../core/dtype.js";
import { SafetensorsError, type SafetensorsContents, type StoredTensor } from "./safetensors.js";
import { readSafetensorsFileSync, writeSafetensorsFileSync } from "./safetensors.js";

export type StoreAs = "F32" | "F64" | "F16" | "BF16";

/** A float tensor from a stored one; integer tensors are rejected with the tensor's name. */
export function storedToTensor(name: string, stored: StoredTensor): Tensor {
  if (!(stored.data instanceof Float32Array || stored.data instanceof Float64Array)) {
    throw new SafetensorsError("BAD_DATA", `tensor '${name}' has integer dtype ${stored.dtype}; a float tensor (F32, F64, F16, BF16) is expected`, { tensor: name });
  }
  return new Tensor(stored.data as FloatArray, stored.shape);
}

export function tensorToStored(t: Tensor, storeAs?: StoreAs): StoredTensor {
  return { dtype: storeAs ?? (t.dtype === "f64" ? "F64" : "F32"), shape: [...t.shape], data: t.values().slice() };
}

export interface Checkpoint {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export function loadCheckpoint(path: string): Checkpoint {
  const contents: SafetensorsContents = readSafetensorsFileSync(path);
  const tensors = new Map<string, Tensor>();
  for (const [name, stored] of contents.tensors) tensors.set(name, storedToTensor(name, stored));
  return { tensors, metadata: contents.metadata };
}

/** Writes tensors (e.g. module.stateDict()) to `path` via a temp file and a rename. */
export function saveCheckpoint(
  path: string,
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata: Record<string, string> = {},
  storeAs?: StoreAs,
): void {
  const entries = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const stored = new Map(entries.map(([name, t]) => [name, tensorToStored(t, storeAs)]));
  writeSafetensorsFileSync(path, stored, metadata);
}
