/** Option schemas shared by the ops, and readable errors for bad options. */
import { z } from "zod";

export const commonOptions = {
  outputFinalState: z.boolean().default(false),
  chunkSize: z.number().int().min(1).max(4096).default(64),
};

/** The score scale τ on q (spec §0.1); when omitted the ops use K^-1/2 (also fla's default). */
export const scaleOption = z.number().positive().optional();

/** Parses `raw` with the op's schema; errors name the op, the option and what was expected. */
export function parseOptions<O>(op: string, schema: z.ZodType<O, unknown>, raw: unknown): O {
  const result = schema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const where = issue.path.length ? `option '${issue.path.join(".")}'` : "options";
    if (issue.code === "unrecognized_keys") return `unknown option(s) ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
    return `${where}: ${issue.message}`;
  });
  throw new OpError(`${op}: ${problems.join("; ")}`);
}

export class OpError extends Error {
  override name = "OpError";
}
