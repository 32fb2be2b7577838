/**
 * The language-model config and its layer schedule.
 *
 * `layers` is either
 *   - an explicit list, one entry per layer: a type name or {type, ...options}, e.g.
 *       ["gla", "gla", {"type": "attention", "window": 64}]
 *   - or a pattern: {"mixer": <spec>, "nLayers": N, "attentionEvery": k, "attention": <spec>} which makes every
 *     k-th layer (the k-th, 2k-th, …) attention and the others the mixer, e.g.
 *       {"mixer": "mamba", "nLayers": 4, "attentionEvery": 4} → mamba, mamba, mamba, attention
 * Configs are plain JSON: they are stored in checkpoints' __metadata__ and rebuild the model on load.
 */
import { z } from "zod";

const layerSpec = z.union([z.string().min(1), z.object({ type: z.string().min(1) }).passthrough()]);
export type LayerSpec = z.infer<typeof layerSpec>;

const pattern = z
  .object({
    mixer: layerSpec,
    nLayers: z.number().int().min(1),
    attentionEvery: z.number().int().min(1).optional(),
    attention: layerSpec.default("attention"),
  })
  .strict();

export const lmConfigSchema = z
  .object({
    /** input token vocabulary (token models) */
    vocabSize: z.number().int().min(2).optional(),
    /** width of real-valued inputs instead of tokens: a linear read-in `model.read_in` replaces the embedding
     * (in-context regression, tasks.md §9); give either this or vocabSize */
    inputDim: z.number().int().min(1).optional(),
    /** width of the read-out (classes, or 1 for a scalar regression head); default vocabSize. A head that is
     * not vocabSize wide is never tied to the embedding. */
    numClasses: z.number().int().min(1).optional(),
    dModel: z.number().int().min(1),
    layers: z.union([z.array(layerSpec).min(1), pattern]),
    /** "swiglu" (default) or "none" (Mamba-style and the zoology MQAR protocol, spec §16) */
    mlp: z.enum(["swiglu", "none"]).default("swiglu"),
    mlpHidden: z.number().int().min(1).optional(),
    tieEmbeddings: z.boolean().default(true),
    normEps: z.number().positive().default(1e-5),
    /** std of the N(0, std) init of embeddings and linear weights (spec §16) */
    initStd: z.number().positive().default(0.02),
    dtype: z.enum(["f32", "f64"]).default("f32"),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.vocabSize === undefined) === (c.inputDim === undefined)) {
      ctx.addIssue({ code: "custom", path: ["vocabSize"], message: "give exactly one of vocabSize (token inputs) and inputDim (real-valued inputs)" });
    }
    if (c.inputDim !== undefined && c.numClasses === undefined) {
      ctx.addIssue({ code: "custom", path: ["numClasses"], message: "a model with real-valued inputs (inputDim) needs numClasses, the read-out width" });
    }
  });

export type LMConfigInput = z.input<typeof lmConfigSchema>;
export type LMConfig = z.output<typeof lmConfigSchema>;

/** Validates a config; errors name each bad field. */
export function parseLMConfig(raw: unknown): LMConfig {
  const r = lmConfigSchema.safeParse(raw);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) =>
    i.code === "unrecognized_keys" ? `unknown field(s) ${i.keys.map((k) => `'${k}'`).join(", ")}` : `'${i.path.join(".") || "config"}': ${i.message}`,
  );
  throw new Error(`model config: ${problems.join("; ")}`);
}

/** Width of the model's read-out: numClasses, else vocabSize. */
export function outputSize(config: LMConfig): number {
  return config.numClasses ?? config.vocabSize!;
}

/** True when the read-out shares the embedding matrix (tied, token inputs, head as wide as the vocabulary). */
export function headIsTied(config: LMConfig): boolean {
  return config.tieEmbeddings && config.vocabSize !== undefined && outputSize(config) === config.vocabSize;
}

/** The per-layer list of {type, ...options} a config describes. */
export function expandSchedule(layers: LMConfig["layers"]): Array<{ type: string } & Record<string, unknown>> {
  const norm = (s: LayerSpec) => (typeof s === "string" ? { type: s } : { ...s });
  if (Array.isArray(layers)) return layers.map(norm);
  return Array.from({ length: layers.nLayers }, (_, i) =>
    layers.attentionEvery !== undefined && (i + 1) % layers.attentionEvery === 0 ? norm(layers.attention) : norm(layers.mixer),
  );
}
