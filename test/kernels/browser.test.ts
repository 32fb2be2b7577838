/**
 * The kernels in a real browser (scripts/browser-kernels.mjs): headless Chromium loads the compiled kernels from
 * a cross-origin-isolated localhost page, and the wasm matmul (relaxed SIMD where the browser has it) must match
 * the JS kernel within the f32 bound on odd shapes and layouts, on one thread and split over a Web Worker.
 * Skipped, saying so, where no Chromium is installed (`.ci/run` installs Debian's).
 */
import { test } from "node:test";
import assert from "node:assert/strict";

interface BrowserResult {
  ok: boolean;
  skipped?: string;
  error?: string;
  backend?: string;
  crossOriginIsolated?: boolean;
  workersReady?: number;
  cases1?: number;
  cases2?: number;
  failures?: string[];
}

const script = new URL("../../../scripts/browser-kernels.mjs", import.meta.url);
const { findChromium, runBrowserChecks } = (await import(script.href)) as {
  findChromium: () => string | undefined;
  runBrowserChecks: () => Promise<BrowserResult>;
};
const chromium = findChromium();

test("wasm kernels in headless Chromium: relaxed SIMD / SIMD128, Web Worker threads, results match the JS kernel",
  { skip: chromium ? false : "no Chromium (CHROMIUM=path or apt-get install chromium)", timeout: 120000 }, async () => {
    const r = await runBrowserChecks();
    assert.equal(r.error, undefined, r.error);
    assert.equal(r.crossOriginIsolated, true, "the page must be cross-origin isolated");
    assert.match(r.backend ?? "", /^wasm-/);
    assert.equal(r.workersReady, 1, "one Web Worker ready");
    assert.equal(r.cases1, 48);
    assert.equal(r.cases2, 24);
    assert.deepEqual(r.failures, []);
    assert.equal(r.ok, true);
  });
