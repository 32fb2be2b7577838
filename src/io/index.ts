// Public API of seqmix/io: safetensors read/write and 16-bit float conversions.
export * from "./safetensors.js";
export { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from "./half.js";
export { loadCheckpoint, saveCheckpoint, storedToTensor, tensorToStored, type Checkpoint, type StoreAs } from "./checkpoint.js";
