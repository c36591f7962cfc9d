/**
 * McNemar's test: do two classifiers, scored on the same test rows, have the same error rate?
 * Only the discordant rows count: b = A right and B wrong, c = A wrong and B right.
 *
 * No statistics package is installed (nor needed for two distributions), so the binomial tail and
 * the chi-square(1) survival function are written here: the first is an exact sum, the second is
 * erfc(√(x/2)), computed by its Taylor series for small arguments and a continued fraction for large
 * ones (both to about 1e-14 relative; tested against scipy values).
 */
import { checkSameLength } from './accuracy.ts';

/** Below this many discordant rows the exact binomial test is used (the usual rule of thumb, b + c < 25). */
export const EXACT_BELOW = 25;

export interface McNemarResult {
  /** A right, B wrong. */
  b: number;
  /** A wrong, B right. */
  c: number;
  method: 'exact' | 'chi2-cc';
  /** Chi-square statistic with continuity correction (chi2-cc only). */
  statistic?: number;
  /** Two-sided p-value. */
  pValue: number;
}

/** Complementary error function, erfc(x), for any real x. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) {
    // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1)); terms shrink fast for x < 2.
    let term = x;
    let sum = x;
    const x2 = x * x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  if (x > 27) return 0; // below the smallest double
  // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))), by Lentz's method.
  const tiny = 1e-300;
  let f = x;
  let C = x;
  let D = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    D = x + a * D;
    D = Math.abs(D) < tiny ? 1 / tiny : 1 / D;
    C = x + a / C;
    if (Math.abs(C) < tiny) C = tiny;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** P(X ≥ x) for X ~ chi-square with 1 degree of freedom. */
export function chiSquare1Survival(x: number): number {
  return x <= 0 ? 1 : erfc(Math.sqrt(x / 2));
}

/** P(X ≤ k) for X ~ Binomial(n, 1/2), summed exactly in log space (no underflow for large n). */
export function binomialHalfCdf(k: number, n: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  // log P(X = j) from log P(X = 0) = n·log ½ by the ratio (n − j)/(j + 1).
  let logP = n * Math.log(0.5);
  const logs: number[] = [logP];
  for (let j = 0; j < k; j++) {
    logP += Math.log((n - j) / (j + 1));
    logs.push(logP);
  }
  const top = Math.max(...logs);
  return Math.exp(top) * logs.reduce((s, l) => s + Math.exp(l - top), 0);
}

/** McNemar's test from the discordant counts; exact below `EXACT_BELOW` discordant rows unless `method` says otherwise. */
export function mcnemarFromCounts(b: number, c: number, method?: 'exact' | 'chi2-cc'): McNemarResult {
  const n = b + c;
  const m = method ?? (n < EXACT_BELOW ? 'exact' : 'chi2-cc');
  if (m === 'exact') {
    const pValue = n === 0 ? 1 : Math.min(1, 2 * binomialHalfCdf(Math.min(b, c), n));
    return { b, c, method: 'exact', pValue };
  }
  const statistic = n === 0 ? 0 : Math.max(0, Math.abs(b - c) - 1) ** 2 / n;
  return { b, c, method: 'chi2-cc', statistic, pValue: chiSquare1Survival(statistic) };
}

/** McNemar's test of classifier A against B on the same test rows. */
export function mcnemar(yTrue: ArrayLike<number>, predA: ArrayLike<number>, predB: ArrayLike<number>, method?: 'exact' | 'chi2-cc'): McNemarResult {
  checkSameLength(yTrue, predA);
  checkSameLength(yTrue, predB);
  let b = 0;
  let c = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const a = predA[i] === yTrue[i];
    const bb = predB[i] === yTrue[i];
    if (a && !bb) b++;
    else if (!a && bb) c++;
  }
  return mcnemarFromCounts(b, c, method);
}

/** Holm–Bonferroni adjusted p-values (same order as given) for a family of tests. */
export function holm(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => [p, i] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    out[i] = running;
  });
  return out;
}
