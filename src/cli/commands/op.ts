/**
 * `seqmix op NAME --in in.safetensors --out out.safetensors [--mode naive|chunk|recurrent] [--opts JSON]
 *  [--grad do.safetensors]`: runs one op on tensors from a file so anyone can check our numbers against another
 * implementation. Inputs are read by their contract names; the output is `o` (and `final_state` with
 * {"outputFinalState": true}); with --grad the upstream gradient `do` (and optionally `dfinal_state`) is read and
 * `d<name>` is written for every input given. f32 in → f32 out; f64 in → computed and written in f64.
 */
import type { Command } from "commander";
import { Random } from "../../core/random.js";
import type { Tensor } from "../../core/tensor.js";
import { shapeString } from "../../core/shape.js";
import { getOp, listOps, OP_MODES, OpError, prepare, runOp, type AnyOp, type OpMode } from "../../ops/index.js";
import { readSafetensorsFileSync } from "../../io/safetensors.js";
import { saveCheckpoint, storedToTensor } from "../../io/checkpoint.js";

export interface OpCommandOptions {
  in?: string;
  out?: string;
  mode: string;
  opts?: string;
  grad?: string;
  example?: string;
  list?: boolean;
}

function readTensors(path: string, what: string): Map<string, Tensor> {
  const contents = readSafetensorsFileSync(path);
  const out = new Map<string, Tensor>();
  for (const [name, stored] of contents.tensors) {
    try {
      out.set(name, storedToTensor(name, stored));
    } catch (e) {
      throw new OpError(`${what} ${path}: ${(e as Error).message}`);
    }
  }
  return out;
}

function parseOpts(text: string | undefined): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new OpError(`--opts is not valid JSON (${(e as Error).message}); expected an object such as '{"chunkSize": 32}'`);
  }
}

function describe(op: AnyOp): string {
  const inputs = op.inputs.map((s) => `${s.name}${s.optional ? "?" : ""} ${s.shape}`).join(", ");
  return `${op.name.padEnd(18)} ${op.summary}\n${"".padEnd(19)}inputs: ${inputs}; state ${op.stateShape} (${op.spec})`;
}

/** Runs the command; returns the lines it printed (also written to stdout). */
export function runOpCommand(name: string | undefined, options: OpCommandOptions, print: (line: string) => void = (l) => process.stdout.write(l + "\n")): void {
  if (options.list) {
    for (const op of listOps()) print(describe(op));
    return;
  }
  if (name === undefined) throw new OpError("op: missing the op name (run `seqmix op --list` to see them)");
  const op = getOp(name);
  if (options.example !== undefined) {
    const inputs = op.example(new Random(0), "f32");
    saveCheckpoint(options.example, inputs);
    print(`wrote example inputs for ${op.name} to ${options.example}: ${Object.entries(inputs).map(([k, t]) => `${k} ${shapeString(t.shape)}`).join(", ")}`);
    return;
  }
  if (options.in === undefined) throw new OpError("op: --in <inputs.safetensors> is required");
  if (options.out === undefined) throw new OpError("op: --out <outputs.safetensors> is required");
  if (!(OP_MODES as readonly string[]).includes(options.mode)) {
    throw new OpError(`op: --mode must be one of ${OP_MODES.join(", ")}; got '${options.mode}'`);
  }
  const mode = options.mode as OpMode;
  const rawOptions = parseOpts(options.opts);

  const fileInputs = readTensors(options.in, "--in");
  const known = new Set(op.inputs.map((s) => s.name));
  const unknown = [...fileInputs.keys()].filter((k) => !known.has(k));
  if (unknown.length > 0) {
    throw new OpError(`${op.name}: ${options.in} has tensor(s) ${unknown.map((k) => `'${k}'`).join(", ")} that the op does not take; expected ${op.inputs.map((s) => `${s.name}${s.optional ? " (optional)" : ""} ${s.shape}`).join(", ")}`);
  }
  const inputs: Record<string, Tensor> = Object.fromEntries(fileInputs);
  const parsed = prepare<{ outputFinalState: boolean }>(op, inputs, rawOptions);

  let upstream: Map<string, Tensor> | null = null;
  if (options.grad !== undefined) {
    upstream = readTensors(options.grad, "--grad");
    if (!upstream.has("do")) throw new OpError(`--grad ${options.grad}: missing the upstream gradient tensor 'do' (shape of the output o)`);
    for (const t of Object.values(inputs)) t.requireGrad();
  }
  const result = runOp(op, inputs, mode, rawOptions);
  const outputs = new Map<string, Tensor>([["o", result.o.detach()]]);
  if (parsed.outputFinalState && result.finalState) outputs.set("final_state", result.finalState.detach());

  if (upstream !== null) {
    const dO = upstream.get("do")!;
    if (shapeString(dO.shape) !== shapeString(result.o.shape)) {
      throw new OpError(`--grad ${options.grad}: 'do' must have the shape of o ${shapeString(result.o.shape)}, got ${shapeString(dO.shape)}`);
    }
    let loss = result.o.mul(dO.to(result.o.dtype)).sum();
    const dFinal = upstream.get("dfinal_state");
    if (dFinal !== undefined) {
      if (!result.finalState) throw new OpError(`--grad ${options.grad}: 'dfinal_state' needs {"outputFinalState": true} in --opts`);
      if (shapeString(dFinal.shape) !== shapeString(result.finalState.shape)) {
        throw new OpError(`--grad ${options.grad}: 'dfinal_state' must have the shape of the final state ${shapeString(result.finalState.shape)}, got ${shapeString(dFinal.shape)}`);
      }
      loss = loss.add(result.finalState.mul(dFinal.to(result.finalState.dtype)).sum());
    }
    const extra = [...upstream.keys()].filter((k) => k !== "do" && k !== "dfinal_state");
    if (extra.length > 0) throw new OpError(`--grad ${options.grad}: unexpected tensor(s) ${extra.join(", ")}; expected 'do' and optionally 'dfinal_state'`);
    loss.backward();
    for (const [k, t] of Object.entries(inputs)) {
      outputs.set(`d${k}`, t.grad ?? t.detach().mul(0));
    }
  }
  saveCheckpoint(options.out, outputs, { op: op.name, mode, options: JSON.stringify(rawOptions) });
  print(`${op.name} (${mode}): wrote ${[...outputs].map(([k, t]) => `${k} ${shapeString(t.shape)}`).join(", ")} (${result.o.dtype}) to ${options.out}`);
}

export function registerOpCommand(program: Command): void {
  program
    .command("op")
    .description("run one mixer op on tensors from a safetensors file (outputs, final state, gradients)")
    .argument("[name]", "op name (see --list)")
    .option("--in <file>", "inputs by contract name (q, k, v, …, initial_state)")
    .option("--out <file>", "where to write o, final_state and the gradients")
    .option("--mode <mode>", `form to run: ${OP_MODES.join(" | ")}`, "chunk")
    .option("--opts <json>", "op options as JSON, e.g. '{\"chunkSize\": 32, \"outputFinalState\": true}'")
    .option("--grad <file>", "upstream gradients: 'do' (and optionally 'dfinal_state'); writes d<name> for every input")
    .option("--example <file>", "write small random example inputs for the op to <file> and exit")
    .option("--list", "list the ops with their inputs")
    .action((name: string | undefined, opts: OpCommandOptions) => runOpCommand(name, opts));
}
