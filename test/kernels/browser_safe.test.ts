/**
 * The kernels must load in a browser: no static import of a Node built-in anywhere under src/kernels (Node's
 * worker_threads, os and v8 are reached through `importNode`, a dynamic import behind a Node check).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith(".js") ? [join(dir, e.name)] : []);
}

test("src/kernels has no static import of a Node built-in", () => {
  const dir = fileURLToPath(new URL("../../src/kernels/", import.meta.url));
  const files = jsFiles(dir);
  assert.ok(files.length > 5, `compiled kernel files not found under ${dir}`);
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const hit = /^\s*import\s[^;]*?from\s*["'](node:[^"']+|worker_threads|os|v8|fs|path)["']/m.exec(text);
    assert.equal(hit, null, `${file} statically imports ${hit?.[1]}`);
  }
});
