/**
 * The memory network of `titans_memory` (spec/mixers.md §10.1) and its inner gradient in closed form.
 *
 * Per (batch, head) the memory is M(x; W¹…W^L), rows are row vectors:
 *   x¹ = x,  z^l = x^l W^l,  x^{l+1} = φ(z^l) (l < L),  M(x) = z^L          (L = 1: the linear memory x W¹)
 *   residual:  M(x) = x + LN(z^L)   (titans-pytorch ResidualNorm; needs K = V; LN without affine weights)
 * with φ = GELU (exact, erf) or SiLU and no biases.
 *
 * The inner loss of one token is ℓ(W; k, v), a function of the error M(k) − v (ℓ2: ‖M(k) − v‖², spec §10.1; the
 * Miras biases in miras.ts); its gradient with respect to W^l is a rank-1 matrix x^lᵀ g^l (x^l the layer's
 * input row, g^l = ∂ℓ/∂z^l), so a chunk's
 * per-token gradients are kept as two stacks of rows (xs, gs) and never as C full matrices. The backward through
 * the network is written with ordinary differentiable tensor ops — the outer backward differentiates through it
 * (second order: it needs φ'' and the derivative of the LN backward, which autodiff supplies from these ops).
 */
import { mapBinary, mapUnary } from "../../core/ops/elementwise.js";
import { record } from "../../core/autograd.js";
import type { Tensor } from "../../core/tensor.js";
import { erf, normalPdf, sigmoid } from "../../core/special.js";

export type Activation = "gelu" | "silu";

/** The layer shapes and kind of one memory network. */
export interface MemoryNet {
  /** number of weight matrices L ≥ 1 */
  readonly depth: number;
  /** [K, E·K, …, E·K, V]: layer l maps dims[l−1] → dims[l] (0-based: W[l] is [dims[l], dims[l+1]]) */
  readonly dims: readonly number[];
  readonly activation: Activation;
  readonly residual: boolean;
  /**
   * ∂ℓ/∂M(k) from the error e = M(k) − v (the attentional bias, spec §10.1 and Miras §11): 2e for ℓ2.
   * Written with differentiable ops; rows of e are tokens.
   */
  readonly errorGrad: (e: Tensor, at: ErrorContext) => Tensor;
}

/** What a bias may need besides the error: the chunk's slice of per-token inputs (e.g. Huber's δ [..., c, 1]). */
export interface ErrorContext {
  readonly delta?: Tensor;
}

/** Layer widths [K, E·K, …, V] of a depth-L memory with expansion E (L = 1: [K, V]). */
export function layerDims(K: number, V: number, depth: number, expansion: number): number[] {
  const hidden = expansion * K;
  return [K, ...Array.from({ length: depth - 1 }, () => hidden), V];
}

/** Number of memory weights n_W = Σ_l dims[l]·dims[l+1]. */
export function weightCount(dims: readonly number[]): number {
  let n = 0;
  for (let l = 0; l + 1 < dims.length; l++) n += dims[l]! * dims[l + 1]!;
  return n;
}

// ---- activations with a differentiable derivative (φ' is used in the inner gradient, so it needs φ'') ----

const geluD1 = (x: number): number => 0.5 * (1 + erf(x * Math.SQRT1_2)) + x * normalPdf(x);
const geluD2 = (x: number): number => normalPdf(x) * (2 - x * x);
const siluD1 = (x: number): number => {
  const s = sigmoid(x);
  return s * (1 + x * (1 - s));
};
const siluD2 = (x: number): number => {
  const s = sigmoid(x);
  return s * (1 - s) * (2 + x * (1 - 2 * s));
};

/** φ'(z) as a differentiable op whose backward is g·φ''(z). */
function derivativeOp(name: string, d1: (x: number) => number, d2: (x: number) => number): (z: Tensor) => Tensor {
  return (z: Tensor) => record(mapUnary(z, d1), name, [z], (g) => [mapBinary(name, g, z, (gi, zi) => gi * d2(zi))]);
}

const geluPrime = derivativeOp("gelu'", geluD1, geluD2);
const siluPrime = derivativeOp("silu'", siluD1, siluD2);

export function activate(kind: Activation, z: Tensor): Tensor {
  return kind === "gelu" ? z.gelu() : z.silu();
}

export function activatePrime(kind: Activation, z: Tensor): Tensor {
  return kind === "gelu" ? geluPrime(z) : siluPrime(z);
}

// ---- the network ----

/** LayerNorm over the last axis without affine weights, eps 1e-5 (as torch.nn.LayerNorm): n̂ and 1/σ. */
const LN_EPS = 1e-5;
function normParts(z: Tensor): { n: Tensor; r: Tensor } {
  const d = z.sub(z.mean(-1, true));
  const r = d.square().mean(-1, true).add(LN_EPS).rsqrt();
  return { n: d.mul(r), r };
}

/**
 * Runs the network on rows x [..., c, K] with one linear map per layer given by `layer(l, x^l)` → z^l; returns
 * M(x) (with the residual and LN when set). The plain forward passes x^l W^l; the chunk form passes its dual form.
 */
export function runLayers(net: MemoryNet, x: Tensor, layer: (l: number, xl: Tensor) => Tensor): Tensor {
  let h = x;
  for (let l = 0; l < net.depth; l++) {
    const z = layer(l, h);
    h = l + 1 < net.depth ? activate(net.activation, z) : z;
  }
  return net.residual ? x.add(normParts(h).n) : h;
}

/** M(x; W): x [..., c, K], W[l] [..., dims[l], dims[l+1]] → [..., c, V]. */
export function memoryForward(net: MemoryNet, W: readonly Tensor[], x: Tensor): Tensor {
  return runLayers(net, x, (l, xl) => xl.matmul(W[l]!));
}

/** Per-token inner gradients as rows: ∇_{W^l} ℓ(W; k_i, v_i) = xs[l]_iᵀ gs[l]_i. */
export interface InnerGradient {
  /** layer inputs x^l, [..., c, dims[l]] */
  readonly xs: Tensor[];
  /** ∂ℓ/∂z^l, [..., c, dims[l+1]] */
  readonly gs: Tensor[];
}

/**
 * The gradient of each token's inner loss at the weights W (spec §10.1): forward through the layers keeping
 * x^l and z^l, then back: g^L = ∂ℓ/∂z^L (through LN and the residual if set), g^l = (g^{l+1} W^{l+1}ᵀ) ⊙ φ'(z^l).
 * k [..., c, K], v [..., c, V].
 */
export function innerGradient(net: MemoryNet, W: readonly Tensor[], k: Tensor, v: Tensor, ctx: ErrorContext = {}): InnerGradient {
  const xs: Tensor[] = [];
  const zs: Tensor[] = [];
  let h = k;
  for (let l = 0; l < net.depth; l++) {
    xs.push(h);
    const z = h.matmul(W[l]!);
    zs.push(z);
    if (l + 1 < net.depth) h = activate(net.activation, z);
  }
  const out = zs[net.depth - 1]!;
  let g: Tensor;
  if (net.residual) {
    // M = k + n̂(z), n̂ = (z − μ)·r: ∂ℓ/∂z = r·(d − mean(d) − n̂·mean(d ⊙ n̂)) with d = ∂ℓ/∂M
    const { n, r } = normParts(out);
    const d = net.errorGrad(k.add(n).sub(v), ctx);
    g = r.mul(d.sub(d.mean(-1, true)).sub(n.mul(d.mul(n).mean(-1, true))));
  } else {
    g = net.errorGrad(out.sub(v), ctx);
  }
  const gs: Tensor[] = new Array<Tensor>(net.depth);
  gs[net.depth - 1] = g;
  for (let l = net.depth - 2; l >= 0; l--) {
    g = g.matmul(W[l + 1]!.transpose()).mul(activatePrime(net.activation, zs[l]!));
    gs[l] = g;
  }
  return { xs, gs };
}
