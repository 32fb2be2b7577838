// Reading the safetensors format:
//   [u64 little-endian header length N][N bytes UTF-8 JSON header][data buffer]
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets
// relative to the data buffer) plus an optional "__metadata__" string→string map.
// Everything is validated before any tensor memory is allocated; tensors must tile
// the data buffer exactly (no overlaps, gaps or trailing bytes), as in the reference
// implementation.

import { f16BitsToF32 } from "./half.js";
import {
  HOST_LITTLE_ENDIAN,
  MAX_HEADER_BYTES,
  SAFETENSORS_DTYPES,
  SafetensorsError,
  describe,
  dtypeByteSize,
  elementCount,
  isSafetensorsDType,
  type SafetensorsContents,
  type SafetensorsDType,
  type StoredTensor,
  type StoredTensorData,
} from "./safetensors-common.js";

interface Entry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
  /** Position in the header, to keep the sort stable. */
  order: number;
}

/**
 * Validate the 8-byte length prefix against the total input size and return the
 * header length N. Works from the prefix alone so a file reader can reject a bad
 * file before loading it. Never converts an unchecked u64 to a number.
 */
export function checkHeaderLength(prefix: Uint8Array, totalBytes: number, source?: string): number {
  if (totalBytes < 8 || prefix.length < 8) {
    throw new SafetensorsError(
      "TOO_SHORT",
      `input is ${totalBytes} bytes; expected at least 8 (the header length prefix)`,
      { source },
    );
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      "HEADER_TOO_LARGE",
      `declared header length ${n} bytes exceeds the limit of ${MAX_HEADER_BYTES} bytes`,
      { source },
    );
  }
  const len = Number(n);
  if (8 + len > totalBytes) {
    throw new SafetensorsError(
      "HEADER_PAST_END",
      `declared header length ${len} bytes runs past the end of the input (only ${totalBytes - 8} bytes follow the prefix)`,
      { source },
    );
  }
  return len;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseHeaderJson(bytes: Uint8Array, source: string | undefined): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new SafetensorsError("BAD_JSON", "header is not valid UTF-8", { source });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new SafetensorsError("BAD_JSON", `header is not valid JSON (${why})`, { source });
  }
  if (!isPlainObject(value)) {
    throw new SafetensorsError("BAD_JSON", `header must be a JSON object, found ${describe(value)}`, { source });
  }
  return value;
}

function parseMetadata(value: unknown, source: string | undefined): Record<string, string> {
  if (!isPlainObject(value)) {
    throw new SafetensorsError("BAD_ENTRY", `__metadata__ must be an object of strings, found ${describe(value)}`, {
      source,
    });
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new SafetensorsError(
        "BAD_ENTRY",
        `__metadata__[${JSON.stringify(k)}] must be a string, found ${describe(v)}`,
        { source },
      );
    }
    // defineProperty so a key such as "__proto__" stays an ordinary own property.
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function parseEntry(
  name: string,
  value: unknown,
  order: number,
  dataBytes: number,
  source: string | undefined,
): Entry {
  const where = { source, tensor: name };
  if (!isPlainObject(value)) {
    throw new SafetensorsError(
      "BAD_ENTRY",
      `entry must be an object with dtype, shape and data_offsets, found ${describe(value)}`,
      where,
    );
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string") {
    throw new SafetensorsError("BAD_ENTRY", `dtype must be a string, found ${describe(dtype)}`, where);
  }
  const count = elementCount(shape);
  if (typeof count === "string") throw new SafetensorsError("BAD_ENTRY", count, where);
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o: unknown) => typeof o === "number" && Number.isSafeInteger(o) && o >= 0)
  ) {
    throw new SafetensorsError(
      "BAD_ENTRY",
      `data_offsets must be [begin, end] with non-negative integers, found ${
        Array.isArray(offsets) ? JSON.stringify(offsets).slice(0, 80) : describe(offsets)
      }`,
      where,
    );
  }
  const begin = offsets[0] as number;
  const end = offsets[1] as number;
  if (begin > end) {
    throw new SafetensorsError("BAD_ENTRY", `data_offsets [${begin}, ${end}] has begin after end`, where);
  }
  if (!isSafetensorsDType(dtype)) {
    throw new SafetensorsError(
      "UNKNOWN_DTYPE",
      `dtype ${JSON.stringify(dtype)} is not supported; supported dtypes are ${SAFETENSORS_DTYPES.join(", ")}`,
      where,
    );
  }
  const dims = (shape as number[]).map((d) => d + 0); // normalises -0
  const expected = count * dtypeByteSize(dtype);
  if (end - begin !== expected) {
    throw new SafetensorsError(
      "SHAPE_BYTES_MISMATCH",
      `shape ${JSON.stringify(dims)} of ${dtype} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${
        end - begin
      } bytes`,
      where,
    );
  }
  if (end > dataBytes) {
    throw new SafetensorsError(
      "OFFSET_OUT_OF_RANGE",
      `data_offsets [${begin}, ${end}] end past the data buffer of ${dataBytes} bytes`,
      where,
    );
  }
  return { name, dtype, shape: dims, begin, end, order };
}

/** Sort entries by position and require them to tile [0, dataBytes) exactly. */
function checkLayout(entries: Entry[], dataBytes: number, source: string | undefined): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end || a.order - b.order);
  let cursor = 0;
  let last: Entry | undefined; // the entry whose end is `cursor`
  for (const e of entries) {
    if (e.begin < cursor && last !== undefined) {
      throw new SafetensorsError(
        "OVERLAPPING",
        `data_offsets [${e.begin}, ${e.end}] overlap those of tensor ${JSON.stringify(last.name)} [${last.begin}, ${
          last.end
        }]`,
        { source, tensor: e.name },
      );
    }
    if (e.begin > cursor) {
      throw new SafetensorsError(
        "NOT_CONTIGUOUS",
        `data_offsets [${e.begin}, ${e.end}] leave unused bytes [${cursor}, ${e.begin}) in the data buffer; ` +
          "tensors must be laid out contiguously",
        { source, tensor: e.name },
      );
    }
    if (e.end >= cursor) {
      cursor = e.end;
      last = e;
    }
  }
  if (cursor !== dataBytes) {
    throw new SafetensorsError(
      "NOT_CONTIGUOUS",
      `tensors cover ${cursor} bytes but the data buffer holds ${dataBytes}; ` +
        `${dataBytes - cursor} trailing bytes are unused`,
      { source },
    );
  }
}

// Lazily built table of all 65536 f16 values, for fast bulk decoding.
let f16Table: Float32Array | undefined;
function getF16Table(): Float32Array {
  if (f16Table === undefined) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = f16BitsToF32(h);
    f16Table = t;
  }
  return f16Table;
}

/** Copy `len` bytes starting at `start` into a new, exclusively owned ArrayBuffer. */
function copyOut(bytes: Uint8Array, start: number, len: number): ArrayBuffer {
  const out = new Uint8Array(len);
  out.set(bytes.subarray(start, start + len));
  return out.buffer;
}

/** Decode one validated tensor's bytes into a fresh typed array. */
function decode(bytes: Uint8Array, start: number, dtype: SafetensorsDType, count: number): StoredTensorData {
  const len = count * dtypeByteSize(dtype);
  // A DataView has no alignment requirement, so unaligned offsets are fine.
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, len);
  switch (dtype) {
    case "F16": {
      const table = getF16Table();
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = table[view.getUint16(2 * i, true)]!;
      return out;
    }
    case "BF16": {
      const out = new Float32Array(count);
      const bits = new Uint32Array(out.buffer); // same host byte order as `out`
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
    case "F32": {
      if (HOST_LITTLE_ENDIAN) return new Float32Array(copyOut(bytes, start, len));
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    }
    case "F64": {
      if (HOST_LITTLE_ENDIAN) return new Float64Array(copyOut(bytes, start, len));
      const out = new Float64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    }
    case "I32": {
      if (HOST_LITTLE_ENDIAN) return new Int32Array(copyOut(bytes, start, len));
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
      return out;
    }
    case "I64": {
      if (HOST_LITTLE_ENDIAN) return new BigInt64Array(copyOut(bytes, start, len));
      const out = new BigInt64Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getBigInt64(8 * i, true);
      return out;
    }
  }
}

/**
 * Parse safetensors bytes. `source` (e.g. a file path) is named in error messages.
 * Returned tensors are in data-offset order and own their memory (they never alias
 * `bytes`). Throws SafetensorsError on any malformed input.
 */
export function parseSafetensors(bytes: Uint8Array, source?: string): SafetensorsContents {
  const headerLen = checkHeaderLength(bytes.subarray(0, 8), bytes.length, source);
  const header = parseHeaderJson(bytes.subarray(8, 8 + headerLen), source);
  const dataStart = 8 + headerLen;
  const dataBytes = bytes.length - dataStart;

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  let order = 0;
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") metadata = parseMetadata(value, source);
    else entries.push(parseEntry(name, value, order++, dataBytes, source));
  }
  checkLayout(entries, dataBytes, source);

  const tensors = new Map<string, StoredTensor>();
  for (const e of entries) {
    const count = (e.end - e.begin) / dtypeByteSize(e.dtype);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: decode(bytes, dataStart + e.begin, e.dtype, count) });
  }
  return { tensors, metadata };
}
