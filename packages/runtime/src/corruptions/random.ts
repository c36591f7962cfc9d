/**
 * A small seeded pseudo-random generator for the corruptions: xoshiro128** (32-bit state words, so plain
 * JavaScript integer maths), seeded through splitmix32. The same seed gives the same stream on every
 * platform (Node and browsers). Not cryptographic.
 *
 * The draws follow numpy's conventions where the MNIST-C reference uses numpy:
 * `uniform(lo, hi)` is in [lo, hi), `randint(lo, hi)` in [lo, hi) (hi exclusive, like np.random.randint),
 * `normal(mean, sd)`, `poisson(lam)`, `choice(items)`. The streams differ from numpy's (another generator),
 * so only the distributions match the reference, not the exact draws.
 */

export interface Rng {
  /** A uint32. */
  nextUint32(): number;
  /** A double in [0, 1) with 53 random bits. */
  next(): number;
  /** A double in [lo, hi). */
  uniform(lo?: number, hi?: number): number;
  /** An integer in [lo, hi) (hi exclusive, like numpy's randint). */
  randint(lo: number, hi: number): number;
  /** A normal draw (Box-Muller, both values of a pair used). */
  normal(mean?: number, sd?: number): number;
  /** A Poisson draw with mean lam ≥ 0 (Knuth's product method below 10, Hörmann's PTRS from 10, as numpy). */
  poisson(lam: number): number;
  /** One item, uniformly. */
  choice<T>(items: readonly T[]): T;
  /** true or false with probability ½ each. */
  bool(): boolean;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Mixes several integers (e.g. an experiment seed, a corruption index and an image index) into one 32-bit
 * seed, so each image can have its own independent stream whatever order images are made in.
 */
export function deriveSeed(...parts: number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    const mix = splitmix32((h ^ (Math.trunc(p) >>> 0)) >>> 0);
    h = (mix() ^ Math.imul(h, 0x01000193)) >>> 0;
  }
  return splitmix32(h)();
}

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

function logFactorial(k: number): number {
  // Exact sum for small k, Stirling series beyond (as numpy's random_loggam).
  if (k < 10) {
    let s = 0;
    for (let i = 2; i <= k; i++) s += Math.log(i);
    return s;
  }
  const x = k + 1;
  const x2 = 1 / (x * x);
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) +
    (1 / x) * (1 / 12 - x2 * (1 / 360 - x2 * (1 / 1260 - x2 / 1680)));
}

export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`An Rng seed must be a finite number, got ${seed}.`);
  return new Xoshiro128(seed);
}

/** A class (not closures) so V8 keeps its calls monomorphic and inlines them in hot loops. */
class Xoshiro128 implements Rng {
  // The state as int32 words (| 0), so V8 keeps them as small integers rather than heap numbers.
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    const init = splitmix32((Math.trunc(seed) >>> 0) ^ (Math.trunc(seed / TWO_POW_32) >>> 0));
    this.s0 = init() | 0;
    this.s1 = init() | 0;
    this.s2 = init() | 0;
    this.s3 = init() | 0;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** One xoshiro128** step, as a signed int32. */
  private step(): number {
    const s0 = this.s0, s1 = this.s1;
    let s2 = this.s2, s3 = this.s3;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    this.s1 = s1 ^ s2;
    this.s0 = s0 ^ s3;
    this.s2 = s2 ^ t;
    this.s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  }

  nextUint32(): number {
    return this.step() >>> 0;
  }

  next(): number {
    return ((this.step() >>> 5) * 67108864 + (this.step() >>> 6)) / TWO_POW_53;
  }

  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  randint(lo: number, hi: number): number {
    if (!(hi > lo)) throw new Error(`randint needs hi > lo, got [${lo}, ${hi}).`);
    return lo + Math.floor(this.next() * (hi - lo));
  }

  normal(mean = 0, sd = 1): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return mean + sd * this.spare;
    }
    const u1 = 1 - this.next(); // (0, 1]
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    this.hasSpare = true;
    return mean + sd * r * Math.cos(2 * Math.PI * u2);
  }

  poisson(lam: number): number {
    if (!(lam >= 0) || !Number.isFinite(lam)) throw new Error(`poisson needs a finite mean ≥ 0, got ${lam}.`);
    if (lam === 0) return 0;
    if (lam < 10) {
      const limit = Math.exp(-lam);
      let k = 0;
      let p = this.next();
      while (p > limit) {
        k++;
        p *= this.next();
      }
      return k;
    }
    // PTRS (Hörmann 1993), the method numpy uses for lam ≥ 10.
    const slam = Math.sqrt(lam);
    const loglam = Math.log(lam);
    const bb = 0.931 + 2.53 * slam;
    const aa = -0.059 + 0.02483 * bb;
    const invalpha = 1.1239 + 1.1328 / (bb - 3.4);
    const vr = 0.9277 - 3.6224 / (bb - 2);
    for (;;) {
      const u = this.next() - 0.5;
      const v = this.next();
      const us = 0.5 - Math.abs(u);
      const k = Math.floor((2 * aa / us + bb) * u + lam + 0.43);
      if (us >= 0.07 && v <= vr) return k;
      if (k < 0 || (us < 0.013 && v > us)) continue;
      if (Math.log(v) + Math.log(invalpha) - Math.log(aa / (us * us) + bb) <= -lam + k * loglam - logFactorial(k)) return k;
    }
  }

  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("choice needs at least one item.");
    return items[Math.floor(this.next() * items.length)]!;
  }

  bool(): boolean {
    return (this.step() & 1) === 1;
  }
}
