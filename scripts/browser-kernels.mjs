// `npm run test:browser`: the kernels in a real browser. Serves this repository on localhost with the headers
// that make a page cross-origin isolated (so SharedArrayBuffer and the worker pool exist), opens a page in
// headless Chromium that runs the wasm matmul against the JS kernel on odd shapes, with 1 and 2 threads, and
// prints what the page reports. Exit 0 when every check passed, 1 when one failed, 2 when no Chromium is found
// (CHROMIUM=/path/to/chrome, or Debian's `apt-get install chromium`).
import { createServer } from "node:http";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, mkdtempSync, rmSync } from "node:fs";
import { extname, join, dirname, normalize } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const TIMEOUT_MS = Number(process.env.SEQMIX_BROWSER_TIMEOUT_MS ?? 90000);

export function findChromium() {
  const candidates = [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
  return candidates.find((p) => p && existsSync(p));
}

const PAGE = `<!doctype html><meta charset="utf-8"><title>seqmix kernels</title>
<script type="module">
const report = (body) => fetch("/__result", { method: "POST", body: JSON.stringify(body) });
try {
  const k = await import("/dist/src/kernels/index.js");
  const { checks } = await import("/scripts/browser-kernels-page.mjs");
  report(await checks(k));
} catch (e) {
  report({ ok: false, error: String(e && e.stack || e) });
}
</script>`;

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html", ".json": "application/json", ".map": "application/json" };

function serve(onResult) {
  const server = createServer((req, res) => {
    const headers = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp", "Cache-Control": "no-store" };
    const url = new URL(req.url, "http://localhost");
    if (req.method === "POST" && url.pathname === "/__result") {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => { res.writeHead(204, headers).end(); onResult(JSON.parse(body)); });
      return;
    }
    if (url.pathname === "/" || url.pathname === "/index.html") {
      res.writeHead(200, { ...headers, "Content-Type": "text/html" }).end(PAGE);
      return;
    }
    const path = normalize(join(root, decodeURIComponent(url.pathname)));
    const allowed = [join(root, "dist") + "/", join(root, "scripts") + "/"].some((p) => path.startsWith(p));
    if (!allowed || !existsSync(path)) {
      res.writeHead(404, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, "Content-Type": TYPES[extname(path)] ?? "application/octet-stream" }).end(readFileSync(path));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

export async function runBrowserChecks() {
  const chromium = findChromium();
  if (!chromium) return { ok: false, skipped: "no Chromium found (set CHROMIUM or `apt-get install chromium`)" };
  let finish;
  const result = new Promise((resolve) => (finish = resolve));
  const server = await serve((r) => finish(r));
  const profile = mkdtempSync(join(tmpdir(), "seqmix-chromium-"));
  const url = `http://127.0.0.1:${server.address().port}/`;
  // flags as the machine notes advise: no sandbox as root, no background networking on a closed network
  const args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", `--user-data-dir=${profile}`, url];
  const browser = spawn(chromium, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  browser.stderr.on("data", (c) => (stderr = (stderr + c).slice(-4000)));
  const timer = setTimeout(() => finish({ ok: false, error: `no result from the page within ${TIMEOUT_MS} ms; chromium said:\n${stderr}` }), TIMEOUT_MS);
  const r = await result;
  clearTimeout(timer);
  const exited = new Promise((resolve) => (browser.exitCode !== null ? resolve() : browser.once("exit", resolve)));
  browser.kill("SIGTERM");
  await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
  if (browser.exitCode === null) browser.kill("SIGKILL");
  server.close();
  // the browser's helper processes may still be closing their files: retry, and never fail on the clean-up
  try { rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 }); } catch { /* a temp dir left behind */ }
  return r;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await runBrowserChecks();
  console.log(JSON.stringify(r, null, 2));
  process.exit(r.skipped ? 2 : r.ok ? 0 : 1);
}
