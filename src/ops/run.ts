/** Runs an op in any of its three forms, with the options parsed and the inputs checked first. */
import { stack, slice, squeeze } from "../core/ops/shape.js";
import type { Tensor } from "../core/tensor.js";
import { expectSameDType } from "./check.js";
import { OpError, parseOptions } from "./options.js";
import type { AnyOp, OpInputs, OpMode, OpOutputs } from "./types.js";

/** Parses options and validates inputs (names, dtypes, then the op's own shape checks). Returns the options. */
export function prepare<O>(op: AnyOp, inputs: OpInputs, rawOptions: unknown): O {
  const options = parseOptions(op.name, op.options, rawOptions) as O;
  const known = new Set(op.inputs.map((s) => s.name));
  for (const [name, t] of Object.entries(inputs)) {
    if (t !== undefined && !known.has(name)) {
      throw new OpError(`${op.name}: unexpected input '${name}'; the op takes ${op.inputs.map((s) => s.name + (s.optional ? "?" : "")).join(", ")}`);
    }
  }
  for (const spec of op.inputs) {
    if (!spec.optional && inputs[spec.name] === undefined) throw new OpError(`${op.name}: missing input '${spec.name}' (expected shape ${spec.shape})`);
  }
  expectSameDType(op.name, inputs);
  const timed = op.inputs.filter((s) => s.perStep && inputs[s.name] !== undefined);
  for (const s of timed) {
    const t = inputs[s.name]!;
    if (t.ndim < 2 || t.shape[1]! < 1) throw new OpError(`${op.name}: ${s.name} must have shape ${s.shape} with T ≥ 1, got [${t.shape.join(",")}]`);
  }
  op.validate(inputs, options);
  return options;
}

export function runOp(op: AnyOp, inputs: OpInputs, mode: OpMode, rawOptions?: unknown): OpOutputs {
  const options = prepare<never>(op, inputs, rawOptions);
  switch (mode) {
    case "naive":
      return op.naive(inputs, options);
    case "chunk":
      return op.chunk(inputs, options);
    case "recurrent":
      return runRecurrent(op, inputs, options);
    default:
      throw new OpError(`${op.name}: mode must be one of naive, chunk, recurrent; got ${JSON.stringify(mode)}`);
  }
}

/** The per-step inputs at time t (time axis removed), the others whole. */
export function inputsAt(op: AnyOp, inputs: OpInputs, t: number): Record<string, Tensor | undefined> {
  const out: Record<string, Tensor | undefined> = {};
  for (const spec of op.inputs) {
    const x = inputs[spec.name];
    if (spec.name === "initial_state") continue;
    out[spec.name] = x !== undefined && spec.perStep ? squeeze(slice(x, 1, t, t + 1), 1) : x;
  }
  return out;
}

/** The recurrent form over a whole sequence: init (or initial_state), then one step per token. */
export function runRecurrent(op: AnyOp, inputs: OpInputs, options: { outputFinalState: boolean }): OpOutputs {
  const timed = op.inputs.find((s) => s.perStep && inputs[s.name] !== undefined);
  if (!timed) throw new OpError(`${op.name}: no input with a time axis was given`);
  const T = inputs[timed.name]!.shape[1]!;
  let state = inputs.initial_state ?? op.recurrent.init(inputs, options);
  const outs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const r = op.recurrent.step(state, inputsAt(op, inputs, t), options);
    outs.push(r.o);
    state = r.state;
  }
  const o = stack(outs, 1);
  return options.outputFinalState ? { o, finalState: state } : { o };
}
