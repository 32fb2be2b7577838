/**
 * A small WebAssembly binary writer: enough to emit the backend's kernels from TypeScript at run time (no build
 * tool, no file to fetch, the same code in Node and in a browser). A module has one imported memory
 * ("env"."memory") and exported functions whose bodies are built with `Code`, a chain of instructions.
 *
 * Binary format: WebAssembly Core Specification §5 (LEB128 integers, sections 1 type, 2 import, 3 function,
 * 7 export, 10 code); SIMD opcodes from the fixed-width SIMD proposal, `f32x4.relaxed_madd` from relaxed SIMD.
 */

export type ValType = "i32" | "f32" | "f64" | "v128";

const VAL_TYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };
/** Block type of a structured instruction that yields nothing. */
const EMPTY_BLOCK = 0x40;

function unsignedLeb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function signedLeb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function utf8(name: string): number[] {
  const bytes = [...new TextEncoder().encode(name)];
  return [...unsignedLeb(bytes.length), ...bytes];
}

function vector(items: number[][]): number[] {
  return [...unsignedLeb(items.length), ...items.flat()];
}

function section(id: number, body: number[]): number[] {
  return [id, ...unsignedLeb(body.length), ...body];
}

/** A local variable (parameter or declared local) of the function being built. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

/**
 * The body of one function: its parameters and locals, and the instructions appended by the chained methods
 * (each method is one instruction; memory offsets are byte offsets, alignment hints are natural).
 */
export class Code {
  readonly params: Local[];
  private readonly locals: Local[] = [];
  private readonly bytes: number[] = [];

  constructor(paramTypes: ValType[]) {
    this.params = paramTypes.map((type, index) => ({ index, type }));
  }

  /** Declares a new local of `type` (zero-initialised). */
  local(type: ValType): Local {
    const l = { index: this.params.length + this.locals.length, type };
    this.locals.push(l);
    return l;
  }

  private op(...bytes: number[]): this {
    this.bytes.push(...bytes);
    return this;
  }
  private simd(opcode: number, ...imm: number[]): this {
    return this.op(0xfd, ...unsignedLeb(opcode), ...imm);
  }
  private memarg(alignLog2: number, offset: number): number[] {
    return [alignLog2, ...unsignedLeb(offset)];
  }

  get(l: Local): this { return this.op(0x20, ...unsignedLeb(l.index)); }
  set(l: Local): this { return this.op(0x21, ...unsignedLeb(l.index)); }
  tee(l: Local): this { return this.op(0x22, ...unsignedLeb(l.index)); }

  /** `block … end`: `br` to it jumps past its end. */
  block(body: (c: this) => void): this { this.op(0x02, EMPTY_BLOCK); body(this); return this.op(0x0b); }
  /** `loop … end`: `br` to it jumps back to its start. */
  loop(body: (c: this) => void): this { this.op(0x03, EMPTY_BLOCK); body(this); return this.op(0x0b); }
  /** `if … else … end` on the i32 on the stack. */
  ifElse(then: (c: this) => void, otherwise?: (c: this) => void): this {
    this.op(0x04, EMPTY_BLOCK);
    then(this);
    if (otherwise) { this.op(0x05); otherwise(this); }
    return this.op(0x0b);
  }
  /** Branch to the enclosing block/loop `depth` levels out (0 = innermost). */
  br(depth: number): this { return this.op(0x0c, ...unsignedLeb(depth)); }
  brIf(depth: number): this { return this.op(0x0d, ...unsignedLeb(depth)); }
  call(funcIndex: number): this { return this.op(0x10, ...unsignedLeb(funcIndex)); }
  drop(): this { return this.op(0x1a); }
  select(): this { return this.op(0x1b); }

  i32(value: number): this { return this.op(0x41, ...signedLeb(value)); }
  f32(value: number): this {
    const b = new Uint8Array(new Float32Array([value]).buffer);
    return this.op(0x43, ...b);
  }
  i32Eqz(): this { return this.op(0x45); }
  i32Eq(): this { return this.op(0x46); }
  i32Ne(): this { return this.op(0x47); }
  i32LtS(): this { return this.op(0x48); }
  i32GtS(): this { return this.op(0x4a); }
  i32LeS(): this { return this.op(0x4c); }
  i32GeS(): this { return this.op(0x4e); }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }
  i32And(): this { return this.op(0x71); }
  i32Shl(): this { return this.op(0x74); }
  i32ShrS(): this { return this.op(0x75); }

  f32Load(offset = 0): this { return this.op(0x2a, ...this.memarg(2, offset)); }
  f32Store(offset = 0): this { return this.op(0x38, ...this.memarg(2, offset)); }
  f32Add(): this { return this.op(0x92); }
  f32Sub(): this { return this.op(0x93); }
  f32Mul(): this { return this.op(0x94); }
  f32Div(): this { return this.op(0x95); }
  f32Max(): this { return this.op(0x97); }
  f32Eq(): this { return this.op(0x5b); }

  f64(value: number): this {
    const b = new Uint8Array(new Float64Array([value]).buffer);
    return this.op(0x44, ...b);
  }
  f64Load(offset = 0): this { return this.op(0x2b, ...this.memarg(3, offset)); }
  f64Store(offset = 0): this { return this.op(0x39, ...this.memarg(3, offset)); }
  f64Ne(): this { return this.op(0x62); }
  f64Add(): this { return this.op(0xa0); }
  f64Sub(): this { return this.op(0xa1); }
  f64Mul(): this { return this.op(0xa2); }
  f64Div(): this { return this.op(0xa3); }
  f64Sqrt(): this { return this.op(0x9f); }
  f64PromoteF32(): this { return this.op(0xbb); }
  f32DemoteF64(): this { return this.op(0xb6); }
  f64ConvertI32S(): this { return this.op(0xb7); }

  v128Load(offset = 0): this { return this.simd(0x00, ...this.memarg(4, offset)); }
  /** Loads one f32 and splats it to all four lanes. */
  v128Load32Splat(offset = 0): this { return this.simd(0x09, ...this.memarg(2, offset)); }
  v128Store(offset = 0): this { return this.simd(0x0b, ...this.memarg(4, offset)); }
  v128Zero(): this { return this.simd(0x0c, ...new Array<number>(16).fill(0)); }
  f32x4Splat(): this { return this.simd(0x13); }
  f64x2Splat(): this { return this.simd(0x14); }
  f64x2ExtractLane(lane: number): this { return this.simd(0x21, lane); }
  /** [a, b] → the 16 bytes picked by `lanes` from the 32 bytes of a then b (each index 0…31). */
  i8x16Shuffle(lanes: readonly number[]): this { return this.simd(0x0d, ...lanes); }
  /** f64x2 → f32x4 [round(a0), round(a1), 0, 0]. */
  f32x4DemoteF64x2Zero(): this { return this.simd(0x5e); }
  /** f32x4 → f64x2 of its lanes 0 and 1 (exact). */
  f64x2PromoteLowF32x4(): this { return this.simd(0x5f); }
  f64x2Add(): this { return this.simd(0xf0); }
  f64x2Sub(): this { return this.simd(0xf1); }
  f64x2Mul(): this { return this.simd(0xf2); }
  f64x2Div(): this { return this.simd(0xf3); }
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f, lane); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f32x4Div(): this { return this.simd(0xe7); }
  f32x4Max(): this { return this.simd(0xe9); }
  /** Relaxed SIMD fused multiply-add: [a, b, c] → a·b + c (one rounding where the hardware has FMA). */
  f32x4RelaxedMadd(): this { return this.simd(0x105); }

  /** Bulk memory `memory.fill` of memory 0: [dest, value, bytes] → sets `bytes` bytes at dest to value. */
  memoryFill(): this { return this.op(0xfc, ...unsignedLeb(11), 0x00); }
  /** memory.copy [dst, src, n] (overlap-safe, a memmove) */
  memoryCopy(): this { return this.op(0xfc, ...unsignedLeb(10), 0x00, 0x00); }

  /** A v128 constant with `value` in all four f32 lanes. */
  f32x4Const(value: number): this {
    const b = new Uint8Array(new Float32Array([value, value, value, value]).buffer);
    return this.simd(0x0c, ...b);
  }
  /** A v128 constant with `value` in all four i32 lanes. */
  i32x4Const(value: number): this {
    const b = new Uint8Array(new Int32Array([value, value, value, value]).buffer);
    return this.simd(0x0c, ...b);
  }
  /** A v128 constant with the four i32 lanes `lanes`. */
  i32x4ConstLanes(lanes: readonly [number, number, number, number]): this {
    return this.simd(0x0c, ...new Uint8Array(new Int32Array(lanes).buffer));
  }
  i32x4Splat(): this { return this.simd(0x11); }
  i32x4LtS(): this { return this.simd(0x39); }
  i32x4GeS(): this { return this.simd(0x3f); }
  f32x4Eq(): this { return this.simd(0x41); }
  f32x4Lt(): this { return this.simd(0x43); }
  f32x4Gt(): this { return this.simd(0x44); }
  f32x4Ge(): this { return this.simd(0x46); }
  v128And(): this { return this.simd(0x4e); }
  v128Or(): this { return this.simd(0x50); }
  v128Xor(): this { return this.simd(0x51); }
  /** [v1, v2, mask] → bits of v1 where mask is 1, of v2 where it is 0. */
  v128Bitselect(): this { return this.simd(0x52); }
  /** Round to nearest, ties to even. */
  f32x4Nearest(): this { return this.simd(0x6a); }
  i32x4Shl(): this { return this.simd(0xab); }
  i32x4ShrS(): this { return this.simd(0xac); }
  i32x4Add(): this { return this.simd(0xae); }
  i32x4Sub(): this { return this.simd(0xb1); }
  f32x4Abs(): this { return this.simd(0xe0); }
  f32x4Neg(): this { return this.simd(0xe1); }
  f32x4Sqrt(): this { return this.simd(0xe3); }
  /** IEEE min/max (NaN if either lane is NaN). */
  f32x4Min(): this { return this.simd(0xe8); }
  /** Pseudo-min [a, b] → b < a ? b : a (a NaN `a` is kept). */
  f32x4Pmin(): this { return this.simd(0xea); }
  /** Pseudo-max [a, b] → a < b ? b : a (a NaN `a` is kept). */
  f32x4Pmax(): this { return this.simd(0xeb); }
  /** f32 → i32 lanes, truncating, saturating (NaN → 0). */
  i32x4TruncSatF32x4S(): this { return this.simd(0xf8); }

  /** The function body in binary form (locals declaration, instructions, `end`). */
  encode(): number[] {
    const groups = this.locals.map((l) => [1, VAL_TYPE[l.type]]);
    const body = [...vector(groups), ...this.bytes, 0x0b];
    return [...unsignedLeb(body.length), ...body];
  }
}

export interface ExportedFunction {
  name: string;
  code: Code;
  results?: ValType[];
}

export interface MemoryImport {
  /** Minimum size in 64 KiB pages. */
  initial: number;
  /** Maximum size in pages (required for shared memory). */
  maximum?: number;
  shared: boolean;
}

/** A module importing `env.memory` and exporting `functions` (function i has index i, for `call`). */
export function encodeModule(memory: MemoryImport, functions: ExportedFunction[]): Uint8Array {
  const types = functions.map((f) => [
    0x60,
    ...vector(f.code.params.map((p) => [VAL_TYPE[p.type]])),
    ...vector((f.results ?? []).map((t) => [VAL_TYPE[t]])),
  ]);
  const limits = memory.maximum === undefined
    ? [0x00, ...unsignedLeb(memory.initial)]
    : [memory.shared ? 0x03 : 0x01, ...unsignedLeb(memory.initial), ...unsignedLeb(memory.maximum)];
  const memoryImport = [...utf8("env"), ...utf8("memory"), 0x02, ...limits];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector(types)),
    ...section(2, vector([memoryImport])),
    ...section(3, vector(functions.map((_, i) => unsignedLeb(i)))),
    ...section(7, vector(functions.map((f, i) => [...utf8(f.name), 0x00, ...unsignedLeb(i)]))),
    ...section(10, vector(functions.map((f) => f.code.encode()))),
  ];
  return new Uint8Array(bytes);
}
