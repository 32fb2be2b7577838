/**
 * Finite-difference gradient check in f64. For a function of tensors, the analytic gradient of
 * L = Σ_outputs Σ (output ⊙ w), with w a fixed random cotangent, is compared element by element with the
 * central difference (L(x + ε) − L(x − ε)) / 2ε. Inputs may be non-contiguous views (each logical element is
 * perturbed in its storage place); inputs that do not require grad are held constant.
 */
import { noGrad } from "./autograd.js";
import { shapeString } from "./shape.js";
import { forEachRow } from "./strided.js";
import { Random } from "./random.js";
import { Tensor } from "./tensor.js";

export interface GradcheckOptions {
  /** finite-difference step (default 1e-6) */
  eps?: number;
  /** absolute tolerance (default 1e-5) */
  atol?: number;
  /** relative tolerance, against |numerical| (default 1e-3) */
  rtol?: number;
  /** seed of the random cotangent (default 0) */
  seed?: number;
}

export interface GradcheckReport {
  /** largest |analytic − numerical| over all checked elements */
  maxAbsError: number;
  /** number of elements compared */
  checked: number;
}

export class GradcheckError extends Error {
  override name = "GradcheckError";
}

type Fn = (...inputs: Tensor[]) => Tensor | readonly Tensor[];

function storagePositions(t: Tensor): number[] {
  const out: number[] = [];
  forEachRow(t.shape, [t], (pos, len, step) => {
    for (let j = 0; j < len; j++) out.push(pos[0]! + j * step[0]!);
  });
  return out;
}

export function gradcheck(fn: Fn, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckReport {
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-5;
  const rtol = options.rtol ?? 1e-3;
  const checkedInputs = inputs.filter((t) => t.requiresGrad);
  if (checkedInputs.length === 0) throw new GradcheckError("gradcheck: no input requires grad");
  inputs.forEach((t, i) => {
    if (t.requiresGrad && t.dtype !== "f64") throw new GradcheckError(`gradcheck: input ${i} is ${t.dtype}; gradcheck needs f64 inputs`);
    if (t.requiresGrad && !t.isLeaf) throw new GradcheckError(`gradcheck: input ${i} must be a leaf tensor`);
  });
  const positions = inputs.map((t) => (t.requiresGrad ? storagePositions(t) : []));
  positions.forEach((p, i) => {
    if (new Set(p).size !== p.length) throw new GradcheckError(`gradcheck: input ${i} has elements sharing storage (an expanded view); pass a tensor that owns each element`);
  });

  const outputsOf = (): Tensor[] => {
    const r = fn(...inputs);
    return r instanceof Tensor ? [r] : [...r];
  };
  const first = outputsOf();
  const rng = new Random(options.seed ?? 0);
  const cotangents = first.map((o) => {
    const w = new Float64Array(o.size);
    rng.fillNormal(w);
    return new Tensor(w, o.shape);
  });
  const objective = (outs: readonly Tensor[]): number =>
    outs.reduce((acc, o, k) => {
      const v = o.values();
      const w = cotangents[k]!.data;
      for (let i = 0; i < v.length; i++) acc += v[i]! * w[i]!;
      return acc;
    }, 0);

  // analytic: backward with the cotangents, on a fresh graph
  const saved = inputs.map((t) => t.grad);
  inputs.forEach((t) => (t.grad = null));
  const outs = outputsOf();
  // outputs may share intermediate nodes, so the graph is kept until every output has been backpropagated
  outs.forEach((o, k) => {
    if (o.requiresGrad) o.backward(cotangents[k]!.to(o.dtype), { retainGraph: true });
  });
  const analytic = inputs.map((t) => (t.requiresGrad ? (t.grad?.values() ?? new Float64Array(t.size)) : null));
  inputs.forEach((t, i) => (t.grad = saved[i]!));

  let maxAbsError = 0;
  let checked = 0;
  noGrad(() => {
    inputs.forEach((t, i) => {
      if (!t.requiresGrad) return;
      const data = t.data;
      positions[i]!.forEach((p, e) => {
        const orig = data[p]!;
        data[p] = orig + eps;
        const plus = objective(outputsOf());
        data[p] = orig - eps;
        const minus = objective(outputsOf());
        data[p] = orig;
        const numerical = (plus - minus) / (2 * eps);
        const a = analytic[i]![e]!;
        const err = Math.abs(a - numerical);
        maxAbsError = Math.max(maxAbsError, Number.isNaN(err) ? Infinity : err);
        checked++;
        if (!(err <= atol + rtol * Math.abs(numerical))) {
          throw new GradcheckError(
            `gradcheck: input ${i} ${shapeString(t.shape)}, element ${e}: analytic ${a} vs numerical ${numerical} (|diff| ${err} > atol ${atol} + rtol ${rtol}·|numerical|)`,
          );
        }
      });
    });
  });
  return { maxAbsError, checked };
}
