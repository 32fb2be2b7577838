/**
 * The vector-gate decay's per-chunk elementwise work in plain TypeScript (the reference, and the path for f64):
 * the loops of ops/decay_chunk/vector_gate.ts (where the factors are defined), one head's chunk per call.
 * Running products and sums are f64 and stored in the arrays' type.
 */
import type { GateChunkBackwardArgs, GateChunkPrepareArgs } from "../types.js";

/**
 * The factors of the chunk (see the header of vector_gate.ts), Qu, Qg = τ q ⊙ Γ, Ke = k ⊙ e, Γ_{L−1}, every K̃,
 * and A's diagonal sub-blocks (zero elsewhere).
 */
export function gateChunkPrepareJs(p: GateChunkPrepareArgs): void {
  prepare(p);
  diagonalBlocks(p);
}

function prepare(p: GateChunkPrepareArgs): void {
  const { K, L, scale, q, k, g, offset, stride: W, s } = p;
  const { sub, nbMax, a, u, w, Qu, Kw, Qg, Ke, G, Ehat, M, Kt, aSt, D, run, pu, pw, gamLast } = s;
  const nb = Math.ceil(L / sub);
  run.fill(1); // Π_{l<i} D_l = exp(b_{en_{i−1}})
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const en = Math.min(st + sub, L) - 1;
    const io = i * K;
    // first row: a, u = 1, G_i
    {
      const gi = offset + st * W;
      const ri = st * K;
      for (let d = 0; d < K; d++) {
        const x = Math.exp(g[gi + d]!);
        a[ri + d] = x;
        aSt[io + d] = x;
        G[io + d] = run[d]! * x;
        u[ri + d] = 1;
        pu[d] = 1;
      }
    }
    // later rows: a_r = exp(g_r), u_r = u_{r−1} a_r
    for (let r = st + 1; r <= en; r++) {
      const gi = offset + r * W;
      const ri = r * K;
      for (let d = 0; d < K; d++) {
        const x = Math.exp(g[gi + d]!);
        a[ri + d] = x;
        const y = pu[d]! * x;
        pu[d] = y;
        u[ri + d] = y;
      }
    }
    // D_i = a_st u_en; carry Π D
    for (let d = 0; d < K; d++) {
      const x = aSt[io + d]! * pu[d]!;
      D[io + d] = x;
      run[d] = run[d]! * x;
      pw[d] = 1;
    }
    // back through the block: w_r = w_{r+1} a_{r+1}; Qu, Kw, Qg
    for (let r = en; r >= st; r--) {
      const src = offset + r * W;
      const ri = r * K;
      for (let d = 0; d < K; d++) {
        const wr = pw[d]!;
        w[ri + d] = wr;
        Kw[ri + d] = k[src + d]! * wr;
        const qu = scale * q[src + d]! * u[ri + d]!;
        Qu[ri + d] = qu;
        Qg[ri + d] = qu * G[io + d]!;
        pw[d] = wr * a[ri + d]!;
      }
    }
  }
  // Γ_{L−1} = Π D; Ê_j = Π_{l>j} D_l (suffix products), with Ke = Kw ⊙ Ê
  for (let d = 0; d < K; d++) {
    gamLast[d] = run[d]!;
    pw[d] = 1;
  }
  for (let j = nb - 1; j >= 0; j--) {
    const jo = j * K;
    for (let d = 0; d < K; d++) {
      Ehat[jo + d] = pw[d]!;
      pw[d] = pw[d]! * D[jo + d]!;
    }
    const end = Math.min(j * sub + sub, L);
    for (let r = j * sub; r < end; r++) {
      const ri = r * K;
      for (let d = 0; d < K; d++) Ke[ri + d] = Kw[ri + d]! * Ehat[jo + d]!;
    }
  }
  // M_ij = a_{st_i} ⊙ Π_{j<l<i} D_l, and K̃ of query block i: Kw_s ⊙ M_{i,j(s)} for s < st_i
  for (let i = 1, ko = 0; i < nb; i++) {
    const io = i * K;
    for (let d = 0; d < K; d++) pu[d] = aSt[io + d]!;
    for (let j = i - 1; j >= 0; j--) {
      const mo = (i * nbMax + j) * K;
      const jo = j * K;
      for (let d = 0; d < K; d++) {
        const x = pu[d]!;
        M[mo + d] = x;
        pu[d] = x * D[jo + d]!;
      }
      for (let s = j * sub; s < j * sub + sub; s++) {
        const so = s * K;
        const to = ko + so;
        for (let d = 0; d < K; d++) Kt[to + d] = Kw[so + d]! * M[mo + d]!;
      }
    }
    ko += i * sub * K;
  }
}

/** A ← zeros but for the diagonal sub-blocks: the running product x = τ k_s ⊙ Π_{s<j≤r} a_j, A[r,s] = q_r · x. */
function diagonalBlocks(p: GateChunkPrepareArgs): void {
  const { K, L, scale, q, k, offset, stride: W, s: vs } = p;
  const { sub, a, A, x } = vs;
  const nb = Math.ceil(L / sub);
  A.fill(0, 0, L * L);
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const end = Math.min(st + sub, L);
    for (let s = st; s < end; s++) {
      const ks = offset + s * W;
      let acc = 0;
      for (let d = 0; d < K; d++) {
        const y = scale * k[ks + d]!;
        x[d] = y;
        acc += q[ks + d]! * y;
      }
      A[s * L + s] = acc;
      for (let r = s + 1; r < end; r++) {
        const qr = offset + r * W;
        const ar = r * K;
        acc = 0;
        for (let d = 0; d < K; d++) {
          const y = x[d]! * a[ar + d]!;
          x[d] = y;
          acc += q[qr + d]! * y;
        }
        A[r * L + s] = acc;
      }
    }
  }
}

/** The chunk's dq, dk (the inter-chunk terms, the pivoted blocks' terms, the diagonal blocks') and dg rows. */
export function gateChunkBackwardJs(p: GateChunkBackwardArgs): void {
  const { K, L, scale, q, k, offset, stride: W, dq, dk, dg, running, s: vs } = p;
  const { sub, nbMax, a, u, w, G, Ehat, M, dA, tq, tk, xq, xk, x } = vs;
  const nb = Math.ceil(L / sub);
  // inter-chunk terms: dq_r = τ Γ_r ⊙ (dO S₀ᵀ)_r,  dk_s = e_s ⊙ (V dSᵀ)_s, with Γ_r = u_r G_i, e_s = w_s Ê_i
  for (let r = 0; r < L; r++) {
    const oi = offset + r * W;
    const ri = r * K;
    const io = Math.floor(r / sub) * K;
    for (let d = 0; d < K; d++) dq[oi + d] = tq[ri + d]! * scale * u[ri + d]! * G[io + d]!;
  }
  for (let r = 0; r < L; r++) {
    const oi = offset + r * W;
    const ri = r * K;
    const io = Math.floor(r / sub) * K;
    for (let d = 0; d < K; d++) dk[oi + d] = tk[ri + d]! * w[ri + d]! * Ehat[io + d]!;
  }
  // pivoted blocks: dq_r += τ u_r ⊙ (X K̃)_r, dk_s += w_s ⊙ M_{i,j(s)} ⊙ (Xᵀ Qu_i)_s, X = dA[block i, s < st_i]
  for (let i = 1, ko = 0; i < nb; i++) {
    const st = i * sub;
    const m = Math.min(sub, L - st);
    for (let r = 0; r < m; r++) {
      const oi = offset + (st + r) * W;
      const ri = (st + r) * K;
      for (let d = 0; d < K; d++) dq[oi + d] = dq[oi + d]! + scale * u[ri + d]! * xq[ri + d]!;
    }
    for (let j = 0; j < i; j++) {
      const mo = (i * nbMax + j) * K;
      for (let s = j * sub; s < j * sub + sub; s++) {
        const oi = offset + s * W;
        const si = s * K;
        for (let d = 0; d < K; d++) dk[oi + d] = dk[oi + d]! + w[si + d]! * M[mo + d]! * xk[ko + si + d]!;
      }
    }
    ko += st * K;
  }
  // diagonal blocks, with the running product x = Π_{s<j≤r} a_j
  for (let i = 0; i < nb; i++) {
    const st = i * sub;
    const end = Math.min(st + sub, L);
    for (let s = st; s < end; s++) {
      const ks = offset + s * W;
      for (let r = s; r < end; r++) {
        const ar = r * K;
        if (r === s) x.fill(1);
        else for (let d = 0; d < K; d++) x[d] = x[d]! * a[ar + d]!;
        const c = scale * dA[r * L + s]!;
        if (c === 0) continue;
        const qr = offset + r * W;
        for (let d = 0; d < K; d++) {
          const cx = c * x[d]!;
          dq[qr + d] = dq[qr + d]! + cx * k[ks + d]!;
          dk[ks + d] = dk[ks + d]! + cx * q[qr + d]!;
        }
      }
    }
  }
  // gate: ∂L/∂B_t = q ⊙ dq − k ⊙ dk (engine.ts header), summed backwards into dg
  for (let r = L - 1; r >= 0; r--) {
    const src = offset + r * W;
    for (let d = 0; d < K; d++) {
      const acc = running[d]! + q[src + d]! * dq[src + d]! - k[src + d]! * dk[src + d]!;
      running[d] = acc;
      dg[src + d] = acc;
    }
  }
}
