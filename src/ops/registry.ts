/** The ops by name, for the CLI, the tests and the layers. */
import { OpError } from "./options.js";
import type { AnyOp } from "./types.js";

const registry = new Map<string, AnyOp>();

export function registerOp(op: AnyOp): void {
  if (registry.has(op.name)) throw new Error(`registerOp: an op named '${op.name}' is already registered`);
  registry.set(op.name, op);
}

export function getOp(name: string): AnyOp {
  const op = registry.get(name);
  if (op === undefined) {
    throw new OpError(`unknown op '${name}'; available ops: ${[...registry.keys()].sort().join(", ") || "(none)"}`);
  }
  return op;
}

export function listOps(): AnyOp[] {
  return [...registry.values()].sort((a, b) => a.name.localeCompare(b.name));
}
