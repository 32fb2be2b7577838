/**
 * results.jsonl: one {@link RunRecord} per line, appended when a run ends. Each append is one write of a whole
 * line followed by fsync, so a sweep killed at any moment leaves at most one truncated last line, which the
 * reader skips (and the run is simply redone on resume).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { RunRecord } from "./record.js";

export const RESULTS_FILE = "results.jsonl";

export function resultsPath(dir: string): string {
  return join(dir, RESULTS_FILE);
}

export interface ParsedResults {
  readonly records: RunRecord[];
  /** 1-based line numbers and reasons of lines that are not a record (a truncated last line is one) */
  readonly malformed: Array<{ line: number; reason: string }>;
}

function isRecord(x: unknown): x is RunRecord {
  if (x === null || typeof x !== "object") return false;
  const r = x as Record<string, unknown>;
  return typeof r.id === "string" && typeof r.task === "string" && typeof r.mixer === "string" && typeof r.status === "string";
}

/** Parses the text of a results file, keeping every well-formed record and listing the other lines. */
export function parseResults(text: string): ParsedResults {
  const records: RunRecord[] = [];
  const malformed: Array<{ line: number; reason: string }> = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      const value = JSON.parse(line) as unknown;
      if (isRecord(value)) records.push(value);
      else malformed.push({ line: i + 1, reason: "not a run record (needs id, task, mixer, status)" });
    } catch (e) {
      malformed.push({ line: i + 1, reason: `not JSON (${(e as Error).message})` });
    }
  });
  return { records, malformed };
}

/** The records of DIR/results.jsonl (empty when the file does not exist). */
export function readResults(dir: string): ParsedResults {
  const path = resultsPath(dir);
  if (!existsSync(path)) return { records: [], malformed: [] };
  return parseResults(readFileSync(path, "utf8"));
}

/**
 * Appends one record as one line. If the file ends without a newline (a write cut short by a kill), the
 * partial line is closed first so that the new record starts on a line of its own.
 */
export function appendResult(dir: string, record: RunRecord): void {
  mkdirSync(dir, { recursive: true });
  const path = resultsPath(dir);
  let prefix = "";
  if (existsSync(path)) {
    const text = readFileSync(path);
    if (text.length > 0 && text[text.length - 1] !== 0x0a) prefix = "\n";
  }
  const fd = openSync(path, "a");
  try {
    writeSync(fd, `${prefix}${JSON.stringify(record)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
