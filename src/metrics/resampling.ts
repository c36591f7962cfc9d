/**
 * Statistics over repetitions: the t-interval of a mean, the corrected resampled t-test
 * (Nadeau & Bengio, 2003) for two classifiers scored on the same resampled splits, and the least-squares
 * power law of a learning curve. The Student t distribution comes from @stdlib (maintained, tested
 * against reference values); only the formulas of the tests are written here.
 */
import tCdf from '@stdlib/stats-base-dists-t-cdf';
import tQuantile from '@stdlib/stats-base-dists-t-quantile';
import { mean, sampleSd, type Interval } from './intervals.ts';

/** Two-sided t-interval of the mean of xs at the given level (default 95%); undefined for fewer than 2 values. */
export function tInterval(xs: readonly number[], level = 0.95): (Interval & { df: number; halfWidth: number }) | undefined {
  if (xs.length < 2) return undefined;
  const df = xs.length - 1;
  const halfWidth = tQuantile(1 - (1 - level) / 2, df) * (sampleSd(xs) / Math.sqrt(xs.length));
  const m = mean(xs);
  return { low: m - halfWidth, high: m + halfWidth, df, halfWidth };
}

export interface CorrectedTTest {
  /** Repetitions paired. */
  J: number;
  /** Mean of a − b over the repetitions. */
  meanDifference: number;
  sdDifference: number;
  /** Test rows / training rows of one repetition (the correction's n2/n1). */
  testTrainRatio: number;
  /** t statistic with J − 1 degrees of freedom; NaN when every difference is equal. */
  t: number;
  df: number;
  /** Two-sided p-value. */
  pValue: number;
}

/**
 * The corrected resampled t-test of Nadeau & Bengio (2003): paired differences d_j = a_j − b_j over J
 * random train/test resamplings, t = mean(d) / sqrt((1/J + n2/n1) · var(d)), J − 1 degrees of freedom.
 * The n2/n1 term corrects the variance for the overlap between the resamplings' training sets, which
 * makes the plain paired t-test far too eager to call a difference.
 */
export function correctedResampledTTest(a: readonly number[], b: readonly number[], nTrain: number, nTest: number): CorrectedTTest {
  if (a.length !== b.length) throw new Error(`The corrected t-test pairs repetitions: got ${a.length} and ${b.length} values.`);
  if (a.length < 2) throw new Error(`The corrected t-test needs at least 2 paired repetitions, got ${a.length}.`);
  if (!(nTrain > 0) || !(nTest > 0)) throw new Error(`The corrected t-test needs positive training and test sizes, got ${nTrain} and ${nTest}.`);
  const d = a.map((x, i) => x - b[i]!);
  const J = d.length;
  const m = mean(d);
  const sd = sampleSd(d);
  const ratio = nTest / nTrain;
  const se = Math.sqrt((1 / J + ratio) * sd * sd);
  const df = J - 1;
  // Equal differences on every repetition: no spread to test against (a constant non-zero gap is a
  // difference, a constant zero is none).
  if (se === 0) return { J, meanDifference: m, sdDifference: sd, testTrainRatio: ratio, t: m === 0 ? 0 : Math.sign(m) * Infinity, df, pValue: m === 0 ? 1 : 0 };
  const t = m / se;
  const pValue = Math.min(1, 2 * (1 - tCdf(Math.abs(t), df)));
  return { J, meanDifference: m, sdDifference: sd, testTrainRatio: ratio, t, df, pValue };
}

export interface PowerLaw {
  /** y ≈ coefficient · n^exponent */
  exponent: number;
  coefficient: number;
  /** R² of the fit in log–log space. */
  r2: number;
  points: number;
}

/** Least-squares line through (log n, log y): the growth exponent of a cost. Needs 2+ points with n, y > 0. */
export function powerLawFit(ns: readonly number[], ys: readonly number[]): PowerLaw | undefined {
  const pts = ns.map((n, i) => [n, ys[i]!] as const).filter(([n, y]) => n > 0 && y > 0 && Number.isFinite(y));
  if (pts.length < 2 || new Set(pts.map(([n]) => n)).size < 2) return undefined;
  const lx = pts.map(([n]) => Math.log(n));
  const ly = pts.map(([, y]) => Math.log(y));
  const mx = mean(lx);
  const my = mean(ly);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < lx.length; i++) {
    sxy += (lx[i]! - mx) * (ly[i]! - my);
    sxx += (lx[i]! - mx) ** 2;
    syy += (ly[i]! - my) ** 2;
  }
  const exponent = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { exponent, coefficient: Math.exp(my - exponent * mx), r2, points: pts.length };
}
