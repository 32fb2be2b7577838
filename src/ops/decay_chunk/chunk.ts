/**
 * The training form of linear_attn, retention, simple_gla and gla: the chunkwise engine (engine.ts) wrapped
 * as one differentiable op whose hand-written backward covers o and the final state together.
 *
 * linear_attn's normalize option rides on the same engine: the key sum z_t = Σ_{s≤t} k_s is the state of
 * the recurrence for a constant value 1, so the engine runs on v' = [v, 1] (V+1 columns; the state's last
 * column is z) and o = O'[:V] / (O'[V] + eps), with O' = τ q [S, z]. The division and its backward are done
 * here on the raw arrays:  with n = O'[:V], den = O'[V] + eps, o = n / den:
 *   dn = do / den,   d(den) = −Σ_j do_j n_j / den².
 */
import { isGradEnabled } from "../../core/autograd.js";
import { allocate } from "../../core/dtype.js";
import { withGradMulti } from "../../core/multi.js";
import { Tensor } from "../../core/tensor.js";
import type { FloatArray } from "../../kernels/types.js";
import type { OpInputs, OpOutputs } from "../types.js";
import { decayBackward, decayForward, type DecayProblem } from "./engine.js";

export interface ChunkGate {
  kind: "scalar" | "vector";
  /** log gates for the engine: [B,T,H] (scalar) or [B,T,H,K] (vector) */
  logs: FloatArray;
  /** the input tensor the gate gradient belongs to */
  source: Tensor;
  /** the gradient of `source` from the engine's gradient of the log gates (shaped like `logs`; f64, or f32 for an f32 vector gate) */
  grad(dLogs: FloatArray): Tensor;
}

export interface ChunkCall {
  /** graph node name, e.g. "gla.chunk" */
  node: string;
  /** q, k [B,T,H,K], v [B,T,H,V], initial_state [B,H,K,V] (V+1 with normalize) */
  inputs: OpInputs;
  gate: ChunkGate | null;
  scale: number;
  chunkSize: number;
  outputFinalState: boolean;
  /** linear_attn with normalize: the eps of the denominator; null otherwise */
  normalizeEps: number | null;
}

/** Values as an array of the given precision (x itself when it already is). */
export function asPrecision(x: FloatArray, f64: boolean): FloatArray {
  if (x instanceof (f64 ? Float64Array : Float32Array)) return x;
  const out = allocate(f64 ? "f64" : "f32", x.length);
  out.set(x);
  return out;
}

export function decayChunk(call: ChunkCall): OpOutputs {
  const q = call.inputs.q!;
  const k = call.inputs.k!;
  const v = call.inputs.v!;
  const s0 = call.inputs.initial_state;
  const [B, T, H, K] = q.shape as [number, number, number, number];
  const V = v.shape[3]!;
  const norm = call.normalizeEps !== null;
  const eps = call.normalizeEps ?? 0;
  const Vs = norm ? V + 1 : V;
  const f64 = q.dtype === "f64";
  const rowsN = B * T * H;

  let vIn = v.values();
  if (norm) {
    // v' = [v, 1]
    const vv = allocate(q.dtype, rowsN * Vs);
    for (let r = 0; r < rowsN; r++) {
      for (let j = 0; j < V; j++) vv[r * Vs + j] = vIn[r * V + j]!;
      vv[r * Vs + V] = 1;
    }
    vIn = vv;
  }
  const problem: DecayProblem = {
    B, T, H, K, V: Vs, C: call.chunkSize, scale: call.scale, f64,
    q: q.values(), k: k.values(), v: vIn,
    gate: call.gate ? call.gate.kind : "none",
    g: call.gate ? call.gate.logs : null,
    s0: s0 ? s0.values() : null,
  };
  const sources: Tensor[] = [q, k, v, ...(call.gate ? [call.gate.source] : []), ...(s0 ? [s0] : [])];
  const needGrad = isGradEnabled() && sources.some((t) => t.requiresGrad);
  const fwd = decayForward(problem, needGrad);

  let oArr = fwd.o;
  if (norm) {
    oArr = allocate(q.dtype, rowsN * V);
    for (let r = 0; r < rowsN; r++) {
      const den = fwd.o[r * Vs + V]! + eps;
      for (let j = 0; j < V; j++) oArr[r * V + j] = fwd.o[r * Vs + j]! / den;
    }
  }
  let o = new Tensor(oArr, [B, T, H, V]);
  let state = new Tensor(fwd.state, [B, H, K, Vs]);
  if (needGrad) {
    const saved = fwd.saved!;
    [o, state] = withGradMulti(call.node, [o, state], sources, (grads) => {
      let dO = grads[0]!.values();
      if (norm) {
        const dOs = allocate(q.dtype, rowsN * Vs);
        for (let r = 0; r < rowsN; r++) {
          const den = fwd.o[r * Vs + V]! + eps;
          let dDen = 0;
          for (let j = 0; j < V; j++) {
            const g = dO[r * V + j]!;
            dOs[r * Vs + j] = g / den;
            dDen -= (g * fwd.o[r * Vs + j]!) / (den * den);
          }
          dOs[r * Vs + V] = dDen;
        }
        dO = dOs;
      }
      const r = decayBackward(problem, saved, fwd.state, dO, grads[1]!.values());
      let dv = r.dv;
      if (norm) {
        dv = allocate(q.dtype, rowsN * V);
        for (let i = 0; i < rowsN; i++) for (let j = 0; j < V; j++) dv[i * V + j] = r.dv[i * Vs + j]!;
      }
      const out: Array<Tensor | null> = [new Tensor(r.dq, [B, T, H, K]), new Tensor(r.dk, [B, T, H, K]), new Tensor(dv, [B, T, H, V])];
      if (call.gate) out.push(call.gate.grad(r.dg!));
      if (s0) out.push(new Tensor(r.ds0, [B, H, K, Vs]));
      return out;
    }) as [Tensor, Tensor];
  }
  return call.outputFinalState ? { o, finalState: state } : { o };
}
