/**
 * `npm run bench:ops [-- section…]`: the op benches, one section per op family (bench/ops-<family>.ts, each
 * exporting run()). With arguments, runs only the sections whose names contain one of them.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SECTIONS = ["attention", "linear", "delta", "ssm", "rnn", "titans"];

const filters = process.argv.slice(2);
console.log(`seqmix op benches — node ${process.version}, ${new Date().toISOString()}`);
for (const section of SECTIONS) {
  if (filters.length > 0 && !filters.some((f) => section.includes(f))) continue;
  const url = new URL(`./ops-${section}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    console.log(`\n[${section}] not built yet (bench/ops-${section}.ts missing)`);
    continue;
  }
  console.log(`\n===== ${section} =====`);
  const mod = (await import(url.href)) as { run: () => Promise<void> };
  await mod.run();
}
