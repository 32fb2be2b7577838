import { test, describe, after } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  SafetensorsError,
  bf16BitsToF32,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  parseSafetensors,
  readSafetensorsFile,
  readSafetensorsFileSync,
  serializeSafetensors,
  writeSafetensorsFile,
  writeSafetensorsFileSync,
  type SafetensorsErrorCode,
  type StoredTensor,
} from "../../src/io/index.js";

// ---------- helpers ----------

/** Deterministic pseudo-random uint32 stream (LCG). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

/** Assemble a file from a hand-written header and data bytes; `declared` overrides the length prefix. */
function build(header: string, data: ArrayLike<number> = [], declared?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(Array.from(data), 8 + h.length);
  return out;
}

function prefixOnly(declared: bigint, extra = 0): Uint8Array {
  const out = new Uint8Array(8 + extra);
  new DataView(out.buffer).setBigUint64(0, declared, true);
  return out;
}

function isErr(code: SafetensorsErrorCode, ...mentions: string[]) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const m of mentions) assert.ok(e.message.includes(m), `message ${JSON.stringify(e.message)} lacks ${m}`);
    return true;
  };
}

const entry = (dtype: string, shape: unknown, offsets: unknown): string =>
  JSON.stringify({ dtype, shape, data_offsets: offsets });

function expectParseError(bytes: Uint8Array, code: SafetensorsErrorCode, ...mentions: string[]): void {
  assert.throws(() => parseSafetensors(bytes, "model.safetensors"), isErr(code, ...mentions));
}

function sameTensor(actual: StoredTensor | undefined, expected: StoredTensor, name: string): void {
  assert.ok(actual, `missing tensor ${name}`);
  assert.equal(actual.dtype, expected.dtype, name);
  assert.deepEqual(actual.shape, expected.shape, name);
  assert.equal(actual.data.constructor, expected.data.constructor, name);
  assert.deepEqual(Array.from(actual.data as ArrayLike<unknown>), Array.from(expected.data as ArrayLike<unknown>), name);
}

// ---------- half precision ----------

interface Fmt {
  name: string;
  enc: (x: number) => number;
  dec: (h: number) => number;
  maxFinite: number; // bits of the largest finite positive value
  inf: number;
}
const FORMATS: Fmt[] = [
  { name: "f16", enc: f32ToF16Bits, dec: f16BitsToF32, maxFinite: 0x7bff, inf: 0x7c00 },
  { name: "bf16", enc: f32ToBf16Bits, dec: bf16BitsToF32, maxFinite: 0x7f7f, inf: 0x7f80 },
];

describe("half precision conversion", () => {
  test("f16 known encodings", () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [1023 * 2 ** -24, 0x03ff], // largest subnormal
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [1 / 3, 0x3555],
      [Math.fround(0.1), 0x2e66],
    ];
    for (const [x, h] of cases) assert.equal(f32ToF16Bits(x), h, `encode ${x}`);
    for (const [x, h] of cases.slice(0, -2)) assert.ok(Object.is(f16BitsToF32(h), x), `decode 0x${h.toString(16)}`);
    assert.equal(f16BitsToF32(0x3555), 0.333251953125);
  });

  test("f16 special values: NaN, overflow, underflow, ties to even", () => {
    assert.equal(f32ToF16Bits(NaN), 0x7e00);
    assert.ok(Number.isNaN(f16BitsToF32(0x7e00)));
    assert.ok(Number.isNaN(f16BitsToF32(0xfc01)));
    assert.equal(f32ToF16Bits(65519.99), 0x7bff); // below the midpoint to 65536
    assert.equal(f32ToF16Bits(65520), 0x7c00); // midpoint ties to even = infinity
    assert.equal(f32ToF16Bits(-1e6), 0xfc00);
    assert.equal(f32ToF16Bits(3.4e38), 0x7c00);
    assert.equal(f32ToF16Bits(2 ** -25), 0x0000); // half the smallest subnormal: tie to even (0)
    assert.equal(f32ToF16Bits(-(2 ** -25)), 0x8000);
    assert.equal(f32ToF16Bits(2 ** -25 * 1.0001), 0x0001);
    assert.equal(f32ToF16Bits(3 * 2 ** -25), 0x0002); // 1.5 ulp ties to 2
    assert.equal(f32ToF16Bits(5 * 2 ** -25), 0x0002); // 2.5 ulp ties to 2
    assert.equal(f32ToF16Bits(1e-30), 0x0000);
    assert.equal(f32ToF16Bits((1024 - 0.5) * 2 ** -24), 0x0400); // rounds up into the normals
    assert.equal(f32ToF16Bits(1 + 2 ** -11), 0x3c00); // tie, even mantissa stays
    assert.equal(f32ToF16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie, rounds up to even
    assert.equal(f32ToF16Bits(2 - 2 ** -12), 0x4000); // mantissa carry bumps the exponent
    assert.ok(Object.is(f16BitsToF32(0x8000), -0));
    assert.equal(f16BitsToF32(0x0001), 2 ** -24);
  });

  test("bf16 known encodings and specials", () => {
    assert.equal(f32ToBf16Bits(1), 0x3f80);
    assert.equal(f32ToBf16Bits(-2), 0xc000);
    assert.equal(f32ToBf16Bits(Math.PI), 0x4049);
    assert.equal(f32ToBf16Bits(-0), 0x8000);
    assert.equal(f32ToBf16Bits(Infinity), 0x7f80);
    assert.equal(f32ToBf16Bits(NaN), 0x7fc0);
    assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // tie to even
    assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(f32ToBf16Bits(3.4028234663852886e38), 0x7f80); // f32 max rounds to inf in bf16
    assert.equal(f32ToBf16Bits(2 ** -133), 0x0001); // smallest bf16 subnormal
    assert.equal(f32ToBf16Bits(2 ** -134), 0x0000);
    assert.equal(bf16BitsToF32(0x3f80), 1);
    assert.equal(bf16BitsToF32(0x0001), 2 ** -133);
    assert.ok(Number.isNaN(bf16BitsToF32(0x7fc0)));
  });

  for (const f of FORMATS) {
    test(`${f.name}: every non-NaN bit pattern round-trips exactly`, () => {
      for (let h = 0; h < 0x10000; h++) {
        const x = f.dec(h);
        if (Number.isNaN(x)) {
          assert.ok((h & 0x7fff) > f.inf, `only exp-all-ones patterns are NaN (${h})`);
          continue;
        }
        assert.equal(x, Math.fround(x), "decoded values are f32-exact");
        const back = f.enc(x);
        if (back !== h) assert.fail(`${f.name} 0x${h.toString(16)} -> ${x} -> 0x${back.toString(16)}`);
      }
    });

    test(`${f.name}: arbitrary values round to the nearest representable (within half an ulp, ties even)`, () => {
      const next = lcg(f.name === "f16" ? 7 : 11);
      const [lo, hi] = f.name === "f16" ? [-28, 17] : [-136, 129];
      for (let i = 0; i < 20000; i++) {
        const mant = 1 + next() / 2 ** 32;
        const e = lo + (next() % (hi - lo));
        const x = Math.fround(mant * 2 ** e);
        const h = f.enc(x);
        assert.equal(h & 0x8000, 0);
        const v = f.dec(h);
        const top = f.dec(f.maxFinite);
        const overflowAt = top + (top - f.dec(f.maxFinite - 1)) / 2; // ties to even go to infinity
        if (h === f.inf) {
          assert.ok(x >= overflowAt, `${x} overflowed`);
          continue;
        }
        assert.ok(x < overflowAt);
        const err = Math.abs(x - v);
        for (const nb of [h - 1, h + 1]) {
          if (nb < 0 || nb > f.maxFinite) continue;
          const nerr = Math.abs(x - f.dec(nb));
          assert.ok(err <= nerr, `${x}: 0x${h.toString(16)} is not nearest`);
          if (err === nerr) assert.equal(h % 2, 0, `${x}: tie not to even`);
        }
        // explicit half-ulp bound
        const ulp = h < f.maxFinite ? f.dec(h + 1) - v : v - f.dec(h - 1);
        assert.ok(err <= ulp / 2, `${x}: error ${err} > half ulp ${ulp / 2}`);
        // negation is symmetric
        assert.equal(f.enc(-x), h | 0x8000);
      }
    });
  }
});

// ---------- round trips ----------

describe("serialize/parse round trip", () => {
  test("every dtype, 0-d, zero-size and odd sizes, with metadata", () => {
    const next = lcg(3);
    const odd = new Float32Array(37).map(() => (next() / 2 ** 32 - 0.5) * 100);
    const tensors = new Map<string, StoredTensor>([
      ["f32", { dtype: "F32", shape: [37], data: odd }],
      ["f64", { dtype: "F64", shape: [3, 1], data: new Float64Array([Math.PI, -1e300, 5e-324]) }],
      ["f16", { dtype: "F16", shape: [5], data: new Float32Array([1, -0.5, 65504, 2 ** -24, -0]) }],
      ["bf16", { dtype: "BF16", shape: [1, 3], data: new Float32Array([1, -3.5, 2 ** 100]) }],
      ["i32", { dtype: "I32", shape: [2, 2], data: new Int32Array([0, -1, 2147483647, -2147483648]) }],
      [
        "i64",
        {
          dtype: "I64",
          shape: [3],
          data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 42n]),
        },
      ],
      ["scalar", { dtype: "F32", shape: [], data: new Float32Array([7.25]) }],
      ["scalar16", { dtype: "F16", shape: [], data: new Float32Array([-2]) }],
      ["empty", { dtype: "F64", shape: [0, 4], data: new Float64Array(0) }],
      ["empty_i64", { dtype: "I64", shape: [3, 0], data: new BigInt64Array(0) }],
      ["odd16", { dtype: "BF16", shape: [3], data: new Float32Array([0.5, 0.25, 8]) }],
      ["after_odd", { dtype: "F64", shape: [1], data: new Float64Array([1.5]) }], // unaligned offset
      ["0", { dtype: "I32", shape: [1], data: new Int32Array([9]) }], // integer-like name
    ]);
    const metadata = { format: "pt", note: "ünïcödé ✓", __proto__x: "y" };
    const bytes = serializeSafetensors(tensors, metadata);
    const parsed = parseSafetensors(bytes);
    assert.deepEqual(parsed.metadata, metadata);
    assert.deepEqual([...parsed.tensors.keys()], [...tensors.keys()], "order preserved");
    for (const [name, t] of tensors) sameTensor(parsed.tensors.get(name), t, name);
    assert.ok(Object.is(parsed.tensors.get("f16")!.data[4], -0));
    assert.equal(parsed.tensors.get("f16")!.data.constructor, Float32Array);
    // the Record form serializes identically (no integer-like keys there to reorder)
    const rec = { a: tensors.get("f32")!, b: tensors.get("i64")! };
    const fromRecord = parseSafetensors(serializeSafetensors(rec));
    assert.deepEqual([...fromRecord.tensors.keys()], ["a", "b"]);
    assert.deepEqual(fromRecord.metadata, {});
  });

  test("f16/bf16 of arbitrary values match the scalar encoder; conversions on write", () => {
    const next = lcg(5);
    const xs = new Float64Array(101).map(() => (next() / 2 ** 32 - 0.5) * 1000);
    const bytes = serializeSafetensors({
      h: { dtype: "F16", shape: [101], data: xs },
      b: { dtype: "BF16", shape: [101], data: xs },
      f: { dtype: "F32", shape: [101], data: xs },
      d: { dtype: "F64", shape: [2], data: new Float32Array([0.1, 3]) },
      i: { dtype: "I64", shape: [3], data: new Int32Array([-5, 0, 2147483647]) },
      j: { dtype: "I64", shape: [2], data: new Float64Array([2 ** 53 - 1, -(2 ** 40)]) },
      k: { dtype: "I32", shape: [2], data: new Float64Array([-7, 123456]) },
      l: { dtype: "I32", shape: [2], data: new BigInt64Array([-7n, 8n]) },
    });
    const p = parseSafetensors(bytes).tensors;
    assert.deepEqual(Array.from(p.get("h")!.data as Float32Array), Array.from(xs, (x) => f16BitsToF32(f32ToF16Bits(x))));
    assert.deepEqual(Array.from(p.get("b")!.data as Float32Array), Array.from(xs, (x) => bf16BitsToF32(f32ToBf16Bits(x))));
    assert.deepEqual(Array.from(p.get("f")!.data as Float32Array), Array.from(xs, Math.fround));
    assert.deepEqual(Array.from(p.get("d")!.data as Float64Array), [Math.fround(0.1), 3]);
    assert.deepEqual(Array.from(p.get("i")!.data as BigInt64Array), [-5n, 0n, 2147483647n]);
    assert.deepEqual(Array.from(p.get("j")!.data as BigInt64Array), [2n ** 53n - 1n, -(2n ** 40n)]);
    assert.deepEqual(Array.from(p.get("k")!.data as Int32Array), [-7, 123456]);
    assert.deepEqual(Array.from(p.get("l")!.data as Int32Array), [-7, 8]);
  });

  test("no tensors and no metadata", () => {
    const bytes = serializeSafetensors(new Map());
    assert.equal(new TextDecoder().decode(bytes.subarray(8)), "{}      ");
    const p = parseSafetensors(bytes);
    assert.equal(p.tensors.size, 0);
    assert.deepEqual(p.metadata, {});
  });
});

// ---------- format compatibility ----------

describe("format compatibility", () => {
  test("hand-built file parses to the expected values (unaligned offsets, Buffer slice)", () => {
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"h":{"dtype":"F16","shape":[],"data_offsets":[8,10]},' +
      '"d":{"dtype":"F64","shape":[1,1],"data_offsets":[10,18]},' +
      '"b":{"dtype":"BF16","shape":[2],"data_offsets":[18,22]},' +
      '"i":{"dtype":"I32","shape":[1],"data_offsets":[22,26]},' +
      '"l":{"dtype":"I64","shape":[1],"data_offsets":[26,34]},' +
      '"z":{"dtype":"F32","shape":[0],"data_offsets":[34,34]}}   ';
    const data = [
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0, // F32 1.0, -2.5
      0x00, 0x3c, // F16 1.0
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x3f, // F64 0.5 at data offset 10
      0x49, 0x40, 0x80, 0xbf, // BF16 3.140625, -1.0
      0xf9, 0xff, 0xff, 0xff, // I32 -7
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // I64 -2
    ];
    const file = build(header, data);
    // Place it at an odd offset inside a pooled Buffer so nothing is aligned.
    const host = Buffer.alloc(file.length + 3);
    host.set(file, 3);
    const bytes = host.subarray(3);
    const { tensors, metadata } = parseSafetensors(bytes);
    assert.deepEqual(metadata, { format: "pt" });
    sameTensor(tensors.get("w"), { dtype: "F32", shape: [2], data: new Float32Array([1, -2.5]) }, "w");
    sameTensor(tensors.get("h"), { dtype: "F16", shape: [], data: new Float32Array([1]) }, "h");
    sameTensor(tensors.get("d"), { dtype: "F64", shape: [1, 1], data: new Float64Array([0.5]) }, "d");
    sameTensor(tensors.get("b"), { dtype: "BF16", shape: [2], data: new Float32Array([3.140625, -1]) }, "b");
    sameTensor(tensors.get("i"), { dtype: "I32", shape: [1], data: new Int32Array([-7]) }, "i");
    sameTensor(tensors.get("l"), { dtype: "I64", shape: [1], data: new BigInt64Array([-2n]) }, "l");
    sameTensor(tensors.get("z"), { dtype: "F32", shape: [0], data: new Float32Array(0) }, "z");
    // results own their memory
    for (const t of tensors.values()) {
      assert.equal(t.data.byteOffset, 0);
      assert.equal(t.data.buffer.byteLength, t.data.byteLength);
      assert.notEqual(t.data.buffer, host.buffer);
    }
    bytes.fill(0);
    assert.equal(tensors.get("w")!.data[0], 1);
  });

  test("serialize output is byte-exact: length prefix, header padding, offsets, data", () => {
    const bytes = serializeSafetensors({ x: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } });
    const json = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const padded = json + " ".repeat((8 - (json.length % 8)) % 8);
    assert.equal(padded.length % 8, 0);
    const expected = build(padded, [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40]);
    assert.deepEqual(bytes, expected);
  });

  test("header is padded to a multiple of 8 and offsets are contiguous in order", () => {
    for (let n = 0; n < 10; n++) {
      const name = "t".repeat(n + 1);
      const bytes = serializeSafetensors(
        new Map<string, StoredTensor>([
          [name, { dtype: "F16", shape: [3], data: new Float32Array(3) }],
          ["b", { dtype: "I64", shape: [2], data: new BigInt64Array(2) }],
          ["c", { dtype: "F32", shape: [], data: new Float32Array(1) }],
        ]),
        { k: "v".repeat(n) },
      );
      const len = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      assert.equal(len % 8, 0);
      const text = new TextDecoder().decode(bytes.subarray(8, 8 + len));
      assert.match(text, /^\{.*\} *$/);
      const header = JSON.parse(text) as Record<string, { data_offsets: number[] }>;
      assert.deepEqual(Object.keys(header), ["__metadata__", name, "b", "c"]);
      assert.deepEqual(header[name]!.data_offsets, [0, 6]);
      assert.deepEqual(header["b"]!.data_offsets, [6, 22]);
      assert.deepEqual(header["c"]!.data_offsets, [22, 26]);
      assert.equal(bytes.length, 8 + len + 26);
    }
  });
});

// ---------- malformed input ----------

describe("malformed input is rejected with a SafetensorsError code", () => {
  const ok = (extra = ""): string => `{"a":${entry("F32", [1], [0, 4])}${extra}}`;
  const four = [0, 0, 128, 63];

  test("TOO_SHORT", () => {
    for (let n = 0; n < 8; n++) expectParseError(new Uint8Array(n), "TOO_SHORT", "model.safetensors");
  });

  test("HEADER_TOO_LARGE: 2^60, 150 MB in a tiny buffer, just over 100 MB", () => {
    expectParseError(prefixOnly(2n ** 60n, 16), "HEADER_TOO_LARGE");
    expectParseError(prefixOnly(2n ** 64n - 1n), "HEADER_TOO_LARGE");
    expectParseError(prefixOnly(150_000_000n, 4), "HEADER_TOO_LARGE", "150000000");
    expectParseError(prefixOnly(100_000_001n), "HEADER_TOO_LARGE");
  });

  test("HEADER_PAST_END", () => {
    expectParseError(prefixOnly(100n, 10), "HEADER_PAST_END");
    expectParseError(build(ok(), four, BigInt(ok().length + 5)), "HEADER_PAST_END");
  });

  test("BAD_JSON", () => {
    expectParseError(build("not json"), "BAD_JSON");
    expectParseError(build(""), "BAD_JSON");
    expectParseError(build("[1,2]"), "BAD_JSON");
    expectParseError(build("null"), "BAD_JSON");
    expectParseError(build('"str"'), "BAD_JSON");
    expectParseError(build('{"a":'), "BAD_JSON");
    const badUtf8 = build('{"\u00ff":1}');
    badUtf8[10] = 0xff; // corrupt the UTF-8 sequence
    expectParseError(badUtf8, "BAD_JSON", "UTF-8");
  });

  test("BAD_ENTRY", () => {
    const cases: string[] = [
      `{"a":5}`,
      `{"a":null}`,
      `{"a":[]}`,
      `{"a":{"shape":[1],"data_offsets":[0,4]}}`,
      `{"a":{"dtype":"F32","data_offsets":[0,4]}}`,
      `{"a":{"dtype":"F32","shape":[1]}}`,
      `{"a":${entry(7 as unknown as string, [1], [0, 4])}}`,
      `{"a":${entry("F32", [-1], [0, 4])}}`,
      `{"a":${entry("F32", [1.5], [0, 4])}}`,
      `{"a":${entry("F32", ["1"], [0, 4])}}`,
      `{"a":${entry("F32", 1, [0, 4])}}`,
      `{"a":${entry("F32", [1], [0])}}`,
      `{"a":${entry("F32", [1], [0, 4, 8])}}`,
      `{"a":${entry("F32", [1], [-4, 0])}}`,
      `{"a":${entry("F32", [1], [0.5, 4])}}`,
      `{"a":${entry("F32", [1], ["0", "4"])}}`,
      `{"a":${entry("F32", [1], { begin: 0, end: 4 })}}`,
      `{"a":${entry("F32", [0], [4, 0])}}`,
      `{"a":${entry("F32", [1], [0, 1e300])}}`,
      `{"a":${entry("F32", [2 ** 30, 2 ** 30, 2 ** 30], [0, 4])}}`, // product overflows MAX_SAFE_INTEGER
      `{"a":${entry("F32", [2 ** 53, 0], [0, 0])}}`,
      `{"__metadata__":"x","a":${entry("F32", [1], [0, 4])}}`,
      `{"__metadata__":["x"],"a":${entry("F32", [1], [0, 4])}}`,
      `{"__metadata__":{"k":1},"a":${entry("F32", [1], [0, 4])}}`,
      `{"__metadata__":{"k":null},"a":${entry("F32", [1], [0, 4])}}`,
    ];
    for (const h of cases) {
      assert.throws(() => parseSafetensors(build(h, four), "m.st"), isErr("BAD_ENTRY", "m.st"), h);
    }
    // the tensor is named in the message
    expectParseError(build(`{"layer.0.w":${entry("F32", [-1], [0, 4])}}`, four), "BAD_ENTRY", '"layer.0.w"');
  });

  test("UNKNOWN_DTYPE lists the supported dtypes", () => {
    for (const dt of ["U8", "BOOL", "F8_E4M3", "f32", ""]) {
      expectParseError(
        build(`{"q":${entry(dt, [4], [0, 4])}}`, four),
        "UNKNOWN_DTYPE",
        '"q"',
        "F32, F64, F16, BF16, I32, I64",
      );
    }
  });

  test("SHAPE_BYTES_MISMATCH", () => {
    expectParseError(build(`{"w":${entry("F32", [2], [0, 4])}}`, four), "SHAPE_BYTES_MISMATCH", '"w"', "8 bytes");
    expectParseError(build(`{"w":${entry("F16", [], [0, 4])}}`, four), "SHAPE_BYTES_MISMATCH");
    expectParseError(build(`{"w":${entry("I64", [0], [0, 4])}}`, four), "SHAPE_BYTES_MISMATCH");
  });

  test("OFFSET_OUT_OF_RANGE", () => {
    expectParseError(build(`{"w":${entry("F32", [2], [0, 8])}}`, four), "OFFSET_OUT_OF_RANGE", '"w"');
    const huge = 2 ** 52;
    expectParseError(build(`{"w":${entry("F64", [huge / 8], [0, huge])}}`, four), "OFFSET_OUT_OF_RANGE");
  });

  test("OVERLAPPING", () => {
    const h = `{"a":${entry("F32", [2], [0, 8])},"b":${entry("F32", [2], [4, 12])}}`;
    expectParseError(build(h, new Array(12).fill(0)), "OVERLAPPING", '"a"', '"b"');
    const same = `{"a":${entry("F32", [1], [0, 4])},"b":${entry("I32", [1], [0, 4])}}`;
    expectParseError(build(same, four), "OVERLAPPING");
    const inside = `{"a":${entry("F32", [2], [0, 8])},"z":${entry("F32", [0], [4, 4])}}`;
    expectParseError(build(inside, new Array(8).fill(0)), "OVERLAPPING");
  });

  test("NOT_CONTIGUOUS: leading gap, middle gap, trailing bytes", () => {
    expectParseError(build(`{"a":${entry("F32", [1], [4, 8])}}`, new Array(8).fill(0)), "NOT_CONTIGUOUS", "[0, 4)");
    const mid = `{"a":${entry("F32", [1], [0, 4])},"b":${entry("F32", [1], [8, 12])}}`;
    expectParseError(build(mid, new Array(12).fill(0)), "NOT_CONTIGUOUS", '"b"');
    expectParseError(build(ok(), [...four, 1, 2]), "NOT_CONTIGUOUS", "2 trailing bytes");
    expectParseError(build("{}", [1]), "NOT_CONTIGUOUS");
  });

  test("zero-size tensors may share an offset; tensors in any header order", () => {
    const h = `{"z2":${entry("F32", [0], [4, 4])},"b":${entry("F32", [1], [4, 8])},"z1":${entry("F32", [0], [4, 4])},` +
      `"a":${entry("F32", [1], [0, 4])}}`;
    const p = parseSafetensors(build(h, [...four, 0, 0, 0, 64]));
    assert.deepEqual([...p.tensors.keys()], ["a", "z2", "z1", "b"]); // data-offset order
    assert.deepEqual(Array.from(p.tensors.get("b")!.data as Float32Array), [2]);
  });

  test("corrupted or truncated files only ever throw SafetensorsError", () => {
    const good = serializeSafetensors(
      {
        a: { dtype: "F16", shape: [3], data: new Float32Array([1, 2, 3]) },
        b: { dtype: "I64", shape: [1], data: new BigInt64Array([5n]) },
      },
      { m: "x" },
    );
    const check = (bytes: Uint8Array): void => {
      try {
        parseSafetensors(bytes);
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw e;
      }
    };
    for (let n = 0; n < good.length; n++) check(good.subarray(0, n));
    const next = lcg(99);
    for (let i = 0; i < 3000; i++) {
      const bad = good.slice();
      const flips = 1 + (next() % 3);
      for (let k = 0; k < flips; k++) bad[next() % bad.length] = next() & 0xff;
      check(bad);
    }
  });
});

describe("serialize rejects bad input", () => {
  test("DATA_LENGTH_MISMATCH", () => {
    assert.throws(
      () => serializeSafetensors({ w: { dtype: "F32", shape: [2, 3], data: new Float32Array(5) } }),
      isErr("DATA_LENGTH_MISMATCH", '"w"', "6", "5"),
    );
    assert.throws(
      () => serializeSafetensors({ s: { dtype: "F32", shape: [], data: new Float32Array(0) } }),
      isErr("DATA_LENGTH_MISMATCH"),
    );
  });

  test("BAD_DATA, UNKNOWN_DTYPE, BAD_ENTRY", () => {
    const t = (dtype: string, shape: unknown, data: unknown): Record<string, StoredTensor> => ({
      x: { dtype, shape, data } as unknown as StoredTensor,
    });
    assert.throws(() => serializeSafetensors(t("F32", [1], new BigInt64Array(1))), isErr("BAD_DATA"));
    assert.throws(() => serializeSafetensors(t("F32", [1], [1])), isErr("BAD_DATA", "Array"));
    assert.throws(() => serializeSafetensors(t("F32", [1], new Uint8Array(1))), isErr("BAD_DATA"));
    assert.throws(() => serializeSafetensors(t("I32", [1], new Float32Array([0.5]))), isErr("BAD_DATA", "0.5"));
    assert.throws(() => serializeSafetensors(t("I32", [1], new Float64Array([2 ** 31]))), isErr("BAD_DATA"));
    assert.throws(() => serializeSafetensors(t("I32", [1], new BigInt64Array([2n ** 40n]))), isErr("BAD_DATA"));
    assert.throws(() => serializeSafetensors(t("I64", [1], new Float64Array([2 ** 60]))), isErr("BAD_DATA"));
    assert.throws(() => serializeSafetensors(t("I64", [1], new Float64Array([NaN]))), isErr("BAD_DATA"));
    assert.throws(() => serializeSafetensors(t("U8", [1], new Float32Array(1))), isErr("UNKNOWN_DTYPE", "F32"));
    assert.throws(() => serializeSafetensors(t("F32", [-1], new Float32Array(1))), isErr("BAD_ENTRY"));
    assert.throws(() => serializeSafetensors(t("F32", [1.5], new Float32Array(1))), isErr("BAD_ENTRY"));
    assert.throws(
      () => serializeSafetensors({ __metadata__: { dtype: "F32", shape: [], data: new Float32Array(1) } }),
      isErr("BAD_ENTRY", "reserved"),
    );
    assert.throws(
      () => serializeSafetensors({}, { k: 1 } as unknown as Record<string, string>),
      isErr("BAD_ENTRY", '"k"'),
    );
  });
});

// ---------- files ----------

describe("files", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "seqmix-st-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tmpFiles = (): string[] => fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"));
  const small = (v: number): Map<string, StoredTensor> =>
    new Map([["w", { dtype: "F32", shape: [2], data: new Float32Array([v, v + 1]) }]]);

  test("async write then read; overwrite replaces; no temp files left", async () => {
    const p = path.join(dir, "a.safetensors");
    await writeSafetensorsFile(p, small(1), { step: "1" });
    assert.deepEqual(tmpFiles(), []);
    let r = await readSafetensorsFile(p);
    assert.deepEqual(r.metadata, { step: "1" });
    assert.deepEqual(Array.from(r.tensors.get("w")!.data as Float32Array), [1, 2]);
    await writeSafetensorsFile(p, small(5), { step: "2" });
    assert.deepEqual(tmpFiles(), []);
    r = await readSafetensorsFile(p);
    assert.deepEqual(r.metadata, { step: "2" });
    assert.deepEqual(Array.from(r.tensors.get("w")!.data as Float32Array), [5, 6]);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["a.safetensors"]);
  });

  test("sync write then read", () => {
    const p = path.join(dir, "s.safetensors");
    writeSafetensorsFileSync(p, small(3));
    writeSafetensorsFileSync(p, small(4), { k: "v" });
    const r = readSafetensorsFileSync(p);
    assert.deepEqual(r.metadata, { k: "v" });
    assert.deepEqual(Array.from(r.tensors.get("w")!.data as Float32Array), [4, 5]);
    assert.deepEqual(tmpFiles(), []);
    fs.rmSync(p);
  });

  test("a failed write leaves the existing file untouched and no temp file", async () => {
    const p = path.join(dir, "keep.safetensors");
    await writeSafetensorsFile(p, small(1));
    const before = fs.readFileSync(p);
    const bad = new Map<string, StoredTensor>([["w", { dtype: "F32", shape: [3], data: new Float32Array(2) }]]);
    await assert.rejects(writeSafetensorsFile(p, bad), isErr("DATA_LENGTH_MISMATCH"));
    assert.throws(() => writeSafetensorsFileSync(p, bad), isErr("DATA_LENGTH_MISMATCH"));
    assert.deepEqual(fs.readFileSync(p), before);
    assert.deepEqual(tmpFiles(), []);
    fs.rmSync(p);
  });

  test("a failed rename removes the temp file", async () => {
    const target = path.join(dir, "isdir.safetensors");
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, "x"), "x"); // non-empty directory: rename over it fails
    await assert.rejects(writeSafetensorsFile(target, small(1)));
    assert.throws(() => writeSafetensorsFileSync(target, small(1)));
    assert.deepEqual(tmpFiles(), []);
    fs.rmSync(target, { recursive: true });
  });

  test("reading checks the header length before loading the file; errors name the file", async () => {
    const p = path.join(dir, "huge-header.safetensors");
    fs.writeFileSync(p, prefixOnly(150_000_000n, 8));
    await assert.rejects(readSafetensorsFile(p), isErr("HEADER_TOO_LARGE", p));
    assert.throws(() => readSafetensorsFileSync(p), isErr("HEADER_TOO_LARGE", p));
    fs.writeFileSync(p, prefixOnly(2n ** 60n));
    await assert.rejects(readSafetensorsFile(p), isErr("HEADER_TOO_LARGE", p));
    fs.writeFileSync(p, new Uint8Array(3));
    await assert.rejects(readSafetensorsFile(p), isErr("TOO_SHORT", p));
    fs.writeFileSync(p, prefixOnly(64n, 8));
    assert.throws(() => readSafetensorsFileSync(p), isErr("HEADER_PAST_END", p));
    fs.writeFileSync(p, build(`{"w":${entry("F32", [2], [0, 4])}}`, [0, 0, 0, 0]));
    await assert.rejects(readSafetensorsFile(p), isErr("SHAPE_BYTES_MISMATCH", p, '"w"'));
    fs.rmSync(p);
  });
});
