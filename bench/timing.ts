/** Timing helpers shared by the bench scripts. Benches print figures; tests never time anything. */

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

export interface TimeOptions {
  /** most timed repetitions after the warm-up (default 5) */
  reps?: number;
  /** stop repeating once the runs would exceed this many ms (default 6000) */
  budgetMs?: number;
  /** a warm-up slower than this is reported as is, without repetitions (default 3000) */
  slowMs?: number;
}

/** Median milliseconds of fn: one warm-up call, then as many repetitions (≤ reps) as fit the budget. */
export function timeMs(fn: () => void, options: TimeOptions = {}): number {
  const { reps = 5, budgetMs = 6000, slowMs = 3000 } = options;
  let t = performance.now();
  fn();
  const first = performance.now() - t;
  if (first > slowMs) return first;
  const n = Math.max(1, Math.min(reps, Math.floor(budgetMs / Math.max(first, 1e-3))));
  const runs: number[] = [];
  for (let i = 0; i < n; i++) {
    t = performance.now();
    fn();
    runs.push(performance.now() - t);
  }
  return median(runs);
}

/** Least-squares slope of log y against log x: the exponent p in y ∝ x^p (1 = linear). */
export function fitExponent(xs: readonly number[], ys: readonly number[]): number {
  if (xs.length < 2) return NaN;
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
  const my = ly.reduce((a, b) => a + b, 0) / ly.length;
  let num = 0;
  let den = 0;
  lx.forEach((x, i) => {
    num += (x - mx) * (ly[i]! - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

/** Prints an aligned table: the first column left-aligned, the others right-aligned. */
export function printTable(header: readonly string[], rows: readonly string[][]): void {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join("  ");
  console.log(line(header));
  console.log(width.map((w) => "-".repeat(w)).join("  "));
  rows.forEach((r) => console.log(line(r)));
}
