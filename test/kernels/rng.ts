/** A seeded uniform generator on (0, 1) (an LCG; (s + 0.5)/2³² never gives 0, so −log u is finite). */
export function makeRng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
}
