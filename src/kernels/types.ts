/**
 * The kernel interface: the few dense numeric routines the tensor ops spend their time in. Every backend
 * (plain TypeScript now; WebAssembly SIMD or worker-pool backends later) implements `Kernels`, and the ops
 * reach the active one through `getKernels()` in `./index.ts`.
 *
 * Conventions shared by all backends:
 * - All arrays of one call have the same element type.
 * - What each backend guarantees for f32: the JS backend accumulates in f64 and rounds to f32 once, when it
 *   stores a result. The wasm backend accumulates matmul sums in f32 (SIMD, fused multiply-add where the
 *   engine has relaxed SIMD, in a blocked order), so an entry of C may differ from the exact product by up to
 *   about k·ε_f32·Σ_p|A[i,p]·B[p,j]| (ε_f32 = 2⁻²³) plus one rounding of C; its other routines are the JS
 *   ones. f64 routines accumulate in f64 on every backend.
 * - Outputs must not overlap inputs unless a routine says so (`softmaxRows` allows `out === x`).
 */

export type FloatArray = Float32Array | Float64Array;

/**
 * Arguments of C[m×n] (+)= A[m×k] · B[k×n].
 *
 * Element (i, p) of A is `a[aOffset + i*aRowStride + p*aColStride]`, element (p, j) of B is
 * `b[bOffset + p*bRowStride + j*bColStride]`, so transposed or otherwise strided views are passed by their
 * strides, without copies (e.g. Aᵀ of a row-major [k×m] buffer: aRowStride = 1, aColStride = m).
 * Strides are non-negative integers. C is dense row-major: element (i, j) is `c[cOffset + i*n + j]`.
 * C must not share memory with A or B.
 */
export interface MatmulArgs<T extends FloatArray> {
  m: number;
  n: number;
  k: number;
  a: T;
  aOffset: number;
  aRowStride: number;
  aColStride: number;
  b: T;
  bOffset: number;
  bRowStride: number;
  bColStride: number;
  c: T;
  cOffset: number;
  /** true: C += A·B; false: C = A·B (with k = 0 that sets the m×n block of C to zero). */
  accumulate: boolean;
}

/**
 * The elementwise maps of `Kernels.map`: name → (inputs) → (outputs).
 * - "exp", "sigmoid", "silu" (x·σ(x)), "softplus" (log(1 + eˣ)), "logsigmoid" (log σ(x)): (x) → (y)
 * - "siluGrad", "softplusGrad", "logsigmoidGrad": (g, x) → (g·f′(x)), the backward of the map of that name
 *   (f′ = σ(x)(1 + x(1 − σ(x))), σ(x) and σ(−x))
 * - "swiglu": (a, u) → (a·σ(a)·u, σ(a)); the second output may be null
 * - "swigluGrad": (g, a, u, s = σ(a)) → (g·u·s(1 + a(1 − s)), g·a·s), SwiGLU's backward; either output may be null
 * - "add", "sub", "mul", "div": (a, b) → (a + b), (a − b), (a·b), (a / b). For f32 operands every backend gives
 *   the same bits: the correctly rounded f32 result (an f64 result rounded to f32 is that, since 53 ≥ 2·24 + 2).
 */
export type ElementwiseMap =
  | "exp"
  | "sigmoid"
  | "silu"
  | "softplus"
  | "logsigmoid"
  | "siluGrad"
  | "softplusGrad"
  | "logsigmoidGrad"
  | "swiglu"
  | "swigluGrad"
  | "add"
  | "sub"
  | "mul"
  | "div";

/** A contiguous run of elements: `data[offset]`, `data[offset + 1]`, … */
export interface Operand {
  data: FloatArray;
  offset: number;
}

export interface Kernels {
  /** Short backend name, e.g. "js". */
  readonly name: string;
  /** Float32 matrix product (see `MatmulArgs`; accuracy per backend in the notes above). */
  matmul(args: MatmulArgs<Float32Array>): void;
  /** Float64 matrix product (see `MatmulArgs`). */
  matmulF64(args: MatmulArgs<Float64Array>): void;
  /**
   * Row-wise softmax of the dense row-major [rows×cols] matrix `x` into `out` (same layout; `out === x` is
   * allowed): out[r,j] = exp(x[r,j] − max_r) / Σ_j' exp(x[r,j'] − max_r).
   * A row that is entirely −∞ (fully masked) gives all zeros, not NaN. A NaN or +∞ entry makes its row NaN.
   * With `logSumExp` (length ≥ rows), also writes each row's log Σ_j exp(x[r,j]) there, from the same
   * exponentials, with `logSumExpRows`'s rules for −∞, +∞ and NaN rows.
   * The wasm backend computes f32 rows in f32 SIMD (exp to 2 ulp, the row sum in four f32 lanes: relative
   * error ≤ (cols/4 + 2)·2⁻²⁴ plus exp's); the JS backend sums in f64 and rounds once.
   */
  softmaxRows(x: FloatArray, out: FloatArray, rows: number, cols: number, logSumExp?: FloatArray): void;
  /**
   * out[r] = log Σ_j exp(x[r,j]) for the dense row-major [rows×cols] matrix `x`, computed stably
   * (max-shifted, so large entries do not overflow). An all −∞ row (or cols = 0) gives −∞; a row containing
   * +∞ gives +∞; a NaN entry gives NaN.
   */
  logSumExpRows(x: FloatArray, out: FloatArray, rows: number, cols: number): void;
  /**
   * The elementwise map `name` (see `ElementwiseMap`) over n elements of contiguous operands. Arrays may mix
   * f32 and f64 (each result is rounded to its output's type). The JS backend computes in f64 and rounds once;
   * the wasm backend computes all-f32 calls in f32 SIMD (exp to ≤ 2 ulp, the maps built on it to a few ulp:
   * bounds in wasm/vmath_code.ts) and the rest as the JS backend. Outputs must not overlap inputs.
   */
  map(name: ElementwiseMap, inputs: readonly Operand[], outputs: ReadonlyArray<Operand | null>, n: number): void;
  /**
   * Optional: a zeroed f32 array of `length` elements that this backend's kernels can use in place, without
   * copies (the wasm backend lends blocks of its shared memory, which its workers see too), or null when it
   * has none to give. The buffer arena (core/arena.ts) takes its f32 buffers from here and gives them back
   * with `release` when it is cleared or collected.
   */
  lend?(length: number): Float32Array | null;
  /** Takes back an array from `lend`; it must not be used afterwards. */
  release?(array: Float32Array): void;
  /** Sets an array from `lend` to zeros (faster than `fill(0)` on shared memory). */
  zero?(array: Float32Array): void;
  /**
   * dst rows = src rows (see `CopyRowsArgs`): a strided block copy, exact on every backend. The wasm backend
   * copies in its memory (one call for all rows) when both arrays live there; otherwise it runs the JS loop.
   */
  copyRows(args: CopyRowsArgs): void;
  /**
   * The selective scan's forward over one unit (see `ScanForwardArgs`). The JS backend computes in the arrays'
   * type with f64 intermediates; the wasm backend runs f32 calls in f32 SIMD (four channels per vector; bounds
   * in wasm/scan_code.ts) and f64 calls as the JS backend.
   */
  scanForward(args: ScanForwardArgs): void;
  /** The selective scan's backward over one unit (see `ScanBackwardArgs`), on the backends as `scanForward`. */
  scanBackward(args: ScanBackwardArgs): void;
  /**
   * RMSNorm's forward over rows [r0, r1) (see `RmsNormRowsArgs`). Both backends compute in f64 and round each
   * result once (the wasm backend runs all-f32 calls in f64x2 SIMD: its sums of squares are added in another
   * order, so a result may differ from the JS backend's by one f32 rounding).
   */
  rmsNormRows(args: RmsNormRowsArgs): void;
  /** RMSNorm's backward over rows [r0, r1) (see `RmsNormBackwardRowsArgs`), on the backends as `rmsNormRows`. */
  rmsNormBackwardRows(args: RmsNormBackwardRowsArgs): void;
  /**
   * The delta rule's T = (I + A)⁻¹ (see `UnitLowerInverseArgs`), by forward substitution in f64 with one
   * rounding per stored entry. The wasm backend runs the same f64 operations in the same order (f64x2 SIMD), so
   * both backends give the same bits.
   */
  unitLowerInverse(args: UnitLowerInverseArgs): void;
  /**
   * One step of the tiled attention's online softmax (see `SoftmaxTileForwardArgs`). The JS backend computes in
   * f64 and rounds once per stored entry; the wasm backend runs f32 tiles in f32 SIMD (bounds in
   * wasm/softmax_tile_code.ts) and f64 tiles as the JS backend.
   */
  softmaxTileForward(args: SoftmaxTileForwardArgs): void;
  /** The tiled attention's backward tile: P and dS (see `SoftmaxTileBackwardArgs`), on the backends as `softmaxTileForward`. */
  softmaxTileBackward(args: SoftmaxTileBackwardArgs): void;
  /**
   * The vector-gate decay's per-chunk factors and diagonal blocks (see `GateChunkPrepareArgs`). The JS backend
   * forms the running products in f64 and stores them in the arrays' type; the wasm backend runs f32 calls in
   * f32 SIMD (four channels per vector; bounds in wasm/gate_chunk_code.ts) and f64 calls as the JS backend.
   */
  gateChunkPrepare(args: GateChunkPrepareArgs): void;
  /** The vector-gate decay's per-chunk dq, dk, dg (see `GateChunkBackwardArgs`), on the backends as `gateChunkPrepare`. */
  gateChunkBackward(args: GateChunkBackwardArgs): void;
  /**
   * The delta layers' short conv – SiLU – L2 norm branch (layers/delta_branch.ts) forward over one batch row
   * (see `ShortConvForwardArgs`). The JS backend computes each sum in f64 and rounds once; the wasm backend runs
   * f32 calls in f32 SIMD (four channels per vector; bounds in wasm/short_conv_code.ts) and f64 calls as the JS one.
   */
  shortConvForward(args: ShortConvForwardArgs): void;
  /** That branch's backward over one batch row (see `ShortConvBackwardArgs`), on the backends as `shortConvForward`. */
  shortConvBackward(args: ShortConvBackwardArgs): void;
  /**
   * The delta-rule chunk engine's backward, per chunk (ops/delta_common/engine.ts): the left operand
   * [Diag(e)K | Pᵀ] of dU (see `DeltaChunkBackwardPrepArgs`). The JS backend computes in JS numbers and rounds
   * once per stored entry; the wasm backend runs f32 calls in f32 SIMD (bounds in wasm/delta_chunk_backward_code.ts)
   * and f64 calls as the JS backend.
   */
  deltaChunkBackwardPrep(args: DeltaChunkBackwardPrepArgs): void;
  /** The elementwise work between the backward's products (see `DeltaChunkBackwardMiddleArgs`), on the backends as `deltaChunkBackwardPrep`. */
  deltaChunkBackwardMiddle(args: DeltaChunkBackwardMiddleArgs): void;
  /** dS₀'s last step and ⟨S₀, dS⟩ (see `DeltaChunkStateGradArgs`), on the backends as `deltaChunkBackwardPrep`. */
  deltaChunkStateGrad(args: DeltaChunkStateGradArgs): number;
  /**
   * The delta-rule chunk engine's per-chunk elementwise work before the forward products (see
   * `DeltaChunkForwardPrepArgs`). The JS backend computes each entry in JS numbers and rounds it once; the wasm
   * backend runs f32 calls in f32 SIMD (bounds in wasm/delta_chunk_forward_code.ts) and f64 calls as the JS one.
   */
  deltaChunkForwardPrep(args: DeltaChunkForwardPrepArgs): void;
}

/**
 * out[r,c] = ((I + A)⁻¹)[r,c] for the L×L unit lower triangular I + A with A[r,c] = β_r·kk[r,c]·d[r,c] for c < r
 * (d absent: 1), all row-major with row stride L: kk from kkOffset (only c < r read), β from betaOffset, d from
 * 0, out from outOffset (written in full, zeros above the diagonal).
 */
export interface UnitLowerInverseArgs<T extends FloatArray = FloatArray> {
  kk: T;
  kkOffset: number;
  beta: Float64Array;
  betaOffset: number;
  d: Float64Array | null;
  L: number;
  out: T;
  outOffset: number;
}

/**
 * RMSNorm over rows r0 … r1−1 of the row-major [rows, width] arrays x and out (row r at r·width):
 * out[r,j] = x[r,j]·inv[r]·weight[j] (no weight: 1), with inv[r] = 1/√(Σ_j x[r,j]²/width + eps) written too.
 */
export interface RmsNormRowsArgs<T extends FloatArray = FloatArray> {
  x: T;
  weight: T | null;
  out: T;
  inv: Float64Array;
  r0: number;
  r1: number;
  width: number;
  eps: number;
}

/**
 * RMSNorm's backward over rows r0 … r1−1, from the forward's inv and the upstream gradient g: with x̂ = x·inv and
 * u = g·weight (no weight: g), dx[r,j] = inv[r]·(u[r,j] − x̂[r,j]·Σ_k u[r,k]x̂[r,k]/width), and when dw is given
 * dw[j] += Σ_r g[r,j]·x̂[r,j] (the weight's gradient, accumulated in f64).
 */
export interface RmsNormBackwardRowsArgs<T extends FloatArray = FloatArray> {
  x: T;
  g: T;
  weight: T | null;
  inv: Float64Array;
  dx: T;
  dw: Float64Array | null;
  r0: number;
  r1: number;
  width: number;
}

/**
 * One unit of the selective scan's training path (ops/selective_scan/chunk.ts, where the math is derived): batch
 * row `b`, channels [c0, c1), all T steps in blocks of C. Arrays are the whole row-major problem arrays: u, delta,
 * z [B,T,D]; A [D,N]; Bm, Cm [B,T,N]; Dskip, bias [D]; states [B,D,N]; checkpoints [B, ⌈T/C⌉, D, N]. Absent
 * optional inputs are null. A routine reads and writes only the unit's entries.
 */
export interface ScanUnit<T extends FloatArray = FloatArray> {
  T: number;
  D: number;
  N: number;
  /** block length: the forward keeps the state entering each block, the backward recomputes a block from it */
  C: number;
  /** Δ = softplus(delta + bias) (else delta + bias) */
  softplus: boolean;
  b: number;
  c0: number;
  c1: number;
  u: T;
  delta: T;
  A: T;
  Bm: T;
  Cm: T;
  Dskip: T | null;
  z: T | null;
  bias: T | null;
}

/** The forward of a unit: writes its entries of dt (Δ), o, hT, and of checkpoints and pre (p before the gate) when given. */
export interface ScanForwardArgs<T extends FloatArray = FloatArray> extends ScanUnit<T> {
  h0: T | null;
  dt: T;
  o: T;
  hT: T;
  checkpoints: T | null;
  pre: T | null;
}

/**
 * The backward of a unit: writes its entries of dU, dDelta, dZ, dH0 and adds its partial sums into the f64
 * arrays: dBm and dCm (summed over the unit's channels) at [partOffset + t·N + n], dA at [b·D·N + c·N + n],
 * dDskip and dBias at [b·D + c].
 */
export interface ScanBackwardArgs<T extends FloatArray = FloatArray> extends ScanUnit<T> {
  dt: T;
  checkpoints: T;
  pre: T | null;
  dO: T;
  dHT: T | null;
  dU: T;
  dDelta: T;
  dZ: T | null;
  dH0: T;
  dBm: Float64Array;
  dCm: Float64Array;
  partOffset: number;
  dA: Float64Array;
  dDskip: Float64Array;
  dBias: Float64Array;
}

/**
 * A score tile of the tiled attention (ops/attention/chunk.ts): `rows` query rows against `cols` keys, dense
 * row-major from index 0 ([rows×cols]). Column c of row r is visible iff max(0, lo + r) ≤ c < min(cols, hi + r)
 * (a band: causal masks, sliding windows and cache offsets; lo = −∞, hi = +∞ for no mask); a row may see nothing.
 */
export interface SoftmaxTile {
  rows: number;
  cols: number;
  /** the scores are scale·s */
  scale: number;
  lo: number;
  hi: number;
}

/**
 * The online-softmax step of one key tile, for the rows of one query tile. In: the raw scores s = Q_i K_jᵀ in
 * `tile`, the running row maxima m and denominators ℓ of the previous key tiles (m = −∞, ℓ = 0 before the first),
 * the output accumulator rows `o[oOffset + r·V …]`. Out, per row that sees a key of the tile:
 *   m' = max(m, max_visible scale·s),  P = exp(scale·s − m') (0 where not visible) into `tile`,
 *   ℓ' = ℓ·exp(m − m') + Σ P (exp(m − m') read as 0 while m = −∞),  o·= exp(m − m');
 * a row that sees none gets P = 0 and keeps m, ℓ, o.
 */
export interface SoftmaxTileForwardArgs<T extends FloatArray = FloatArray> extends SoftmaxTile {
  tile: T;
  m: Float64Array;
  l: Float64Array;
  o: T;
  oOffset: number;
  V: number;
}

/**
 * The backward of one (query tile, key tile) pair. In: the raw scores s in `p`, dP = dO_i V_jᵀ in `ds` (both
 * [rows×cols]), the row log-sum-exp L at `lse[lseOffset + r]` and D = rowsum(dO ⊙ O) at `D[r]`. Out:
 * P = exp(scale·s − L) (0 where not visible) into `p`, dS = scale·P·(dP − D) into `ds`.
 */
export interface SoftmaxTileBackwardArgs<T extends FloatArray = FloatArray> extends SoftmaxTile {
  p: T;
  ds: T;
  lse: FloatArray;
  lseOffset: number;
  D: Float64Array;
}

/**
 * The per-chunk working arrays of the decay engine's vector gate (ops/decay_chunk/vector_gate.ts, where the
 * factors are defined), one head's chunk of L ≤ C rows in rows of K channels, sub-blocks of `sub` rows
 * (nb = ⌈L/sub⌉ ≤ nbMax blocks). Arrays of the working precision unless typed Float64Array.
 */
export interface GateChunkScratch<T extends FloatArray = FloatArray> {
  sub: number;
  nbMax: number;
  // L×K rows: a = exp(g), the in-block decays u and w, Qu = τ q ⊙ u, Kw = k ⊙ w, Qg = τ q ⊙ Γ, Ke = k ⊙ e
  a: T;
  u: T;
  w: T;
  Qu: T;
  Kw: T;
  Qg: T;
  Ke: T;
  /** per block, nbMax×K: G_i = exp(b_{st_i}), Ê_i */
  G: T;
  Ehat: T;
  /** per pair of blocks, (i·nbMax + j)×K: M_ij */
  M: T;
  /** K̃ of every query block i ≥ 1, one after the other (st_i rows of K each) */
  Kt: T;
  /** L×L: the intra-chunk block (forward), dO Vᵀ (backward; only the diagonal sub-blocks are read) */
  A: T;
  dA: T;
  /** backward, L×K rows (the chunk's products, see `GateChunkBackwardArgs`): dO S₀ᵀ, V dSᵀ, and per block i ≥ 1 (dA K̃)_i at rows st_i… */
  tq: T;
  tk: T;
  xq: T;
  /** backward, laid out as Kt: per block i ≥ 1 (dAᵀ Qu)_i, st_i rows */
  xk: T;
  // f64 working space of the JS routines (K-vectors, nbMax×K per block); gamLast = Γ_{L−1} is an output
  aSt: Float64Array;
  D: Float64Array;
  run: Float64Array;
  pu: Float64Array;
  pw: Float64Array;
  x: Float64Array;
  gamLast: Float64Array;
}

/**
 * One head's chunk of the vector gate: rows r = 0 … L−1 of q, k, g (and dq, dk, dg) start at element
 * `offset + r·stride` (the op layout [B,T,H,K]: stride H·K); K channels each.
 */
export interface GateChunkArgs<T extends FloatArray = FloatArray> {
  K: number;
  L: number;
  /** τ */
  scale: number;
  q: T;
  k: T;
  offset: number;
  stride: number;
  s: GateChunkScratch<T>;
}

/**
 * `gateChunkPrepare`: from the log gates g (same layout as q) writes the factors a, u, w, G, Ehat, M, the rows
 * Qu, Qg, Ke, every K̃ (Kt), gamLast, and A's diagonal sub-blocks (A[r,s] = τ Σ_d q_r k_s Π_{s<j≤r} a_j, zero
 * elsewhere: the pivoted blocks below them are the caller's matmuls). Kw and the f64 arrays are working space.
 */
export interface GateChunkPrepareArgs<T extends FloatArray = FloatArray> extends GateChunkArgs<T> {
  g: T;
}

/**
 * `gateChunkBackward`: the chunk's dq and dk rows (overwritten) and dg rows, from the factors of
 * `gateChunkPrepare` and the products in the scratch (tq = dO S₀ᵀ, tk = V dSᵀ, xq, xk; dA = dO Vᵀ):
 *   dq_r = τ Γ_r ⊙ tq_r + τ u_r ⊙ xq_r + τ Σ_{s≤r, same block} dA[r,s] E_rs ⊙ k_s
 *   dk_s = e_s ⊙ tk_s + w_s ⊙ Σ_{i>j(s)} M_{i,j(s)} ⊙ xk_{i,s} + τ Σ_{r≥s, same block} dA[r,s] E_rs ⊙ q_r
 *   dg_r = running + Σ_{t≥r} (q_t ⊙ dq_t − k_t ⊙ dk_t), and running ← dg_0 (a K-vector, f64, carried
 *   backwards through the chunks).
 */
export interface GateChunkBackwardArgs<T extends FloatArray = FloatArray> extends GateChunkArgs<T> {
  dq: T;
  dk: T;
  dg: T;
  running: Float64Array;
}

/**
 * One batch row `b` of the delta layers' branch (math in layers/delta_branch.ts): z [B,T,C], the conv weight
 * [C,W] (null: no conv, c = z), state [B,W−1,C] (null: zeros), the L2 norm over groups of `normWidth` channels
 * (0: none). Arrays are the whole problem arrays; a routine reads and writes only row b's entries.
 */
export interface ShortConvRow<T extends FloatArray = FloatArray> {
  b: number;
  T: number;
  C: number;
  W: number;
  normWidth: number;
  z: T;
  weight: T | null;
  state: T | null;
}

/** The forward: a = SiLU(c), sig = σ(c) [B,T,C]; with a norm, y [B,T,C] and rinv [B, T·C/normWidth] (else null). */
export interface ShortConvForwardArgs<T extends FloatArray = FloatArray> extends ShortConvRow<T> {
  bias: T | null;
  a: T;
  sig: T;
  y: T | null;
  rinv: Float64Array | null;
}

/**
 * The backward: gc [B,T,C] holds the upstream gradient and is overwritten with the gradient of the conv's output
 * c (of z without a conv); with a conv, writes gz [B,T,C], gs [B,W−1,C] (when given) and adds the row's partial
 * sums of the weight and bias gradients into gw [B,C·W] at b·C·W and gb [B,C] at b·C (f64).
 */
export interface ShortConvBackwardArgs<T extends FloatArray = FloatArray> extends ShortConvRow<T> {
  a: T;
  sig: T;
  rinv: Float64Array | null;
  gc: T;
  gz: T | null;
  gs: T | null;
  gw: Float64Array | null;
  gb: Float64Array | null;
}

/**
 * `copyRows`: for r < rows, dst[dstOffset + r·dstStride + j] = src[srcOffset + r·srcStride + j], j < cols. Both
 * arrays have the same element type; the rows must not overlap each other's (a gather or scatter between
 * layouts, e.g. one head's rows of a [B,T,H,D] tensor to dense rows and back).
 */
export interface CopyRowsArgs<T extends FloatArray = FloatArray> {
  src: T;
  srcOffset: number;
  srcStride: number;
  dst: T;
  dstOffset: number;
  dstStride: number;
  rows: number;
  cols: number;
}

/** Rows of a matrix inside an array: element j of row r is `data[offset + r·stride + j]`. */
export interface StridedRows<T extends FloatArray = FloatArray> {
  data: T;
  offset: number;
  stride: number;
}

/**
 * `deltaChunkBackwardPrep`, one chunk of L rows of the delta-rule engine's backward (notation of
 * ops/delta_common/engine.ts): out = [Diag(e) K | Pᵀ] (L rows of K + L), Pᵀ[r,c] = τ QKᵀ[c,r] D[c,r] for c ≥ r,
 * 0 for c < r. Gated iff d is given (D[r,c] at d[r·L + c], e_r at e[r]); else e is not read and D = 1.
 */
export interface DeltaChunkBackwardPrepArgs<T extends FloatArray = FloatArray> {
  L: number;
  K: number;
  /** τ */
  scale: number;
  /** L rows of K */
  k: StridedRows<T>;
  /** QKᵀ, L rows of L (entries c ≤ r read) */
  qk: StridedRows<T>;
  e: Float64Array;
  d: Float64Array | null;
  out: StridedRows<T>;
}

/**
 * `deltaChunkBackwardMiddle`, one chunk of L rows (notation of ops/delta_common/engine.ts), from the products
 * R = [G | dP; Z | −dA] = [dO; dVb] [S₀; U]ᵀ (2L rows of K + L), kk = [KKᵀ; QKᵀ] (2L rows of L), Y = U dSᵀ:
 *   dkq = [d(KKᵀ) + d(KKᵀ)ᵀ | d(QKᵀ)ᵀ] (L rows of 2L, written in full), d(QKᵀ) = τ dP ⊙ D (with the diagonal),
 *     d(KKᵀ)[r,c] = dA[r,c] β_r D[r,c] (c < r);
 *   dq = Diag(τΓ) G (the caller adds d(QKᵀ) K);  dk = Diag(e) Y − Diag(βΓ) Z (the caller adds dkq [K; Q]);
 *   dv = Diag(β) dVb;  qg = Diag(τΓ) Q;
 *   dGam_r = τ q_r·G_r − β_r k_r·Z_r,  de_r = k_r·Y_r,
 *   dbeta_r = v_r·dVb_r − Γ_r k_r·Z_r + Σ_{c<r} dA[r,c] KKᵀ[r,c] D[r,c];
 *   gated (d given): rowM, colM = the row and column sums of M = dD ⊙ D (strictly lower), from
 *     d(QKᵀ) ⊙ QKᵀ and dA ⊙ A (else rowM, colM are not touched).
 * β_r at beta[betaOffset + r], Γ_r, e_r at gam[r], e[r], D[r,c] at d[r·L + c]; dbeta is L rows of width 1.
 */
export interface DeltaChunkBackwardMiddleArgs<T extends FloatArray = FloatArray> {
  L: number;
  K: number;
  V: number;
  scale: number;
  r: StridedRows<T>;
  kk: StridedRows<T>;
  k: StridedRows<T>;
  q: StridedRows<T>;
  v: StridedRows<T>;
  y: StridedRows<T>;
  dvb: StridedRows<T>;
  beta: Float64Array;
  betaOffset: number;
  gam: Float64Array;
  e: Float64Array;
  d: Float64Array | null;
  dkq: StridedRows<T>;
  dq: StridedRows<T>;
  dk: StridedRows<T>;
  dv: StridedRows<T>;
  qg: StridedRows<T>;
  dbeta: StridedRows<T>;
  dGam: Float64Array;
  de: Float64Array;
  rowM: Float64Array;
  colM: Float64Array;
}

/**
 * `deltaChunkStateGrad`: with ds = dS (K rows of V), upd = the product [Diag(τΓ)Q; −W]ᵀ [dO; dU] and s0 = S₀,
 * ds ← upd + gl·ds and returns ⟨S₀, dS⟩ (the old ds) when gated; ds ← upd + ds and returns 0 when not.
 */
export interface DeltaChunkStateGradArgs<T extends FloatArray = FloatArray> {
  K: number;
  V: number;
  gated: boolean;
  /** Γ_{L−1} */
  gl: number;
  ds: StridedRows<T>;
  upd: StridedRows<T>;
  s0: StridedRows<T>;
}

/**
 * One (batch, head)'s chunk of L rows of the delta-rule chunk engine (ops/delta_common/engine.ts, where the math
 * is), the rows its forward products read, from the chunk's rows k, q (K wide), v (V wide), QKᵀ (`qk`, L wide;
 * only its lower triangle with the diagonal is read), β_r = beta[betaOffset + r], Γ_r = gam[r], e_r = e[r] and
 * D[r,c] = d[r·L + c] (null: the plain rule, D = 1):
 *   kb = −Diag(βΓ) K,  vb = Diag(β) V,  ke = Diag(e) K (when given),
 *   qp = [Diag(τΓ) Q | P] (K + L wide) with P = τ (QKᵀ ⊙ D) on and below the diagonal and 0 above,
 *   sOut = sScale · s (K rows of V: the incoming state scaled by Γ_{L−1}, where the chunk's state update adds to).
 * Outputs must not overlap the inputs.
 */
export interface DeltaChunkForwardPrepArgs<T extends FloatArray = FloatArray> {
  L: number;
  K: number;
  V: number;
  /** τ */
  scale: number;
  k: StridedRows<T>;
  q: StridedRows<T>;
  v: StridedRows<T>;
  qk: StridedRows<T>;
  beta: Float64Array;
  betaOffset: number;
  gam: Float64Array;
  e: Float64Array;
  d: Float64Array | null;
  kb: StridedRows<T>;
  vb: StridedRows<T>;
  ke: StridedRows<T> | null;
  qp: StridedRows<T>;
  s: StridedRows<T>;
  sOut: StridedRows<T>;
  sScale: number;
}
