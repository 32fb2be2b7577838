/**
 * The report page: one self-contained HTML file. The Vega runtime is inlined and each chart's compiled Vega spec
 * is embedded as JSON, so the page draws interactive charts (tooltips) with no network; each chart's container
 * starts with the SVG rendered in Node, which is what shows when scripts are off. All text from the records is
 * escaped.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as vega from "vega";
import type { ReportModel, TaskSection } from "./aggregate.js";
import type { Chart } from "./charts.js";
import { resultTable } from "./table.js";

/** A chart ready for the page: its compiled Vega spec, its SVG, and the file the SVG was written to. */
export interface PageChart {
  readonly chart: Chart;
  readonly vegaSpec: vega.Spec;
  readonly svg: string;
  readonly file: string;
}

export interface PageSection {
  readonly section: TaskSection;
  readonly charts: readonly PageChart[];
}

export interface PageInput {
  readonly model: ReportModel;
  readonly sections: readonly PageSection[];
  /** the text of vega.min.js */
  readonly vegaSource: string;
  readonly malformed: ReadonlyArray<{ line: number; reason: string }>;
  readonly truncatedLastLine: boolean;
  /** when the page was made (ISO), shown in the header */
  readonly generatedAt: string;
}

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** JSON that can sit inside a <script> element: no "<" can close the element or open a comment. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

/**
 * The minified Vega runtime from the installed `vega` package (found through Node's resolution, so it works
 * when seqmix is itself a dependency). The package exports only its ES module; the browser build sits beside it.
 */
export function vegaLibrarySource(): string {
  const entry = createRequire(import.meta.url).resolve("vega");
  const path = join(dirname(entry), "vega.min.js");
  // a literal "</script" would end the inline element early; "<\/script" means the same in JavaScript
  return readFileSync(path, "utf8").replace(/<\/script/gi, "<\\/script");
}

const CSS = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #dde1e8; --bg-alt: #f6f7f9; --ok: #2e7d32; --bad: #b3261e; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.3em; margin: 40px 0 6px; padding-top: 12px; border-top: 1px solid var(--line); }
h3 { font-size: 1.02em; margin: 22px 0 4px; }
p, li { max-width: 80ch; }
.muted { color: var(--muted); }
.facts { display: flex; flex-wrap: wrap; gap: 8px 28px; margin: 10px 0; padding: 0; list-style: none; }
.facts b { font-variant-numeric: tabular-nums; }
nav a { margin-right: 14px; white-space: nowrap; }
figure { margin: 10px 0 22px; }
figcaption { color: var(--muted); font-size: 0.92em; max-width: 90ch; margin-top: 2px; }
.chart { overflow-x: auto; }
.chart svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.9em; font-variant-numeric: tabular-nums; margin: 8px 0 16px; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: var(--bg-alt); position: sticky; top: 0; }
td.num, th.num { text-align: right; }
tbody tr:nth-child(even) { background: var(--bg-alt); }
td.solved { color: var(--ok); font-weight: 600; }
th.group { text-align: center; border-bottom: 2px solid var(--line); }
.table-wrap { overflow-x: auto; }
.failed li, .malformed li { font-size: 0.92em; }
.error { color: var(--bad); font-family: ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; }
`;

/** Draws each chart with the live Vega view in place of its static SVG (tooltips); leaves the SVG on failure. */
const SCRIPT = `
for (const holder of document.querySelectorAll("[data-spec]")) {
  try {
    const spec = JSON.parse(document.getElementById(holder.dataset.spec).textContent);
    const container = document.createElement("div");
    new vega.View(vega.parse(spec), { renderer: "svg", container, hover: true }).runAsync().then(() => holder.replaceChildren(container));
  } catch (e) {
    console.error(e);
  }
}
`;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function header(input: PageInput): string {
  const { model } = input;
  const versions = [...new Set(model.records.map((r) => r.version))];
  const finished = model.records.map((r) => r.finishedAt).sort();
  const facts = [
    ["runs", String(model.records.length)],
    ["failed", String(model.failed.length)],
    ["tasks", String(model.sections.length)],
    ["mixers", String(new Set(model.records.map((r) => r.mixer)).size)],
    ["last run ended", finished[finished.length - 1] ?? "–"],
    ["seqmix", versions.join(", ")],
  ];
  return `<header>
<h1>${escapeHtml(model.sweeps.join(", "))}</h1>
<p class="muted">seqmix lab report, made ${escapeHtml(input.generatedAt)} from results.jsonl.</p>
<ul class="facts">${facts.map(([k, v]) => `<li>${escapeHtml(k!)}: <b>${escapeHtml(v!)}</b></li>`).join("")}</ul>
<nav>${model.sections.map((s, i) => `<a href="#task-${i}">${escapeHtml(s.title)}</a>`).join("")}<a href="#results">results table</a></nav>
</header>`;
}

function problems(input: PageInput): string {
  const parts: string[] = [];
  if (input.model.failed.length > 0) {
    const items = input.model.failed.map(
      (r) =>
        `<li>${escapeHtml(`${r.taskLabel} · ${r.mixer} · d=${r.dModel} · lr=${r.lr} · seed ${r.seed}`)}: ${escapeHtml(r.status)}` +
        ` after ${r.steps} steps<div class="error">${escapeHtml(r.error ?? "(no message)")}</div></li>`,
    );
    parts.push(`<h3>Failed runs</h3><ul class="failed">${items.join("")}</ul>`);
  }
  if (input.malformed.length > 0) {
    const items = input.malformed.map((m) => `<li>line ${m.line}: ${escapeHtml(m.reason)}</li>`);
    parts.push(`<h3>Lines of results.jsonl that are not records (skipped)</h3><ul class="malformed">${items.join("")}</ul>`);
  }
  if (input.truncatedLastLine) {
    parts.push(`<p class="muted">The last line of results.jsonl was cut short (a sweep stopped while writing) and was skipped; resuming the sweep redoes that run.</p>`);
  }
  return parts.join("\n");
}

function figure(c: PageChart, index: string): string {
  return `<figure>
<h3>${escapeHtml(c.chart.title)}</h3>
<div class="chart" data-spec="spec-${index}">${c.svg}</div>
<figcaption>${escapeHtml(c.chart.caption)} <span class="muted">(${escapeHtml(c.file)})</span></figcaption>
<script type="application/json" id="spec-${index}">${scriptJson(c.vegaSpec)}</script>
</figure>`;
}

function sectionHtml(s: PageSection, i: number): string {
  const { section } = s;
  const facts: string[] = [`task <b>${escapeHtml(section.task)}</b>`, `metric <b>${escapeHtml(section.metric)}</b>`];
  if (section.threshold !== null) facts.push(`solved when ${section.lowerIsBetter ? "&lt;" : "≥"} <b>${section.threshold}</b>`);
  if (section.trainLength !== null) facts.push(`trained at T=<b>${section.trainLength}</b>`);
  const solved = section.points.filter((p) => p.seeds > 0 && p.solvedSeeds === p.seeds).length;
  facts.push(`<b>${solved}</b> of ${plural(section.points.length, "point")} solved`);
  const body = s.charts.length ? s.charts.map((c, j) => figure(c, `${i}-${j}`)).join("\n") : `<p class="muted">No run of this task finished.</p>`;
  return `<section id="task-${i}">
<h2>${escapeHtml(section.title)}</h2>
${section.description ? `<p>${escapeHtml(section.description)}</p>` : ""}
<ul class="facts">${facts.map((f) => `<li>${f}</li>`).join("")}</ul>
${body}
</section>`;
}

function resultsHtml(model: ReportModel): string {
  const table = resultTable(model);
  const cls = (numeric: boolean) => (numeric ? ` class="num"` : "");
  const lengthCount = table.columns.filter((c) => c.length).length;
  const group = lengthCount
    ? `<tr><th colspan="${table.columns.length - lengthCount}"></th><th class="group" colspan="${lengthCount}">metric at length (extrapolation)</th></tr>`
    : "";
  const head = `${group}<tr>${table.columns.map((c) => `<th${cls(c.numeric)}>${escapeHtml(c.title)}</th>`).join("")}</tr>`;
  const solvedColumn = table.columns.findIndex((c) => c.title === "solved");
  const rows = table.rows.map(
    (r) =>
      `<tr>${r.cells
        .map((cell, j) => `<td${j === solvedColumn && r.solved ? ` class="solved"` : cls(table.columns[j]!.numeric)}>${escapeHtml(cell)}</td>`)
        .join("")}</tr>`,
  );
  return `<section id="results">
<h2>Results at the best learning rate</h2>
<p class="muted">One row per task × mixer × width, at the learning rate with the best held-out metric (ties: lower held-out loss), averaged over seeds.
“state” is the recurrent state in floats per sequence at the training length; ✓ means every seed reached the threshold.</p>
<div class="table-wrap"><table><thead>${head}</thead><tbody>${rows.join("")}</tbody></table></div>
</section>`;
}

/** The whole page. */
export function reportHtml(input: PageInput): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(`seqmix lab: ${input.model.sweeps.join(", ")}`)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
${header(input)}
${problems(input)}
${input.sections.map(sectionHtml).join("\n")}
${resultsHtml(input.model)}
</main>
<script>${input.vegaSource}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
