import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunRecord } from "../../src/lab/record.js";
import { aggregate, bestPoint, meanCurve, parseResultsText, ReportInputError } from "../../src/lab/report/aggregate.js";
import { escapeHtml, scriptJson, vegaLibrarySource } from "../../src/lab/report/html.js";
import { fileStem, formatResultsTable, writeReport } from "../../src/lab/report/index.js";
import { compactCount, formatLr } from "../../src/lab/report/table.js";

/** A finished run with plausible fields; `over` sets what a test cares about. */
function record(over: Partial<RunRecord> & Pick<RunRecord, "taskLabel" | "mixer" | "dModel" | "lr">): RunRecord {
  const task = over.task ?? over.taskLabel;
  const seed = over.seed ?? 0;
  const value = over.value === undefined ? 0.5 : over.value;
  return {
    id: `${over.taskLabel}/${over.mixer}/${over.dModel}/${over.lr}/${seed}`,
    sweep: "synthetic",
    task,
    taskConfig: {},
    model: {},
    seed,
    params: 1000 * over.dModel,
    stateFloats: (over.mixer === "attention" ? 128 : 16) * over.dModel,
    metric: "accuracy",
    value,
    accuracy: value,
    evalLoss: value === null ? null : 1 - value,
    solved: value !== null && value >= 0.99,
    stepsPlanned: 200,
    steps: 200,
    batchSize: 8,
    stoppedEarly: false,
    timedOut: false,
    curve: [0, 50, 100, 150, 200].map((step) => ({ step, loss: 2 / (1 + step / 50) + (value === null ? 0 : 1 - value) })),
    slices: [],
    wallSeconds: 3.5,
    tokensPerSecond: 1e4,
    status: "ok",
    version: "0.1.0",
    finishedAt: "2025-01-01T00:00:00.000Z",
    ...over,
  } as RunRecord;
}

const LRS = [1e-3, 3e-3];

/**
 * MQAR: attention near 1 at both widths; gla rises with width. Best lr: attention 1e-3, gla 3e-3. Two seeds.
 * Length extrapolation at T=64 and T=128 (trained at the default T=32 of tasks.md).
 */
function mqarRecords(): RunRecord[] {
  const out: RunRecord[] = [];
  for (const mixer of ["attention", "gla"]) {
    for (const dModel of [16, 32]) {
      for (const lr of LRS) {
        for (const seed of [0, 1]) {
          const good = mixer === "attention" ? lr === 1e-3 : lr === 3e-3;
          const base = mixer === "attention" ? 0.995 : dModel === 16 ? 0.4 : 0.7;
          const value = (good ? base : base - 0.2) + (seed === 0 ? 0.002 : -0.002);
          out.push(
            record({
              taskLabel: "mqar",
              mixer,
              dModel,
              lr,
              seed,
              value,
              solved: value >= 0.99,
              slices: [
                { label: "T=64", seqLen: 64, value: value * 0.8, stateFloats: 0 },
                { label: "T=128", seqLen: 128, value: value * 0.5, stateFloats: 0 },
              ],
            }),
          );
        }
      }
    }
  }
  return out;
}

/** ICL regression (normalizedMse, lower is better): lr 1e-3 has the lower error. A tie at d=32 broken by eval loss. */
function iclRecords(): RunRecord[] {
  const out: RunRecord[] = [];
  for (const dModel of [16, 32]) {
    for (const lr of LRS) {
      const value = dModel === 32 ? 0.2 : lr === 1e-3 ? 0.03 : 0.3;
      const evalLoss = dModel === 32 ? (lr === 3e-3 ? 0.5 : 0.9) : value;
      out.push(record({ taskLabel: "icl_linear_regression", mixer: "gla", dModel, lr, metric: "normalizedMse", value, accuracy: null, evalLoss, solved: value < 0.05 }));
    }
  }
  return out;
}

/** Set disjointness with named slices; one run failed. */
function setRecords(): RunRecord[] {
  const slices = (v: number) => [
    { label: "(4,16)", seqLen: 40, value: v, stateFloats: 0 },
    { label: "(16,4)", seqLen: 40, value: v / 2, stateFloats: 0 },
  ];
  return [
    record({ taskLabel: "sets", task: "set_disjointness", mixer: "attention", dModel: 16, lr: 1e-3, value: 0.9, slices: slices(0.9) }),
    record({ taskLabel: "sets", task: "set_disjointness", mixer: "gla", dModel: 16, lr: 1e-3, value: 0.6, slices: slices(0.6) }),
    record({
      taskLabel: "sets",
      task: "set_disjointness",
      mixer: "gla",
      dModel: 16,
      lr: 3e-3,
      value: null,
      evalLoss: null,
      status: "diverged",
      error: "loss is NaN at step 17",
      curve: [],
    }),
  ];
}

function allRecords(): RunRecord[] {
  return [...mqarRecords(), ...iclRecords(), ...setRecords()];
}

function resultsText(records: readonly RunRecord[], tail = ""): string {
  return records.map((r) => `${JSON.stringify(r)}\n`).join("") + tail;
}

function withDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "seqmix-report-"));
  return f(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** A small XML well-formedness check: every tag closes in order, attributes are quoted, one root <svg>. */
function assertWellFormedSvg(svg: string, what: string): void {
  assert.match(svg, /^<svg[\s>]/, `${what}: starts with <svg`);
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<|>/g;
  let m: RegExpExecArray | null;
  let roots = 0;
  while ((m = tag.exec(svg)) !== null) {
    if (m[0] === "<") assert.fail(`${what}: stray or malformed tag at ${m.index}: ${svg.slice(m.index, m.index + 60)}`);
    if (m[0] === ">") assert.fail(`${what}: stray '>' at ${m.index}`);
    if (m[2] === undefined) continue; // comment or CDATA
    if (m[1] === "/") assert.equal(stack.pop(), m[2], `${what}: </${m[2]}> closes the wrong element`);
    else if (m[4] !== "/") {
      if (stack.length === 0) roots++;
      stack.push(m[2]);
    }
  }
  assert.equal(stack.length, 0, `${what}: unclosed ${stack.join(", ")}`);
  assert.equal(roots, 1, `${what}: one root element`);
}

test("the best learning rate per point: highest metric, or lowest normalizedMse; ties go to the lower eval loss", () => {
  const model = aggregate(allRecords());
  const point = (label: string, mixer: string, d: number) => {
    const p = model.sections.find((s) => s.taskLabel === label)!.points.find((q) => q.mixer === mixer && q.dModel === d);
    assert.ok(p, `${label} ${mixer} d=${d} has a point`);
    return p;
  };
  for (const d of [16, 32]) {
    assert.equal(point("mqar", "attention", d).lr, 1e-3);
    assert.equal(point("mqar", "gla", d).lr, 3e-3);
  }
  // seeds averaged, spread kept
  const gla32 = point("mqar", "gla", 32);
  assert.equal(gla32.seeds, 2);
  assert.ok(Math.abs(gla32.value.mean - 0.7) < 1e-12 && Math.abs(gla32.value.min - 0.698) < 1e-12 && Math.abs(gla32.value.max - 0.702) < 1e-12);
  assert.deepEqual(gla32.lengths.map((l) => l.label), ["T=64", "T=128"]);
  assert.ok(Math.abs(gla32.lengths[0]!.mean - 0.56) < 1e-12);
  // lower is better for normalizedMse
  assert.equal(point("icl_linear_regression", "gla", 16).lr, 1e-3);
  assert.equal(point("icl_linear_regression", "gla", 16).value.mean, 0.03);
  // equal metric: the lower held-out loss wins
  assert.equal(point("icl_linear_regression", "gla", 32).lr, 3e-3);
  // a failed lr does not hide the finished one
  const sets = point("sets", "gla", 16);
  assert.equal(sets.lr, 1e-3);
  assert.deepEqual(sets.slices.map((s) => s.label), ["(4,16)", "(16,4)"]);
  assert.equal(model.failed.length, 1);
  // thresholds and training length come from the task registry
  const mqar = model.sections.find((s) => s.taskLabel === "mqar")!;
  assert.equal(mqar.threshold, 0.99);
  assert.equal(mqar.trainLength, 32);
  assert.equal(model.sections.find((s) => s.taskLabel === "icl_linear_regression")!.threshold, 0.05);
  assert.deepEqual(model.lengthLabels, ["T=64", "T=128"]);
  // a point whose every run failed has no best lr
  assert.equal(bestPoint([setRecords()[2]!]), null);
});

test("loss curves are averaged over seeds at the steps every seed logged (an early-stopped seed ends sooner)", () => {
  const base = { taskLabel: "mqar", mixer: "gla", dModel: 16, lr: 1e-3 };
  const a = record({ ...base, curve: [{ step: 10, loss: 2 }, { step: 20, loss: 1 }, { step: 30, loss: 0.5 }] });
  const b = record({ ...base, seed: 1, curve: [{ step: 10, loss: 4 }, { step: 20, loss: 3 }] });
  const failed = record({ ...base, seed: 2, curve: [], status: "error", value: null });
  assert.deepEqual(meanCurve([a, b, failed]), [{ step: 10, loss: 3 }, { step: 20, loss: 2 }]);
  assert.deepEqual(meanCurve([failed]), []);
});

test("results.jsonl parsing: a truncated last line is skipped quietly, other bad lines are reported by line number", () => {
  const [a, b] = mqarRecords();
  const text = `${JSON.stringify(a)}\nnot json at all\n{"id":"x"}\n${JSON.stringify(b)}\n${JSON.stringify(b).slice(0, 40)}`;
  const parsed = parseResultsText(text);
  assert.equal(parsed.records.length, 2);
  assert.equal(parsed.truncatedLastLine, true);
  assert.deepEqual(parsed.malformed.map((m) => m.line), [2, 3]);
  assert.match(parsed.malformed[0]!.reason, /not JSON/);
  assert.match(parsed.malformed[1]!.reason, /not a run record/);
  // a bad last line that ends with its newline was written whole: it is reported, not taken for a truncation
  const whole = parseResultsText(`${JSON.stringify(a)}\n{broken\n`);
  assert.equal(whole.truncatedLastLine, false);
  assert.deepEqual(whole.malformed.map((m) => m.line), [2]);
});

test("writeReport writes a self-contained index.html and one well-formed SVG per chart", async () => {
  await withDir(async (dir) => {
    const records = allRecords();
    // a killed sweep leaves a partial last line; a hand-edited file may hold a bad line in the middle
    const text = resultsText(records.slice(0, 3)) + "{oops\n" + resultsText(records.slice(3), JSON.stringify(records[0]).slice(0, 30));
    writeFileSync(join(dir, "results.jsonl"), text);
    const logged: string[] = [];
    const out = await writeReport(dir, { log: (l) => logged.push(l), generatedAt: new Date("2025-02-03T04:05:06Z") });
    assert.equal(out.records, records.length);
    assert.ok(logged.some((l) => l.includes("line 4 skipped")), logged.join("\n"));
    assert.ok(logged.some((l) => l.includes("cut short")));

    const html = readFileSync(out.html, "utf8");
    assert.ok(html.includes(vegaLibrarySource()), "the Vega runtime is inlined");
    assert.doesNotMatch(html, /<script[^>]*\ssrc\s*=/i, "no external script");
    assert.doesNotMatch(html, /<(link|img|iframe)[^>]*\s(href|src)\s*=\s*["']?https?:/i, "no external resource");
    assert.doesNotMatch(html, /url\(\s*["']?https?:|@import/i, "no external CSS");
    assert.doesNotMatch(html, /"\$schema"/, "compiled specs carry no schema URL");
    assert.match(html, /line 4: not JSON/);
    assert.match(html, /loss is NaN at step 17/, "failed runs are listed with their error");
    assert.match(html, /<h1>synthetic<\/h1>/);
    // every chart has its embedded spec and its static SVG
    const specs = [...html.matchAll(/<script type="application\/json" id="(spec-[\d-]+)">/g)].map((m) => m[1]);
    assert.equal(specs.length, out.svgs.length);
    for (const id of specs) assert.ok(html.includes(`data-spec="${id}"><svg`), `${id} has a static fallback`);

    const names = out.svgs.map((p) => p.slice(dir.length + 1)).sort();
    assert.deepEqual(names, [
      "icl_linear_regression-loss.svg",
      "icl_linear_regression-state.svg",
      "icl_linear_regression-width.svg",
      "mqar-length.svg",
      "mqar-loss.svg",
      "mqar-state.svg",
      "mqar-width.svg",
      "sets-loss.svg",
      "sets-slices.svg",
      "sets-state.svg",
      "sets-width.svg",
    ]);
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes(".tmp")), [], "no temp files left");
    for (const path of out.svgs) {
      const svg = readFileSync(path, "utf8");
      assertWellFormedSvg(svg, path);
      assert.ok(svg.includes(">gla<"), `${path} names the gla series`);
      if (!path.includes("icl_")) assert.ok(svg.includes(">attention<"), `${path} names the attention series`);
    }
    const state = readFileSync(join(dir, "mqar-state.svg"), "utf8");
    assert.ok(state.includes("solved ≥ 0.99"), "threshold rule is labelled");
    assert.ok(readFileSync(join(dir, "icl_linear_regression-state.svg"), "utf8").includes("solved &lt; 0.05"));
    assert.ok(readFileSync(join(dir, "sets-slices.svg"), "utf8").includes("(4,16)"));
  });
});

test("the terminal table: one row per best point, extrapolation columns, width within 120", () => {
  const records = allRecords();
  const text = formatResultsTable(records);
  const lines = text.split("\n");
  const header = lines.findIndex((l) => l.startsWith("task"));
  assert.ok(header >= 1, text);
  assert.match(lines[header - 1]!, /at length/);
  assert.match(lines[header]!, /T=64\s+T=128$/);
  assert.match(lines[header + 1]!, /^─+/);
  const end = lines.indexOf("");
  const rows = lines.slice(header + 2, end);
  // mqar 2 mixers × 2 widths, icl 2 widths, sets 2 mixers
  assert.equal(rows.length, 8, text);
  for (const l of lines) assert.ok([...l].length <= 120, `line longer than 120: ${l}`);
  const gla32 = rows.find((r) => /\bgla\s+32\b/.test(r) && /0\.700/.test(r));
  assert.ok(gla32, text);
  assert.match(gla32, /3e-3/);
  assert.match(gla32, /0\.560\s+0\.350$/, "extrapolation values in their columns");
  const attention16 = rows.find((r) => /^mqar\s+attention\s+16\b/.test(r));
  assert.ok(attention16 && /✓/.test(attention16), text);
  assert.match(lines[end + 1]!, /1 run failed/);
  assert.equal(formatLr(0.003), "3e-3");
  assert.equal(formatLr(0.0015), "1.5e-3");
  assert.equal(compactCount(123456), "123k");
});

test("text from records is escaped in the page and in the SVGs", async () => {
  await withDir(async (dir) => {
    const evil = `<img src=x onerror="alert(1)">`;
    const records = [
      record({ taskLabel: `mqar</h2><script>alert(2)</script>`, task: "mqar", mixer: evil, dModel: 16, lr: 1e-3, value: 0.5 }),
      record({ taskLabel: "mqar", mixer: "gla", dModel: 16, lr: 1e-3, value: null, status: "error", error: `</div><script>alert(3)</script>` }),
    ];
    writeFileSync(join(dir, "results.jsonl"), resultsText(records));
    const out = await writeReport(dir);
    const html = readFileSync(out.html, "utf8");
    assert.ok(!html.includes("<img src=x"), "mixer label escaped");
    assert.ok(!html.includes("<script>alert"), "task label and error escaped");
    assert.ok(html.includes("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"));
    assert.ok(html.includes("&lt;/div&gt;&lt;script&gt;alert(3)&lt;/script&gt;"));
    for (const path of out.svgs) {
      const svg = readFileSync(path, "utf8");
      assert.ok(!svg.includes("<img") && !svg.includes("<script"), path);
      assertWellFormedSvg(svg, path);
      assert.ok(/^mqar-h2-script-alert-2-script-[a-z]+\.svg$/.test(path.slice(dir.length + 1)), path);
    }
    assert.equal(fileStem("../a b/c"), "a-b-c");
    assert.equal(scriptJson({ s: "</script><!--" }), '{"s":"\\u003c/script>\\u003c!--"}');
    assert.equal(escapeHtml(`a&b<'">`), "a&amp;b&lt;&#39;&quot;&gt;");
  });
});

test("writeReport names the problem when results.jsonl is missing or holds no record", async () => {
  await withDir(async (dir) => {
    await assert.rejects(writeReport(dir), (e: Error) => e instanceof ReportInputError && /results\.jsonl does not exist/.test(e.message));
    writeFileSync(join(dir, "results.jsonl"), "");
    await assert.rejects(writeReport(dir), (e: Error) => e instanceof ReportInputError && /holds no run record/.test(e.message));
    writeFileSync(join(dir, "results.jsonl"), "garbage\n");
    await assert.rejects(writeReport(dir), /first at line 1: not JSON/);
    assert.equal(existsSync(join(dir, "index.html")), false);
  });
});
