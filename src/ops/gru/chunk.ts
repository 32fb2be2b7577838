/**
 * gru, "chunk" form: the training path. A GRU has no parallel-in-time form (spec §9), so this is one fused
 * sequential kernel on raw typed arrays: the forward runs the recurrence and keeps the gate activations r, z, n
 * and the recurrent candidate term hp_n = h W_hnᵀ + b_hn of every step; the backward is backpropagation through
 * time written by hand, attached with withGradMulti. `chunkSize` has no effect.
 *
 * Per step the dense work is h_{t−1} W_hhᵀ forward and its transpose backward (rnn_common/products.ts); the
 * weight and bias gradients are summed over all steps at the end (dW_hh = Σ_t Pᵀ_t h_{t−1} through
 * getKernels().matmul). Internal buffers are time-major ([T,B,·]).
 *
 * Gradients (per batch row and unit k; hp = h_{t−1} W_hhᵀ + b_hh; r, z, n the activations):
 *   forward   h_t = (1 − z) ⊙ n + z ⊙ h_{t−1},   n = tanh(gx_n + r ⊙ hp_n)
 *   reverse   ∂h_t = dO_t + ∂h from step t+1
 *             a_n = ∂h_t ⊙ (1 − z) ⊙ (1 − n²)            (∂ pre-activation of n)
 *             a_z = ∂h_t ⊙ (h_{t−1} − n) ⊙ z(1 − z)
 *             a_r = a_n ⊙ hp_n ⊙ r(1 − r)
 *             d gates_x_t = [a_r, a_z, a_n]        P_t = ∂hp = [a_r, a_z, a_n ⊙ r]
 *             ∂h_{t−1} = ∂h_t ⊙ z + P_t W_hh      dW_hh = Σ_t P_tᵀ h_{t−1}      db_hh = Σ_{t,b} P_t
 *             d initial_state = ∂h_0
 * with the final-state gradient seeding ∂h_T.
 * Stored in the input dtype's array type; sums are JS numbers; the carried gradient and db_hh are f64.
 */
import { allocate, type DType, type FloatArray } from "../../core/dtype.js";
import { isGradEnabled } from "../../core/autograd.js";
import { withGradMulti } from "../../core/multi.js";
import { sigmoid } from "../../core/special.js";
import { Tensor } from "../../core/tensor.js";
import { addProduct, gradWeights, packBackward, packForward } from "../rnn_common/products.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { OP, type GruOptions } from "./common.js";

interface Problem {
  dtype: DType;
  B: number;
  T: number;
  H: number;
  gx: FloatArray; // [B,T,3H]
  w: FloatArray; // [3H,H]
  bias: FloatArray; // [3H]
  h0: FloatArray | null; // [B,H]
}

interface Saved {
  /** h_t for t = 0..T, time-major [T+1,B,H] (slot 0 = the initial state) */
  hs: FloatArray;
  /** activations r, z, n of each step, [T,B,3H] */
  acts: FloatArray;
  /** hp_n = h_{t−1} W_hnᵀ + b_hn of each step, [T,B,H] */
  hpn: FloatArray;
}

function forward(p: Problem, keep: boolean): { o: FloatArray; hs: FloatArray; saved: Saved | null } {
  const { B, T, H, gx, w, bias, h0 } = p;
  const G = 3 * H;
  const BH = B * H;
  const o = allocate(p.dtype, B * T * H);
  const hs = allocate(p.dtype, (T + 1) * BH);
  const acts = keep ? allocate(p.dtype, T * B * G) : null;
  const hpn = keep ? allocate(p.dtype, T * BH) : null;
  const wF = packForward(w, G, H);
  const hp = new Float64Array(B * G);
  const hCur = new Float64Array(BH); // h_{t−1} for the product (the values stored in hs)
  if (h0) hs.set(h0, 0);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) hp.set(bias, b * G);
    for (let j = 0; j < BH; j++) hCur[j] = hs[t * BH + j]!;
    addProduct(hCur, 0, B, wF, hp, 0);
    for (let b = 0; b < B; b++) {
      const pb = b * G;
      const gb = (b * T + t) * G;
      const ab = t * B * G + pb;
      for (let k = 0; k < H; k++) {
        const r = sigmoid(gx[gb + k]! + hp[pb + k]!);
        const z = sigmoid(gx[gb + H + k]! + hp[pb + H + k]!);
        const hn = hp[pb + 2 * H + k]!;
        const n = Math.tanh(gx[gb + 2 * H + k]! + r * hn);
        const hPrev = hs[t * BH + b * H + k]!;
        const h = n + z * (hPrev - n);
        hs[(t + 1) * BH + b * H + k] = h;
        o[(b * T + t) * H + k] = h;
        if (acts && hpn) {
          acts[ab + k] = r;
          acts[ab + H + k] = z;
          acts[ab + 2 * H + k] = n;
          hpn[t * BH + b * H + k] = hn;
        }
      }
    }
  }
  return { o, hs, saved: acts && hpn ? { hs, acts, hpn } : null };
}

function backward(p: Problem, saved: Saved, dO: FloatArray, dLast: FloatArray | null): { gx: FloatArray; w: FloatArray; bias: FloatArray; h0: FloatArray } {
  const { B, T, H, w } = p;
  const { hs, acts, hpn } = saved;
  const G = 3 * H;
  const BH = B * H;
  const dGx = allocate(p.dtype, B * T * G);
  const dHp = allocate(p.dtype, T * B * G); // P_t, time-major, for dW_hh at the end
  const dBias = new Float64Array(G);
  const dh = new Float64Array(BH); // ∂L/∂h_t from later steps
  const pStep = new Float64Array(B * G); // P_t of the current step
  const wB = packBackward(w, G, H);
  if (dLast) for (let j = 0; j < BH; j++) dh[j] = dLast[j]!;
  for (let t = T - 1; t >= 0; t--) {
    for (let b = 0; b < B; b++) {
      const ab = t * B * G + b * G;
      const gb = (b * T + t) * G;
      for (let k = 0; k < H; k++) {
        const j = b * H + k;
        const r = acts[ab + k]!;
        const z = acts[ab + H + k]!;
        const n = acts[ab + 2 * H + k]!;
        const hPrev = hs[t * BH + j]!;
        const dht = dh[j]! + dO[(b * T + t) * H + k]!;
        const an = dht * (1 - z) * (1 - n * n);
        const az = dht * (hPrev - n) * z * (1 - z);
        const ar = an * hpn[t * BH + j]! * r * (1 - r);
        const anr = an * r;
        dGx[gb + k] = ar;
        dGx[gb + H + k] = az;
        dGx[gb + 2 * H + k] = an;
        const sb = b * G;
        pStep[sb + k] = ar;
        pStep[sb + H + k] = az;
        pStep[sb + 2 * H + k] = anr;
        dHp[ab + k] = ar;
        dHp[ab + H + k] = az;
        dHp[ab + 2 * H + k] = anr;
        dBias[k] += ar;
        dBias[H + k] += az;
        dBias[2 * H + k] += anr;
        dh[j] = dht * z;
      }
    }
    addProduct(pStep, 0, B, wB, dh, 0);
  }
  const bias = p.dtype === "f64" ? dBias : Float32Array.from(dBias);
  return { gx: dGx, w: gradWeights(dHp, hs, 0, T * B, G, H), bias, h0: p.dtype === "f64" ? dh : Float32Array.from(dh) };
}

/**
 * Shapes: gates_x [B,T,3H]; w_hh [3H,H]; b_hh [3H]; initial_state [B,H].
 * Output o = h [B,T,H]; final state h [B,H] (with outputFinalState). Differentiable in every input given.
 */
export function gruChunk(inputs: OpInputs, options: GruOptions): OpOutputs {
  const gx = inputs.gates_x!;
  const wHh = inputs.w_hh!;
  const bHh = inputs.b_hh!;
  const h0 = inputs.initial_state;
  const [B, T] = gx.shape as [number, number];
  const H = wHh.shape[1]!;
  const p: Problem = { dtype: gx.dtype, B, T, H, gx: gx.values(), w: wHh.values(), bias: bHh.values(), h0: h0?.values() ?? null };
  const given = h0 ? [gx, wHh, bHh, h0] : [gx, wHh, bHh];
  const needGrad = isGradEnabled() && given.some((t) => t.requiresGrad);
  const { o, hs, saved } = forward(p, needGrad);
  const oT = new Tensor(o, [B, T, H]);
  const lastT = new Tensor(hs.slice(T * B * H), [B, H]);
  if (!needGrad || saved === null) return options.outputFinalState ? { o: oT, finalState: lastT } : { o: oT };
  const [oOut, lastOut] = withGradMulti(`${OP}.chunk`, options.outputFinalState ? [oT, lastT] : [oT], given, (grads) => {
    const g = backward(p, saved, grads[0]!.values(), grads[1] ? grads[1].values() : null);
    return [
      gx.requiresGrad ? new Tensor(g.gx, gx.shape) : null,
      wHh.requiresGrad ? new Tensor(g.w, wHh.shape) : null,
      bHh.requiresGrad ? new Tensor(g.bias, bHh.shape) : null,
      ...(h0 ? [h0.requiresGrad ? new Tensor(g.h0, h0.shape) : null] : []),
    ];
  });
  return options.outputFinalState ? { o: oOut!, finalState: lastOut! } : { o: oOut! };
}
