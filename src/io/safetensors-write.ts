// Producing safetensors bytes, byte-compatible with the Hugging Face format:
// u64 LE header length N, N bytes of JSON header padded with spaces so N is a
// multiple of 8, then the tensors' little-endian row-major data, contiguous, in the
// order given.

import { f32ToBf16Bits, f32ToF16Bits } from "./half.js";
import {
  HOST_LITTLE_ENDIAN,
  SAFETENSORS_DTYPES,
  SafetensorsError,
  describe,
  dtypeByteSize,
  elementCount,
  isSafetensorsDType,
  type SafetensorsDType,
  type StoredTensor,
  type StoredTensorData,
} from "./safetensors-common.js";

interface Planned {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  data: StoredTensorData;
  begin: number;
  end: number;
}

function kindOf(data: unknown): string {
  if (typeof data === "object" && data !== null) return data.constructor?.name ?? "object";
  return typeof data;
}

function isNumberArray(d: unknown): d is Float32Array | Float64Array | Int32Array {
  return d instanceof Float32Array || d instanceof Float64Array || d instanceof Int32Array;
}

function checkTensor(name: string, t: StoredTensor): Omit<Planned, "begin" | "end"> {
  const where = { tensor: name };
  if (name === "__metadata__") {
    throw new SafetensorsError("BAD_ENTRY", `"__metadata__" is reserved and cannot name a tensor`, where);
  }
  if (typeof t !== "object" || t === null) {
    throw new SafetensorsError("BAD_ENTRY", `expected {dtype, shape, data}, found ${describe(t)}`, where);
  }
  if (!isSafetensorsDType(t.dtype)) {
    throw new SafetensorsError(
      "UNKNOWN_DTYPE",
      `dtype ${describe(t.dtype)} is not supported; supported dtypes are ${SAFETENSORS_DTYPES.join(", ")}`,
      where,
    );
  }
  const count = elementCount(t.shape);
  if (typeof count === "string") throw new SafetensorsError("BAD_ENTRY", count, where);
  const data: unknown = t.data;
  if (!isNumberArray(data) && !(data instanceof BigInt64Array)) {
    throw new SafetensorsError(
      "BAD_DATA",
      `data must be a Float32Array, Float64Array, Int32Array or BigInt64Array, found ${kindOf(data)}`,
      where,
    );
  }
  if (data instanceof BigInt64Array && t.dtype !== "I64" && t.dtype !== "I32") {
    throw new SafetensorsError("BAD_DATA", `BigInt64Array data cannot be stored as ${t.dtype}; use I64 or I32`, where);
  }
  if (data.length !== count) {
    throw new SafetensorsError(
      "DATA_LENGTH_MISMATCH",
      `shape ${JSON.stringify(t.shape)} has ${count} elements but data (${kindOf(data)}) has ${data.length}`,
      where,
    );
  }
  return { name, dtype: t.dtype, shape: t.shape.map((d) => d + 0), data };
}

function badValue(name: string, dtype: SafetensorsDType, index: number, value: number | bigint): SafetensorsError {
  return new SafetensorsError(
    "BAD_DATA",
    `element ${index} is ${String(value)}, which cannot be stored exactly as ${dtype}`,
    { tensor: name },
  );
}

/** Raw little-endian bytes of a typed array, when the host already matches. */
function rawBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Write one tensor's elements at `view` offset 0 (a DataView has no alignment requirement). */
function encodeInto(out: Uint8Array, offset: number, p: Planned): void {
  const { data, dtype, name } = p;
  const n = data.length;
  const view = new DataView(out.buffer, out.byteOffset + offset, p.end - p.begin);
  switch (dtype) {
    case "F32":
      if (HOST_LITTLE_ENDIAN && data instanceof Float32Array) out.set(rawBytes(data), offset);
      else for (let i = 0; i < n; i++) view.setFloat32(4 * i, data[i] as number, true);
      return;
    case "F64":
      if (HOST_LITTLE_ENDIAN && data instanceof Float64Array) out.set(rawBytes(data), offset);
      else for (let i = 0; i < n; i++) view.setFloat64(8 * i, data[i] as number, true);
      return;
    case "F16":
      for (let i = 0; i < n; i++) view.setUint16(2 * i, f32ToF16Bits(data[i] as number), true);
      return;
    case "BF16":
      for (let i = 0; i < n; i++) view.setUint16(2 * i, f32ToBf16Bits(data[i] as number), true);
      return;
    case "I32":
      if (HOST_LITTLE_ENDIAN && data instanceof Int32Array) {
        out.set(rawBytes(data), offset);
      } else if (data instanceof BigInt64Array) {
        for (let i = 0; i < n; i++) {
          const v = data[i]!;
          if (v < -2147483648n || v > 2147483647n) throw badValue(name, dtype, i, v);
          view.setInt32(4 * i, Number(v), true);
        }
      } else {
        for (let i = 0; i < n; i++) {
          const v = data[i]!;
          if (!Number.isInteger(v) || v < -2147483648 || v > 2147483647) throw badValue(name, dtype, i, v);
          view.setInt32(4 * i, v, true);
        }
      }
      return;
    case "I64":
      if (data instanceof BigInt64Array) {
        if (HOST_LITTLE_ENDIAN) out.set(rawBytes(data), offset);
        else for (let i = 0; i < n; i++) view.setBigInt64(8 * i, data[i]!, true);
      } else {
        for (let i = 0; i < n; i++) {
          const v = data[i]!;
          if (!Number.isSafeInteger(v)) throw badValue(name, dtype, i, v);
          view.setBigInt64(8 * i, BigInt(v), true);
        }
      }
      return;
  }
}

function checkMetadata(metadata: unknown): [string, string][] {
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    throw new SafetensorsError("BAD_ENTRY", `metadata must be an object of strings, found ${describe(metadata)}`);
  }
  const entries = Object.entries(metadata);
  for (const [k, v] of entries) {
    if (typeof v !== "string") {
      throw new SafetensorsError("BAD_ENTRY", `metadata[${JSON.stringify(k)}] must be a string, found ${describe(v)}`);
    }
  }
  return entries as [string, string][];
}

/**
 * Serialize tensors (in iteration order) and optional string→string metadata to
 * safetensors bytes. Validates everything before allocating the output; throws
 * SafetensorsError (DATA_LENGTH_MISMATCH, BAD_DATA, BAD_ENTRY, UNKNOWN_DTYPE).
 * F16/BF16 are encoded from number arrays with round-to-nearest-even; I64 accepts
 * BigInt64Array or integer-valued number arrays; I32 requires int32-range integers.
 */
export function serializeSafetensors(
  tensors: Map<string, StoredTensor> | Record<string, StoredTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const planned: Planned[] = [];
  let cursor = 0;
  for (const [name, t] of list) {
    const checked = checkTensor(name, t);
    const bytes = checked.data.length * dtypeByteSize(checked.dtype);
    planned.push({ ...checked, begin: cursor, end: cursor + bytes });
    cursor += bytes;
  }
  const dataBytes = cursor;

  // Build the header text by hand so the key order is exactly the layout order
  // (a JS object would move integer-like names such as "0" to the front).
  const parts: string[] = [];
  if (metadata !== undefined) {
    const meta = checkMetadata(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    parts.push(`"__metadata__":{${meta.join(",")}}`);
  }
  for (const p of planned) {
    parts.push(
      `${JSON.stringify(p.name)}:{"dtype":${JSON.stringify(p.dtype)},"shape":${JSON.stringify(p.shape)},` +
        `"data_offsets":[${p.begin},${p.end}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerLen = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLen + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen); // pad with spaces
  const dataStart = 8 + headerLen;
  for (const p of planned) encodeInto(out, dataStart + p.begin, p);
  return out;
}
