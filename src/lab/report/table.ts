/**
 * The results as a table: the cells of one row per best point (shared by the HTML table), and the terminal form
 * (monospace, aligned columns) printed at the end of `seqmix lab run` and by `seqmix lab report`.
 */
import type { RunRecord } from "../record.js";
import { aggregate, type BestPoint, type ReportModel, type TaskSection } from "./aggregate.js";

export interface ResultColumn {
  readonly title: string;
  /** numbers are right-aligned */
  readonly numeric: boolean;
  /** the extrapolation group ("T=96", …) */
  readonly length: boolean;
}

export interface ResultRow {
  readonly section: TaskSection;
  readonly point: BestPoint;
  readonly cells: readonly string[];
  /** every seed reached the threshold */
  readonly solved: boolean;
}

export interface ResultTable {
  readonly columns: readonly ResultColumn[];
  readonly rows: readonly ResultRow[];
}

/** 1234 → "1234", 12345 → "12.3k", 1234567 → "1.23M". */
export function compactCount(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const abs = Math.abs(n);
  if (abs < 10_000) return String(Math.round(n));
  if (abs < 1e6) return `${(n / 1e3).toPrecision(3)}k`;
  if (abs < 1e9) return `${(n / 1e6).toPrecision(3)}M`;
  return `${(n / 1e9).toPrecision(3)}G`;
}

/** 0.003 → "3e-3", 0.0015 → "1.5e-3". */
export function formatLr(lr: number): string {
  return lr.toExponential().replace(/\.?0+e/, "e").replace("e+", "e");
}

/** A metric value with three decimals, or "–" when missing. */
export function formatMetric(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : "–";
}

function solvedMark(p: BestPoint): string {
  if (p.seeds > 0 && p.solvedSeeds === p.seeds) return "✓";
  return p.solvedSeeds > 0 ? `${p.solvedSeeds}/${p.seeds}` : "";
}

/** The best-point rows of a report model, with one column per extrapolation length found in it. */
export function resultTable(model: ReportModel): ResultTable {
  const columns: ResultColumn[] = [
    ...["task", "mixer"].map((title) => ({ title, numeric: false, length: false })),
    ...["d", "state", "best lr", "metric", "value"].map((title) => ({ title, numeric: title !== "metric", length: false })),
    { title: "solved", numeric: false, length: false },
    ...["steps", "wall s"].map((title) => ({ title, numeric: true, length: false })),
    ...model.lengthLabels.map((title) => ({ title, numeric: true, length: true })),
  ];
  const rows = model.sections.flatMap((section) =>
    section.points.map((point): ResultRow => {
      const atLength = new Map(point.lengths.map((l) => [l.label, l.mean]));
      const cells = [
        section.title,
        point.mixer,
        String(point.dModel),
        compactCount(point.stateFloats),
        formatLr(point.lr),
        point.metric,
        formatMetric(point.value.mean),
        solvedMark(point),
        String(Math.round(point.steps)),
        point.wallSeconds.toFixed(point.wallSeconds < 10 ? 1 : 0),
        ...model.lengthLabels.map((label) => (atLength.has(label) ? formatMetric(atLength.get(label)!) : "")),
      ];
      return { section, point, cells, solved: point.seeds > 0 && point.solvedSeeds === point.seeds };
    }),
  );
  return { columns, rows };
}

/** Display width of a string in a monospace terminal (one column per code point; ✓ and – are narrow). */
function displayWidth(s: string): number {
  return [...s].length;
}

function pad(s: string, width: number, right: boolean): string {
  const fill = " ".repeat(Math.max(0, width - displayWidth(s)));
  return right ? fill + s : s + fill;
}

/**
 * The table as monospace text: the task named on the first row of its group, numbers right-aligned, and the
 * extrapolation columns under a heading of their own. Columns are as narrow as their contents.
 */
export function renderResultTable(table: ResultTable): string {
  const { columns } = table;
  const body = table.rows.map((r, i) => r.cells.map((c, j) => (j === 0 && i > 0 && table.rows[i - 1]!.cells[0] === c ? "" : c)));
  const widths = columns.map((col, j) => Math.max(displayWidth(col.title), ...body.map((cells) => displayWidth(cells[j]!))));
  const line = (cells: readonly string[]) => cells.map((c, j) => pad(c, widths[j]!, columns[j]!.numeric)).join("  ").trimEnd();
  const out: string[] = [];
  const firstLength = columns.findIndex((c) => c.length);
  if (firstLength >= 0) {
    const before = widths.slice(0, firstLength).reduce((n, w) => n + w + 2, 0);
    const span = widths.slice(firstLength).reduce((n, w) => n + w + 2, -2);
    out.push(" ".repeat(before) + pad("at length", span, true));
  }
  out.push(line(columns.map((c) => c.title)));
  out.push(line(widths.map((w) => "─".repeat(w))));
  for (const cells of body) out.push(line(cells));
  return out.join("\n");
}

/** The terminal table of best-learning-rate results per task × mixer × width, with notes under it. */
export function formatResultsTable(records: readonly RunRecord[]): string {
  const model = aggregate(records);
  const table = resultTable(model);
  const notes: string[] = [];
  // learning rates tried per point (task label × mixer × width), which can differ between mixers
  const perPoint = new Map<string, Set<number>>();
  for (const r of records) {
    const key = `${r.sweep}\u0000${r.taskLabel}\u0000${r.mixer}\u0000${r.dModel}`;
    if (!perPoint.has(key)) perPoint.set(key, new Set());
    perPoint.get(key)!.add(r.lr);
  }
  const counts = [...perPoint.values()].map((s) => s.size);
  const lo = Math.min(...counts);
  const hi = Math.max(...counts);
  const tried = lo === hi ? `${hi}` : `${lo}–${hi}`;
  const seeds = new Set(records.map((r) => r.seed)).size;
  notes.push(
    hi === 1
      ? `${records.length} runs, one learning rate per row${seeds > 1 ? `, mean over up to ${seeds} seeds` : ""}`
      : `${records.length} runs, each row at its best of ${tried} learning rates${seeds > 1 ? `, mean over up to ${seeds} seeds` : ""}`,
  );
  if (model.failed.length > 0) notes.push(`${model.failed.length} run${model.failed.length === 1 ? "" : "s"} failed (listed in the report)`);
  const legend = "state = recurrent floats per sequence at the training length; ✓ = every seed solved the task.";
  return `${renderResultTable(table)}\n\n${notes.join("; ")}.\n${legend}`;
}
