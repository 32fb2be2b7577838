/**
 * The selective scan's per-unit forward and backward in plain TypeScript (the reference, and the path for f64):
 * the loops of ops/selective_scan/chunk.ts (where the math is derived), one (batch row, channel block) unit per
 * call. States and gradients are stored in the arrays' type, intermediates are f64, partial sums go to the f64
 * arrays directly.
 */
import { sigmoid, softplus } from "../../core/special.js";
import type { FloatArray, ScanBackwardArgs, ScanForwardArgs } from "../types.js";

function silu(x: number): number {
  return x * sigmoid(x);
}

/** Scratch arrays reused across calls (one set per thread: each worker has its own module instance). */
const scratch = new Map<string, FloatArray>();
function scratchLike(key: string, like: FloatArray, n: number): FloatArray {
  const f64 = like instanceof Float64Array;
  const k = `${key}${f64 ? "64" : "32"}`;
  let s = scratch.get(k);
  if (!s || s.length < n) scratch.set(k, (s = f64 ? new Float64Array(n) : new Float32Array(n)));
  return s;
}

export function scanForwardJs(p: ScanForwardArgs): void {
  const { T, D, N, C, softplus: sp, b, c0, c1, u, delta, A, Bm, Cm, Dskip, z, bias, h0, dt, o, hT, checkpoints, pre } = p;
  const DN = D * N;
  const blocks = Math.ceil(T / C);
  const span = (c1 - c0) * N; // the unit's state entries, contiguous in [D,N]
  const h = scratchLike("h", u, span);
  if (h0) h.set(h0.subarray(b * DN + c0 * N, b * DN + c0 * N + span));
  else h.fill(0, 0, span);
  for (let k = 0; k < blocks; k++) {
    if (checkpoints) checkpoints.set(h.subarray(0, span), (b * blocks + k) * DN + c0 * N);
    const t1 = Math.min(T, (k + 1) * C);
    for (let t = k * C; t < t1; t++) {
      const rowD = (b * T + t) * D;
      const rowN = (b * T + t) * N;
      for (let c = c0; c < c1; c++) {
        const v = delta[rowD + c]! + (bias ? bias[c]! : 0);
        const d = sp ? softplus(v) : v;
        dt[rowD + c] = d;
        const uc = u[rowD + c]!;
        const x = d * uc;
        const hc = (c - c0) * N;
        const ac = c * N;
        let acc = 0;
        for (let n = 0; n < N; n++) {
          const hv = Math.exp(d * A[ac + n]!) * h[hc + n]! + x * Bm[rowN + n]!;
          h[hc + n] = hv;
          acc += Cm[rowN + n]! * hv;
        }
        const y = Dskip ? acc + Dskip[c]! * uc : acc;
        if (pre) pre[rowD + c] = y;
        o[rowD + c] = z ? y * silu(z[rowD + c]!) : y;
      }
    }
  }
  hT.set(h.subarray(0, span), b * DN + c0 * N);
}

export function scanBackwardJs(p: ScanBackwardArgs): void {
  const { T, D, N, C, softplus: sp, b, c0, c1, u, delta, A, Bm, Cm, Dskip, z, bias, dt, checkpoints, pre, dO, dHT } = p;
  const { dU, dDelta, dZ, dH0, dBm: dBp, dCm: dCp, partOffset, dA: dAp, dDskip: dSkipP, dBias: dBiasP } = p;
  const DN = D * N;
  const blocks = Math.ceil(T / C);
  const span = Math.min(C, T); // longest block
  const w = (c1 - c0) * N;
  const G = scratchLike("G", u, w); // ∂L/∂h carried backwards
  const hs = scratchLike("hs", u, (span + 1) * w); // states entering and leaving each step of the current block
  const as = scratchLike("as", u, span * w); // decays a_t of the current block
  const sBase = b * DN + c0 * N; // the unit's entries of a [B,D,N] array
  if (dHT) G.set(dHT.subarray(sBase, sBase + w));
  else G.fill(0, 0, w);
  for (let k = blocks - 1; k >= 0; k--) {
    const t0 = k * C;
    const len = Math.min(T, t0 + C) - t0;
    // recompute the block's decays and states from its checkpoint
    const cp = (b * blocks + k) * DN + c0 * N;
    hs.set(checkpoints.subarray(cp, cp + w), 0);
    for (let r = 0; r < len; r++) {
      const rowD = (b * T + t0 + r) * D;
      const rowN = (b * T + t0 + r) * N;
      const prev = r * w;
      const nxt = prev + w;
      for (let c = c0; c < c1; c++) {
        const d = dt[rowD + c]!;
        const x = d * u[rowD + c]!;
        const hc = (c - c0) * N;
        const ac = c * N;
        for (let n = 0; n < N; n++) {
          const a = Math.exp(d * A[ac + n]!);
          as[prev + hc + n] = a;
          hs[nxt + hc + n] = a * hs[prev + hc + n]! + x * Bm[rowN + n]!;
        }
      }
    }
    // reverse scan through the block
    for (let r = len - 1; r >= 0; r--) {
      const rowD = (b * T + t0 + r) * D;
      const rowN = (b * T + t0 + r) * N;
      const part = partOffset + (t0 + r) * N; // this unit's partial dBm, dCm at (b, t)
      const prev = r * w;
      const nxt = prev + w;
      for (let c = c0; c < c1; c++) {
        const i = rowD + c;
        const uc = u[i]!;
        const d = dt[i]!;
        const x = d * uc;
        let gy = dO[i]!;
        if (z && dZ && pre) {
          const zc = z[i]!;
          const sg = sigmoid(zc);
          dZ[i] = gy * pre[i]! * sg * (1 + zc * (1 - sg));
          gy *= zc * sg;
        }
        let du = 0;
        if (Dskip) {
          dSkipP[b * D + c] += gy * uc;
          du = gy * Dskip[c]!;
        }
        const hc = (c - c0) * N;
        const ac = c * N;
        const aPart = b * DN + ac;
        let q = 0; // ∂L/∂x_t
        let dLog = 0; // Σ_n A·∂L/∂ℓ_t
        for (let n = 0; n < N; n++) {
          const g = G[hc + n]! + gy * Cm[rowN + n]!;
          dCp[part + n] += gy * hs[nxt + hc + n]!;
          dBp[part + n] += g * x;
          q += g * Bm[rowN + n]!;
          const a = as[prev + hc + n]!;
          const gl = g * a * hs[prev + hc + n]!;
          dAp[aPart + n] += gl * d;
          dLog += gl * A[ac + n]!;
          G[hc + n] = g * a;
        }
        dU[i] = du + q * d;
        let dd = dLog + q * uc;
        if (sp) dd *= sigmoid(delta[i]! + (bias ? bias[c]! : 0));
        dDelta[i] = dd;
        dBiasP[b * D + c] += dd;
      }
    }
  }
  dH0.set(G.subarray(0, w), sBase);
}
