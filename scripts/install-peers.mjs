// `npm run bench:peers`: installs the libraries `npm run bench` compares against, outside the package's
// dependencies: the npm peers into .peers/ (git-ignored; `npm ci` and CI never see them) and, when run as root
// on Debian, numpy with OpenBLAS and PyTorch CPU through apt. Everything comes from the npm registry and
// Debian's packages; onnxruntime-node's optional CUDA download is skipped (its CPU binaries ship in the package).
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const peers = join(root, ".peers");
const NPM_PEERS = ["onnxruntime-node@1.30.0", "@tensorflow/tfjs-core@4.22.0", "@tensorflow/tfjs-backend-wasm@4.22.0"];
const APT_PEERS = ["python3-numpy", "libopenblas0-pthread", "python3-torch"];

function run(cmd, args, env = {}) {
  console.log(`$ ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", env: { ...process.env, ...env } });
  return r.status === 0;
}

mkdirSync(peers, { recursive: true });
if (!existsSync(join(peers, "package.json"))) {
  writeFileSync(join(peers, "package.json"), JSON.stringify({ name: "seqmix-bench-peers", private: true }, null, 2) + "\n");
}
const npmOk = run("npm", ["install", "--prefix", peers, "--no-audit", "--no-fund", ...NPM_PEERS], { ONNXRUNTIME_NODE_INSTALL: "skip" });
if (!npmOk) console.error("npm peers: install failed (the bench skips what is missing)");

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
if (isRoot && existsSync("/usr/bin/apt-get")) {
  run("apt-get", ["update"]);
  if (!run("apt-get", ["install", "-y", ...APT_PEERS], { DEBIAN_FRONTEND: "noninteractive" })) console.error("apt peers: install failed");
} else {
  console.log(`not root or no apt-get: install ${APT_PEERS.join(", ")} yourself for the numpy and PyTorch comparisons`);
}
