// `npm test`: runs every compiled test file (dist/test/**/*.test.js) with Node's built-in test runner.
// Node 20 takes no globs, so the files are listed here. Extra arguments filter by path substring.
import { spawnSync } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const testRoot = join(root, "dist", "test");

function collect(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return collect(p);
    return e.name.endsWith(".test.js") ? [p] : [];
  });
}

const filters = process.argv.slice(2);
const files = collect(testRoot)
  .filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`no test files found under ${relative(root, testRoot)}${filters.length ? ` matching ${filters.join(", ")}` : ""}`);
  process.exit(1);
}
const reporter = process.stdout.isTTY ? "spec" : "tap";
const result = spawnSync(process.execPath, ["--test", `--test-reporter=${reporter}`, ...files], {
  cwd: root,
  stdio: "inherit",
});
process.exit(result.status ?? 1);
