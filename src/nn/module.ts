/**
 * Module: a tree of named parameters and sub-modules. Names are dotted paths in registration order
 * (`layers.0.mixer.q_proj.weight`), the same keys a PyTorch state dict uses, so checkpoints map one to one.
 */
import { Tensor } from "../core/tensor.js";
import { noGrad } from "../core/autograd.js";
import { shapeString } from "../core/shape.js";

export type StateDict = Map<string, Tensor>;

export interface LoadResult {
  missing: string[];
  unexpected: string[];
}

export class StateDictError extends Error {
  override name = "StateDictError";
}

export abstract class Module {
  /** train mode (dropout active) or eval mode */
  training = true;
  readonly #parameters = new Map<string, Tensor>();
  readonly #modules = new Map<string, Module>();

  /** Registers a parameter (a leaf that requires grad) under `name` and returns it. */
  protected param(name: string, value: Tensor): Tensor {
    this.#checkName(name);
    if (!value.isLeaf) throw new Error(`${this.constructor.name}: parameter '${name}' must be a leaf tensor`);
    if (!value.isContiguous() || value.offset !== 0 || value.data.length !== value.size) {
      value = value.clone();
    }
    value.requiresGrad = true;
    this.#parameters.set(name, value);
    return value;
  }

  /** Registers a sub-module under `name` and returns it. */
  protected module<M extends Module>(name: string, value: M): M {
    this.#checkName(name);
    this.#modules.set(name, value);
    return value;
  }

  #checkName(name: string): void {
    if (name === "" || name.includes(".")) throw new Error(`${this.constructor.name}: '${name}' is not a valid name (non-empty, no dots)`);
    if (this.#parameters.has(name) || this.#modules.has(name)) throw new Error(`${this.constructor.name}: '${name}' is registered twice`);
  }

  *namedParameters(prefix = ""): Generator<[string, Tensor]> {
    for (const [name, p] of this.#parameters) yield [prefix + name, p];
    for (const [name, m] of this.#modules) yield* m.namedParameters(`${prefix}${name}.`);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  *namedModules(prefix = ""): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ""), this];
    for (const [name, m] of this.#modules) yield* m.namedModules(`${prefix}${name}.`);
  }

  /** Total number of scalar parameters. */
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /** The parameters by dotted name (the tensors themselves, not copies). */
  stateDict(): StateDict {
    return new Map(this.namedParameters());
  }

  /**
   * Copies values into the parameters (keeping their identity, dtype and storage, so an optimizer holding them
   * keeps working). A tensor with the wrong shape is always an error that names it; with `strict` (default),
   * missing or unexpected names are errors too, otherwise they are returned.
   */
  loadStateDict(state: StateDict | Record<string, Tensor>, strict = true): LoadResult {
    const incoming = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !incoming.has(k));
    const unexpected = [...incoming.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      const parts = [];
      if (missing.length) parts.push(`missing: ${missing.join(", ")}`);
      if (unexpected.length) parts.push(`unexpected: ${unexpected.join(", ")}`);
      throw new StateDictError(`loadStateDict: the state dict does not match the module (${parts.join("; ")})`);
    }
    for (const [name, p] of own) {
      const v = incoming.get(name);
      if (v === undefined) continue;
      if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i])) {
        throw new StateDictError(`loadStateDict: '${name}' has shape ${shapeString(v.shape)} but the module expects ${shapeString(p.shape)}`);
      }
    }
    noGrad(() => {
      for (const [name, p] of own) {
        const v = incoming.get(name);
        if (v !== undefined) p.data.set(v.values());
      }
    });
    return { missing, unexpected };
  }

  /** Sets train (true) or eval (false) mode on this module and all sub-modules. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
}

/** An indexed list of modules, named 0, 1, 2, … (like torch.nn.ModuleList). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];

  constructor(items: Iterable<M> = []) {
    super();
    for (const m of items) this.append(m);
  }

  append(m: M): this {
    this.module(String(this.items.length), m);
    this.items.push(m);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items.at(i);
    if (m === undefined) throw new RangeError(`ModuleList: index ${i} out of range for ${this.items.length} modules`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
