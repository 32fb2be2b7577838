/**
 * `npm run bench [-- section…]`: seqmix side by side with its peers in one run — matmul (onnxruntime-node,
 * tfjs-backend-wasm, numpy/OpenBLAS), op forward+backward and a training step (PyTorch CPU), decode.
 * Peers that are not installed are skipped with a notice (`npm run bench:peers` installs them).
 */
import { existsSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { getKernels, getThreads } from "../src/kernels/index.js";

const SECTIONS = ["matmul", "ops", "train", "decode"];
const filters = process.argv.slice(2);
console.log(`seqmix bench — node ${process.version}, ${cpus()[0]?.model ?? "unknown cpu"} ×${cpus().length}, kernels ${getKernels().name} (${getThreads()} threads), load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
for (const section of SECTIONS) {
  if (filters.length > 0 && !filters.some((f) => section.includes(f))) continue;
  console.log(`\n===== ${section} =====`);
  const url = new URL(`./compare-${section}.js`, import.meta.url);
  if (!existsSync(fileURLToPath(url))) {
    console.log(`(not built: bench/compare-${section}.ts missing)`);
    continue;
  }
  const mod = (await import(url.href)) as { run: () => Promise<void> };
  await mod.run();
  console.log(`(load ${loadavg().map((x) => x.toFixed(2)).join(" ")})`);
}
