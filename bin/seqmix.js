#!/usr/bin/env node
// The `seqmix` command. The TypeScript sources are compiled to dist/ by `npm ci` (the `prepare` script).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write("seqmix: the build output dist/ is missing; run `npm ci` (or `npm run build`) in the package folder.\n");
  process.exit(1);
}
// `seqmix lab list | head`: a closed pipe ends the command quietly instead of with an EPIPE stack trace
process.stdout.on("error", (err) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
