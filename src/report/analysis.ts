/**
 * Analysis of the runs, pure functions of rows: each ok run with what its predictions give, the groups of
 * runs of one classifier setting (repetitions together), their ranking, and the deployment pick. No
 * Markdown here (studies.ts holds the analyses across groups: repetitions, selection, learning curves).
 */
import { canonicalJson } from '../engine/hash.ts';
import { decodeLabels, type BrowserRow, type Deployment, type NotOkRow, type OkRow, type ResultRow } from '../results/row.ts';
import { correctCount } from '../metrics/accuracy.ts';
import { confusionMatrix, type ConfusionMatrix } from '../metrics/confusion.ts';
import { mean, sampleSd, wilson } from '../metrics/intervals.ts';
import { perClass, type PerClassReport } from '../metrics/per-class.ts';
import { holm, mcnemar, type McNemarResult } from '../metrics/significance.ts';
import { tInterval } from '../metrics/resampling.ts';
import { bytes, cmp, distinct, featuresText, num, paramsShort, pct, slugify } from './format.ts';
import type { DeployLimits, ReportOptions } from './types.ts';

/** One ok run with what can be derived from its predictions. */
export interface Run {
  row: OkRow;
  predictions: Int32Array;
  labels?: Int32Array;
  correct: number;
  total: number;
  accuracy: number;
  macroF1: number;
  latencyMs: number;
  /** Latency is predict time / test rows (no single-row measurement in the row). */
  latencyEstimated: boolean;
  cm?: ConfusionMatrix;
  classes?: PerClassReport;
}

/** Runs of one classifier + params + features + engine on same-sized splits (repetitions differ by seed). */
export interface Group {
  key: string;
  label: string;
  slug: string;
  classifier: string;
  params: Record<string, unknown>;
  features: string[];
  rows: ResultRow[];
  runs: Run[];
  failures: NotOkRow[];
  accuracyMean: number;
  accuracySd: number;
  ci?: { low: number; high: number };
  macroF1: number;
  fitSeconds: number;
  predictSeconds: number;
  latencyMs: number;
  latencyEstimated: boolean;
  latencyP50?: number;
  latencyP95?: number;
  modelBytes?: number;
  peakRssMb: number;
  featureSeconds: number;
  /** Figures measured on the runs' bundles (when every finished run has them), means over runs. */
  deploy?: DeployFigures;
  /** Why a finished run has no bundle or no deployment figures. */
  undeployable?: string;
  /** Bundle files of the finished runs that wrote one (measured or not). */
  bundleFiles: string[];
  /** The runs re-drew the split (the interval is a t-interval over them). */
  resampled?: boolean;
  /** The runs' compact bundles (bundle.precision), one entry per precision. */
  compact?: CompactFigures[];
  /** Set on a compact bundle's candidate (compactCandidates): the group it is a precision of. */
  compactOf?: { label: string; precision: string };
  /** Calibration and "unsure" figures on the test rows, means over runs (when every finished run has them). */
  trust?: TrustSummary;
  /** Mean accuracy over the corruptions, mean over runs (when every finished run was measured). */
  corruptedAccuracy?: number;
}

export interface TrustSummary {
  /** Share of test rows answered (not "unsure") at the bundle's threshold. */
  coverage: number;
  /** Expected calibration error after calibration. */
  ece: number;
}

/** A group's compact bundles at one precision: means over its runs (sums for agreement). */
export interface CompactFigures {
  precision: 'float16' | 'int8';
  /** The bundle of every run (when every run has one). */
  files: string[];
  bundleBytes?: number;
  modelBytes?: number;
  accuracy?: number;
  /** Test rows on which the compact model gives the float32 model's label. */
  same?: number;
  total?: number;
  deploy?: DeployFigures;
  /** Why a run has no such bundle (or figures), when one has not. */
  error?: string;
}

export interface DeployFigures {
  bundleBytes: number;
  coldStartMs: number;
  p50: number;
  p95: number;
  /** Lowest and highest per-pass p50 over every run: the latency spread the pick looks at. */
  passLo: number;
  passHi: number;
  passes: number;
  calls: number;
  throughput: number;
  threads: number;
  same: number;
  total: number;
}


export function deployLimits(opts: ReportOptions): DeployLimits {
  const fromConfig = (opts.config as { deploy?: unknown } | undefined)?.deploy;
  const src = (opts.deploy ?? fromConfig ?? {}) as Record<string, unknown>;
  const pick = (k: string) => (typeof src[k] === 'number' && Number.isFinite(src[k]) ? (src[k] as number) : undefined);
  const out: DeployLimits = {};
  const lat = pick('maxLatencyMs');
  const size = pick('maxModelBytes');
  if (lat !== undefined) out.maxLatencyMs = lat;
  if (size !== undefined) out.maxModelBytes = size;
  for (const k of ['minCoverage', 'minCorruptedAccuracy', 'maxEce'] as const) {
    const v = pick(k);
    if (v !== undefined) out[k] = v;
  }
  if (src.target === 'browser' || src.target === 'node') out.target = src.target;
  if (src.axis === 'coverage') out.axis = 'coverage';
  return out;
}

/** A group's bundle measured in a browser page, one page mode (browser.jsonl rows of its runs, means over runs). */
export interface BrowserFigures extends Omit<DeployFigures, 'bundleBytes' | 'throughput'> {
  isolated: boolean;
  crossOriginIsolated: boolean;
  downloadGzipBytes: number;
  downloadBytes: number;
  timerResolutionMs: number;
  engine: string;
  differing: NonNullable<BrowserRow['agreement']>['differing'];
  browser: string;
}

export interface BrowserView {
  plain?: BrowserFigures;
  isolated?: BrowserFigures;
  /**
   * The mode a browser target uses: the isolated page when it was measured (its clock resolves 5 µs, the
   * plain page's only 100 µs, and it allows threads), else the plain page.
   */
  used?: BrowserFigures;
  /** Why the page could not run it (a failed row of every run), when no mode ran. */
  failed?: string;
}

/** The browser rows of a group's runs, per page mode; undefined when none was measured. */
export function browserView(g: Group, rows: readonly BrowserRow[]): BrowserView | undefined {
  const ids = new Set(g.runs.map((r) => r.row.id));
  const mine = rows.filter((b) => ids.has(b.runId));
  if (!mine.length) return undefined;
  const view: BrowserView = {};
  for (const isolated of [false, true]) {
    const ok = mine.filter((b) => b.isolated === isolated && b.status === 'ok');
    // Every run of the group must have been measured in that mode, as for the Node figures.
    if (!ok.length || ok.length !== g.runs.length) continue;
    const passes = ok.flatMap((b) => b.passP50Ms ?? [b.latencyMsP50!]);
    const f: BrowserFigures = {
      isolated,
      crossOriginIsolated: ok.every((b) => b.crossOriginIsolated),
      downloadGzipBytes: mean(ok.map((b) => b.download!.gzipBytes)),
      downloadBytes: mean(ok.map((b) => b.download!.bytes)),
      coldStartMs: mean(ok.map((b) => b.coldStart!.totalMs)),
      p50: mean(ok.map((b) => b.latencyMsP50!)),
      p95: mean(ok.map((b) => b.latencyMsP95!)),
      passLo: Math.min(...passes),
      passHi: Math.max(...passes),
      passes: passes.length,
      calls: ok.reduce((a, b) => a + (b.calls ?? 0), 0),
      timerResolutionMs: Math.max(...ok.map((b) => b.timerResolutionMs ?? 0)),
      engine: ok[0]!.engine ?? '',
      threads: Math.max(...ok.map((b) => b.threads ?? 1)),
      same: ok.reduce((a, b) => a + b.agreement!.same, 0),
      total: ok.reduce((a, b) => a + b.agreement!.total, 0),
      differing: ok.flatMap((b) => b.agreement!.differing),
      browser: ok[0]!.browser,
    };
    if (isolated) view.isolated = f;
    else view.plain = f;
  }
  const modes = [view.plain, view.isolated].filter((x): x is BrowserFigures => !!x);
  if (modes.length) view.used = view.isolated ?? view.plain;
  else view.failed = mine.find((b) => b.status === 'failed')?.reason ?? 'not measured in every page mode';
  return view;
}

/**
 * The groups as a deployment target sees them: for 'browser', each group's deploy figures replaced by
 * the browser's (latency of the mode it uses, the gzip download as the size); groups without browser
 * figures drop out. For 'node', the groups as they are.
 */
export function forTarget(groups: readonly Group[], target: DeployLimits['target'], rows: readonly BrowserRow[]): Group[] {
  if (target !== 'browser') return [...groups];
  return groups.flatMap((g) => {
    const u = browserView(g, rows)?.used;
    if (!u || !g.deploy) return [];
    const deploy: DeployFigures = { ...g.deploy, bundleBytes: u.downloadGzipBytes, coldStartMs: u.coldStartMs, p50: u.p50, p95: u.p95, passLo: u.passLo, passHi: u.passHi, passes: u.passes, calls: u.calls, threads: u.threads, same: u.same, total: u.total };
    return [{ ...g, deploy, latencyMs: u.p50 }];
  });
}

export function analyseRun(row: OkRow, labelsByHash: Map<string, Int32Array>, warnings: string[]): Run {
  const predictions = decodeLabels(row.predictions);
  let labels = labelsByHash.get(row.testLabelsHash);
  if (labels && labels.length !== predictions.length) {
    warnings.push(`Run ${row.id.slice(0, 12)} (${row.classifier}) has ${predictions.length} predictions for ${labels.length} test labels; its confusion matrix is left out.`);
    labels = undefined;
  }
  const estimated = row.timing.latencyMsP50 === undefined;
  const latencyMs = row.timing.latencyMsP50 ?? (row.metrics.total ? (row.timing.predictSeconds * 1000) / row.metrics.total : NaN);
  const run: Run = {
    row,
    predictions,
    correct: row.metrics.correct,
    total: row.metrics.total,
    accuracy: row.metrics.accuracy,
    macroF1: row.metrics.macroF1,
    latencyMs,
    latencyEstimated: estimated,
  };
  if (labels) {
    run.labels = labels;
    run.correct = correctCount(labels, predictions);
    run.total = labels.length;
    run.accuracy = run.total ? run.correct / run.total : NaN;
    run.cm = confusionMatrix(labels, predictions);
    run.classes = perClass(run.cm);
    run.macroF1 = run.classes.macroF1;
    if (Math.abs(run.accuracy - row.metrics.accuracy) > 1e-9) {
      warnings.push(`Run ${row.id.slice(0, 12)} (${row.classifier}) stores accuracy ${pct(row.metrics.accuracy, 4)} but its predictions give ${pct(run.accuracy, 4)}; the report uses the predictions.`);
    }
  }
  return run;
}

/** The groups at the largest training size (a learning curve has several; deployment, significance and comparisons use the largest). */
export function largestSizeGroups(groups: readonly Group[]): Group[] {
  const largest = Math.max(...groups.map((g) => g.rows[0]!.split.train));
  return groups.filter((g) => g.rows[0]!.split.train === largest);
}

/**
 * Runs of one classifier setting on same-sized splits: repetitions group together whether they varied
 * the seed or re-drew the split. A setting chosen by selection may differ between repetitions, so those
 * runs group by classifier alone.
 */
export function groupKey(r: ResultRow): string {
  return canonicalJson({
    dataset: r.dataset,
    classifier: r.classifier,
    ...(r.selection ? { selected: true } : { params: r.params, features: r.features }),
    engine: r.status === 'ok' ? r.engine : undefined,
    split: { train: r.split.train, validation: r.split.validation, test: r.split.test },
  });
}

export function byRepetition(a: ResultRow, b: ResultRow): number {
  return a.repetition - b.repetition || a.seed - b.seed || cmp(a.startedAt, b.startedAt) || cmp(a.id, b.id);
}

export function buildGroups(rows: readonly ResultRow[], warnings: string[]): Group[] {
  const labelsByHash = new Map<string, Int32Array>();
  for (const r of rows) if (r.status === 'ok' && r.testLabels && !labelsByHash.has(r.testLabelsHash)) labelsByHash.set(r.testLabelsHash, decodeLabels(r.testLabels));
  const missing = distinct(rows.filter((r): r is OkRow => r.status === 'ok' && !labelsByHash.has(r.testLabelsHash)).map((r) => r.testLabelsHash));
  if (missing.length) warnings.push(`No row holds the test labels with hash ${missing.join(', ')}; confusion matrices and significance tests need them.`);

  const map = new Map<string, ResultRow[]>();
  for (const r of rows) {
    const k = groupKey(r);
    const list = map.get(k);
    if (list) list.push(r);
    else map.set(k, [r]);
  }
  const groups: Group[] = [...map.entries()].map(([key, list]) => {
    list.sort(byRepetition);
    const first = list[0]!;
    const runs = list.filter((r): r is OkRow => r.status === 'ok').map((r) => analyseRun(r, labelsByHash, warnings));
    const failures = list.filter((r): r is NotOkRow => r.status !== 'ok');
    const accs = runs.map((r) => r.accuracy);
    const opt = (xs: (number | undefined)[]) => (xs.length && xs.every((x) => x !== undefined) ? mean(xs as number[]) : undefined);
    const g: Group = {
      key,
      label: first.classifier,
      slug: '',
      classifier: first.classifier,
      params: first.params,
      features: first.features,
      rows: list,
      runs,
      failures,
      accuracyMean: mean(accs),
      accuracySd: sampleSd(accs),
      macroF1: mean(runs.map((r) => r.macroF1)),
      fitSeconds: mean(runs.map((r) => r.row.timing.fitSeconds)),
      predictSeconds: mean(runs.map((r) => r.row.timing.predictSeconds)),
      latencyMs: mean(runs.map((r) => r.latencyMs)),
      latencyEstimated: runs.some((r) => r.latencyEstimated),
      peakRssMb: runs.length ? Math.max(...runs.map((r) => r.row.peakRssMb)) : NaN,
      featureSeconds: mean(runs.map((r) => r.row.timing.featureSeconds)),
      bundleFiles: runs.flatMap((r) => (r.row.bundle ? [r.row.bundle.file] : [])),
    };
    const deployed = runs.map((r) => r.row).filter((r) => r.deployment && r.bundle);
    if (runs.length && deployed.length === runs.length) {
      g.deploy = deployFigures(deployed.map((r) => r.bundle!.bytes), deployed.map((r) => r.deployment!));
      g.latencyMs = g.deploy.p50;
      g.latencyEstimated = false;
    } else if (runs.length) {
      const r = runs.map((x) => x.row).find((x) => !x.deployment || !x.bundle)!;
      g.undeployable = r.noBundle ?? r.deploymentError ?? 'the run wrote no bundle';
    }
    const trusted = runs.map((r) => r.row.trust);
    if (runs.length && trusted.every((t) => t)) g.trust = { coverage: mean(trusted.map((t) => t!.test.atThreshold.coverage)), ece: mean(trusted.map((t) => t!.test.after.ece)) };
    const robust = runs.map((r) => r.row.robustness);
    if (runs.length && robust.every((x) => x)) g.corruptedAccuracy = mean(robust.map((x) => x!.meanAccuracy));
    const compact = compactFigures(runs.map((r) => r.row));
    if (compact.length) g.compact = compact;
    const p50 = opt(runs.map((r) => r.row.timing.latencyMsP50));
    const p95 = opt(runs.map((r) => r.row.timing.latencyMsP95));
    const size = opt(runs.map((r) => r.row.modelBytes));
    if (p50 !== undefined) g.latencyP50 = p50;
    if (p95 !== undefined) g.latencyP95 = p95;
    if (size !== undefined) g.modelBytes = size;
    const resampled = new Set(runs.map((r) => r.row.split.fingerprint)).size > 1;
    if (resampled) {
      // Repetitions on re-drawn splits: the t-interval of the mean over them.
      const t = tInterval(accs);
      if (t) g.ci = { low: Math.max(0, t.low), high: Math.min(1, t.high) };
      g.resampled = true;
    } else if (runs.length) {
      // Test-set sampling uncertainty: Wilson on one run's test size, at the mean number correct.
      const total = runs[0]!.total;
      const correct = Math.round(mean(runs.map((r) => r.correct)));
      if (total > 0 && runs.every((r) => r.total === total)) g.ci = wilson(correct, total);
    }
    return g;
  });

  // Labels: the classifier name, then params, then features, then a number, until unique.
  const labelers: ((g: Group) => string)[] = [
    (g) => g.classifier,
    // Learning curves: the same classifier at several training sizes.
    (g) => `${g.classifier} (n=${g.rows[0]!.split.train})`,
    (g) => (Object.keys(g.params).length ? `${g.classifier} (${paramsShort(g.params, 40)})` : g.classifier),
    (g) => `${g.classifier} (${paramsShort(g.params, 40)}; ${featuresText(g.features)})`,
    (g) => `${g.classifier} (${paramsShort(g.params, 40)}; ${featuresText(g.features)}; ${g.rows[0]!.engine})`,
  ];
  for (const g of groups) {
    for (const f of labelers) {
      g.label = f(g);
      if (groups.every((o) => o === g || f(o) !== g.label)) break;
    }
  }
  const seenLabels = new Map<string, number>();
  for (const g of groups) {
    const n = (seenLabels.get(g.label) ?? 0) + 1;
    seenLabels.set(g.label, n);
    if (n > 1) g.label = `${g.label} #${n}`;
  }
  const seenSlugs = new Set<string>();
  for (const g of groups) {
    let s = slugify(g.label);
    for (let n = 2; seenSlugs.has(s); n++) s = `${slugify(g.label)}-${n}`;
    seenSlugs.add(s);
    g.slug = s;
  }
  return rankGroups(groups);
}

/** Deployment figures of bundles (one per run): means, the spread of the per-pass p50s, summed agreement. */
function deployFigures(bundleBytes: number[], d: Deployment[]): DeployFigures {
  const passes = d.flatMap((x) => x.passP50Ms);
  return {
    bundleBytes: mean(bundleBytes),
    coldStartMs: mean(d.map((x) => x.coldStartMs)),
    p50: mean(d.map((x) => x.latencyMsP50)),
    p95: mean(d.map((x) => x.latencyMsP95)),
    passLo: Math.min(...passes),
    passHi: Math.max(...passes),
    passes: passes.length,
    calls: d.reduce((a, x) => a + x.calls, 0),
    throughput: mean(d.map((x) => x.throughputPerSecond)),
    threads: Math.max(...d.map((x) => x.threads)),
    same: d.reduce((a, x) => a + x.agreement.same, 0),
    total: d.reduce((a, x) => a + x.agreement.total, 0),
  };
}

/** The compact bundles of a group's runs, per precision (in the order float16, int8). */
function compactFigures(rows: readonly OkRow[]): CompactFigures[] {
  const out: CompactFigures[] = [];
  for (const precision of ['float16', 'int8'] as const) {
    const entries = rows.map((r) => r.compact?.find((c) => c.precision === precision));
    if (entries.every((e) => e === undefined)) continue;
    const f: CompactFigures = { precision, files: [] };
    const done = entries.filter((e) => e?.file && e.metrics && e.agreement);
    if (done.length === rows.length) {
      f.files = done.map((e) => e!.file!);
      f.bundleBytes = mean(done.map((e) => e!.bytes ?? NaN));
      f.modelBytes = mean(done.map((e) => e!.modelBytes ?? NaN));
      f.accuracy = mean(done.map((e) => e!.metrics!.accuracy));
      f.same = done.reduce((a, e) => a + e!.agreement!.same, 0);
      f.total = done.reduce((a, e) => a + e!.agreement!.total, 0);
      if (done.every((e) => e!.deployment)) f.deploy = deployFigures(done.map((e) => e!.bytes ?? NaN), done.map((e) => e!.deployment!));
      else f.error = done.find((e) => e!.deploymentError)?.deploymentError ?? 'not measured';
    } else f.error = entries.find((e) => e?.error)?.error ?? 'not written for every run';
    out.push(f);
  }
  return out;
}

/**
 * Each group's measured compact bundles as deployment candidates of their own, labelled "<label>
 * (<precision>)", with their accuracy, latency and size (the float32 group's other figures).
 */
export function compactCandidates(groups: readonly Group[]): Group[] {
  return groups.flatMap((g) =>
    (g.deploy ? (g.compact ?? []) : []).flatMap((c) =>
      c.deploy && c.accuracy !== undefined
        ? [{ ...g, key: `${g.key}#${c.precision}`, label: `${g.label} (${c.precision})`, slug: `${g.slug}-${c.precision}`, accuracyMean: c.accuracy, deploy: c.deploy, latencyMs: c.deploy.p50, bundleFiles: c.files, compactOf: { label: g.label, precision: c.precision } }]
        : [],
    ),
  );
}

/**
 * What a deployment target chooses among: the groups with bundle figures (forTarget), and, for a Node
 * target, their compact bundles; by accuracy, a compact bundle after an equally accurate float32 one.
 */
export function deploymentCandidates(groups: readonly Group[], target: DeployLimits['target'], rows: readonly BrowserRow[]): Group[] {
  const plain = forTarget(groups.filter((g) => g.deploy), target, rows);
  const compact = target === 'browser' ? [] : compactCandidates(plain);
  if (!compact.length) return plain;
  const all = [...plain, ...compact];
  return all
    .map((g, i) => ({ g, i }))
    .sort((a, b) => b.g.accuracyMean - a.g.accuracyMean || Number(a.g.compactOf !== undefined) - Number(b.g.compactOf !== undefined) || a.i - b.i)
    .map((x) => x.g);
}

/** Finished groups by mean accuracy (ties: faster, then name); groups with no finished run last. */
export function rankGroups(groups: Group[]): Group[] {
  const done = groups.filter((g) => g.runs.length > 0);
  const notDone = groups.filter((g) => g.runs.length === 0);
  done.sort((a, b) => b.accuracyMean - a.accuracyMean || a.latencyMs - b.latencyMs || cmp(a.label, b.label));
  notDone.sort((a, b) => cmp(a.label, b.label));
  return [...done, ...notDone];
}

/** One group tested against the most accurate: McNemar on the first pair of runs that share a test split. */
export interface Comparison {
  g: Group;
  /** Absent when no run shares test rows (with stored labels) with one of the best's. */
  result?: McNemarResult;
  /** The run of `g` that was tested. */
  a?: Run;
  /** The p-value after Holm's correction over the groups that were tested. */
  holmP?: number;
}

/** Every finished group after the first (ranked: the most accurate) against the first, on the same test rows. */
export function compareWithBest(done: readonly Group[]): Comparison[] {
  const best = done[0]!;
  const comparisons: Comparison[] = done.slice(1).map((g) => {
    for (const b of best.runs) {
      for (const a of g.runs) {
        if (a.row.split.fingerprint === b.row.split.fingerprint && b.labels && a.predictions.length === b.labels.length) {
          return { g, a, result: mcnemar(b.labels, b.predictions, a.predictions) };
        }
      }
    }
    return { g };
  });
  const tested = comparisons.filter((c) => c.result);
  const adjusted = holm(tested.map((c) => c.result!.pValue));
  for (const [i, c] of tested.entries()) c.holmP = adjusted[i]!;
  return comparisons;
}

/** Whether a group's per-pass latencies fall on both sides of a limit. */
export function straddles(d: DeployFigures, limit: number | undefined): boolean {
  return limit !== undefined && d.passLo <= limit && d.passHi > limit;
}

/** A group's figure on the pick's axis: test accuracy, or the share answered at the "unsure" threshold (−1 when unmeasured). */
export function axisValue(g: Group, axis: DeployLimits['axis']): number {
  return axis === 'coverage' ? (g.trust?.coverage ?? -1) : g.accuracyMean;
}

/** Candidates ordered by the axis (accuracy, the default, keeps deploymentCandidates' order). */
export function byAxis(deployable: readonly Group[], axis: DeployLimits['axis']): Group[] {
  if (axis !== 'coverage') return [...deployable];
  return deployable.map((g, i) => ({ g, i })).sort((a, b) => axisValue(b.g, axis) - axisValue(a.g, axis) || a.i - b.i).map((x) => x.g);
}

/** The limits a group fails, each as the figure that failed it (e.g. "coverage 41.2% < 60.0%"); [] when it meets them all. */
export function failedLimits(g: Group, limits: DeployLimits): string[] {
  const out: string[] = [];
  const { maxModelBytes, maxLatencyMs, minCoverage, minCorruptedAccuracy, maxEce } = limits;
  if (maxModelBytes !== undefined && g.deploy!.bundleBytes > maxModelBytes) out.push(`bundle ${bytes(g.deploy!.bundleBytes)} > ${bytes(maxModelBytes)}`);
  if (maxLatencyMs !== undefined && g.deploy!.p50 > maxLatencyMs) out.push(`latency p50 ${num(g.deploy!.p50)} ms > ${num(maxLatencyMs)} ms`);
  if (minCoverage !== undefined) out.push(...(g.trust === undefined ? ['coverage not measured (no calibration)'] : g.trust.coverage < minCoverage ? [`coverage ${pct(g.trust.coverage)} < ${pct(minCoverage)}`] : []));
  if (minCorruptedAccuracy !== undefined) {
    out.push(...(g.corruptedAccuracy === undefined ? ['corrupted accuracy not measured'] : g.corruptedAccuracy < minCorruptedAccuracy ? [`mean corrupted accuracy ${pct(g.corruptedAccuracy)} < ${pct(minCorruptedAccuracy)}`] : []));
  }
  if (maxEce !== undefined) out.push(...(g.trust === undefined ? ['ECE not measured (no calibration)'] : g.trust.ece > maxEce ? [`ECE ${num(g.trust.ece)} > ${num(maxEce)}`] : []));
  return out;
}

/**
 * The pick among deployable groups, ranked on the axis (accuracy by default, or coverage at the "unsure"
 * threshold): the first that meets every limit: bundle size, latency p50 (over every timed call of every
 * pass), coverage, mean corrupted accuracy and ECE. One noisy pass does not move it; instead, when the
 * pick's own per-pass p50s straddle the latency limit, or a higher-ranked group's do, the pick is
 * uncertain and the report says so. `passedOver`: the higher-ranked groups and the figures that ruled each
 * out, which is what decided the pick. Without limits: the first on the axis.
 */
export function choose(deployable: Group[], limits: DeployLimits): { pick?: Group; contenders: Group[]; passedOver: { g: Group; failed: string[] }[] } {
  const { maxLatencyMs } = limits;
  const ranked = byAxis(deployable, limits.axis);
  const pick = ranked.find((g) => failedLimits(g, limits).length === 0);
  const until = pick ? ranked.indexOf(pick) : ranked.length;
  const passedOver = ranked.slice(0, until).map((g) => ({ g, failed: failedLimits(g, limits) }));
  // Straddling the latency limit matters only for groups that meet every other limit.
  const contenders = ranked.filter((g, i) => i <= until && straddles(g.deploy!, maxLatencyMs) && failedLimits(g, { ...limits, maxLatencyMs: undefined }).length === 0);
  return { ...(pick ? { pick } : {}), contenders, passedOver };
}

export interface DeploymentChoice {
  /** The bundle the report picks (path relative to the report folder), when one meets the limits. */
  pick?: { label: string; file: string; accuracy: number };
  /** The pick and more accurate classifiers whose per-pass latencies straddle the limit. */
  uncertain: string[];
  /** Every finished run's bundle, most accurate first. */
  bundles: { label: string; file: string; accuracy: number }[];
  /** The measured compact bundles (bundle.precision), labelled "<label> (<precision>)", most accurate first. */
  compact: { label: string; file: string; accuracy: number }[];
}

/** The report's deployment pick, for `digitbench predict <report folder>` and apps. */
export function deploymentChoice(rows: readonly ResultRow[], opts: Pick<ReportOptions, 'config' | 'deploy' | 'browser'> = {}): DeploymentChoice {
  const groups = buildGroups([...rows].sort((a, b) => cmp(a.startedAt, b.startedAt) || cmp(a.id, b.id)), []).filter((g) => g.runs.length);
  const limits = deployLimits(opts);
  const candidates = deploymentCandidates(groups, limits.target, opts.browser ?? []);
  // On the coverage axis only bundles with a threshold take part (as in the report's Deployment section).
  const { pick, contenders } = choose(limits.axis === 'coverage' ? candidates.filter((g) => g.trust) : candidates, limits);
  const entry = (g: Group) => ({ label: g.label, file: g.bundleFiles[0]!, accuracy: g.accuracyMean });
  const compact = compactCandidates(groups.filter((g) => g.deploy)).sort((a, b) => b.accuracyMean - a.accuracyMean);
  return { ...(pick ? { pick: entry(pick) } : {}), uncertain: contenders.map((g) => g.label), bundles: groups.filter((g) => g.bundleFiles.length).map(entry), compact: compact.map(entry) };
}
