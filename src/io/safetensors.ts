// The safetensors format: parse/serialize bytes, read/write files.
export {
  MAX_HEADER_BYTES,
  SAFETENSORS_DTYPES,
  SafetensorsError,
  dtypeByteSize,
  isSafetensorsDType,
  type SafetensorsContents,
  type SafetensorsDType,
  type SafetensorsErrorCode,
  type StoredTensor,
  type StoredTensorData,
} from "./safetensors-common.js";
export { parseSafetensors } from "./safetensors-parse.js";
export { serializeSafetensors } from "./safetensors-write.js";
export {
  readSafetensorsFile,
  readSafetensorsFileSync,
  writeFileAtomic,
  writeFileAtomicSync,
  writeSafetensorsFile,
  writeSafetensorsFileSync,
} from "./safetensors-file.js";
