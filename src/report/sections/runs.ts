/**
 * The report's sections on the runs themselves: header, summary, failures, deployment, significance
 * against the best, per-classifier details, environment and configuration. Each takes analysed groups
 * (analysis.ts) and returns Markdown, pushing the charts and images it links to.
 */
import { canonicalJson } from '../../engine/hash.ts';
import type { Matrix } from '../../engine/matrix.ts';
import type { ConfusionMatrix } from '../../metrics/confusion.ts';
import { deploymentPareto } from '../../metrics/pareto.ts';
import { EXACT_BELOW, holm, mcnemar, type McNemarResult } from '../../metrics/significance.ts';
import type { Env, ResultRow } from '../../results/row.ts';
import { choose, type Group, type Run } from '../analysis.ts';
import { bytes, cell, cmp, code, DASH, distinct, featuresText, num, paramsShort, pct, pValue } from '../format.ts';
import { misclassifiedGrid, pickMisclassified } from '../images.ts';
import { markdownTable as table } from '../table.ts';
import { BUNDLES_OFF, type DeployLimits, type ReportFile, type ReportOptions } from '../types.ts';
import { accuracyLatencyChart, confusionChart } from '../vega.ts';

export function statusText(g: Group): string {
  const counts = new Map<string, number>();
  for (const r of g.rows) counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
  if (counts.size === 1) return g.rows.length === 1 ? g.rows[0]!.status : `${g.rows[0]!.status} ×${g.rows.length}`;
  const order = ['ok', 'failed', 'timeout', 'skipped'];
  return order.filter((s) => counts.has(s)).map((s) => `${s} ${counts.get(s)}/${g.rows.length}`).join(', ');
}

export function accuracyText(g: Group): string {
  if (!g.runs.length) return DASH;
  if (g.runs.length === 1) return pct(g.accuracyMean);
  return `${pct(g.accuracyMean)} ± ${(g.accuracySd * 100).toFixed(2)} (n=${g.runs.length})`;
}

/** End to end on the bundle when measured; otherwise the model alone, marked †. */
export function latencyText(g: Group): string {
  if (!g.runs.length) return DASH;
  if (g.deploy) return `${num(g.deploy.p50)} / ${num(g.deploy.p95)}`;
  if (g.latencyP50 === undefined) return `≈${num(g.latencyMs)}*`;
  return `${num(g.latencyP50)} / ${num(g.latencyP95)}†`;
}

export function sizeText(g: Group): string {
  if (g.deploy) return bytes(g.deploy.bundleBytes);
  return g.modelBytes === undefined ? DASH : `${bytes(g.modelBytes)}†`;
}

export function distinctJoin(values: string[]): string {
  return distinct(values).join(' / ') || DASH;
}


export function headerSection(rows: readonly ResultRow[], title: string, warnings: string[]): string {
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

export function summarySection(groups: Group[]): string {
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

export function failuresSection(groups: Group[]): string {
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

export async function deploymentSection(groups: Group[], limits: DeployLimits, files: ReportFile[]): Promise<string> {
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

export interface Comparison {
  g: Group;
  result?: McNemarResult;
  a?: Run;
}

export function significanceSection(groups: Group[]): string {
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

export function confusionTable(cm: ConfusionMatrix, name: (l: number) => string): string {
  return table(
    ['true \\ pred', ...cm.labels.map((l) => cell(name(l)))],
    cm.counts.map((r, t) => [`**${cell(name(cm.labels[t]!))}**`, ...r.map((c, p) => (t === p ? `**${c}**` : c === 0 ? '·' : String(c)))]),
    ['l', ...cm.labels.map(() => 'r' as const)],
  );
}

export function imagesFor(run: Run, opts: ReportOptions): Matrix | undefined {
  const t = opts.testImages;
  if (!t) return undefined;
  if ('data' in t && 'rows' in t && 'cols' in t && t.data instanceof Float32Array) {
    const m = t as Matrix;
    return m.rows === run.predictions.length ? m : undefined;
  }
  const m = (t as Record<string, Matrix>)[run.row.split.fingerprint];
  return m && m.rows === run.predictions.length ? m : undefined;
}

export async function detailsSection(groups: Group[], opts: ReportOptions, files: ReportFile[]): Promise<string> {
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

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
}

export function envSection(rows: readonly ResultRow[]): string {
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

export function configSection(config: unknown): string {
  const lines = ['## Configuration', ''];
  if (config === undefined) lines.push('No experiment config was given to the report.');
  else lines.push('```json', JSON.stringify(config, null, 2), '```');
  return lines.join('\n');
}

/** Renders the report from result rows. Pure: no files read or written, no clock. */
