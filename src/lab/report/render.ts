/**
 * Vega-Lite → Vega → SVG, in Node: `compile` turns a Vega-Lite spec into a Vega spec (which the HTML page embeds,
 * so the page needs only the Vega runtime), and a headless Vega view (renderer "none") draws it to an SVG string.
 */
import * as vega from "vega";
import { compile } from "vega-lite";
import type { TopLevelSpec } from "vega-lite";

/** The Vega spec of a Vega-Lite spec, without the `$schema` URL (the report must not point at the network). */
export function compileChart(spec: TopLevelSpec): vega.Spec {
  const { $schema: _schema, ...compiled } = compile(spec).spec;
  return compiled;
}

/** The chart as a standalone SVG document. */
export async function renderSvg(spec: vega.Spec): Promise<string> {
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
