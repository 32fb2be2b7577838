/**
 * Permutation composition — the S5 / A5 word problem (tasks.md §8; Merrill, Petty & Sabharwal, arXiv 2404.08819).
 *
 * Group encoding: the elements are permutations in one-line notation (π[i] = image of i), listed in
 * lexicographic order; token id = index in that list. S_n: all permutations of {0 … n−1}; A_n: the even ones in
 * the same relative order. Debug groups: S3, S4, A4, Z<k> (rotations i ↦ i + r mod k, id = r) and A4xZ5
 * (A4 on points 0–3 times a rotation of points 4–8; same order as A5 but solvable).
 *
 * Composition (fixed once): P₁ = g₁, P_j = g_j ∘ P_{j−1}, i.e. P_j[i] = g_j[P_{j−1}[i]] ("apply g₁ first").
 * Tokens g₁ … g_n are i.i.d. uniform over the group; the target at position j is the id of P_j (token tagging),
 * or only at the last position with `target: "final"`.
 */
import { z } from "zod";
import type { Random } from "../core/random.js";
import { checkBatchSize, type Task } from "./types.js";
import { emptyTokenBatch, tokenBatch } from "./util.js";

const GROUP_PATTERN = /^(S3|S4|S5|A4|A5|A4xZ5|Z([2-9]|[1-9][0-9]{1,2}))$/;

export const s5CompositionSchema = z
  .object({
    /** S3, S4, S5, A4, A5, A4xZ5 or Z<k> (2 ≤ k ≤ 256) */
    group: z
      .string()
      .default("A5")
      .refine((g) => GROUP_PATTERN.test(g) && (!g.startsWith("Z") || Number(g.slice(1)) <= 256), {
        message: "must be one of S3, S4, S5, A4, A5, A4xZ5 or Z<k> with 2 ≤ k ≤ 256",
      }),
    /** n: sequence length */
    seqLen: z.number().int().min(1).default(16),
    /** "all": every prefix product is a target; "final": only the last one */
    target: z.enum(["all", "final"]).default("all"),
  })
  .strict();

export type S5CompositionConfig = z.infer<typeof s5CompositionSchema>;

export interface PermutationGroup {
  readonly name: string;
  /** elements in token-id order, each a permutation in one-line notation */
  readonly elements: readonly (readonly number[])[];
  /** compose[g·N + p] = id of g ∘ p (apply p first, then g) */
  readonly compose: Int32Array;
  readonly identity: number;
}

function permutationsLex(n: number): number[][] {
  const out: number[][] = [];
  const current: number[] = [];
  const used = new Array<boolean>(n).fill(false);
  const rec = (): void => {
    if (current.length === n) {
      out.push([...current]);
      return;
    }
    for (let v = 0; v < n; v++) {
      if (used[v]) continue;
      used[v] = true;
      current.push(v);
      rec();
      current.pop();
      used[v] = false;
    }
  };
  rec();
  return out;
}

/** +1 for even, −1 for odd permutations (by counting inversions). */
export function permutationSign(p: readonly number[]): number {
  let inversions = 0;
  for (let i = 0; i < p.length; i++) for (let j = i + 1; j < p.length; j++) if (p[i]! > p[j]!) inversions++;
  return inversions % 2 === 0 ? 1 : -1;
}

function elementsOf(name: string): number[][] {
  if (name.startsWith("Z")) {
    const k = Number(name.slice(1));
    return Array.from({ length: k }, (_, r) => Array.from({ length: k }, (_, i) => (i + r) % k));
  }
  if (name === "A4xZ5") {
    // one-line notation on 9 points, already in lexicographic order: A4 part first, then the rotation
    const out: number[][] = [];
    for (const a of elementsOf("A4")) for (let r = 0; r < 5; r++) out.push([...a, ...[0, 1, 2, 3, 4].map((i) => 4 + ((i + r) % 5))]);
    return out;
  }
  const n = Number(name.slice(1));
  const all = permutationsLex(n);
  return name.startsWith("A") ? all.filter((p) => permutationSign(p) === 1) : all;
}

const groupCache = new Map<string, PermutationGroup>();

/** The group with its composition table (built once per name). */
export function permutationGroup(name: string): PermutationGroup {
  const cached = groupCache.get(name);
  if (cached) return cached;
  if (!GROUP_PATTERN.test(name)) throw new RangeError(`permutationGroup: unknown group '${name}'`);
  const elements = elementsOf(name);
  const N = elements.length;
  const index = new Map<string, number>();
  elements.forEach((p, i) => index.set(p.join(","), i));
  const compose = new Int32Array(N * N);
  const m = elements[0]!.length;
  const tmp = new Array<number>(m);
  for (let g = 0; g < N; g++) {
    const pg = elements[g]!;
    for (let p = 0; p < N; p++) {
      const pp = elements[p]!;
      for (let i = 0; i < m; i++) tmp[i] = pg[pp[i]!]!;
      const id = index.get(tmp.join(","));
      if (id === undefined) throw new Error(`permutationGroup: ${name} is not closed under composition (bug)`);
      compose[g * N + p] = id;
    }
  }
  const identity = index.get(Array.from({ length: m }, (_, i) => i).join(","))!;
  const group: PermutationGroup = { name, elements, compose, identity };
  groupCache.set(name, group);
  return group;
}

function generate(c: S5CompositionConfig, rng: Random, batchSize: number) {
  checkBatchSize("s5_composition", batchSize);
  const G = permutationGroup(c.group);
  const N = G.elements.length;
  const T = c.seqLen;
  const { inputs, targets } = emptyTokenBatch(batchSize, T);
  for (let b = 0; b < batchSize; b++) {
    const row = b * T;
    let state = G.identity;
    for (let j = 0; j < T; j++) {
      const g = rng.integer(0, N);
      inputs[row + j] = g;
      state = G.compose[g * N + state]!;
      if (c.target === "all" || j === T - 1) targets[row + j] = state;
    }
  }
  return tokenBatch(inputs, targets, batchSize, T);
}

function order(c: S5CompositionConfig): number {
  return permutationGroup(c.group).elements.length;
}

export const s5Composition: Task<S5CompositionConfig> = {
  name: "s5_composition",
  summary: "Permutation word problem (S5/A5): output the running composition of the permutations seen so far.",
  spec: "tasks.md §8",
  schema: s5CompositionSchema,
  presets: { cpu: {}, test: { seqLen: 32 }, s5: { group: "S5" }, debug: { group: "S3" } },
  vocabSize: order,
  numClasses: order,
  seqLen: (c) => c.seqLen,
  generate,
  metric: "accuracy",
  solvedMetric: "minPositionAccuracy",
  solvedThreshold: 0.9,
  describe: (c) =>
    `${c.group} word problem (|G|=${order(c)}) n=${c.seqLen} ` +
    `(${c.target === "all" ? c.seqLen : 1} scored/seq, solved when every position ≥ 0.9)`,
};
