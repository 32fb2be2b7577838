/** numpy (with whatever BLAS it is built on, usually OpenBLAS) as a matmul peer, in a python subprocess. */
import { pythonsWith, runPython, threadEnv } from "./load.js";

const SCRIPT = `
import json, time
import numpy as np
def blas_name():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas['name']} {blas.get('version', '')}".strip()
    except Exception:
        try:  # numpy < 1.25: the BLAS library the dynamic loader picked
            import re
            maps = open("/proc/self/maps").read()
            libs = sorted(set(re.findall(r"/(lib(?:open)?blas[^/\\s]*\\.so[^/\\s]*)", maps)))
            return ", ".join(libs) or "unknown BLAS"
        except Exception:
            return "unknown BLAS"
out = {"blas": blas_name(), "numpy": np.__version__, "gflops": []}
for m, n, k in json.loads("__SHAPES__"):
    a = np.random.rand(m, k).astype(np.float32); b = np.random.rand(k, n).astype(np.float32)
    a @ b; a @ b
    t = time.perf_counter(); a @ b; once = max(time.perf_counter() - t, 1e-6)
    calls = max(1, round(0.1 / once)); rates = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(calls): a @ b
        rates.append(calls / (time.perf_counter() - t))
    out["gflops"].append(2 * m * n * k * sorted(rates)[2] / 1e9)
print(json.dumps(out))
`;

export interface NumpyResult {
  blas: string;
  numpy: string;
  gflops: number[];
}

/** GFLOP/s for each [m, n, k] with BLAS limited to `threads`, using the given python (which has numpy). */
export function numpyMatmul(python: string, shapes: [number, number, number][], threads: number): NumpyResult | undefined {
  return runPython<NumpyResult>(python, ["-c", SCRIPT.replace("__SHAPES__", JSON.stringify(shapes))], threadEnv(threads));
}

/** Every distinct python interpreter found that imports numpy (e.g. pyenv's and Debian's). */
export function numpyPythons(): string[] {
  return pythonsWith("numpy");
}
