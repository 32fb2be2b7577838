/**
 * The Miras choices of `titans_memory` (spec/mixers.md §11; arXiv 2504.13173): the attentional bias (the inner
 * loss, through ∂ℓ/∂M) and the retention (how the memory's weights W are read from the recurrent state A).
 *
 * Attentional bias, from the error e = M(k) − v of one token (rows are tokens):
 *   l2     ℓ = ‖e‖²:                 ∂ℓ/∂M = 2e                                  (Titans)
 *   lp     ℓ = ‖e‖_p^p:              ∂ℓ/∂M = p·sign(e)|e|^{p−1} ≈ p·e·(e² + ε)^{(p−2)/2}   (Moneta; exact 2e at p = 2)
 *   huber  per token, δ_t > 0:       ∂ℓ/∂M = 2e if ‖e‖ ≤ δ_t, else 2δ_t·sign(e)     (Yaad)
 * The paper smooths sign(z) ≈ tanh(c·z) and |z| ≈ sqrt(z² + ε); we take |e|_ε = sqrt(e² + ε) and sign(e) ≈ e/|e|_ε,
 * one smoothing that is exact ℓ2 at p = 2 (so Moneta with p = q = 2 is Titans, the spec's worked check) and needs
 * no second constant. The Huber rule is the paper's (ℓ2 branch below the threshold on ‖e‖, ℓ1 branch above),
 * scaled by 2 to match our ℓ2 = ‖e‖² (the paper's ℓ2 branch is k eᵀ, i.e. ½‖e‖²); sign(e) and the branch mask
 * carry no gradient (their derivative is 0 almost everywhere); δ gets its gradient through the ℓ1 branch.
 *
 * Retention: the state A of each weight matrix follows the same recurrence as Titans' W (momentum S, forget
 * 1 − α_t), and the memory is read with W = R(A):
 *   l2     W = A                                            (Titans' forget gate; Miras' α_t = 1 − decay_t)
 *   lq     W = A / ‖A₀‖_q^{q−2}, ‖·‖_q entrywise over the whole matrix, A₀ = A at the start of the chunk
 *          (Moneta; the paper normalises at chunk boundaries only, so inside a chunk the scale is frozen; token by
 *          token it is ‖A_{t−1}‖; smoothed as ‖A‖_q^{q−2} ≈ (Σ|A|^q + ε)^{(q−2)/q}, defined at A = 0)
 *   kl     W = c·softmax(A) over the output axis of each row (Memora: mirror descent with the KL divergence; A
 *          holds log-weights up to a per-row constant, which the softmax ignores, so the paper's
 *          W_t = c·Softmax(α_t log W_{t−1} − η_t ∇ℓ) is exactly A_t = α_t A_{t−1} − η_t ∇ℓ; W > 0 always, and
 *          A = 0 is the uniform start c/width). For kl the inputs w1…w_L and the state hold A (log-weights).
 * The inner gradient is taken at R(A) and applied to A (for lq and kl this is the paper's mirror-descent step).
 */
import { mapUnary, where } from "../../core/ops/elementwise.js";
import type { Tensor } from "../../core/tensor.js";
import type { ErrorContext } from "./memory.js";

export type Bias = "l2" | "lp" | "huber";
export type Retention = "l2" | "lq" | "kl";

/** The smoothing ε of |e| (lp) and of ‖A‖_q (lq). */
export const SMOOTH_EPS = 1e-6;

export interface MirasChoice {
  bias: Bias;
  /** p of the lp bias */
  p: number;
  retention: Retention;
  /** q of the lq retention */
  q: number;
  /** c of the kl retention: every row of W sums to c */
  klScale: number;
}

/** ∂ℓ/∂M(k) from e = M(k) − v, rows of e are tokens (ctx.delta [..., c, 1] for huber). */
export function errorGrad(choice: MirasChoice, e: Tensor, ctx: ErrorContext): Tensor {
  switch (choice.bias) {
    case "l2":
      return e.mul(2);
    case "lp":
      return choice.p === 2 ? e.mul(2) : e.mul(e.square().add(SMOOTH_EPS).pow((choice.p - 2) / 2)).mul(choice.p);
    case "huber": {
      const delta = ctx.delta!;
      const over = e.detach().square().sum(-1, true).sqrt().sub(delta.detach()); // ‖e‖ − δ, no gradient
      const inside = mapUnary(over, (x) => (x <= 0 ? 1 : 0));
      return where(inside, e, delta.mul(mapUnary(e.detach(), Math.sign))).mul(2);
    }
  }
}

/** Whether R is linear in A with one scale per matrix (l2, lq): then the chunk form reads in its dual form. */
export const readsLinearly = (choice: MirasChoice): boolean => choice.retention !== "kl";

/**
 * The scale of R for l2 / lq at the reference state A₀ [..., din, dout]: none, or 1/‖A₀‖_q^{q−2} as [..., 1, 1],
 * with ‖A‖_q^{q−2} = (Σ|A|^q + ε)^{(q−2)/q} (smooth, finite derivative at A = 0).
 */
export function readScale(choice: MirasChoice, ref: Tensor): Tensor | null {
  if (choice.retention !== "lq" || choice.q === 2) return null;
  return ref.abs().pow(choice.q).sum([-2, -1], true).add(SMOOTH_EPS).pow(-(choice.q - 2) / choice.q);
}

/** W = R(A) with the scale taken at `ref` (the chunk's start state for lq). */
export function readWeights(choice: MirasChoice, A: Tensor, ref: Tensor): Tensor {
  if (choice.retention === "kl") return A.softmax(-1).mul(choice.klScale);
  const s = readScale(choice, ref);
  return s ? A.mul(s) : A;
}
