/**
 * Finding the comparison peers of `npm run bench`: npm packages installed by `npm run bench:peers` into the
 * git-ignored .peers/ folder (never the package's own dependencies), and a python3 that can import a module.
 * A missing peer gives undefined and the bench prints a notice instead of its column.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (bench files are compiled to dist/bench/peers/). */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** A python file of the bench (they stay in bench/peers/ of the source tree). */
export const pythonFile = (name: string): string => join(repoRoot, "bench", "peers", name);
const peersDir = join(repoRoot, ".peers");

/** `require` of a package installed in .peers/, or undefined when it is not there. */
export function loadPeer<T>(name: string): T | undefined {
  if (!existsSync(join(peersDir, "node_modules", name))) return undefined;
  try {
    return createRequire(join(peersDir, "package.json"))(name) as T;
  } catch (e) {
    console.log(`  (peer ${name} is installed but failed to load: ${(e as Error).message.split("\n")[0]})`);
    return undefined;
  }
}

/**
 * Distinct python interpreters that can `import module`, in order: python3 on PATH (e.g. pyenv's), then
 * Debian's /usr/bin/python3 (where apt's python3-numpy and python3-torch land), then python.
 */
export function pythonsWith(module: string): string[] {
  const seen = new Set<string>();
  const found: string[] = [];
  for (const py of ["python3", "/usr/bin/python3", "python"]) {
    const r = spawnSync(py, ["-c", `import os, sys, ${module}; print(os.path.realpath(sys.executable))`], { encoding: "utf8" });
    const exe = r.stdout?.trim();
    if (r.status !== 0 || !exe || seen.has(exe)) continue;
    seen.add(exe);
    found.push(py);
  }
  return found;
}

/** The first python that can `import module`, or undefined. */
export function findPython(module: string): string | undefined {
  return pythonsWith(module)[0];
}

/**
 * Environment that limits a python peer's BLAS and OpenMP pools to `threads` (Debian's torch calls OpenBLAS,
 * whose own pool otherwise spins up one thread per core beside torch's and slows it down ~10× on a busy
 * machine).
 */
export function threadEnv(threads: number): Record<string, string> {
  const t = String(threads);
  return { OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t };
}

/**
 * Runs python with `argv` (["-c", code] or [file, ...args]) and parses the one JSON value its last output line
 * holds; undefined (with a notice) on failure.
 */
export function runPython<T>(python: string, argv: string[], env: Record<string, string> = {}, timeoutMs = 1_200_000): T | undefined {
  const r = spawnSync(python, argv, { encoding: "utf8", env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    console.log(`  (python peer failed: ${(r.stderr || r.error?.message || "").trim().split("\n").slice(-1)[0]})`);
    return undefined;
  }
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!) as T;
}

/**
 * Calls per second of fn (sync, or async when it returns a promise, which is then awaited): two warm-up calls,
 * then the median rate of 5 batches each lasting about batchMs.
 */
export async function callsPerSecond(fn: () => unknown, batchMs = 100): Promise<number> {
  let t = performance.now();
  const first = fn();
  const isAsync = first instanceof Promise;
  if (isAsync) {
    await first;
    await fn();
  } else fn();
  const call = isAsync ? async () => { await fn(); } : undefined;
  const once = Math.max((performance.now() - t) / 2, 1e-4);
  const calls = Math.max(1, Math.round(batchMs / once));
  const rates: number[] = [];
  for (let r = 0; r < 5; r++) {
    t = performance.now();
    if (call) for (let i = 0; i < calls; i++) await call();
    else for (let i = 0; i < calls; i++) fn();
    rates.push(calls / ((performance.now() - t) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[2]!;
}

/**
 * Thread counts the op and training comparisons run at: SEQMIX_BENCH_THREADS (e.g. "1,2"), default 1. On a
 * machine shared with other work, 2-thread figures of every library suffer from threads waiting on each other
 * to be scheduled; PyTorch's OpenMP loops over thousands of small ops suffered most (its 2-thread op run took
 * over 15 minutes at load ~7 on 2 cores), hence the default.
 */
export function benchThreads(): number[] {
  const raw = process.env.SEQMIX_BENCH_THREADS ?? "1";
  const list = raw.split(",").map((x) => Number(x.trim()));
  if (list.some((n) => !Number.isInteger(n) || n < 1)) throw new RangeError(`SEQMIX_BENCH_THREADS must be a list of positive integers like "1,2", got "${raw}"`);
  return list;
}
