/**
 * lstm, "chunk" form: the training path. An LSTM has no parallel-in-time form (spec §9: "training is BPTT
 * through the step form"), so this is one fused sequential kernel on raw typed arrays: the forward runs the
 * recurrence and keeps the gate activations and the cell states of every step; the backward is
 * backpropagation through time written by hand, attached with withGradMulti. `chunkSize` has no effect.
 *
 * Per step the only dense work is the recurrent product h_{t−1} W_hhᵀ ([B,H]·[H,4H]) forward and its transpose
 * G_t W_hh ([B,4H]·[4H,H]) backward (rnn_common/products.ts); the weight gradient is one product over all
 * steps at the end, dW_hh = Σ_t G_tᵀ h_{t−1}, through getKernels().matmul. Internal buffers are time-major
 * ([T,B,·]) so each step's rows are contiguous.
 *
 * Gradients (per batch row and unit k; pre = gx + h W_hhᵀ, activations i, f, g, o; τ_t = tanh(c_t)):
 *   forward   c_t = f ⊙ c_{t−1} + i ⊙ g          h_t = o ⊙ τ_t
 *   reverse   ∂h_t = dO_t + (G_{t+1} W_hh)             (the second term: through the next step's product)
 *             ∂c_t = ∂c from step t+1 (f_{t+1} ⊙ ∂c_{t+1}) + ∂h_t ⊙ o ⊙ (1 − τ_t²)
 *             G_t = [∂c_t ⊙ g ⊙ i(1−i),  ∂c_t ⊙ c_{t−1} ⊙ f(1−f),  ∂c_t ⊙ i ⊙ (1−g²),  ∂h_t ⊙ τ_t ⊙ o(1−o)]
 *             d gates_x_t = G_t      dW_hh = Σ_t G_tᵀ h_{t−1}      d initial_state = (G_1 W_hh, f_1 ⊙ ∂c_1)
 * with the final-state gradients seeding ∂h_T and ∂c_T.
 * States, activations and gradients are stored in the input dtype's array type (f32 or f64); every sum is a
 * JS number, and the gradient carried from step to step is kept in f64.
 */
import { allocate, type DType, type FloatArray } from "../../core/dtype.js";
import { isGradEnabled } from "../../core/autograd.js";
import { withGradMulti } from "../../core/multi.js";
import { sigmoid } from "../../core/special.js";
import { Tensor } from "../../core/tensor.js";
import { addProduct, gradWeights, packBackward, packForward } from "../rnn_common/products.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { OP, type LstmOptions } from "./common.js";

interface Problem {
  dtype: DType;
  B: number;
  T: number;
  H: number;
  gx: FloatArray; // [B,T,4H]
  w: FloatArray; // [4H,H]
  s0: FloatArray | null; // [B,2,H]
}

interface Saved {
  /** h_t for t = 0..T, time-major [T+1,B,H] (slot 0 = the initial h) */
  hs: FloatArray;
  /** c_t for t = 0..T, [T+1,B,H] */
  cs: FloatArray;
  /** gate activations i, f, g, o of each step, [T,B,4H] */
  acts: FloatArray;
}

function forward(p: Problem, keep: boolean): { o: FloatArray; last: FloatArray; saved: Saved | null } {
  const { B, T, H, gx, w, s0 } = p;
  const G = 4 * H;
  const BH = B * H;
  const o = allocate(p.dtype, B * T * H);
  const hs = allocate(p.dtype, (T + 1) * BH);
  const cs = allocate(p.dtype, (keep ? T + 1 : 1) * BH);
  const acts = keep ? allocate(p.dtype, T * B * G) : null;
  const wF = packForward(w, G, H);
  const pre = new Float64Array(B * G);
  const h = new Float64Array(BH); // h_{t−1} for the product (the values stored in hs)
  if (s0) {
    for (let b = 0; b < B; b++) {
      hs.set(s0.subarray(b * 2 * H, b * 2 * H + H), b * H);
      cs.set(s0.subarray(b * 2 * H + H, (b + 1) * 2 * H), b * H);
    }
  }
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) pre.set(gx.subarray((b * T + t) * G, (b * T + t + 1) * G), b * G);
    for (let j = 0; j < BH; j++) h[j] = hs[t * BH + j]!;
    addProduct(h, 0, B, wF, pre, 0);
    const cPrev = keep ? t * BH : 0;
    const cNext = keep ? (t + 1) * BH : 0;
    for (let b = 0; b < B; b++) {
      const pb = b * G;
      const ab = t * B * G + pb;
      for (let k = 0; k < H; k++) {
        const ig = sigmoid(pre[pb + k]!);
        const fg = sigmoid(pre[pb + H + k]!);
        const gg = Math.tanh(pre[pb + 2 * H + k]!);
        const og = sigmoid(pre[pb + 3 * H + k]!);
        const c = fg * cs[cPrev + b * H + k]! + ig * gg;
        const hv = og * Math.tanh(c);
        cs[cNext + b * H + k] = c;
        hs[(t + 1) * BH + b * H + k] = hv;
        o[(b * T + t) * H + k] = hv;
        if (acts) {
          acts[ab + k] = ig;
          acts[ab + H + k] = fg;
          acts[ab + 2 * H + k] = gg;
          acts[ab + 3 * H + k] = og;
        }
      }
    }
  }
  const last = allocate(p.dtype, B * 2 * H);
  const cLast = keep ? T * BH : 0;
  for (let b = 0; b < B; b++) {
    last.set(hs.subarray(T * BH + b * H, T * BH + (b + 1) * H), b * 2 * H);
    last.set(cs.subarray(cLast + b * H, cLast + (b + 1) * H), b * 2 * H + H);
  }
  return { o, last, saved: acts ? { hs, cs, acts } : null };
}

function backward(p: Problem, saved: Saved, dO: FloatArray, dLast: FloatArray | null): { gx: FloatArray; w: FloatArray; s0: FloatArray } {
  const { B, T, H, w } = p;
  const { hs, cs, acts } = saved;
  const G = 4 * H;
  const BH = B * H;
  const dGx = allocate(p.dtype, B * T * G);
  const dPre = allocate(p.dtype, T * B * G); // G_t, time-major, for dW_hh at the end
  const gStep = new Float64Array(B * G); // G_t of the current step
  const wB = packBackward(w, G, H);
  const dh = new Float64Array(BH); // ∂L/∂h_t from later steps (G_{t+1} W_hh)
  const dc = new Float64Array(BH); // ∂L/∂c_t from later steps (f_{t+1} ⊙ ∂c_{t+1})
  if (dLast) {
    for (let b = 0; b < B; b++) {
      for (let k = 0; k < H; k++) {
        dh[b * H + k] = dLast[b * 2 * H + k]!;
        dc[b * H + k] = dLast[b * 2 * H + H + k]!;
      }
    }
  }
  for (let t = T - 1; t >= 0; t--) {
    for (let b = 0; b < B; b++) {
      const ab = t * B * G + b * G;
      const gb = (b * T + t) * G;
      for (let k = 0; k < H; k++) {
        const j = b * H + k;
        const ig = acts[ab + k]!;
        const fg = acts[ab + H + k]!;
        const gg = acts[ab + 2 * H + k]!;
        const og = acts[ab + 3 * H + k]!;
        const tc = Math.tanh(cs[(t + 1) * BH + j]!);
        const dht = dh[j]! + dO[(b * T + t) * H + k]!;
        const dct = dc[j]! + dht * og * (1 - tc * tc);
        const di = dct * gg * ig * (1 - ig);
        const df = dct * cs[t * BH + j]! * fg * (1 - fg);
        const dg = dct * ig * (1 - gg * gg);
        const dOg = dht * tc * og * (1 - og);
        dc[j] = dct * fg;
        const sb = b * G;
        gStep[sb + k] = di;
        gStep[sb + H + k] = df;
        gStep[sb + 2 * H + k] = dg;
        gStep[sb + 3 * H + k] = dOg;
        dPre[ab + k] = di;
        dPre[ab + H + k] = df;
        dPre[ab + 2 * H + k] = dg;
        dPre[ab + 3 * H + k] = dOg;
        dGx[gb + k] = di;
        dGx[gb + H + k] = df;
        dGx[gb + 2 * H + k] = dg;
        dGx[gb + 3 * H + k] = dOg;
      }
    }
    dh.fill(0);
    addProduct(gStep, 0, B, wB, dh, 0);
  }
  const dS0 = allocate(p.dtype, B * 2 * H);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < H; k++) {
      dS0[b * 2 * H + k] = dh[b * H + k]!;
      dS0[b * 2 * H + H + k] = dc[b * H + k]!;
    }
  }
  return { gx: dGx, w: gradWeights(dPre, hs, 0, T * B, G, H), s0: dS0 };
}

/**
 * Shapes: gates_x [B,T,4H]; w_hh [4H,H]; initial_state [B,2,H] = (h, c).
 * Output o = h [B,T,H]; final state [B,2,H] (with outputFinalState). Differentiable in every input given.
 */
export function lstmChunk(inputs: OpInputs, options: LstmOptions): OpOutputs {
  const gx = inputs.gates_x!;
  const wHh = inputs.w_hh!;
  const s0 = inputs.initial_state;
  const [B, T] = gx.shape as [number, number];
  const H = wHh.shape[1]!;
  const p: Problem = { dtype: gx.dtype, B, T, H, gx: gx.values(), w: wHh.values(), s0: s0?.values() ?? null };
  const given = s0 ? [gx, wHh, s0] : [gx, wHh];
  const needGrad = isGradEnabled() && given.some((t) => t.requiresGrad);
  const { o, last, saved } = forward(p, needGrad);
  const oT = new Tensor(o, [B, T, H]);
  const lastT = new Tensor(last, [B, 2, H]);
  if (!needGrad || saved === null) return options.outputFinalState ? { o: oT, finalState: lastT } : { o: oT };
  const [oOut, lastOut] = withGradMulti(`${OP}.chunk`, options.outputFinalState ? [oT, lastT] : [oT], given, (grads) => {
    const g = backward(p, saved, grads[0]!.values(), grads[1] ? grads[1].values() : null);
    return [
      gx.requiresGrad ? new Tensor(g.gx, gx.shape) : null,
      wHh.requiresGrad ? new Tensor(g.w, wHh.shape) : null,
      ...(s0 ? [s0.requiresGrad ? new Tensor(g.s0, s0.shape) : null] : []),
    ];
  });
  return options.outputFinalState ? { o: oOut!, finalState: lastOut! } : { o: oOut! };
}
