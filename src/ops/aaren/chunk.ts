/**
 * aaren, parallel form (spec/mixers.md §2 "Parallel form" 2): an inclusive prefix scan over the triples
 * (m, u, w) with the associative operator
 *     (m_A, u_A, w_A) ⊕ (m_B, u_B, w_B) = (m, u_A·e^{m_A−m} + u_B·e^{m_B−m}, w_A·e^{m_A−m} + w_B·e^{m_B−m}),
 *     m = max(m_A, m_B),   leaf of position t: (s_t, 1, v_t),
 * done as a two-level "reduce, then scan" over chunks of C positions (O(T) work, the chunks independent of each
 * other in phases 1 and 3):
 *   1. reduce: each chunk folds its own leaves into one triple;
 *   2. scan:   the carries into the chunks, initial_state ⊕ chunk 1 ⊕ … ⊕ chunk n−1 (T/C combines);
 *   3. scan:   each chunk rescans its leaves starting from its carry, giving every prefix (M_t, u_t, w_t),
 *              and o_t = w_t / u_t.
 * The operator treats m = −∞ (an empty segment, e.g. the initial state (−∞, 0, 0)) as weight 0, so combining
 * with it never evaluates −∞ − (−∞).
 *
 * Backward (by hand; m constant, see shared.ts): with a_t = ∂L/∂w_t = dO_t/u_t and b_t = ∂L/∂u_t =
 * −dO_t·o_t/u_t (plus the final-state gradients at t = T−1), every later prefix t ≥ i holds position i with
 * weight e^{s_i − M_t} = e^{s_i − M_i}·e^{M_i − M_t}, so the reverse scans
 *     G_i = a_i + e^{M_i − M_{i+1}}·G_{i+1},   Hs_i = b_i + e^{M_i − M_{i+1}}·Hs_{i+1}   (all exponents ≤ 0)
 * give dv_i = e^{s_i − M_i}·G_i, ds_i = e^{s_i − M_i}·(G_i·v_i + Hs_i), dw₀ = e^{m₀ − M_0}·G_0, du₀ = e^{m₀ − M_0}·Hs_0,
 * dm₀ = 0; then dk_t = τ·ds_t·q and dq = τ·Σ_{b,t} ds_t·k_t. Scores, sums and scans run in f64 (JS numbers);
 * outputs are stored in the input dtype.
 */
import { allocate } from "../../core/dtype.js";
import { Tensor } from "../../core/tensor.js";
import { withGradMulti } from "../../core/multi.js";
import type { FloatArray } from "../../kernels/types.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { aarenDims, type AarenOptions } from "./shared.js";

/** Weight of a segment with max m inside a combination whose max is mNew (0 for an empty segment). */
function rescale(m: number, mNew: number): number {
  return m === -Infinity ? 0 : Math.exp(m - mNew);
}

/**
 * q [H,K], k [B,T,H,K], v [B,T,H,V], initial_state [B,H,V+2] (optional) → o [B,T,H,V], finalState [B,H,V+2]
 */
export function aarenChunk(inputs: OpInputs, options: AarenOptions): OpOutputs {
  const { B, T, H, K, V, scale } = aarenDims(inputs, options);
  const C = options.chunkSize;
  const dtype = inputs.k!.dtype;
  const alloc = (n: number): FloatArray => allocate(dtype, n);
  const q = inputs.q!.values();
  const k = inputs.k!.values();
  const v = inputs.v!.values();
  const init = inputs.initial_state?.values();
  const W = V + 2;

  const o = alloc(B * T * H * V);
  const finalState = alloc(B * H * W);
  // saved for backward: the scores s_t, the prefix max M_t and the prefix denominator u_t, per (b, h, t)
  const sAll = allocate("f64", B * H * T) as Float64Array;
  const MAll = allocate("f64", B * H * T) as Float64Array;
  const uAll = allocate("f64", B * H * T) as Float64Array;

  const nChunks = Math.ceil(T / C);
  const sumM = new Float64Array(nChunks);
  const sumU = new Float64Array(nChunks);
  const sumW = new Float64Array(nChunks * V);
  const w = new Float64Array(V);

  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const bh = (b * H + h) * T;
      for (let t = 0; t < T; t++) {
        const kb = ((b * T + t) * H + h) * K;
        let s = 0;
        for (let i = 0; i < K; i++) s += q[h * K + i]! * k[kb + i]!;
        sAll[bh + t] = scale * s;
      }
      // 1. reduce: one triple per chunk
      for (let c = 0; c < nChunks; c++) {
        let m = -Infinity;
        let u = 0;
        const wc = c * V;
        sumW.fill(0, wc, wc + V);
        for (let t = c * C; t < Math.min(T, (c + 1) * C); t++) {
          const s = sAll[bh + t]!;
          const mNew = s > m ? s : m;
          const keep = rescale(m, mNew);
          const add = Math.exp(s - mNew);
          u = u * keep + add;
          const vb = ((b * T + t) * H + h) * V;
          for (let j = 0; j < V; j++) sumW[wc + j] = sumW[wc + j]! * keep + add * v[vb + j]!;
          m = mNew;
        }
        sumM[c] = m;
        sumU[c] = u;
      }
      // 2. + 3. the carry walks across the chunks; each chunk rescans its leaves from its carry
      const sb = (b * H + h) * W;
      let m = init ? init[sb]! : -Infinity;
      let u = init ? init[sb + 1]! : 0;
      for (let j = 0; j < V; j++) w[j] = init ? init[sb + 2 + j]! : 0;
      for (let c = 0; c < nChunks; c++) {
        let pm = m;
        let pu = u;
        const pw = w.slice();
        for (let t = c * C; t < Math.min(T, (c + 1) * C); t++) {
          const s = sAll[bh + t]!;
          const mNew = s > pm ? s : pm;
          const keep = rescale(pm, mNew);
          const add = Math.exp(s - mNew);
          pu = pu * keep + add;
          const vb = ((b * T + t) * H + h) * V;
          const inv = 1 / pu;
          for (let j = 0; j < V; j++) {
            pw[j] = pw[j]! * keep + add * v[vb + j]!;
            o[vb + j] = pw[j]! * inv;
          }
          pm = mNew;
          MAll[bh + t] = pm;
          uAll[bh + t] = pu;
        }
        // carry ⊕ chunk summary
        const mNew = Math.max(m, sumM[c]!);
        const keepA = rescale(m, mNew);
        const keepB = rescale(sumM[c]!, mNew);
        u = u * keepA + sumU[c]! * keepB;
        for (let j = 0; j < V; j++) w[j] = w[j]! * keepA + sumW[c * V + j]! * keepB;
        m = mNew;
      }
      finalState[sb] = m;
      finalState[sb + 1] = u;
      for (let j = 0; j < V; j++) finalState[sb + 2 + j] = w[j]!;
    }
  }

  const oT = new Tensor(o, [B, T, H, V]);
  const stateT = new Tensor(finalState, [B, H, W]);
  const sources = [inputs.q!, inputs.k!, inputs.v!, ...(inputs.initial_state ? [inputs.initial_state] : [])];
  const [oOut, stateOut] = withGradMulti("aaren.chunk", [oT, stateT], sources, ([gO, gState]) => {
    const go = gO!.values();
    const gs = gState!.values();
    const dq = new Float64Array(H * K);
    const dk = alloc(B * T * H * K);
    const dv = alloc(B * T * H * V);
    const dInit = alloc(B * H * W);
    const G = new Float64Array(V);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const bh = (b * H + h) * T;
        const sb = (b * H + h) * W;
        G.fill(0);
        let Hs = 0;
        for (let t = T - 1; t >= 0; t--) {
          const Mt = MAll[bh + t]!;
          if (t < T - 1) {
            const decay = Math.exp(Mt - MAll[bh + t + 1]!);
            for (let j = 0; j < V; j++) G[j] *= decay;
            Hs *= decay;
          }
          const vb = ((b * T + t) * H + h) * V;
          const inv = 1 / uAll[bh + t]!;
          let dot = 0;
          for (let j = 0; j < V; j++) {
            G[j] += go[vb + j]! * inv;
            dot += go[vb + j]! * o[vb + j]!;
          }
          Hs -= dot * inv;
          if (t === T - 1) {
            // the final state is the last prefix (M, u, w); its m component takes no gradient
            Hs += gs[sb + 1]!;
            for (let j = 0; j < V; j++) G[j] += gs[sb + 2 + j]!;
          }
          const weight = Math.exp(sAll[bh + t]! - Mt);
          let ds = Hs;
          for (let j = 0; j < V; j++) {
            ds += G[j]! * v[vb + j]!;
            dv[vb + j] = weight * G[j]!;
          }
          ds *= weight * scale;
          const kb = ((b * T + t) * H + h) * K;
          for (let i = 0; i < K; i++) {
            dk[kb + i] = ds * q[h * K + i]!;
            dq[h * K + i] += ds * k[kb + i]!;
          }
        }
        if (init) {
          const carry = rescale(init[sb]!, MAll[bh]!);
          dInit[sb] = 0;
          dInit[sb + 1] = carry * Hs;
          for (let j = 0; j < V; j++) dInit[sb + 2 + j] = carry * G[j]!;
        }
      }
    }
    const dqOut = alloc(H * K);
    dqOut.set(dq);
    const grads: Tensor[] = [new Tensor(dqOut, [H, K]), new Tensor(dk, [B, T, H, K]), new Tensor(dv, [B, T, H, V])];
    if (init) grads.push(new Tensor(dInit, [B, H, W]));
    return grads;
  });
  return options.outputFinalState ? { o: oOut!, finalState: stateOut! } : { o: oOut! };
}
