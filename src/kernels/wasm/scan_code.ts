/**
 * The WebAssembly code of the selective scan (Mamba-1 S6; math in ops/selective_scan/chunk.ts): one time block
 * of one unit per call, f32, four channels per vector (lanes never interact, so N needs no padding and the
 * per-channel work — softplus, the SiLU gate, the skip term — is vectorised too). The driver that stages the
 * block into memory and adds the partial sums up is `scan.ts`.
 *
 * Layouts (byte addresses, 16-aligned; Wq channel quads, the unit's channels padded with zeros to 4·Wq; L steps):
 * - rows    [L][4·Wq]      per step, the unit's channels (delta, u, z, dt, o, pre, dO, dU, dDelta, dZ)
 * - chan    [4·Wq]         per channel (bias, Dskip, and the dDskip, dbias sums of the block)
 * - quads   [Wq][N][4]     per channel quad and state entry, its four channels (A, a state, G, the dA sums)
 * - steps   [L][N]         per step (Bm, Cm): read as splats
 * - lanes   [L][N][4]      per step and state entry, four lane sums over the quads (the dBm, dCm sums)
 *
 * Accuracy: exp to ≤ 2 ulp (vmath_code.ts), every other operation one f32 rounding, no fused multiply-add (the
 * same bits on every engine). The partial sums over a block are f32: dA, dDskip, dbias sum L terms per lane,
 * dBm, dCm sum Wq terms per lane (the driver adds the four lanes in f64, then each block's sum into the f64
 * arrays). Summing k terms in f32 adds at most (k/2)·ε·Σ|terms| (ε = 2⁻²³), so with blocks of L = 64 steps and
 * 256 channels (Wq = 64) a block sum is off by ≤ 32·ε·Σ|terms| ≈ 4e−6 relative to its terms' magnitudes, and a
 * sum over the whole sequence by at most that relative to all its terms (the JS path's f64 sums add next to
 * nothing; its terms carry their f32 roundings either way). The per-entry bounds of every output, from these and the recurrence's few ε per step, are derived in
 * test/kernels/scan_bounds.ts and checked by test/kernels/scan.test.ts.
 */
import { Code, type Local } from "./encoder.js";
import { Vec, emitExp, emitSigmoid, emitSoftTail } from "./vmath_code.js";
import { at, forDown, forRange, ifFlag } from "./loops.js";

export const SCAN_FUNCTIONS = ["scanForwardBlock", "scanBackwardBlock"] as const;
export type ScanFunction = (typeof SCAN_FUNCTIONS)[number];

/** Flags of both functions (bits of the last argument). */
export const SCAN_FLAGS = { softplus: 1, z: 2, pre: 4, dskip: 8 } as const;


/** out = softplus(x) = max(x, 0) + log1p(e^(−|x|)). */
function emitSoftplus(c: Code, t: Vec, x: Local, out: Local): void {
  emitSoftTail(c, t, x, out);
  c.get(x).f32x4Const(0).f32x4Pmax().get(out).f32x4Add().set(out);
}

/**
 * scanForwardBlock(delta, u, z, bias, dskip, A, Bm, Cm, h, dt, o, pre, L, Wq, N, flags): runs the block from the
 * state h (quads, updated in place): Δ = softplus(delta + bias) (or delta + bias) into dt, p = Σ_n Cm·h (+ Dskip·u)
 * into pre (flag), o = p·SiLU(z) (or p).
 */
function forwardBlock(): Code {
  const c = new Code(new Array(16).fill("i32"));
  const [delta, u, z, bias, dskip, A, Bm, Cm, h, dt, o, pre, L, Wq, N, flags] = c.params as Local[] as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const t = new Vec(c);
  const q = c.local("i32"), r = c.local("i32"), n = c.local("i32");
  const rowBytes = c.local("i32"), quadBytes = c.local("i32"), qOff = c.local("i32"), qN = c.local("i32"), ch = c.local("i32");
  const o16 = c.local("i32"), o4 = c.local("i32"), rowN = c.local("i32");
  const biasV = t.v("bias"), skipV = t.v("skip"), v = t.v("v"), d = t.v("d"), uv = t.v("u"), x = t.v("x"), acc = t.v("acc");
  const a = t.v("a"), hv = t.v("h"), zv = t.v("z"), sg = t.v("sg");
  c.get(Wq).i32(4).i32Shl().set(rowBytes);
  c.get(N).i32(4).i32Shl().set(quadBytes);
  forRange(c, q, 0, Wq, () => {
    c.get(q).i32(4).i32Shl().set(qOff);
    c.get(q).get(quadBytes).i32Mul().set(qN);
    at(c, bias, qOff).v128Load().set(biasV);
    at(c, dskip, qOff).v128Load().set(skipV);
    forRange(c, r, 0, L, () => {
      c.get(r).get(rowBytes).i32Mul().get(qOff).i32Add().set(ch);
      c.get(r).get(N).i32Mul().i32(2).i32Shl().set(rowN);
      at(c, delta, ch).v128Load().get(biasV).f32x4Add().set(v);
      ifFlag(c, flags, SCAN_FLAGS.softplus, () => emitSoftplus(c, t, v, d), () => c.get(v).set(d));
      at(c, dt, ch).get(d).v128Store();
      at(c, u, ch).v128Load().tee(uv).get(d).f32x4Mul().set(x);
      c.v128Zero().set(acc);
      forRange(c, n, 0, N, () => {
        c.get(n).i32(4).i32Shl().get(qN).i32Add().set(o16);
        c.get(n).i32(2).i32Shl().get(rowN).i32Add().set(o4);
        c.get(d);
        at(c, A, o16).v128Load();
        c.f32x4Mul().set(a);
        emitExp(c, t, a, a);
        // h = a·h + x·Bm[n]
        at(c, h, o16);
        c.get(a);
        at(c, h, o16).v128Load();
        c.f32x4Mul().get(x);
        at(c, Bm, o4).v128Load32Splat();
        c.f32x4Mul().f32x4Add().tee(hv).v128Store();
        // acc += Cm[n]·h
        c.get(acc);
        at(c, Cm, o4).v128Load32Splat();
        c.get(hv).f32x4Mul().f32x4Add().set(acc);
      });
      ifFlag(c, flags, SCAN_FLAGS.dskip, () => c.get(acc).get(skipV).get(uv).f32x4Mul().f32x4Add().set(acc));
      ifFlag(c, flags, SCAN_FLAGS.pre, () => at(c, pre, ch).get(acc).v128Store());
      ifFlag(c, flags, SCAN_FLAGS.z, () => {
        at(c, z, ch).v128Load().set(zv);
        emitSigmoid(c, t, zv, sg);
        c.get(acc).get(zv).get(sg).f32x4Mul().f32x4Mul().set(acc);
      });
      at(c, o, ch).get(acc).v128Store();
    });
  });
  return c;
}

/**
 * scanBackwardBlock(dt, u, dO, z, pre, delta, bias, dskip, A, Bm, Cm, cp, G, hs, as, dU, dDelta, dZ, dA, dB, dC,
 * dSkip, dBias, L, Wq, N, flags): per channel quad, recomputes the block's decays (into as, [L][N][4]) and
 * states (into hs, [L+1][N][4]) from the checkpoint cp (quads), then runs the reverse scan from G (quads, the
 * gradient of the state leaving the block; updated in place to that of the state entering it). Writes dU,
 * dDelta, dZ (flag z) and adds into the block sums dA (quads), dB, dC (lanes), dSkip (flag dskip), dBias (chan).
 */
function backwardBlock(): Code {
  const c = new Code(new Array(27).fill("i32"));
  const [dt, u, dO, z, pre, delta, bias, dskip, A, Bm, Cm, cp, G, hs, as, dU, dDelta, dZ, dA, dB, dC, dSkip, dBias, L, Wq, N, flags] =
    c.params as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
  const t = new Vec(c);
  const q = c.local("i32"), r = c.local("i32"), n = c.local("i32");
  const rowBytes = c.local("i32"), quadBytes = c.local("i32"), qOff = c.local("i32"), qN = c.local("i32"), ch = c.local("i32");
  const o16 = c.local("i32"), o4 = c.local("i32"), s16 = c.local("i32"), rowN = c.local("i32"), prev = c.local("i32"), nxt = c.local("i32");
  const biasV = t.v("bias"), skipV = t.v("skip"), d = t.v("d"), uv = t.v("u"), x = t.v("x"), a = t.v("a"), gy = t.v("gy");
  const zv = t.v("z"), sg = t.v("sg"), du = t.v("du"), qv = t.v("q"), dl = t.v("dl"), g = t.v("g"), gl = t.v("gl"), dd = t.v("dd");
  c.get(Wq).i32(4).i32Shl().set(rowBytes);
  c.get(N).i32(4).i32Shl().set(quadBytes);
  forRange(c, q, 0, Wq, () => {
    c.get(q).i32(4).i32Shl().set(qOff);
    c.get(q).get(quadBytes).i32Mul().set(qN);
    at(c, bias, qOff).v128Load().set(biasV);
    at(c, dskip, qOff).v128Load().set(skipV);
    // hs[0] = the checkpoint's quad
    forRange(c, n, 0, N, () => {
      c.get(n).i32(4).i32Shl().set(o16);
      at(c, hs, o16);
      c.get(cp).get(qN).i32Add().get(o16).i32Add().v128Load().v128Store();
    });
    // recompute: as[r] = exp(Δ·A), hs[r+1] = as[r]·hs[r] + Δ·u·Bm[r]
    forRange(c, r, 0, L, () => {
      c.get(r).get(rowBytes).i32Mul().get(qOff).i32Add().set(ch);
      c.get(r).get(N).i32Mul().i32(2).i32Shl().set(rowN);
      c.get(r).get(quadBytes).i32Mul().set(prev);
      at(c, dt, ch).v128Load().tee(d);
      at(c, u, ch).v128Load().f32x4Mul().set(x);
      forRange(c, n, 0, N, () => {
        c.get(n).i32(4).i32Shl().set(s16);
        c.get(s16).get(qN).i32Add().set(o16);
        c.get(n).i32(2).i32Shl().get(rowN).i32Add().set(o4);
        c.get(s16).get(prev).i32Add().set(s16); // offset of (r, n) in as and hs
        c.get(d);
        at(c, A, o16).v128Load();
        c.f32x4Mul().set(a);
        emitExp(c, t, a, a);
        at(c, as, s16).get(a).v128Store();
        c.get(hs).get(s16).i32Add().get(quadBytes).i32Add(); // hs[r+1]
        c.get(a);
        at(c, hs, s16).v128Load();
        c.f32x4Mul().get(x);
        at(c, Bm, o4).v128Load32Splat();
        c.f32x4Mul().f32x4Add().v128Store();
      });
    });
    // reverse scan
    forDown(c, r, () => c.get(L).i32(1).i32Sub(), 0, () => {
      c.get(r).get(rowBytes).i32Mul().get(qOff).i32Add().set(ch);
      c.get(r).get(N).i32Mul().i32(2).i32Shl().set(rowN);
      c.get(r).get(quadBytes).i32Mul().set(prev);
      c.get(prev).get(quadBytes).i32Add().set(nxt);
      at(c, u, ch).v128Load().set(uv);
      at(c, dt, ch).v128Load().tee(d).get(uv).f32x4Mul().set(x);
      at(c, dO, ch).v128Load().set(gy);
      ifFlag(c, flags, SCAN_FLAGS.z, () => {
        at(c, z, ch).v128Load().set(zv);
        emitSigmoid(c, t, zv, sg);
        // dZ = gy·p·σ·(1 + z(1 − σ)); gy ·= z·σ
        at(c, dZ, ch);
        c.get(gy);
        at(c, pre, ch).v128Load();
        c.f32x4Mul().get(sg).f32x4Mul();
        c.f32x4Const(1).get(sg).f32x4Sub().get(zv).f32x4Mul().f32x4Const(1).f32x4Add().f32x4Mul().v128Store();
        c.get(gy).get(zv).get(sg).f32x4Mul().f32x4Mul().set(gy);
      });
      c.v128Zero().set(du);
      ifFlag(c, flags, SCAN_FLAGS.dskip, () => {
        at(c, dSkip, qOff);
        at(c, dSkip, qOff).v128Load().get(gy).get(uv).f32x4Mul().f32x4Add().v128Store();
        c.get(gy).get(skipV).f32x4Mul().set(du);
      });
      c.v128Zero().set(qv);
      c.v128Zero().set(dl);
      forRange(c, n, 0, N, () => {
        c.get(n).i32(4).i32Shl().set(s16);
        c.get(s16).get(qN).i32Add().set(o16); // (quad, n) in G, A, dA
        c.get(n).i32(2).i32Shl().get(rowN).i32Add().set(o4); // (r, n) in Bm, Cm
        c.get(s16).get(prev).i32Add().set(s16); // (r, n) in as, hs, dB, dC
        // g = G + gy·Cm[n]
        at(c, G, o16).v128Load().get(gy);
        at(c, Cm, o4).v128Load32Splat();
        c.f32x4Mul().f32x4Add().set(g);
        // dC += gy·h_r (hs[r+1]); dB += g·x
        at(c, dC, s16);
        at(c, dC, s16).v128Load().get(gy);
        c.get(hs).get(s16).i32Add().get(quadBytes).i32Add().v128Load();
        c.f32x4Mul().f32x4Add().v128Store();
        at(c, dB, s16);
        at(c, dB, s16).v128Load().get(g).get(x).f32x4Mul().f32x4Add().v128Store();
        // q += g·Bm[n]
        c.get(qv).get(g);
        at(c, Bm, o4).v128Load32Splat();
        c.f32x4Mul().f32x4Add().set(qv);
        // gl = g·a·h_{r−1}; dA += gl·Δ; dl += gl·A; G = g·a
        at(c, as, s16).v128Load().set(a);
        c.get(g).get(a).f32x4Mul();
        at(c, hs, s16).v128Load();
        c.f32x4Mul().set(gl);
        at(c, dA, o16);
        at(c, dA, o16).v128Load().get(gl).get(d).f32x4Mul().f32x4Add().v128Store();
        c.get(dl).get(gl);
        at(c, A, o16).v128Load();
        c.f32x4Mul().f32x4Add().set(dl);
        at(c, G, o16).get(g).get(a).f32x4Mul().v128Store();
      });
      // dU = du + q·Δ; dDelta = (dl + q·u)·φ'(delta + bias); dBias += dDelta
      at(c, dU, ch).get(du).get(qv).get(d).f32x4Mul().f32x4Add().v128Store();
      c.get(dl).get(qv).get(uv).f32x4Mul().f32x4Add().set(dd);
      ifFlag(c, flags, SCAN_FLAGS.softplus, () => {
        at(c, delta, ch).v128Load().get(biasV).f32x4Add().set(sg);
        emitSigmoid(c, t, sg, sg);
        c.get(dd).get(sg).f32x4Mul().set(dd);
      });
      at(c, dDelta, ch).get(dd).v128Store();
      at(c, dBias, qOff);
      at(c, dBias, qOff).v128Load().get(dd).f32x4Add().v128Store();
    });
  });
  return c;
}

/** The function bodies, in SCAN_FUNCTIONS order. */
export function scanCodes(): Array<{ name: ScanFunction; code: Code }> {
  return [
    { name: "scanForwardBlock", code: forwardBlock() },
    { name: "scanBackwardBlock", code: backwardBlock() },
  ];
}

/** The exported functions as the driver calls them (byte addresses, then counts and flags). */
export type ScanExports = Record<ScanFunction, (...args: number[]) => void>;
