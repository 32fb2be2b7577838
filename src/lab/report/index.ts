/**
 * `seqmix lab report DIR`: reads DIR/results.jsonl and writes DIR/index.html (self-contained) and one SVG per
 * chart (DIR/<task>-state.svg, -width.svg, -loss.svg, and -length.svg / -slices.svg when the runs have them).
 * Every file is written to a temp file and renamed, so a reader never sees half a report.
 */
import { join } from "node:path";
import { writeFileAtomicSync } from "../../io/safetensors-file.js";
import { aggregate, loadResults, type TaskSection } from "./aggregate.js";
import { sectionCharts } from "./charts.js";
import { reportHtml, vegaLibrarySource, type PageSection } from "./html.js";
import { compileChart, renderSvg } from "./render.js";

export interface ReportOptions {
  /** where one-line notes go (malformed lines, the truncated last line); default: nowhere */
  readonly log?: (line: string) => void;
  /** the time shown in the page (default: now); fixed in tests for reproducible output */
  readonly generatedAt?: Date;
}

export interface ReportFiles {
  /** path of index.html */
  readonly html: string;
  /** paths of the SVG files, in page order */
  readonly svgs: string[];
  /** records read from results.jsonl */
  readonly records: number;
}

/** A file-name stem from a label: lower case letters, digits, '.', '_' and '-' only. */
export function fileStem(label: string): string {
  const stem = label
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[-.]+|-+$/g, "");
  return stem || "task";
}

/** One distinct stem per section (a numeric suffix when two labels map to the same stem). */
function sectionStems(sections: readonly TaskSection[]): string[] {
  const used = new Set<string>();
  const severalSweeps = new Set(sections.map((s) => s.sweep)).size > 1;
  return sections.map((s) => {
    const base = fileStem(severalSweeps ? `${s.sweep}-${s.taskLabel}` : s.taskLabel);
    let stem = base;
    for (let k = 2; used.has(stem); k++) stem = `${base}-${k}`;
    used.add(stem);
    return stem;
  });
}

function writeText(path: string, text: string): void {
  writeFileAtomicSync(path, Buffer.from(text, "utf8"));
}

/** Writes the report of DIR/results.jsonl; throws when the file is missing or holds no record. */
export async function writeReport(dir: string, options: ReportOptions = {}): Promise<ReportFiles> {
  const loaded = loadResults(dir);
  for (const m of loaded.malformed) options.log?.(`results.jsonl line ${m.line} skipped: ${m.reason}`);
  if (loaded.truncatedLastLine) options.log?.("results.jsonl: the last line is cut short (a killed run) and was skipped");

  const model = aggregate(loaded.records);
  const allMixers = [...new Set(loaded.records.map((r) => r.mixer))];
  const stems = sectionStems(model.sections);
  const sections: PageSection[] = [];
  const svgs: string[] = [];
  for (const [i, section] of model.sections.entries()) {
    const charts = [];
    for (const chart of sectionCharts(section, allMixers)) {
      const vegaSpec = compileChart(chart.spec);
      const svg = await renderSvg(vegaSpec);
      const file = `${stems[i]}-${chart.kind}.svg`;
      writeText(join(dir, file), svg);
      svgs.push(join(dir, file));
      charts.push({ chart, vegaSpec, svg, file });
    }
    sections.push({ section, charts });
  }
  const html = join(dir, "index.html");
  writeText(
    html,
    reportHtml({
      model,
      sections,
      vegaSource: vegaLibrarySource(),
      malformed: loaded.malformed,
      truncatedLastLine: loaded.truncatedLastLine,
      generatedAt: (options.generatedAt ?? new Date()).toISOString(),
    }),
  );
  return { html, svgs, records: loaded.records.length };
}

export { formatResultsTable, resultTable, renderResultTable } from "./table.js";
export { aggregate, bestPoint, loadResults, parseResultsText, ReportInputError, type BestPoint, type ReportModel, type TaskSection } from "./aggregate.js";
export { escapeHtml } from "./html.js";
