// Shared types, limits and the error class for the safetensors reader and writer.

/** Element types this library reads and writes. */
export type SafetensorsDType = "F32" | "F64" | "F16" | "BF16" | "I32" | "I64";

/** The supported dtypes, in a fixed order (used in error messages). */
export const SAFETENSORS_DTYPES: readonly SafetensorsDType[] = ["F32", "F64", "F16", "BF16", "I32", "I64"];

/** In-memory storage of a tensor. F16/BF16 are held widened to Float32Array. */
export type StoredTensorData = Float32Array | Float64Array | Int32Array | BigInt64Array;

/**
 * One named tensor. On read, `dtype` is what the file held and `data` is a fresh
 * array (F16/BF16 → Float32Array, F32 → Float32Array, F64 → Float64Array,
 * I32 → Int32Array, I64 → BigInt64Array). On write, `dtype` is what to store.
 */
export interface StoredTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: StoredTensorData;
}

/** Result of parsing a safetensors buffer or file. */
export interface SafetensorsContents {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

/** Largest header accepted, in bytes (the same limit as the Hugging Face library). */
export const MAX_HEADER_BYTES = 100_000_000;

export type SafetensorsErrorCode =
  | "TOO_SHORT" // fewer than 8 bytes
  | "HEADER_TOO_LARGE" // declared header length over MAX_HEADER_BYTES
  | "HEADER_PAST_END" // declared header length runs past the end of the input
  | "BAD_JSON" // header is not UTF-8 JSON, or not a JSON object
  | "BAD_ENTRY" // malformed tensor entry, shape, offsets, __metadata__, or tensor name
  | "UNKNOWN_DTYPE" // dtype not in SAFETENSORS_DTYPES
  | "SHAPE_BYTES_MISMATCH" // end - begin != product(shape) * bytes per element
  | "OFFSET_OUT_OF_RANGE" // data_offsets end past the data buffer
  | "OVERLAPPING" // two tensors' byte ranges overlap
  | "NOT_CONTIGUOUS" // gap between tensors, or unused bytes at the end of the data buffer
  | "DATA_LENGTH_MISMATCH" // (write) data.length != product(shape)
  | "BAD_DATA" // (write) array kind or values cannot be stored as the requested dtype
  | "FILE_TOO_LARGE" // (read) file too large to load into one buffer
  | "FILE_CHANGED"; // (read) file shrank while being read

/** Every failure to parse or produce safetensors bytes. `code` says which case. */
export class SafetensorsError extends Error {
  readonly code: SafetensorsErrorCode;
  /** File path or other label of the input, when known. */
  readonly source: string | undefined;
  /** Name of the tensor concerned, when there is one. */
  readonly tensor: string | undefined;

  constructor(
    code: SafetensorsErrorCode,
    message: string,
    where: { source?: string | undefined; tensor?: string | undefined } = {},
  ) {
    const prefix = [where.source, where.tensor === undefined ? undefined : `tensor ${JSON.stringify(where.tensor)}`]
      .filter((s): s is string => s !== undefined)
      .join(": ");
    super(`safetensors${prefix ? ` (${prefix})` : ""}: ${message} [${code}]`);
    this.name = "SafetensorsError";
    this.code = code;
    this.source = where.source;
    this.tensor = where.tensor;
  }
}

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === "string" && (SAFETENSORS_DTYPES as readonly string[]).includes(s);
}

/** Bytes per stored element. */
export function dtypeByteSize(dtype: SafetensorsDType): number {
  switch (dtype) {
    case "F16":
    case "BF16":
      return 2;
    case "F32":
    case "I32":
      return 4;
    case "F64":
    case "I64":
      return 8;
  }
}

/**
 * Number of elements of a shape, or a string saying what is wrong with it.
 * Dims must be non-negative safe integers and the running product must stay a
 * safe integer (a 0-d shape [] has one element).
 */
export function elementCount(shape: unknown): number | string {
  if (!Array.isArray(shape)) return `shape must be an array of non-negative integers, found ${describe(shape)}`;
  let count = 1;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      return `shape[${i}] must be a non-negative integer, found ${describe(d)}`;
    }
    count *= d;
    if (!Number.isSafeInteger(count)) {
      return `shape ${JSON.stringify(shape)} has more than Number.MAX_SAFE_INTEGER elements`;
    }
  }
  return count;
}

/** Short description of an arbitrary JSON-ish value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return `array of length ${v.length}`;
  if (typeof v === "object") return "object";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return `${typeof v} ${String(v)}`;
}

/** True when the host stores typed-array elements little-endian (as the format does). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
