/**
 * Vega-Lite specs (plain objects) of one report section: the metric against recurrent state size (the
 * Zoology / Based figure), against width, the loss curves, length extrapolation and named slices. Data is inlined
 * in each spec, so a spec renders with nothing else.
 */
import type { TopLevelSpec } from "vega-lite";
import type { BestPoint, TaskSection } from "./aggregate.js";

export type ChartKind = "state" | "width" | "loss" | "length" | "slices";

export interface Chart {
  readonly kind: ChartKind;
  readonly title: string;
  /** one or two sentences saying what the chart shows */
  readonly caption: string;
  readonly spec: TopLevelSpec;
}

/** Tableau 10: distinct, colour-blind tolerable, and a mixer keeps its colour in every chart of the report. */
const PALETTE = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac"];

const WIDTH = 380;
const HEIGHT = 240;
/** width of one panel when a chart is split into one panel per model width */
const PANEL_WIDTH = 220;

type Row = Record<string, string | number>;

/** Colour encoding of the mixer: the section's mixers, each with the colour of its place among all mixers. */
function mixerColor(section: TaskSection, allMixers: readonly string[]) {
  const domain = [...section.mixers];
  const range = domain.map((m) => PALETTE[Math.max(0, allMixers.indexOf(m)) % PALETTE.length]!);
  return { field: "mixer", type: "nominal" as const, title: "mixer", scale: { domain, range }, sort: domain };
}

/** The metric axis title, short enough to fit beside the plot: ↑ higher is better, ↓ lower is better. */
function metricTitle(section: TaskSection): string {
  return section.lowerIsBetter ? `${section.metric} ↓ (log scale)` : `${section.metric} ↑`;
}

function metricScale(section: TaskSection) {
  // accuracy-like metrics live in [0, 1]; the regression error spans decades (threshold 0.05, chance ≈ 1)
  return section.lowerIsBetter ? { type: "log" as const } : { domain: [0, 1] };
}

/** Whether a chart is drawn as one panel per model width. */
function panelled(section: TaskSection, perWidth: boolean): boolean {
  return perWidth && section.dModels.length > 1;
}

/**
 * A transform leaving one row per panel, for marks that do not depend on the data (a mark with only constant
 * encodings is otherwise drawn once per row, all on top of each other).
 */
function onePerPanel(panels: boolean) {
  return [{ aggregate: [{ op: "count" as const, as: "rows" }], groupby: panels ? ["d"] : [] }];
}

function thresholdLayers(section: TaskSection, panels: boolean) {
  if (section.threshold === null) return [];
  const label = `solved ${section.lowerIsBetter ? "<" : "≥"} ${Number(section.threshold.toPrecision(3))}`;
  return [
    { transform: onePerPanel(panels), mark: { type: "rule" as const, strokeDash: [6, 4], color: "#666" }, encoding: { y: { datum: section.threshold } } },
    {
      transform: onePerPanel(panels),
      mark: { type: "text" as const, align: "left" as const, baseline: "bottom" as const, dx: 4, dy: -2, color: "#666", fontSize: 10 },
      encoding: { x: { value: 0 }, y: { datum: section.threshold }, text: { value: label } },
    },
  ];
}

/** The layers of a metric plot: a line with points per mixer (or per mixer × width), seed min–max bars, the threshold. */
interface XAxis {
  readonly field: string;
  readonly title: string;
  readonly scale: Record<string, unknown>;
  /** tick values (the widths or lengths swept) instead of the scale's own */
  readonly values?: number[];
}

function metricLayers(section: TaskSection, allMixers: readonly string[], x: XAxis, lineBy: string, rows: Row[], panels: boolean) {
  const xEnc = { field: x.field, type: "quantitative" as const, title: x.title, scale: x.scale, ...(x.values ? { axis: { values: x.values } } : {}) };
  const color = mixerColor(section, allMixers);
  const tooltip = [
    { field: "mixer", type: "nominal" as const },
    { field: "d", type: "quantitative" as const, title: "d" },
    { field: x.field, type: "quantitative" as const, title: x.title },
    { field: "value", type: "quantitative" as const, title: section.metric, format: ".3f" },
    { field: "lr", type: "quantitative" as const, title: "best lr", format: ".1e" },
    { field: "seeds", type: "quantitative" as const },
  ];
  const layers: unknown[] = [
    {
      mark: { type: "line" as const, point: { filled: true, size: 50 }, strokeWidth: 2 },
      encoding: {
        x: xEnc,
        y: { field: "value", type: "quantitative" as const, title: metricTitle(section), scale: metricScale(section) },
        color,
        detail: { field: lineBy, type: "nominal" as const },
        tooltip,
      },
    },
  ];
  if (rows.some((r) => r.seeds !== undefined && Number(r.seeds) > 1)) {
    layers.push({
      mark: { type: "rule" as const, strokeWidth: 1.5 },
      encoding: { x: xEnc, y: { field: "min", type: "quantitative" as const }, y2: { field: "max" }, color },
    });
  }
  layers.push(...thresholdLayers(section, panels));
  return layers;
}

function seriesName(p: Pick<BestPoint, "mixer" | "dModel">): string {
  return `${p.mixer} d=${p.dModel}`;
}

function pointRow(p: BestPoint, extra: Row): Row {
  return { mixer: p.mixer, d: p.dModel, series: seriesName(p), lr: p.lr, seeds: p.seeds, value: p.value.mean, min: p.value.min, max: p.value.max, ...extra };
}

/**
 * A chart of `layers` over `rows`; split into one panel per model width when `perWidth` and the section has
 * several widths.
 */
function chartSpec(section: TaskSection, title: string, rows: Row[], layers: unknown[], perWidth: boolean): TopLevelSpec {
  const data = { values: rows };
  if (panelled(section, perWidth)) {
    return {
      title,
      data,
      facet: { column: { field: "d", type: "ordinal", title: "model width d", sort: [...section.dModels] } },
      spec: { width: PANEL_WIDTH, height: HEIGHT, layer: layers },
      resolve: { scale: { x: "shared", y: "shared" } },
    } as TopLevelSpec;
  }
  return { title, data, width: WIDTH, height: HEIGHT, layer: layers } as TopLevelSpec;
}

function lrNote(section: TaskSection): string {
  const lrs = new Set(section.points.flatMap((p) => p.lrsTried));
  return lrs.size > 1 ? `at its best learning rate (of ${lrs.size} tried)` : "at its learning rate";
}

function panelNote(section: TaskSection, perWidth: boolean): string {
  return panelled(section, perWidth) ? "; one panel per model width" : "";
}

/** (a) metric against recurrent state floats, log x, one line per mixer. */
export function stateChart(section: TaskSection, allMixers: readonly string[]): Chart {
  const rows = section.points.map((p) => pointRow(p, { state: p.stateFloats }));
  const x = { field: "state", title: "recurrent state (floats per sequence, log scale)", scale: { type: "log" } };
  const at = section.trainLength !== null ? ` at the training length T=${section.trainLength}` : "";
  return {
    kind: "state",
    title: `${section.title}: ${section.metric} vs recurrent state size`,
    caption:
      `Each point is one mixer at one model width, ${lrNote(section)}, averaged over seeds (bars: min–max). ` +
      `x is the state the model carries per sequence${at}, summed over layers; attention's is its KV cache.` +
      (section.threshold !== null ? " The dashed line is the solved threshold." : ""),
    spec: chartSpec(section, `${section.title}: ${section.metric} vs state size`, rows, metricLayers(section, allMixers, x, "mixer", rows, false), false),
  };
}

/** (b) metric against model width per mixer. */
export function widthChart(section: TaskSection, allMixers: readonly string[]): Chart {
  const rows = section.points.map((p) => pointRow(p, {}));
  const x = { field: "d", title: "model width d (log scale)", scale: { type: "log", base: 2 }, values: [...section.dModels] };
  return {
    kind: "width",
    title: `${section.title}: ${section.metric} vs model width`,
    caption: `The same points against the model width d, one line per mixer.`,
    spec: chartSpec(section, `${section.title}: ${section.metric} vs width`, rows, metricLayers(section, allMixers, x, "mixer", rows, false), false),
  };
}

/** (c) training loss against step, log y, one line per mixer × width at the best learning rate. */
export function lossChart(section: TaskSection, allMixers: readonly string[]): Chart | null {
  const rows: Row[] = section.points.flatMap((p) =>
    p.curve.filter((c) => c.loss > 0 && Number.isFinite(c.loss)).map((c) => ({ mixer: p.mixer, d: p.dModel, series: seriesName(p), step: c.step, loss: c.loss })),
  );
  if (rows.length === 0) return null;
  const layer = {
    mark: { type: "line" as const, strokeWidth: 1.5 },
    encoding: {
      x: { field: "step", type: "quantitative" as const, title: "training step" },
      y: { field: "loss", type: "quantitative" as const, title: "training loss (log scale)", scale: { type: "log" as const } },
      color: mixerColor(section, allMixers),
      detail: { field: "series", type: "nominal" as const },
      tooltip: [{ field: "series", type: "nominal" as const }, { field: "step", type: "quantitative" as const }, { field: "loss", type: "quantitative" as const, format: ".4f" }],
    },
  };
  return {
    kind: "loss",
    title: `${section.title}: loss curves`,
    caption:
      `Training loss (log scale; each point the mean since the previous one) at the best learning rate of each point, ` +
      `averaged over seeds${panelNote(section, true)}.`,
    spec: chartSpec(section, `${section.title}: training loss`, rows, [layer], true),
  };
}

/** (d) metric against input length, per mixer, when the runs were evaluated at other lengths than trained. */
export function lengthChart(section: TaskSection, allMixers: readonly string[]): Chart | null {
  if (!section.points.some((p) => p.lengths.some((l) => l.seqLen !== section.trainLength && l.n > 0))) return null;
  const rows: Row[] = section.points.flatMap((p) => [
    ...(section.trainLength !== null ? [pointRow(p, { seqLen: section.trainLength })] : []),
    ...p.lengths.filter((l) => l.n > 0).map((l) => pointRow(p, { seqLen: l.seqLen, value: l.mean, min: l.min, max: l.max, seeds: l.n })),
  ]);
  const lengths = [...new Set(rows.map((r) => Number(r.seqLen)))].sort((a, b) => a - b);
  const x = { field: "seqLen", title: "input length T (log scale)", scale: { type: "log", base: 2 }, values: lengths };
  const panels = panelled(section, true);
  const layers = metricLayers(section, allMixers, x, "series", rows, panels);
  if (section.trainLength !== null) {
    const rule = { type: "rule", strokeDash: [2, 3], color: "#999" };
    layers.push({ transform: onePerPanel(panels), mark: rule, encoding: { x: { datum: section.trainLength } } });
  }
  return {
    kind: "length",
    title: `${section.title}: length extrapolation`,
    caption:
      `The held-out metric of each trained model on inputs longer than it was trained on` +
      (section.trainLength !== null ? ` (dotted line: the training length T=${section.trainLength})` : "") +
      `${panelNote(section, true)}.`,
    spec: chartSpec(section, `${section.title}: length extrapolation`, rows, layers, true),
  };
}

/** (e) named slices (set sizes, needle depths, …) as bars grouped by slice, one bar per mixer. */
export function slicesChart(section: TaskSection, allMixers: readonly string[]): Chart | null {
  const rows: Row[] = section.points.flatMap((p) =>
    p.slices.filter((s) => s.n > 0).map((s) => pointRow(p, { slice: s.label, value: s.mean, min: s.min, max: s.max, seeds: s.n })),
  );
  if (rows.length === 0) return null;
  const order = [...new Set(rows.map((r) => String(r.slice)))];
  const bars = {
    mark: { type: "bar" as const },
    encoding: {
      x: { field: "slice", type: "nominal" as const, title: "slice", sort: order, axis: { labelAngle: 0 } },
      xOffset: { field: "mixer", type: "nominal" as const, sort: [...section.mixers] },
      y: { field: "value", type: "quantitative" as const, title: metricTitle(section), scale: metricScale(section) },
      color: mixerColor(section, allMixers),
      tooltip: [
        { field: "slice", type: "nominal" as const },
        { field: "series", type: "nominal" as const },
        { field: "value", type: "quantitative" as const, title: section.metric, format: ".3f" },
      ],
    },
  };
  return {
    kind: "slices",
    title: `${section.title}: slices`,
    caption: `The held-out metric on each named slice of the task, one bar per mixer${panelNote(section, true)}.`,
    spec: chartSpec(section, `${section.title}: ${section.metric} per slice`, rows, [bars, ...thresholdLayers(section, panelled(section, true))], true),
  };
}

/** Every chart of a section that has data, in reading order. */
export function sectionCharts(section: TaskSection, allMixers: readonly string[]): Chart[] {
  if (section.points.length === 0) return [];
  return [stateChart, widthChart, lossChart, lengthChart, slicesChart]
    .map((make) => make(section, allMixers))
    .filter((c): c is Chart => c !== null);
}
