// Runs before `npm start` and `npm test`: installs dependencies and builds when that has not happened yet or is
// out of date, so either command works as the first one typed after a clone. Uses only Node built-ins.
import { execSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

function newestIn(dir) {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const run = (cmd) => execSync(cmd, { cwd: root, stdio: "inherit" });

const installedMarker = join(root, "node_modules", ".package-lock.json");
if (!existsSync(installedMarker) || mtime(join(root, "package-lock.json")) > mtime(installedMarker)) {
  console.log("seqmix: dependencies are missing or out of date: running `npm ci` (installs and builds)…");
  run("npm ci --no-audit --no-fund");
}

const buildMarker = join(root, "dist", ".tsbuildinfo");
const newestSource = Math.max(
  newestIn(join(root, "src")),
  newestIn(join(root, "test")),
  newestIn(join(root, "bench")),
  mtime(join(root, "tsconfig.json")),
);
if (!existsSync(buildMarker) || newestSource > mtime(buildMarker)) {
  console.log("seqmix: the build in dist/ is missing or older than the sources: compiling with tsc…");
  run("node node_modules/typescript/bin/tsc -p tsconfig.json");
}
