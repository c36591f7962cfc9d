import seedrandom from 'seedrandom';

/** A seeded random source: uniform floats in [0, 1) and helpers built on them. */
export interface Rng {
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Fisher–Yates shuffle in place. */
  shuffle<T extends { length: number; [i: number]: number }>(a: T): T;
}

export function createRng(seed: number | string): Rng {
  const prng = seedrandom.alea(String(seed));
  const next = () => prng();
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    shuffle(a) {
      for (let i = a.length - 1; i > 0; i--) {
        const j = int(i + 1);
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
      }
      return a;
    },
  };
}
