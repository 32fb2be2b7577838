/** Layer types by name: each has a config schema (validated at construction) and a factory. */
import type { z } from "zod";
import { MixerLayer, type LayerContext } from "./types.js";

export interface LayerDefinition<C = unknown> {
  readonly type: string;
  readonly summary: string;
  /** zod schema of the layer's own options (without `type`); defaults filled, unknown keys rejected */
  readonly config: z.ZodType<C, unknown>;
  /** a small valid config (for dModel = 16) that exercises the layer's options: used by tests and benches */
  readonly smallConfig?: Record<string, unknown>;
  create(config: C, context: LayerContext): MixerLayer;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const layers = new Map<string, LayerDefinition<any>>();

export function registerLayer<C>(def: LayerDefinition<C>): void {
  if (layers.has(def.type)) throw new Error(`registerLayer: '${def.type}' is already registered`);
  layers.set(def.type, def);
}

export function getLayer(type: string): LayerDefinition {
  const def = layers.get(type);
  if (!def) throw new Error(`unknown layer type '${type}'; available: ${[...layers.keys()].sort().join(", ") || "(none)"}`);
  return def;
}

export function listLayers(): LayerDefinition[] {
  return [...layers.values()].sort((a, b) => a.type.localeCompare(b.type));
}

/** Validates a layer config (errors name the layer index, type and field) and builds the layer. */
export function createLayer(spec: { type: string } & Record<string, unknown>, context: LayerContext): MixerLayer {
  const def = getLayer(spec.type);
  const { type: _type, ...rest } = spec;
  void _type;
  const parsed = def.config.safeParse(rest);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === "unrecognized_keys" ? `unknown field(s) ${i.keys.map((k) => `'${k}'`).join(", ")}` : `'${i.path.join(".")}': ${i.message}`,
    );
    throw new Error(`layers[${context.layerIdx}] (${spec.type}): ${problems.join("; ")}`);
  }
  return def.create(parsed.data, context);
}
