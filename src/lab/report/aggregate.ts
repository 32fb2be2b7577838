/**
 * From the run records of results.jsonl to the points the report plots: one point per (sweep, task label, mixer,
 * width), at the learning rate that did best there, averaged over seeds (with the seeds' min and max for error
 * bars). Pure functions except {@link loadResults}, which reads the file.
 */
import { existsSync, readFileSync } from "node:fs";
import type { CurvePoint, RunRecord } from "../record.js";
import { parseResults, resultsPath } from "../results.js";
import { getTask } from "../../tasks/index.js";
import { parseTaskConfig, type AnyTask } from "../../tasks/types.js";

export class ReportInputError extends Error {
  override name = "ReportInputError";
}

export interface LoadedResults {
  readonly records: RunRecord[];
  /** 1-based line numbers and reasons of lines that are not records, the truncated last line excepted */
  readonly malformed: Array<{ line: number; reason: string }>;
  /** the file ended in a partial line (a sweep killed while writing); it was skipped */
  readonly truncatedLastLine: boolean;
}

/**
 * Parses the text of a results file. A last line without its newline that does not parse is what a killed
 * sweep leaves behind: it is skipped and flagged, not reported as malformed.
 */
export function parseResultsText(text: string): LoadedResults {
  const { records, malformed } = parseResults(text);
  const lines = text.split("\n");
  const lastLine = lines.length; // 1-based number of the last (possibly partial) line
  const truncatedLastLine = !text.endsWith("\n") && malformed.length > 0 && malformed[malformed.length - 1]!.line === lastLine;
  return { records, malformed: truncatedLastLine ? malformed.slice(0, -1) : malformed, truncatedLastLine };
}

/** Reads DIR/results.jsonl; throws a {@link ReportInputError} when it is missing or holds no record. */
export function loadResults(dir: string): LoadedResults {
  const path = resultsPath(dir);
  if (!existsSync(path)) {
    throw new ReportInputError(`no results to report: ${path} does not exist (run 'seqmix lab run' with this directory first)`);
  }
  const loaded = parseResultsText(readFileSync(path, "utf8"));
  if (loaded.records.length === 0) {
    const bad = loaded.malformed.length ? `; ${loaded.malformed.length} malformed line(s), first at line ${loaded.malformed[0]!.line}: ${loaded.malformed[0]!.reason}` : "";
    throw new ReportInputError(`no results to report: ${path} holds no run record${bad}`);
  }
  return loaded;
}

/** normalizedMse is an error (lower is better); every other solved metric is a score (higher is better). */
export function lowerIsBetter(metric: string): boolean {
  return metric === "normalizedMse";
}

/** Thresholds of tasks.md by metric, for records of tasks this version does not know. */
const FALLBACK_THRESHOLDS: Readonly<Record<string, number>> = {
  accuracy: 0.99,
  exactMatch: 0.95,
  scaledAccuracy: 0.99,
  minPositionAccuracy: 0.9,
  normalizedMse: 0.05,
};

function registeredTask(name: string): AnyTask | null {
  try {
    return getTask(name);
  } catch {
    return null;
  }
}

/** The value a run must reach (≥, or < for normalizedMse) to count as solved, or null when not known. */
export function solvedThreshold(task: string, metric: string): number | null {
  const t = registeredTask(task);
  if (t !== null && t.solvedMetric === metric) return t.solvedThreshold;
  return FALLBACK_THRESHOLDS[metric] ?? null;
}

/** `f` of the run's registered task and parsed config, or null when the task is unknown or its config invalid. */
function fromTaskConfig<T>(record: Pick<RunRecord, "task" | "taskConfig">, f: (task: AnyTask, config: unknown) => T): T | null {
  const task = registeredTask(record.task);
  if (task === null) return null;
  try {
    return f(task, parseTaskConfig(task, record.taskConfig));
  } catch {
    return null;
  }
}

/** Input length the run was trained at (from its task config), or null when it cannot be had. */
export function trainingLength(record: Pick<RunRecord, "task" | "taskConfig">): number | null {
  return fromTaskConfig(record, (task, config) => task.seqLen(config));
}

/** The task config in words (Task.describe), or null when it cannot be had. */
export function describeTask(record: Pick<RunRecord, "task" | "taskConfig">): string | null {
  return fromTaskConfig(record, (task, config) => task.describe(config));
}

/** A slice labelled "T=<n>" is an evaluation at another length (extrapolation); any other label names a slice. */
export function isLengthSlice(label: string): boolean {
  return /^T\s*=\s*\d+$/.test(label.trim());
}

/** Mean, min and max of some numbers (all three NaN when there are none). */
export interface Spread {
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { mean: NaN, min: NaN, max: NaN, n: 0 };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return { mean: sum / values.length, min, max, n: values.length };
}

/** A slice's metric averaged over the seeds of a point. */
export interface SlicePoint extends Spread {
  readonly label: string;
  readonly seqLen: number;
  readonly stateFloats: number;
}

/** One point of the report: a (task label, mixer, width) at its best learning rate. */
export interface BestPoint {
  readonly sweep: string;
  readonly task: string;
  readonly taskLabel: string;
  readonly metric: string;
  readonly mixer: string;
  readonly dModel: number;
  readonly lr: number;
  /** learning rates with at least one finished run at this point */
  readonly lrsTried: readonly number[];
  readonly stateFloats: number;
  readonly params: number;
  /** the metric over the seeds that finished at the best learning rate */
  readonly value: Spread;
  readonly evalLoss: number;
  /** seeds at the best learning rate that finished / that reached the threshold / that failed */
  readonly seeds: number;
  readonly solvedSeeds: number;
  readonly failedSeeds: number;
  readonly steps: number;
  readonly wallSeconds: number;
  /** extrapolation points (labels "T=<n>"), shortest first */
  readonly lengths: readonly SlicePoint[];
  /** named slices in the order the runs list them */
  readonly slices: readonly SlicePoint[];
  /** the loss curve averaged over seeds at each step that every such seed logged */
  readonly curve: readonly CurvePoint[];
  /** the records of the best learning rate (finished and failed) */
  readonly runs: readonly RunRecord[];
}

/** All the points of one task label of one sweep: one report section. */
export interface TaskSection {
  /** "label" alone, or "sweep / label" when the file holds several sweeps */
  readonly title: string;
  readonly sweep: string;
  readonly task: string;
  readonly taskLabel: string;
  readonly metric: string;
  readonly threshold: number | null;
  readonly lowerIsBetter: boolean;
  readonly trainLength: number | null;
  readonly description: string | null;
  /** mixers in the order they first appear in the results */
  readonly mixers: readonly string[];
  readonly dModels: readonly number[];
  /** sorted by mixer (first appearance), then width */
  readonly points: readonly BestPoint[];
}

export interface ReportModel {
  readonly sweeps: readonly string[];
  readonly records: readonly RunRecord[];
  readonly failed: readonly RunRecord[];
  readonly sections: readonly TaskSection[];
  /** extrapolation labels over all sections, shortest length first */
  readonly lengthLabels: readonly string[];
}

function finiteValue(r: RunRecord): r is RunRecord & { value: number } {
  return r.status === "ok" && typeof r.value === "number" && Number.isFinite(r.value);
}

/** Groups items by a string key, keeping the order in which keys first appear. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const g = groups.get(k);
    if (g) g.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

/** Curve points averaged over runs at the steps that all of them logged (early-stopped runs end sooner). */
export function meanCurve(runs: readonly RunRecord[]): CurvePoint[] {
  const withCurves = runs.filter((r) => r.curve.length > 0);
  if (withCurves.length === 0) return [];
  const points = withCurves.flatMap((r) => r.curve.filter((p) => Number.isFinite(p.loss)));
  return [...groupBy(points, (p) => String(p.step)).values()]
    .filter((atStep) => atStep.length === withCurves.length)
    .map((atStep) => ({ step: atStep[0]!.step, loss: spread(atStep.map((p) => p.loss)).mean }))
    .sort((a, b) => a.step - b.step);
}

function slicePoints(runs: readonly RunRecord[], keep: (label: string) => boolean): SlicePoint[] {
  const all = runs.flatMap((r) => r.slices.filter((s) => keep(s.label)));
  return [...groupBy(all, (s) => s.label).values()].map((group) => ({
    label: group[0]!.label,
    seqLen: group[0]!.seqLen,
    stateFloats: group[0]!.stateFloats,
    ...spread(group.flatMap((s) => (typeof s.value === "number" && Number.isFinite(s.value) ? [s.value] : []))),
  }));
}

/** How an lr candidate ranks: its mean metric (the better, the earlier), ties broken by lower eval loss then lower lr. */
interface Candidate {
  readonly lr: number;
  readonly runs: RunRecord[];
  readonly finished: Array<RunRecord & { value: number }>;
  readonly value: Spread;
  readonly evalLoss: number;
}

function candidate(lr: number, runs: RunRecord[]): Candidate {
  const finished = runs.filter(finiteValue);
  const losses = finished.flatMap((r) => (typeof r.evalLoss === "number" && Number.isFinite(r.evalLoss) ? [r.evalLoss] : []));
  return { lr, runs, finished, value: spread(finished.map((r) => r.value)), evalLoss: losses.length ? spread(losses).mean : Infinity };
}

/** Negative when a is the better learning rate for the metric. */
function compareCandidates(a: Candidate, b: Candidate, lower: boolean): number {
  if (a.value.mean !== b.value.mean) return lower ? a.value.mean - b.value.mean : b.value.mean - a.value.mean;
  if (a.evalLoss !== b.evalLoss) return a.evalLoss < b.evalLoss ? -1 : 1;
  return a.lr - b.lr;
}

/**
 * The best learning rate of one (task label, mixer, width) point from its runs (all lrs, all seeds), or null when
 * no run there finished with a value.
 */
export function bestPoint(runs: readonly RunRecord[]): BestPoint | null {
  const first = runs[0];
  if (first === undefined) return null;
  const lower = lowerIsBetter(first.metric);
  const candidates = [...groupBy(runs, (r) => String(r.lr)).values()]
    .map((group) => candidate(group[0]!.lr, group))
    .filter((c) => c.finished.length > 0)
    .sort((a, b) => compareCandidates(a, b, lower));
  const best = candidates[0];
  if (best === undefined) return null;
  const done = best.finished;
  return {
    sweep: first.sweep,
    task: first.task,
    taskLabel: first.taskLabel,
    metric: first.metric,
    mixer: first.mixer,
    dModel: first.dModel,
    lr: best.lr,
    lrsTried: candidates.map((c) => c.lr).sort((a, b) => a - b),
    stateFloats: done[0]!.stateFloats,
    params: done[0]!.params,
    value: best.value,
    evalLoss: best.evalLoss,
    seeds: done.length,
    solvedSeeds: done.filter((r) => r.solved).length,
    failedSeeds: best.runs.length - done.length,
    steps: spread(done.map((r) => r.steps)).mean,
    wallSeconds: spread(done.map((r) => r.wallSeconds)).mean,
    lengths: slicePoints(done, isLengthSlice).sort((a, b) => a.seqLen - b.seqLen),
    slices: slicePoints(done, (label) => !isLengthSlice(label)),
    curve: meanCurve(done),
    runs: best.runs,
  };
}

/** Groups the records into report sections of best points. */
export function aggregate(records: readonly RunRecord[]): ReportModel {
  const sweeps = [...new Set(records.map((r) => r.sweep))];
  const mixerOrder = [...new Set(records.map((r) => r.mixer))];
  const sections = [...groupBy(records, (r) => JSON.stringify([r.sweep, r.taskLabel])).values()].map((runs): TaskSection => {
    const first = runs[0]!;
    const points = [...groupBy(runs, (r) => JSON.stringify([r.mixer, r.dModel])).values()]
      .map(bestPoint)
      .filter((p): p is BestPoint => p !== null)
      .sort((a, b) => mixerOrder.indexOf(a.mixer) - mixerOrder.indexOf(b.mixer) || a.dModel - b.dModel);
    return {
      title: sweeps.length > 1 ? `${first.sweep} / ${first.taskLabel}` : first.taskLabel,
      sweep: first.sweep,
      task: first.task,
      taskLabel: first.taskLabel,
      metric: first.metric,
      threshold: solvedThreshold(first.task, first.metric),
      lowerIsBetter: lowerIsBetter(first.metric),
      trainLength: trainingLength(first),
      description: describeTask(first),
      mixers: mixerOrder.filter((m) => runs.some((r) => r.mixer === m)),
      dModels: [...new Set(runs.map((r) => r.dModel))].sort((a, b) => a - b),
      points,
    };
  });
  const lengths = new Map<string, number>();
  for (const s of sections) for (const p of s.points) for (const l of p.lengths) lengths.set(l.label, l.seqLen);
  return {
    sweeps,
    records,
    failed: records.filter((r) => r.status !== "ok"),
    sections,
    lengthLabels: [...lengths.entries()].sort((a, b) => a[1] - b[1]).map(([label]) => label),
  };
}
