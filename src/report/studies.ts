/**
 * Analyses across runs, pure functions of rows: repetitions (mean, sd, t-interval), differences between
 * classifiers over paired resampled repetitions (corrected resampled t-test, McNemar on each), the
 * selection of settings (grid points × feature sets) on validation folds, the classifier × feature-set
 * matrix, and learning curves with their growth exponents. No Markdown here.
 */
import { canonicalJson } from '../engine/hash.ts';
import { mean, sampleSd, wilson, type Interval } from '../metrics/intervals.ts';
import { correctedResampledTTest, powerLawFit, tInterval, type CorrectedTTest, type PowerLaw } from '../metrics/resampling.ts';
import { holm, mcnemar } from '../metrics/significance.ts';
import { decodeLabels, type OkRow, type ResultRow, type SelectionRow } from '../results/row.ts';

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The finished test runs of one classifier at one training size, by repetition. */
export interface Series {
  label: string;
  trainSize: number;
  testSize: number;
  rows: OkRow[];
  accuracies: number[];
  mean: number;
  sd: number;
  /** t-interval over repetitions (2+), else Wilson on the one run's test rows. */
  interval?: Interval;
  intervalKind: 't' | 'wilson';
  fitSeconds: number;
  predictSeconds: number;
  /** Distinct test splits among the repetitions (1 = the repetitions varied the seed only). */
  splits: number;
}

export function seriesOf(rows: readonly ResultRow[]): Series[] {
  const map = new Map<string, OkRow[]>();
  for (const r of rows) {
    if (r.status !== 'ok') continue;
    const k = canonicalJson([r.classifier, r.split.train, r.split.test]);
    const list = map.get(k);
    if (list) list.push(r);
    else map.set(k, [r]);
  }
  return [...map.values()]
    .map((list) => {
      list.sort((a, b) => a.repetition - b.repetition || cmp(a.startedAt, b.startedAt));
      const acc = list.map((r) => r.metrics.accuracy);
      const first = list[0]!;
      const t = tInterval(acc);
      const interval = t ?? (first.metrics.total > 0 ? wilson(first.metrics.correct, first.metrics.total) : undefined);
      return {
        label: first.classifier,
        trainSize: first.split.train,
        testSize: first.split.test,
        rows: list,
        accuracies: acc,
        mean: mean(acc),
        sd: sampleSd(acc),
        ...(interval ? { interval: t ? { low: Math.max(0, t.low), high: Math.min(1, t.high) } : interval } : {}),
        intervalKind: t ? ('t' as const) : ('wilson' as const),
        fitSeconds: mean(list.map((r) => r.timing.fitSeconds)),
        predictSeconds: mean(list.map((r) => r.timing.predictSeconds)),
        splits: new Set(list.map((r) => r.split.fingerprint)).size,
      };
    })
    .sort((a, b) => a.trainSize - b.trainSize || b.mean - a.mean || cmp(a.label, b.label));
}

export interface PairComparison {
  a: Series;
  b: Series;
  /** Repetitions both finished on the same split. */
  paired: number;
  /** Corrected resampled t-test of a − b (when the repetitions re-drew the split, 2+ pairs). */
  test?: CorrectedTTest;
  /** Holm-adjusted p of the corrected t-test, over the family of pairs tested. */
  holmP?: number;
  /** McNemar on each paired repetition: how many differ at 5%, and in whose favour. */
  mcnemarDiffer: number;
  mcnemarTested: number;
  /** "a" or "b" when the corrected t-test (Holm-adjusted) separates them at 5%; otherwise a tie. */
  verdict: 'a' | 'b' | 'tie';
}

/**
 * Every pair of classifiers at the same training size, paired by repetition on the same split. The
 * verdict rests on the corrected resampled t-test (adjusted by Holm over all pairs); McNemar per
 * repetition is shown beside it. A difference that no test supports is a tie.
 */
export function pairwise(series: readonly Series[]): PairComparison[] {
  const labels = new Map<string, Int32Array>();
  for (const s of series) for (const r of s.rows) if (r.testLabels && !labels.has(r.testLabelsHash)) labels.set(r.testLabelsHash, decodeLabels(r.testLabels));
  const out: PairComparison[] = [];
  const bySize = new Map<number, Series[]>();
  for (const s of series) bySize.set(s.trainSize, [...(bySize.get(s.trainSize) ?? []), s]);
  for (const group of bySize.values()) {
    const ranked = [...group].sort((x, y) => y.mean - x.mean || cmp(x.label, y.label));
    for (let i = 0; i < ranked.length; i++) {
      for (let j = i + 1; j < ranked.length; j++) {
        const a = ranked[i]!;
        const b = ranked[j]!;
        const pairs: [OkRow, OkRow][] = [];
        for (const ra of a.rows) {
          const rb = b.rows.find((x) => x.repetition === ra.repetition && x.split.fingerprint === ra.split.fingerprint);
          if (rb) pairs.push([ra, rb]);
        }
        let differ = 0;
        let tested = 0;
        for (const [ra, rb] of pairs) {
          const y = labels.get(ra.testLabelsHash);
          if (!y || ra.testLabelsHash !== rb.testLabelsHash) continue;
          tested++;
          if (mcnemar(y, decodeLabels(ra.predictions), decodeLabels(rb.predictions)).pValue < 0.05) differ++;
        }
        const resampled = new Set(pairs.map(([ra]) => ra.split.fingerprint)).size === pairs.length;
        const test =
          pairs.length >= 2 && resampled
            ? correctedResampledTTest(
                pairs.map(([ra]) => ra.metrics.accuracy),
                pairs.map(([, rb]) => rb.metrics.accuracy),
                a.trainSize,
                a.testSize,
              )
            : undefined;
        out.push({ a, b, paired: pairs.length, ...(test ? { test } : {}), mcnemarDiffer: differ, mcnemarTested: tested, verdict: 'tie' });
      }
    }
  }
  const tested = out.filter((p) => p.test);
  const adjusted = holm(tested.map((p) => p.test!.pValue));
  tested.forEach((p, i) => {
    p.holmP = adjusted[i]!;
    if (p.holmP < 0.05) p.verdict = p.test!.meanDifference > 0 ? 'a' : 'b';
  });
  return out;
}

/** One candidate setting of one classifier, its validation figures pooled over folds and repetitions. */
export interface CandidateScore {
  candidate: number;
  featureSet?: string;
  features: string[];
  params: Record<string, unknown>;
  /** Accuracy of every fold of every repetition. */
  foldAccuracies: number[];
  mean: number;
  sd: number;
  fitSeconds: number;
  featureSeconds: number;
  transformMsPerImage: number;
  failed: string[];
  /** Repetitions whose test run used this setting. */
  chosen: number;
  /** Successive halving: the last rung this candidate was scored in (its figures above are that rung's). */
  rung?: number;
}

/** One rung of a successive-halving search (over all its repetitions). */
export interface RungSummary {
  rung: number;
  resource: { kind: 'rows' | 'epochs'; value: number };
  /** Candidates scored in this rung (per repetition). */
  candidates: number;
  /** Candidates that went on to the next rung; for the last rung, 1 (the chosen one). */
  kept: number;
  /** The best mean validation accuracy of the rung and its candidate. */
  best?: { candidate: number; accuracy: number };
  /** Candidate-seconds: the rung's scoring processes' wall times summed (each fold's fit, predict and features when a row has none). */
  candidateSeconds: number;
  /** Training rows per fold (rows resource, the first fold), for the table. */
  foldTrain?: number;
  foldValidation?: number;
}

/** One candidate's mean validation accuracy in one rung, for the rung chart. */
export interface RungPoint {
  candidate: number;
  rung: number;
  resource: number;
  accuracy: number;
}

export interface SelectionTable {
  label: string;
  trainSize: number;
  method: 'cv' | 'validation';
  folds: number;
  /** Rows each candidate was fitted on and scored on in its first fold (fewer than trainSize when selection used a subset). */
  foldTrain: number;
  foldValidation: number;
  repetitions: number;
  candidates: CandidateScore[];
  /** The search strategy the rows name ("grid" when they name none). */
  search: string;
  /** Successive halving's rungs, in order (absent for a grid or a random search). */
  rungs?: RungSummary[];
  rungPoints?: RungPoint[];
}

/** A row's wall seconds: its own elapsedSeconds, else the sum of its folds' fit, predict and feature times. */
function rowSeconds(r: SelectionRow): number {
  return r.elapsedSeconds ?? (r.folds ?? []).reduce((a, f) => a + f.fitSeconds + f.predictSeconds + f.featureSeconds, 0);
}

/** Successive halving's rungs from rows that name a resource (pooled over repetitions). */
function rungSummaries(list: readonly SelectionRow[]): { rungs: RungSummary[]; points: RungPoint[] } | undefined {
  const staged = list.filter((s) => s.resource);
  if (!staged.length) return undefined;
  const runs = new Set(staged.map((s) => s.runId)).size;
  const byRung = new Map<number, SelectionRow[]>();
  for (const s of staged) byRung.set(s.rung ?? 0, [...(byRung.get(s.rung ?? 0) ?? []), s]);
  const numbers = [...byRung.keys()].sort((a, b) => a - b);
  const points: RungPoint[] = [];
  const rungs = numbers.map((rung, i) => {
    const rs = byRung.get(rung)!;
    const byCandidate = new Map<number, number[]>();
    for (const r of rs) if (r.status === 'ok' && r.folds?.length) byCandidate.set(r.candidate, [...(byCandidate.get(r.candidate) ?? []), ...r.folds.map((f) => f.accuracy)]);
    let best: RungSummary['best'];
    for (const [candidate, acc] of [...byCandidate.entries()].sort((a, b) => a[0] - b[0])) {
      const accuracy = mean(acc);
      points.push({ candidate, rung, resource: rs[0]!.resource!.value, accuracy });
      if (!best || accuracy > best.accuracy) best = { candidate, accuracy };
    }
    const next = byRung.get(numbers[i + 1]!);
    const fold = rs.find((r) => r.folds?.length)?.folds?.[0];
    return {
      rung,
      resource: rs[0]!.resource!,
      candidates: rs.length / runs,
      kept: next ? next.length / runs : 1,
      ...(best ? { best } : {}),
      candidateSeconds: rs.reduce((a, r) => a + rowSeconds(r), 0),
      ...(fold && rs[0]!.resource!.kind === 'rows' ? { foldTrain: fold.train, foldValidation: fold.validation } : {}),
    };
  });
  return { rungs, points };
}

/** The selection of each classifier (per training size), from its selection rows and the settings its test runs used. */
export function selectionTables(selection: readonly SelectionRow[], rows: readonly ResultRow[]): SelectionTable[] {
  const byRun = new Map(rows.map((r) => [r.id, r]));
  const groups = new Map<string, SelectionRow[]>();
  for (const s of selection) {
    const k = canonicalJson([s.classifier, s.split.train]);
    groups.set(k, [...(groups.get(k) ?? []), s]);
  }
  return [...groups.values()]
    .map((list) => {
      const first = list[0]!;
      // Successive halving scores a candidate in several rungs: its figures are those of the last rung it reached.
      const lastRung = new Map<number, number>();
      for (const s of list) lastRung.set(s.candidate, Math.max(lastRung.get(s.candidate) ?? 0, s.rung ?? 0));
      const candidates = new Map<number, SelectionRow[]>();
      for (const s of list) if ((s.rung ?? 0) === lastRung.get(s.candidate)) candidates.set(s.candidate, [...(candidates.get(s.candidate) ?? []), s]);
      const halving = rungSummaries(list);
      const scores: CandidateScore[] = [...candidates.entries()]
        .sort((x, y) => x[0] - y[0])
        .map(([candidate, rs]) => {
          const folds = rs.flatMap((r) => r.folds ?? []);
          const acc = folds.map((f) => f.accuracy);
          const c = rs[0]!;
          return {
            candidate,
            ...(c.featureSet !== undefined ? { featureSet: c.featureSet } : {}),
            features: c.features,
            params: c.params,
            foldAccuracies: acc,
            mean: mean(acc),
            sd: sampleSd(acc),
            fitSeconds: mean(folds.map((f) => f.fitSeconds)),
            featureSeconds: mean(folds.map((f) => f.featureSeconds)),
            transformMsPerImage: mean(folds.map((f) => f.transformMsPerImage)),
            failed: rs.filter((r) => r.status !== 'ok').map((r) => r.reason ?? r.status),
            chosen: rs.filter((r) => {
              const run = byRun.get(r.runId);
              return run && run.status === 'ok' && canonicalJson(run.params) === canonicalJson(r.params) && run.featureSet === r.featureSet && canonicalJson(run.features) === canonicalJson(r.features);
            }).length,
            ...(halving ? { rung: lastRung.get(candidate)! } : {}),
          };
        });
      return {
        label: first.classifier,
        trainSize: first.split.train,
        method: first.method,
        folds: Math.max(...list.map((s) => s.folds?.length ?? 0)),
        foldTrain: list.find((s) => s.folds?.length && !s.resource)?.folds?.[0]?.train ?? 0,
        foldValidation: list.find((s) => s.folds?.length && !s.resource)?.folds?.[0]?.validation ?? 0,
        repetitions: new Set(list.map((s) => s.runId)).size,
        candidates: scores,
        search: list.find((s) => s.search)?.search ?? 'grid',
        ...(halving ? { rungs: halving.rungs, rungPoints: halving.points } : {}),
      };
    })
    .sort((a, b) => a.trainSize - b.trainSize || cmp(a.label, b.label));
}

export interface FeatureCell {
  classifier: string;
  featureSet: string;
  /** Mean validation accuracy (never the test rows). */
  accuracy: number;
  sd: number;
  /** Folds × repetitions the accuracy is the mean of. */
  n: number;
  chosen: boolean;
}

export interface FeatureSetCost {
  featureSet: string;
  features: string[];
  /** Fitting and applying the pipeline on a fold, seconds (mean). */
  fitSeconds: number;
  /** Applying the fitted pipeline to raw images, ms per image (mean). */
  transformMsPerImage: number;
}

/** The classifier × feature-set matrix of validation accuracy, best grid point per cell. */
export function featureMatrix(tables: readonly SelectionTable[]): { cells: FeatureCell[]; costs: FeatureSetCost[] } {
  const cells: FeatureCell[] = [];
  const cost = new Map<string, { features: string[]; fit: number[]; transform: number[] }>();
  for (const t of tables) {
    const sets = new Map<string, CandidateScore[]>();
    for (const c of t.candidates) if (c.featureSet !== undefined) sets.set(c.featureSet, [...(sets.get(c.featureSet) ?? []), c]);
    for (const [featureSet, cs] of sets) {
      const ok = cs.filter((c) => c.foldAccuracies.length);
      if (!ok.length) continue;
      const best = [...ok].sort((x, y) => y.mean - x.mean)[0]!;
      cells.push({ classifier: t.label, featureSet, accuracy: best.mean, sd: best.sd, n: best.foldAccuracies.length, chosen: cs.some((c) => c.chosen > 0) });
      const e = cost.get(featureSet) ?? { features: best.features, fit: [], transform: [] };
      for (const c of ok) {
        e.fit.push(c.featureSeconds);
        e.transform.push(c.transformMsPerImage);
      }
      cost.set(featureSet, e);
    }
  }
  const costs = [...cost.entries()].map(([featureSet, e]) => ({ featureSet, features: e.features, fitSeconds: Math.min(...e.fit), transformMsPerImage: mean(e.transform) }));
  return { cells, costs };
}

export interface LearningCurve {
  label: string;
  points: Series[];
  /** Fit time ∝ n^exponent, least squares in log–log over every size. */
  fit?: PowerLaw;
  predict?: PowerLaw;
  /** The exponent between the two largest sizes (fixed costs weigh on the small ones). */
  fitTail?: number;
  predictTail?: number;
}

/** Learning curves: classifiers with finished runs at two or more training sizes (on the same test rows). */
export function learningCurves(series: readonly Series[]): LearningCurve[] {
  const by = new Map<string, Series[]>();
  for (const s of series) by.set(s.label, [...(by.get(s.label) ?? []), s]);
  return [...by.entries()]
    .filter(([, list]) => new Set(list.map((s) => s.trainSize)).size >= 2)
    .map(([label, list]) => {
      const points = [...list].sort((a, b) => a.trainSize - b.trainSize);
      const fit = powerLawFit(points.map((p) => p.trainSize), points.map((p) => p.fitSeconds));
      const predict = powerLawFit(points.map((p) => p.trainSize), points.map((p) => p.predictSeconds));
      const [p1, p2] = points.slice(-2);
      const tail = (f: (s: Series) => number) => (p1 && p2 && f(p1) > 0 && f(p2) > 0 ? Math.log(f(p2) / f(p1)) / Math.log(p2.trainSize / p1.trainSize) : undefined);
      const fitTail = tail((s) => s.fitSeconds);
      const predictTail = tail((s) => s.predictSeconds);
      return { label, points, ...(fit ? { fit } : {}), ...(predict ? { predict } : {}), ...(fitTail !== undefined ? { fitTail } : {}), ...(predictTail !== undefined ? { predictTail } : {}) };
    })
    .sort((a, b) => b.points[b.points.length - 1]!.mean - a.points[a.points.length - 1]!.mean || cmp(a.label, b.label));
}
