/**
 * The report: a pure function of result rows (no I/O, no clock). Same rows and options → same bytes.
 * Returns the Markdown text and the files it links to (SVG charts, PNG grids), for write.ts to save.
 */
import { canonicalJson } from '../engine/hash.ts';
import type { Matrix } from '../engine/matrix.ts';
import { decodeLabels, type Env, type NotOkRow, type OkRow, type ResultRow, type SelectionRow } from '../results/row.ts';
import { correctCount } from '../metrics/accuracy.ts';
import { confusionMatrix, type ConfusionMatrix } from '../metrics/confusion.ts';
import { mean, sampleSd, wilson } from '../metrics/intervals.ts';
import { deploymentPareto } from '../metrics/pareto.ts';
import { perClass, type PerClassReport } from '../metrics/per-class.ts';
import { EXACT_BELOW, holm, mcnemar, type McNemarResult } from '../metrics/significance.ts';
import { accuracyLatencyChart, confusionChart } from './vega.ts';
import { featureSetsSection, learningCurveSection, repetitionsSection, selectionSection } from './sections/studies.ts';
import { tInterval } from '../metrics/resampling.ts';
import { misclassifiedGrid, pickMisclassified } from './images.ts';
import { DASH, cell, pct, num, bytes, pValue, paramValue, paramsShort, featuresText, code, slugify, distinct, cmp } from './format.ts';
import { markdownTable as table } from './table.ts';

export interface DeployLimits {
  /** Largest acceptable per-sample latency, in milliseconds. */
  maxLatencyMs?: number;
  /** Largest acceptable serialized model, in bytes. */
  maxModelBytes?: number;
}

export interface ReportOptions {
  /** The experiment config, shown as JSON; its `deploy` field (DeployLimits) sets the deployment limits. */
  config?: unknown;
  title?: string;
  /** Overrides config.deploy. */
  deploy?: DeployLimits;
  /**
   * Raw (0..255) test images, one row each, in the order of the split's test rows, for the grids of
   * misclassified digits. Either one matrix (used for every run whose test set has that many rows)
   * or a record keyed by split fingerprint.
   */
  testImages?: Matrix | Readonly<Record<string, Matrix>>;
  /** Height × width of a test image (default: square, from the matrix width). */
  imageShape?: readonly [number, number];
  /** Class names by label (e.g. the dataset's `classes`); default: the label number. */
  classNames?: readonly string[];
  /** Most misclassified digits drawn per classifier (default 40). */
  maxMisclassified?: number;
  /** The selection rows (selection.jsonl) of the reported runs: candidates scored on validation folds. */
  selection?: readonly SelectionRow[];
}

/** The reason a run has no bundle when the experiment turned them off (written by the harness). */
export const BUNDLES_OFF = 'bundles are off in this experiment ("bundles": false)';

export interface ReportFile {
  name: string;
  bytes: Uint8Array;
}

export interface Report {
  markdown: string;
  files: ReportFile[];
}

/** One ok run with what can be derived from its predictions. */
interface Run {
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
interface Group {
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
}

interface DeployFigures {
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

// ---------------------------------------------------------------- analysis

function deployLimits(opts: ReportOptions): DeployLimits {
  const fromConfig = (opts.config as { deploy?: unknown } | undefined)?.deploy;
  const src = (opts.deploy ?? fromConfig ?? {}) as Record<string, unknown>;
  const pick = (k: string) => (typeof src[k] === 'number' && Number.isFinite(src[k]) ? (src[k] as number) : undefined);
  const out: DeployLimits = {};
  const lat = pick('maxLatencyMs');
  const size = pick('maxModelBytes');
  if (lat !== undefined) out.maxLatencyMs = lat;
  if (size !== undefined) out.maxModelBytes = size;
  return out;
}

function analyseRun(row: OkRow, labelsByHash: Map<string, Int32Array>, warnings: string[]): Run {
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

/**
 * Runs of one classifier setting on same-sized splits: repetitions group together whether they varied
 * the seed or re-drew the split. A setting chosen by selection may differ between repetitions, so those
 * runs group by classifier alone.
 */
function groupKey(r: ResultRow): string {
  return canonicalJson({
    dataset: r.dataset,
    classifier: r.classifier,
    ...(r.selection ? { selected: true } : { params: r.params, features: r.features }),
    engine: r.status === 'ok' ? r.engine : undefined,
    split: { train: r.split.train, validation: r.split.validation, test: r.split.test },
  });
}

function byRepetition(a: ResultRow, b: ResultRow): number {
  return a.repetition - b.repetition || a.seed - b.seed || cmp(a.startedAt, b.startedAt) || cmp(a.id, b.id);
}

function buildGroups(rows: readonly ResultRow[], warnings: string[]): Group[] {
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
      const d = deployed.map((r) => r.deployment!);
      const passes = d.flatMap((x) => x.passP50Ms);
      g.deploy = {
        bundleBytes: mean(deployed.map((r) => r.bundle!.bytes)),
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
      g.latencyMs = g.deploy.p50;
      g.latencyEstimated = false;
    } else if (runs.length) {
      const r = runs.map((x) => x.row).find((x) => !x.deployment || !x.bundle)!;
      g.undeployable = r.noBundle ?? r.deploymentError ?? 'the run wrote no bundle';
    }
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

/** Finished groups by mean accuracy (ties: faster, then name); groups with no finished run last. */
function rankGroups(groups: Group[]): Group[] {
  const done = groups.filter((g) => g.runs.length > 0);
  const notDone = groups.filter((g) => g.runs.length === 0);
  done.sort((a, b) => b.accuracyMean - a.accuracyMean || a.latencyMs - b.latencyMs || cmp(a.label, b.label));
  notDone.sort((a, b) => cmp(a.label, b.label));
  return [...done, ...notDone];
}

function statusText(g: Group): string {
  const counts = new Map<string, number>();
  for (const r of g.rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  if (counts.size === 1) return g.rows.length === 1 ? g.rows[0]!.status : `${g.rows[0]!.status} ×${g.rows.length}`;
  const order = ['ok', 'failed', 'timeout', 'skipped'];
  return order.filter((s) => counts.has(s)).map((s) => `${s} ${counts.get(s)}/${g.rows.length}`).join(', ');
}

function accuracyText(g: Group): string {
  if (!g.runs.length) return DASH;
  if (g.runs.length === 1) return pct(g.accuracyMean);
  return `${pct(g.accuracyMean)} ± ${(g.accuracySd * 100).toFixed(2)} (n=${g.runs.length})`;
}

/** End to end on the bundle when measured; otherwise the model alone, marked †. */
function latencyText(g: Group): string {
  if (!g.runs.length) return DASH;
  if (g.deploy) return `${num(g.deploy.p50)} / ${num(g.deploy.p95)}`;
  if (g.latencyP50 === undefined) return `≈${num(g.latencyMs)}*`;
  return `${num(g.latencyP50)} / ${num(g.latencyP95)}†`;
}

function sizeText(g: Group): string {
  if (g.deploy) return bytes(g.deploy.bundleBytes);
  return g.modelBytes === undefined ? DASH : `${bytes(g.modelBytes)}†`;
}

function distinctJoin(values: string[]): string {
  return distinct(values).join(' / ') || DASH;
}

// ---------------------------------------------------------------- sections

function headerSection(rows: readonly ResultRow[], title: string, warnings: string[]): string {
  const lines = [`# ${title}`, ''];
  const counts = ['ok', 'failed', 'timeout', 'skipped'].map((s) => [s, rows.filter((r) => r.status === s).length] as const).filter(([, n]) => n > 0);
  const splits = distinct(rows.map((r) => canonicalJson(r.split))).map((s) => JSON.parse(s) as ResultRow['split']);
  const starts = rows.map((r) => r.startedAt).sort(cmp);
  lines.push(`- **Experiment:** ${distinct(rows.map((r) => r.experiment)).map(code).join(', ') || DASH}`);
  lines.push(`- **Dataset:** ${distinct(rows.map((r) => r.dataset)).join(', ') || DASH}`);
  for (const s of splits) {
    lines.push(`- **Split:** ${s.train} train, ${s.validation} validation, ${s.test} test rows; split seed ${s.seed}; fingerprint ${code(s.fingerprint)}`);
  }
  lines.push(`- **Runs:** ${rows.length}${counts.length ? ` (${counts.map(([s, n]) => `${n} ${s}`).join(', ')})` : ''}`);
  if (starts.length) lines.push(`- **Started:** ${starts[0]} to ${starts[starts.length - 1]}`);
  const newest = [...rows].sort((a, b) => cmp(b.startedAt, a.startedAt))[0]?.env.gitCommit;
  const older = rows.filter((r) => r.env.gitCommit !== newest);
  if (older.length) {
    const by = distinct(older.map((r) => r.env.gitCommit ?? 'unknown')).map((c) => `${code(c.slice(0, 12))} (${older.filter((r) => (r.env.gitCommit ?? 'unknown') === c).map((r) => r.classifier).join(', ')})`);
    lines.push(
      `- **Made by an older commit:** ${older.length} of ${rows.length} rows, by ${by.join('; ')}; the rest by ${code((newest ?? 'unknown').slice(0, 12))}. ` +
        'Run ids hash the code each run executes (plugin, features, harness), so these rows were kept because that code is unchanged since.',
    );
  }
  if (warnings.length) {
    lines.push('', '> [!WARNING]');
    for (const w of warnings) lines.push(`> - ${w}`);
  }
  return lines.join('\n');
}

function summarySection(groups: Group[]): string {
  const header = ['#', 'classifier', 'params', 'features', 'library', 'engine', 'accuracy', '95% CI', 'macro-F1', 'features s', 'fit s', 'predict s', 'latency p50 / p95 ms', 'bundle', 'peak RSS', 'status'];
  let rank = 0;
  const body = groups.map((g) => {
    const done = g.runs.length > 0;
    return [
      done ? String(++rank) : DASH,
      `**${cell(g.label)}**`,
      cell(paramsShort(g.params)),
      cell(featuresText(g.features)),
      cell(distinctJoin(g.rows.map((r) => r.library))),
      cell(distinctJoin(g.rows.map((r) => r.engine))),
      accuracyText(g),
      g.ci ? `${pct(g.ci.low, 1)} – ${pct(g.ci.high, 1)}` : DASH,
      done ? g.macroF1.toFixed(4) : DASH,
      done ? num(g.featureSeconds) : DASH,
      done ? num(g.fitSeconds) : DASH,
      done ? num(g.predictSeconds) : DASH,
      latencyText(g),
      done ? sizeText(g) : DASH,
      done ? `${Math.round(g.peakRssMb)} MB` : DASH,
      statusText(g),
    ];
  });
  const notes = [
    'Ranked by test accuracy. **95% CI**: Wilson score interval for the test-set size (the spread expected from the choice of test rows); ' +
      'with repetitions, accuracy is the mean ± standard deviation (percentage points) over the n runs and the interval is taken at the mean' +
      (groups.some((g) => g.resampled) ? '; where the repetitions re-drew the split (see Repetitions), it is the 95% t-interval of the mean over them' : '') +
      '.',
    'Times are means over repetitions: **features** (fitting and applying the feature pipeline), **fit** and **predict** (whole test set in one call, features precomputed) in seconds. ' +
      '**Latency** and **bundle** are deployment figures, measured on the run\'s model bundle in a fresh process: one raw 28×28 image per call through the bundle\'s feature pipeline and model (see Deployment); ' +
      '**peak RSS** is the largest over repetitions.',
  ];
  if (groups.some((g) => g.runs.length && !g.deploy)) notes.push('† The model alone (no bundle was measured; see Deployment): latency of one feature row per predict call, size of the serialized model.');
  if (groups.some((g) => g.runs.length && !g.deploy && g.latencyP50 === undefined)) notes.push('\\* No single-row latency was measured: predict time ÷ test rows.');
  return ['## Results', '', table(header, body, ['r', 'l', 'l', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']), '', notes.join('\n\n')].join('\n');
}

function failuresSection(groups: Group[]): string {
  const failed = groups.flatMap((g) => g.failures.map((r) => ({ g, r })));
  const lines = ['## Failed, timed-out and skipped runs', ''];
  if (!failed.length) {
    lines.push('None: every run finished.');
    return lines.join('\n');
  }
  lines.push(
    table(
      ['classifier', 'params', 'seed', 'rep', 'status', 'after', 'reason'],
      failed.map(({ g, r }) => [
        `**${cell(g.label)}**`,
        cell(paramsShort(r.params)),
        String(r.seed),
        String(r.repetition),
        `**${r.status}**`,
        r.elapsedSeconds === undefined ? DASH : `${num(r.elapsedSeconds)} s`,
        cell(r.reason),
      ]),
    ),
  );
  return lines.join('\n');
}

/** Whether a group's per-pass latencies fall on both sides of a limit. */
function straddles(d: DeployFigures, limit: number | undefined): boolean {
  return limit !== undefined && d.passLo <= limit && d.passHi > limit;
}

/**
 * The pick among deployable groups (ranked by accuracy): the most accurate whose bundle fits the size
 * limit and whose latency p50 (over every timed call of every pass) fits the latency limit. One noisy pass
 * does not move it; instead, when the pick's own per-pass p50s straddle the limit, or a more accurate
 * group's do, the pick is uncertain and the report says so. Without limits: the most accurate.
 */
function choose(deployable: Group[], limits: DeployLimits): { pick?: Group; contenders: Group[] } {
  const { maxLatencyMs, maxModelBytes } = limits;
  const sized = deployable.filter((g) => maxModelBytes === undefined || g.deploy!.bundleBytes <= maxModelBytes);
  const pick = sized.find((g) => maxLatencyMs === undefined || g.deploy!.p50 <= maxLatencyMs);
  const until = pick ? deployable.indexOf(pick) : deployable.length;
  const contenders = sized.filter((g) => deployable.indexOf(g) <= until && straddles(g.deploy!, maxLatencyMs));
  return { ...(pick ? { pick } : {}), contenders };
}

export interface DeploymentChoice {
  /** The bundle the report picks (path relative to the report folder), when one meets the limits. */
  pick?: { label: string; file: string; accuracy: number };
  /** The pick and more accurate classifiers whose per-pass latencies straddle the limit. */
  uncertain: string[];
  /** Every finished run's bundle, most accurate first. */
  bundles: { label: string; file: string; accuracy: number }[];
}

/** The report's deployment pick, for `digitbench predict <report folder>` and apps. */
export function deploymentChoice(rows: readonly ResultRow[], opts: Pick<ReportOptions, 'config' | 'deploy'> = {}): DeploymentChoice {
  const groups = buildGroups([...rows].sort((a, b) => cmp(a.startedAt, b.startedAt) || cmp(a.id, b.id)), []).filter((g) => g.runs.length);
  const { pick, contenders } = choose(groups.filter((g) => g.deploy), deployLimits(opts));
  const entry = (g: Group) => ({ label: g.label, file: g.bundleFiles[0]!, accuracy: g.accuracyMean });
  return { ...(pick ? { pick: entry(pick) } : {}), uncertain: contenders.map((g) => g.label), bundles: groups.filter((g) => g.bundleFiles.length).map(entry) };
}

async function deploymentSection(groups: Group[], limits: DeployLimits, files: ReportFile[]): Promise<string> {
  const done = groups.filter((g) => g.runs.length > 0);
  const lines = ['## Deployment', ''];
  if (!done.length) {
    lines.push('No run finished; nothing to deploy.');
    return lines.join('\n');
  }
  if (done.every((g) => g.runs.every((r) => r.row.noBundle === BUNDLES_OFF))) {
    lines.push('This experiment writes no bundles (`"bundles": false`), so there are no deployment figures; run one without it (e.g. `quick`) to measure and pick a model to ship.');
    return lines.join('\n');
  }
  const deployable = done.filter((g) => g.deploy);
  const notDeployable = done.filter((g) => !g.deploy);
  lines.push(
    "Every finished run leaves a **model bundle** (`models/…` beside this report): the feature pipeline with its fitted state, the model and its metadata in one file, " +
      'which `digitbench predict` and `loadModel()` read. The figures below are measured on that bundle, in a fresh process, from raw 28×28 pixels through the pipeline and the model: ' +
      '**cold start** = read + check + rebuild + first prediction (modules already imported); **latency** = one image per call, p50 / p95 over every timed call, ' +
      'and the range of the per-pass p50s; **throughput** = images per second predicting a batch in one call (1,000 images, or the whole test set when smaller); **agrees** = test rows on which the bundle gives the run\'s own label. ' +
      '**Model only** is the latency of the model on precomputed features and the size of its serialized bytes, for comparison.',
    '',
  );
  if (deployable.length) {
    lines.push(
      table(
        ['classifier', 'bundle', 'size', 'cold start ms', 'latency p50 / p95 ms', 'pass p50 range ms', 'images / s', 'threads', 'agrees', 'model only: latency p50 ms, size'],
        deployable.map((g) => {
          const d = g.deploy!;
          return [
            `**${cell(g.label)}**`,
            cell(g.bundleFiles.map((f) => code(f)).join(', ')),
            bytes(d.bundleBytes),
            num(d.coldStartMs),
            `${num(d.p50)} / ${num(d.p95)}`,
            `${num(d.passLo)} – ${num(d.passHi)} (${d.passes} passes, ${d.calls} calls)`,
            num(d.throughput),
            String(d.threads),
            d.same === d.total ? `${d.same} / ${d.total}` : `**${d.same} / ${d.total}**`,
            `${g.latencyP50 === undefined ? DASH : num(g.latencyP50)}, ${bytes(g.modelBytes)}`,
          ];
        }),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
    const disagree = deployable.filter((g) => g.deploy!.same !== g.deploy!.total);
    if (disagree.length) lines.push(`> [!WARNING]\n> The bundle's labels differ from the run's on some test rows for ${disagree.map((g) => g.label).join(', ')}: the bundle does not reproduce the run exactly.`, '');
  }
  if (notDeployable.length) {
    lines.push(`**No bundle figures:** ${notDeployable.map((g) => `${g.label} (${g.undeployable})`).join('; ')}. They are left out of the Pareto set and the pick.`, '');
  }
  if (!deployable.length) return lines.join('\n').trimEnd();

  const cands = deployable.map((g) => ({ g, accuracy: g.accuracyMean, latencyMs: g.deploy!.p50, modelBytes: g.deploy!.bundleBytes }));
  const front = deploymentPareto(cands).map((i) => cands[i]!.g);
  const svg = await accuracyLatencyChart(
    deployable.map((g) => ({ label: g.label, latencyMs: g.deploy!.p50, accuracy: g.accuracyMean, pareto: front.includes(g) })),
    limits.maxLatencyMs !== undefined ? { maxLatencyMs: limits.maxLatencyMs } : {},
  );
  files.push({ name: 'accuracy-latency.svg', bytes: new TextEncoder().encode(svg) });
  lines.push('![Accuracy vs end-to-end latency per image (filled: the Pareto set of accuracy, latency and size)](accuracy-latency.svg)', '');
  lines.push(
    `**Pareto set** (no other classifier is at least as accurate, as fast end to end and as small a bundle, and better in one): ${front.length} of ${deployable.length}.`,
    '',
    table(
      ['classifier', 'accuracy', 'latency p50 ms', 'bundle'],
      front.map((g) => [`**${cell(g.label)}**`, pct(g.accuracyMean), num(g.deploy!.p50), bytes(g.deploy!.bundleBytes)]),
      ['l', 'r', 'r', 'r'],
    ),
    '',
  );
  const describe = (g: Group) =>
    `**${g.label}**: ${pct(g.accuracyMean)}, ${num(g.deploy!.p50)} ms per image end to end (passes ${num(g.deploy!.passLo)} – ${num(g.deploy!.passHi)}), bundle ${bytes(g.deploy!.bundleBytes)} (${code(g.bundleFiles[0]!)})`;
  const { maxLatencyMs, maxModelBytes } = limits;
  if (maxLatencyMs === undefined && maxModelBytes === undefined) {
    const fastest = [...deployable].sort((a, b) => a.deploy!.p50 - b.deploy!.p50 || b.accuracyMean - a.accuracyMean)[0]!;
    const smallest = [...deployable].sort((a, b) => a.deploy!.bundleBytes - b.deploy!.bundleBytes || b.accuracyMean - a.accuracyMean)[0]!;
    lines.push(
      'No deployment limits were set (add `"deploy": {"maxLatencyMs": …, "maxModelBytes": …}` to the experiment config).',
      '',
      `- Most accurate: ${describe(deployable[0]!)}`,
      `- Fastest: ${describe(fastest)}`,
      `- Smallest: ${describe(smallest)}`,
    );
    return lines.join('\n');
  }
  const limitText = [
    maxLatencyMs !== undefined ? `latency p50 ≤ ${num(maxLatencyMs)} ms per image, end to end` : '',
    maxModelBytes !== undefined ? `bundle ≤ ${bytes(maxModelBytes)}` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  const { pick, contenders } = choose(deployable, limits);
  const straddle = (g: Group) => `${g.label} (${pct(g.accuracyMean)}; latency p50 ${num(g.deploy!.p50)} ms, passes ${num(g.deploy!.passLo)} – ${num(g.deploy!.passHi)} ms)`;
  if (pick) lines.push(`**Best within the limits** (${limitText}): ${describe(pick)}.`);
  else lines.push(`**No classifier meets the limits** (${limitText}).`);
  if (contenders.length) {
    lines.push(
      '',
      `**The pick is uncertain:** the per-pass latencies of ${contenders.map(straddle).join(', ')} fall on both sides of the ${num(maxLatencyMs)} ms limit, ` +
        'so another run (or machine) could pick differently; measure on the deployment machine (or raise `deploy.passes`) before choosing.',
    );
  }
  return lines.join('\n');
}

interface Comparison {
  g: Group;
  result?: McNemarResult;
  a?: Run;
}

function significanceSection(groups: Group[]): string {
  const done = groups.filter((g) => g.runs.length > 0);
  const lines = ['## Significance', ''];
  if (done.length < 2) {
    lines.push('Fewer than two classifiers finished; nothing to compare.');
    return lines.join('\n');
  }
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
  const adj = new Map(tested.map((c, i) => [c, adjusted[i]!]));
  lines.push(
    `Each classifier against the most accurate, **${best.label}** (${pct(best.accuracyMean)}), on the same test rows (same split fingerprint), by McNemar's test: ` +
      `exact binomial when fewer than ${EXACT_BELOW} rows are discordant, otherwise chi-square with continuity correction. ` +
      `**b** = rows the best gets right and the other wrong, **c** = the reverse. Holm's correction covers the ${tested.length} comparison${tested.length === 1 ? '' : 's'}. ` +
      'With repetitions, the first run of each that shares a test split is used.',
    '',
    table(
      ['classifier', 'accuracy of the run', 'b', 'c', 'test', 'p-value', 'Holm p', 'differs at 5%?'],
      comparisons.map((c) => {
        if (!c.result) return [`**${cell(c.g.label)}**`, pct(c.g.accuracyMean), DASH, DASH, DASH, DASH, DASH, 'not tested: no run on the same test rows with stored labels'];
        const h = adj.get(c)!;
        return [
          `**${cell(c.g.label)}**`,
          pct(c.a!.accuracy),
          String(c.result.b),
          String(c.result.c),
          c.result.method === 'exact' ? 'exact' : `χ² = ${num(c.result.statistic)}`,
          pValue(c.result.pValue),
          pValue(h),
          h < 0.05 ? 'yes' : 'no',
        ];
      }),
      ['l', 'r', 'r', 'r', 'l', 'r', 'r', 'l'],
    ),
  );
  return lines.join('\n');
}

function confusionTable(cm: ConfusionMatrix, name: (l: number) => string): string {
  return table(
    ['true \\ pred', ...cm.labels.map((l) => cell(name(l)))],
    cm.counts.map((r, t) => [`**${cell(name(cm.labels[t]!))}**`, ...r.map((c, p) => (t === p ? `**${c}**` : c === 0 ? '·' : String(c)))]),
    ['l', ...cm.labels.map(() => 'r' as const)],
  );
}

function imagesFor(run: Run, opts: ReportOptions): Matrix | undefined {
  const t = opts.testImages;
  if (!t) return undefined;
  if ('data' in t && 'rows' in t && 'cols' in t && t.data instanceof Float32Array) {
    const m = t as Matrix;
    return m.rows === run.predictions.length ? m : undefined;
  }
  const m = (t as Record<string, Matrix>)[run.row.split.fingerprint];
  return m && m.rows === run.predictions.length ? m : undefined;
}

async function detailsSection(groups: Group[], opts: ReportOptions, files: ReportFile[]): Promise<string> {
  // A learning curve has a group per size: the details are of the largest.
  const largest = Math.max(...groups.map((g) => g.rows[0]!.split.train));
  const done = groups.filter((g) => g.runs.length > 0 && g.rows[0]!.split.train === largest);
  const lines = ['## Per classifier', ''];
  if (!done.length) {
    lines.push('No run finished.');
    return lines.join('\n');
  }
  const name = (l: number) => opts.classNames?.[l] ?? String(l);
  for (const g of done) {
    const run = g.runs[0]!;
    const r = run.row;
    lines.push('<details>', `<summary><b>${escapeHtml(g.label)}</b>: ${pct(g.accuracyMean)}, macro-F1 ${g.macroF1.toFixed(4)}</summary>`, '');
    lines.push(
      `- **Params:** ${code(JSON.stringify(g.params))}`,
      `- **Features:** ${featuresText(g.features)}`,
      `- **Library / engine:** ${distinctJoin(g.rows.map((x) => x.library))}; ${distinctJoin(g.rows.map((x) => x.engine))}`,
      `- **Runs:** ${g.rows.map((x) => `seed ${x.seed} (${x.status === 'ok' ? pct(g.runs.find((u) => u.row === x)!.accuracy) : x.status})`).join(', ')}`,
      `- **Shown below:** the run with seed ${r.seed} (repetition ${r.repetition}), id ${code(r.id.slice(0, 16))}`,
      '',
    );
    if (!run.cm || !run.classes || !run.labels) {
      lines.push('The test labels of this run were not stored, so there is no confusion matrix.', '', '</details>', '');
      continue;
    }
    const svgName = `confusion-${g.slug}.svg`;
    files.push({ name: svgName, bytes: new TextEncoder().encode(await confusionChart(run.cm, { title: `${g.label}: confusion matrix`, ...(opts.classNames ? { classNames: opts.classNames } : {}) })) });
    lines.push(`![Confusion matrix of ${escapeHtml(g.label)}](${svgName})`, '', 'Rows are true classes, columns predicted ones.', '', confusionTable(run.cm, name), '');
    lines.push(
      table(
        ['class', 'precision', 'recall', 'F1', 'support'],
        [
          ...run.classes.classes.map((c) => [cell(name(c.label)), c.precision.toFixed(4), c.recall.toFixed(4), c.f1.toFixed(4), String(c.support)]),
          ['**macro**', run.classes.macroPrecision.toFixed(4), run.classes.macroRecall.toFixed(4), `**${run.classes.macroF1.toFixed(4)}**`, String(run.total)],
        ],
        ['l', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
    const images = imagesFor(run, opts);
    const wrong = run.total - run.correct;
    if (images && wrong > 0) {
      const shape = opts.imageShape ?? ([Math.round(Math.sqrt(images.cols)), Math.round(Math.sqrt(images.cols))] as const);
      const items = pickMisclassified(run.labels, run.predictions, opts.maxMisclassified ?? 40);
      const columns = 10;
      const grid = misclassifiedGrid(images, shape, items, { columns });
      const pngName = `misclassified-${g.slug}.png`;
      files.push({ name: pngName, bytes: grid.png });
      lines.push(
        `**Misclassified test digits** (first ${items.length} of ${wrong}, in test order; caption: true → predicted):`,
        '',
        `![Misclassified digits of ${escapeHtml(g.label)}](${pngName})`,
        '',
        table(
          ['', ...Array.from({ length: grid.columns }, (_, i) => String(i + 1))],
          Array.from({ length: grid.rows }, (_, rr) => [
            `**${rr + 1}**`,
            ...Array.from({ length: grid.columns }, (_, cc) => {
              const it = items[rr * grid.columns + cc];
              return it ? `${cell(name(it.actual))} → ${cell(name(it.predicted))}` : '';
            }),
          ]),
        ),
        '',
      );
    }
    lines.push('</details>', '');
  }
  return lines.join('\n').trimEnd();
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

function envSection(rows: readonly ResultRow[]): string {
  const lines = ['## Environment', ''];
  const envs = new Map<string, { env: Env; n: number }>();
  for (const r of rows) {
    const k = canonicalJson(r.env);
    const e = envs.get(k);
    if (e) e.n++;
    else envs.set(k, { env: r.env, n: 1 });
  }
  if (!envs.size) {
    lines.push('No runs.');
    return lines.join('\n');
  }
  const list = [...envs.values()];
  const header = ['', ...list.map((e, i) => (list.length === 1 ? 'value' : `environment ${i + 1} (${e.n} runs)`))];
  const field = (f: (e: Env) => string) => list.map((e) => cell(f(e.env)));
  const pkgNames = distinct(list.flatMap((e) => Object.keys(e.env.packages))).sort(cmp);
  lines.push(
    table(header, [
      ['Node.js', ...field((e) => e.node)],
      ['platform', ...field((e) => e.platform)],
      ['CPU', ...field((e) => e.cpu)],
      ['cores', ...field((e) => String(e.cores))],
      ['tfjs backend', ...field((e) => e.tfjsBackend ?? 'not loaded')],
      ['threads', ...field((e) => String(e.threads))],
      ['git commit', ...field((e) => e.gitCommit ?? 'unknown')],
      ...pkgNames.map((p) => [code(p), ...field((e) => e.packages[p] ?? DASH)]),
    ]),
  );
  return lines.join('\n');
}

function configSection(config: unknown): string {
  const lines = ['## Configuration', ''];
  if (config === undefined) lines.push('No experiment config was given to the report.');
  else lines.push('```json', JSON.stringify(config, null, 2), '```');
  return lines.join('\n');
}

/** Renders the report from result rows. Pure: no files read or written, no clock. */
export async function renderReport(input: readonly ResultRow[], opts: ReportOptions = {}): Promise<Report> {
  // A fixed order, so the text does not depend on the order rows were appended in.
  const rows = [...input].sort((a, b) => cmp(a.startedAt, b.startedAt) || cmp(a.id, b.id));
  const warnings: string[] = [];
  const files: ReportFile[] = [];
  const groups = buildGroups(rows, warnings);
  const experiments = distinct(rows.map((r) => r.experiment));
  const title = opts.title ?? (experiments.length === 1 ? `digitbench: ${experiments[0]}` : 'digitbench report');
  // A learning curve has groups at several training sizes: deployment and significance compare the largest.
  const largest = Math.max(...groups.map((g) => g.rows[0]!.split.train));
  const top = groups.filter((g) => g.rows[0]!.split.train === largest);
  const studies = [
    await learningCurveSection(rows),
    await selectionSection(opts.selection ?? [], rows),
    await featureSetsSection(opts.selection ?? [], rows),
    await repetitionsSection(rows),
  ].filter((x) => x !== undefined);
  for (const st of studies) files.push(...st.files);
  const body = [
    summarySection(groups),
    failuresSection(groups),
    ...studies.map((st) => st.markdown),
    await deploymentSection(top, deployLimits(opts), files),
    significanceSection(top),
    await detailsSection(groups, opts, files),
    envSection(rows),
    configSection(opts.config),
  ];
  // The header goes last in code (warnings are collected while the sections render) but first in the text.
  const markdown = [headerSection(rows, title, warnings), ...body].join('\n\n') + '\n';
  return { markdown, files };
}
