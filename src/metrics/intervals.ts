/** Confidence intervals and summary statistics. */

/** Two-sided 95% normal quantile, Φ⁻¹(0.975). */
export const Z95 = 1.959963984540054;

export interface Interval {
  low: number;
  high: number;
}

/**
 * Wilson score interval for a binomial proportion (successes out of n). Unlike the normal
 * ("Wald") interval it stays inside [0, 1] and is sensible near 0 and 1 (e.g. 99.5% accuracy).
 */
export function wilson(successes: number, n: number, z = Z95): Interval {
  if (!(n > 0) || successes < 0 || successes > n) {
    throw new Error(`A Wilson interval needs 0 ≤ successes ≤ n and n > 0, got ${successes} of ${n}.`);
  }
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

export function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;
}

/** Sample standard deviation (n − 1 in the denominator); 0 for a single value, NaN for none. */
export function sampleSd(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  if (xs.length === 1) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

/** The p-th percentile (nearest rank) of values sorted ascending. */
export function percentile(sorted: readonly number[], p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}
