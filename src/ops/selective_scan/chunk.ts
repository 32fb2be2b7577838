/**
 * selective_scan, chunk form: the training path, forward and backward written by hand on raw typed arrays.
 *
 * Which scan, and why. This is a *blocked* scan: time is cut into blocks of `chunkSize` steps; the forward runs
 * the recurrence through each block and keeps only the state entering it (a checkpoint, [B,D,N] per block); the
 * backward walks the blocks in reverse, recomputes the block's states and decays from its checkpoint into a
 * (chunkSize+1)·D·N buffer, and runs the reverse (adjoint) scan through it. Work is linear in T (the forward
 * recurrence twice plus one reverse scan), memory is O(T/C · D·N + C·D·N) instead of the O(T·D·N) that
 * autodiff through the naive loop keeps.
 *
 * It is the §0.4 chunk recurrence with dk = N, dv = 1 per channel, but with the intra-chunk sum
 * Σ_{s≤r} exp(b_r − b_s)·B_s·v_s evaluated by the recurrence itself rather than as the masked C×C matrix of
 * §0.4: with dv = 1 there is no matrix product to amortise that matrix, so it would cost C²·N per channel per
 * chunk (C times the scan's C·N) — spec §8.1 says as much ("on CPU the sequential scan with a hand-written
 * reverse scan for backward is the practical reference"). For the same reason no call to getKernels().matmul
 * appears here: every contraction in this op is over N or over D with a different matrix at each step
 * (batched dot products, not a dense product).
 *
 * Log space and stability (spec §0.4 rules 1–3). The log decay of channel c at step t is ℓ_t[c,n] = Δ_t[c]·A[c,n]
 * (≤ 0 when Δ ≥ 0 and A ≤ 0; index.ts rejects A > 0). Within a block its cumulative sum is b_r = A·Σ_{j≤r} Δ_j,
 * and the only exponentials taken are of consecutive differences b_r − b_{r−1} = Δ_r·A ≤ 0, each in [0, 1]:
 * no cumulative product is ever formed, nothing is divided by a decay, so no exp(−b) appears that could overflow
 * however long the sequence or strong the decay; products of decays underflow to 0 only where the true value
 * is below the floating-point range. States and gradients are carried in the input dtype's array type (f32 or
 * f64); sums over D or over time (dBm, dCm, dA, dDskip, ddelta_bias) are accumulated in f64 — on the wasm
 * backend's f32 path, per time block in f32 lanes first and then added to the f64 sums (kernels/wasm/scan_code.ts;
 * the per-entry error bounds are derived and tested in test/kernels/scan_bounds.ts).
 *
 * Kernels: a unit's forward and backward are `getKernels().scanForward` / `scanBackward` (kernels/js/scan.ts is
 * the loop written out; the wasm backend runs f32 units in SIMD, four channels per vector).
 *
 * Threads (kernels/parallel.ts): forward and backward are tasks with one unit per (batch, block of channels;
 * one block per batch row once B ≥ 8). Channels only meet in the sums over D (dBm, dCm) and the batch in the
 * sums over b (dA, dDskip, ddelta_bias): each unit writes partial sums, added up afterwards in a fixed order,
 * so the results do not depend on the thread count.
 *
 * Gradients (derivation; per batch b, channel c, state index n; φ = softplus or identity; s = SiLU):
 *   forward   Δ_t = φ(δ_t + β)           a_t = exp(Δ_t·A)            x_t = Δ_t·u_t
 *             h_t = a_t·h_{t−1} + x_t·Bm_t[n]
 *             p_t = Σ_n Cm_t[n]·h_t[n] + Dskip·u_t                  o_t = p_t · s(z_t)
 *   reverse   ȳ_t = ∂L/∂p_t = do_t·s(z_t);       dz_t = do_t·p_t·s'(z_t),  s'(z) = σ(z)(1 + z(1 − σ(z)))
 *             G_t = ∂L/∂h_t (total) = ȳ_t·Cm_t[n] + a_{t+1}·G_{t+1},  with a_{T+1}G_{T+1} := ∂L/∂(final state)
 *             dCm_t[n] = Σ_c ȳ_t[c]·h_t[c,n]             dBm_t[n] = Σ_c G_t[c,n]·x_t[c]
 *             ∂L/∂x_t = Σ_n G_t·Bm_t[n] =: q_t           ∂L/∂ℓ_t = G_t·a_t·h_{t−1}  (through a_t = exp ℓ_t)
 *             dA[c,n] = Σ_{b,t} Δ_t·∂L/∂ℓ_t             ∂L/∂Δ_t = Σ_n A·∂L/∂ℓ_t + q_t·u_t
 *             du_t = ȳ_t·Dskip + q_t·Δ_t                 dDskip = Σ_{b,t} ȳ_t·u_t
 *             dδ_t = ∂L/∂Δ_t·φ'(δ_t + β)  (φ' = σ for softplus, 1 otherwise);   dβ = Σ_{b,t} dδ_t
 *             d initial_state = a_1·G_1
 */
import { allocate, type DType, type FloatArray } from "../../core/dtype.js";
import { isGradEnabled } from "../../core/autograd.js";
import { withGradMulti } from "../../core/multi.js";
import { Tensor } from "../../core/tensor.js";
import { getKernels } from "../../kernels/index.js";
import { defineTask, runTask } from "../../kernels/parallel.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { OP, scanTensors, type SelectiveScanOptions } from "./common.js";

/** The problem on raw arrays (row-major, contiguous), in the input dtype. */
interface Problem {
  dtype: DType;
  B: number;
  T: number;
  D: number;
  N: number;
  /** block length */
  C: number;
  softplus: boolean;
  u: FloatArray; // [B,T,D]
  delta: FloatArray; // [B,T,D]
  A: FloatArray; // [D,N]
  Bm: FloatArray; // [B,T,N]
  Cm: FloatArray; // [B,T,N]
  Dskip: FloatArray | null; // [D]
  z: FloatArray | null; // [B,T,D]
  bias: FloatArray | null; // [D]
  h0: FloatArray | null; // [B,D,N]
}

/** What the forward keeps for the backward. */
interface Saved {
  /** Δ after bias and softplus [B,T,D] */
  dt: FloatArray;
  /** state entering each block [B, nBlocks, D, N] */
  checkpoints: FloatArray;
  /** p = Σ Cm·h + Dskip·u before the gate [B,T,D] (only with z) */
  pre: FloatArray | null;
}

/**
 * Channels per unit of the threaded loops (a unit is (batch, block of channels)): blocks just small enough for
 * at least 8 units when D allows, so the threads can share them out, and no smaller, since each block of a
 * batch row adds a partial sum of dBm and dCm [B,T,N] to the backward. Depends on B and D only, never on the
 * thread count.
 */
function channelBlock(B: number, D: number): number {
  return Math.ceil(D / Math.max(1, Math.min(D, Math.ceil(8 / B))));
}

/** The problem's sizes and flags as a task's numeric arguments, and back. */
function taskArgs(p: Problem): number[] {
  return [p.B, p.T, p.D, p.N, p.C, p.softplus ? 1 : 0, channelBlock(p.B, p.D)];
}

function sizes(args: readonly number[]): { B: number; T: number; D: number; N: number; C: number; softplus: boolean; CB: number } {
  const [B, T, D, N, C, softplus, CB] = args as number[];
  return { B: B!, T: T!, D: D!, N: N!, C: C!, softplus: softplus === 1, CB: CB! };
}

const empty = (like: FloatArray): FloatArray => (like instanceof Float64Array ? new Float64Array(0) : new Float32Array(0));
/** An optional array as a task buffer (absent: empty), and back. */
const orEmpty = (x: FloatArray | null, like: FloatArray): FloatArray => x ?? empty(like);
const orNull = (x: FloatArray): FloatArray | null => (x.length === 0 ? null : x);

/**
 * Forward task, one unit per (batch b, channel block), each computed by the active kernels' `scanForward` (in
 * a worker, that worker's own): per block, per step, per channel of the unit, the N state entries are updated
 * and read out in one pass (channels never interact). Buffers:
 * u, delta, A, Bm, Cm, Dskip, z, bias, h0 (absent ones empty) → dt, o, hT, checkpoints, pre (empty when not kept).
 */
const forwardTask = defineTask("selective_scan.chunk.forward", (buffers, args, next) => {
  const [u, delta, A, Bm, Cm, DskipB, zB, biasB, h0B, dt, o, hT, cpB, preB] = buffers as FloatArray[];
  const { T, D, N, C, softplus, CB } = sizes(args);
  const [Dskip, z, bias, h0, checkpoints, pre] = [DskipB!, zB!, biasB!, h0B!, cpB!, preB!].map(orNull);
  const cBlocks = Math.ceil(D / CB);
  const kernels = getKernels();
  for (let unit = next(); unit >= 0; unit = next()) {
    const b = Math.floor(unit / cBlocks);
    const c0 = (unit % cBlocks) * CB;
    const c1 = Math.min(D, c0 + CB);
    kernels.scanForward({
      T, D, N, C, softplus, b, c0, c1, u: u!, delta: delta!, A: A!, Bm: Bm!, Cm: Cm!, Dskip, z, bias,
      h0, dt: dt!, o: o!, hT: hT!, checkpoints, pre,
    });
  }
});

/** About how many flops one pass of the recurrence over every (b, t, c, n) takes (an exp counted as ~10). */
const scanWork = (p: Problem): number => 14 * p.B * p.T * p.D * p.N;

/**
 * Forward: o [B,T,D] and the final state [B,D,N]; with `keep`, also what the backward needs.
 */
function forward(p: Problem, keep: boolean): { o: FloatArray; hT: FloatArray; saved: Saved | null } {
  const { B, T, D, N, C, u } = p;
  const DN = D * N;
  const blocks = Math.ceil(T / C);
  const dt = allocate(p.dtype, B * T * D);
  const o = allocate(p.dtype, B * T * D);
  const hT = allocate(p.dtype, B * DN);
  const checkpoints = keep ? allocate(p.dtype, B * blocks * DN) : null;
  const pre = keep && p.z ? allocate(p.dtype, B * T * D) : null;
  runTask(forwardTask, {
    units: B * Math.ceil(D / channelBlock(B, D)),
    work: scanWork(p),
    args: taskArgs(p),
    inputs: [u, p.delta, p.A, p.Bm, p.Cm, ...[p.Dskip, p.z, p.bias, p.h0].map((x) => orEmpty(x, u))],
    outputs: [dt, o, hT, orEmpty(checkpoints, u), orEmpty(pre, u)],
  });
  return { o, hT, saved: checkpoints ? { dt, checkpoints, pre } : null };
}

interface Grads {
  u: FloatArray;
  delta: FloatArray;
  A: FloatArray;
  Bm: FloatArray;
  Cm: FloatArray;
  Dskip: FloatArray;
  z: FloatArray | null;
  bias: FloatArray;
  h0: FloatArray;
}

/**
 * Backward task, one unit per (batch b, channel block), each computed by the kernels' `scanBackward`: the
 * reverse scan block by block (derivation at the top of the file) for the unit's channels. What sums over channels (dBm, dCm) or over the batch (dA, dDskip,
 * ddelta_bias) is written as per-unit partial sums in f64 — dBm/dCm per channel block [cBlocks,B,T,N],
 * dA/dDskip/dbias per batch [B,D,N], [B,D] — which the caller adds up in a fixed order, so the result does
 * not depend on the threads. Buffers: u, delta, A, Bm, Cm, Dskip, z, bias, dt, checkpoints, pre, dO, dHT
 * (absent ones empty) → dU, dDelta, dZ, dH0, dBpart, dCpart, dApart, dSkipPart, dBiasPart.
 */
const backwardTask = defineTask("selective_scan.chunk.backward", (buffers, args, next) => {
  const [u, delta, A, Bm, Cm, DskipB, zB, biasB, dt, checkpoints, preB, dO, dHTB, dU, dDelta, dZB, dH0, dBp, dCp, dAp, dSkipP, dBiasP] =
    buffers as FloatArray[];
  const { B, T, D, N, C, softplus, CB } = sizes(args);
  const [Dskip, z, bias, pre, dHT, dZ] = [DskipB!, zB!, biasB!, preB!, dHTB!, dZB!].map(orNull);
  const cBlocks = Math.ceil(D / CB);
  const kernels = getKernels();
  for (let unit = next(); unit >= 0; unit = next()) {
    const b = Math.floor(unit / cBlocks);
    const cb = unit % cBlocks;
    const c0 = cb * CB;
    const c1 = Math.min(D, c0 + CB);
    kernels.scanBackward({
      T, D, N, C, softplus, b, c0, c1, u: u!, delta: delta!, A: A!, Bm: Bm!, Cm: Cm!, Dskip, z, bias,
      dt: dt!, checkpoints: checkpoints!, pre, dO: dO!, dHT, dU: dU!, dDelta: dDelta!, dZ, dH0: dH0!,
      // this unit's partial dBm, dCm [B,T,N] of channel block cb
      dBm: dBp as Float64Array, dCm: dCp as Float64Array, partOffset: (cb * B + b) * T * N,
      dA: dAp as Float64Array, dDskip: dSkipP as Float64Array, dBias: dBiasP as Float64Array,
    });
  }
});

/** Σ over the leading axis of a [count, n] f64 array, in order, into `out` (of the problem's dtype). */
function sumLeading(parts: Float64Array, count: number, out: FloatArray): FloatArray {
  const n = out.length;
  for (let j = 0; j < n; j++) {
    let acc = parts[j]!;
    for (let i = 1; i < count; i++) acc += parts[i * n + j]!;
    out[j] = acc;
  }
  return out;
}

/** Backward: the reverse scan over (batch, channel block) units, then the cross-unit sums. */
function backward(p: Problem, saved: Saved, dO: FloatArray, dHT: FloatArray | null): Grads {
  const { B, T, D, N, u } = p;
  const { dt, checkpoints, pre } = saved;
  const DN = D * N;
  const cBlocks = Math.ceil(D / channelBlock(B, D));
  const dU = allocate(p.dtype, B * T * D);
  const dDelta = allocate(p.dtype, B * T * D);
  const dZ = p.z ? allocate(p.dtype, B * T * D) : null;
  const dH0 = allocate(p.dtype, B * DN);
  const dBp = new Float64Array(cBlocks * B * T * N);
  const dCp = new Float64Array(cBlocks * B * T * N);
  const dAp = new Float64Array(B * DN);
  const dSkipP = new Float64Array(B * D);
  const dBiasP = new Float64Array(B * D);
  runTask(backwardTask, {
    units: B * cBlocks,
    work: 2.5 * scanWork(p),
    args: taskArgs(p),
    inputs: [u, p.delta, p.A, p.Bm, p.Cm, ...[p.Dskip, p.z, p.bias].map((x) => orEmpty(x, u)), dt, checkpoints, orEmpty(pre, u), dO, orEmpty(dHT, u)],
    outputs: [dU, dDelta, orEmpty(dZ, u), dH0, dBp, dCp, dAp, dSkipP, dBiasP],
  });
  const out = (n: number): FloatArray => allocate(p.dtype, n);
  return {
    u: dU,
    delta: dDelta,
    A: sumLeading(dAp, B, out(DN)),
    Bm: sumLeading(dBp, cBlocks, out(B * T * N)),
    Cm: sumLeading(dCp, cBlocks, out(B * T * N)),
    Dskip: sumLeading(dSkipP, B, out(D)),
    z: dZ,
    bias: sumLeading(dBiasP, B, out(D)),
    h0: dH0,
  };
}

/**
 * Shapes: u, delta, z [B,T,D]; A [D,N]; Bm, Cm [B,T,N]; Dskip, delta_bias [D]; initial_state [B,D,N].
 * Output o [B,T,D]; final state [B,D,N] (with outputFinalState). Differentiable in every input given.
 */
export function selectiveScanChunk(inputs: OpInputs, options: SelectiveScanOptions): OpOutputs {
  const ts = scanTensors(inputs);
  const [B, T, D] = ts.u.shape as [number, number, number];
  const N = ts.A.shape[1]!;
  const p: Problem = {
    dtype: ts.u.dtype,
    B,
    T,
    D,
    N,
    C: options.chunkSize,
    softplus: options.deltaSoftplus,
    u: ts.u.values(),
    delta: ts.delta.values(),
    A: ts.A.values(),
    Bm: ts.Bm.values(),
    Cm: ts.Cm.values(),
    Dskip: ts.Dskip?.values() ?? null,
    z: ts.z?.values() ?? null,
    bias: ts.deltaBias?.values() ?? null,
    h0: ts.initialState?.values() ?? null,
  };
  // the differentiable inputs, in a fixed order, with where their gradient comes from
  const named: Array<[Tensor | undefined, keyof Grads]> = [
    [ts.u, "u"],
    [ts.delta, "delta"],
    [ts.A, "A"],
    [ts.Bm, "Bm"],
    [ts.Cm, "Cm"],
    [ts.Dskip, "Dskip"],
    [ts.z, "z"],
    [ts.deltaBias, "bias"],
    [ts.initialState, "h0"],
  ];
  const given = named.filter((e): e is [Tensor, keyof Grads] => e[0] !== undefined);
  const needGrad = isGradEnabled() && given.some(([t]) => t.requiresGrad);
  const { o, hT, saved } = forward(p, needGrad);
  const oT = new Tensor(o, [B, T, D]);
  const hTT = new Tensor(hT, [B, D, N]);
  const outputs = options.outputFinalState ? [oT, hTT] : [oT];
  if (!needGrad || saved === null) return options.outputFinalState ? { o: oT, finalState: hTT } : { o: oT };
  const [oOut, hOut] = withGradMulti(
    `${OP}.chunk`,
    outputs,
    given.map(([t]) => t),
    (grads) => {
      const g = backward(p, saved, grads[0]!.values(), grads[1] ? grads[1].values() : null);
      return given.map(([t, key]) => (t.requiresGrad ? new Tensor(g[key]!, t.shape) : null));
    },
  );
  return options.outputFinalState ? { o: oOut!, finalState: hOut! } : { o: oOut! };
}
