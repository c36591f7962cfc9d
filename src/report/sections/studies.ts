/**
 * The report's sections on comparisons across runs: selection of settings, repetitions and the
 * differences between classifiers, the classifier × feature-set matrix, and learning curves. Each takes
 * rows (and selection rows), runs the pure analyses of studies.ts, and returns Markdown plus its charts.
 */
import type { ResultRow, SelectionRow } from '../../results/row.ts';
import { cell, code, DASH, num, paramsShort, pct, pValue, slugify } from '../format.ts';
import { featureMatrix, learningCurves, pairwise, selectionTables, seriesOf, type Series } from '../studies.ts';
import { markdownTable as table } from '../table.ts';
import { featureMatrixChart, learningCurveCharts, rungChart, spreadChart } from '../vega.ts';

export interface SectionFile {
  name: string;
  bytes: Uint8Array;
}

export interface Section {
  markdown: string;
  files: SectionFile[];
}

const svgFile = (name: string, svg: string): SectionFile => ({ name, bytes: new TextEncoder().encode(svg) });
const pp = (x: number) => (x * 100).toFixed(2);
/** Mean ± sd when there is a spread to show (one validation part has none). */
const meanSd = (m: number, sd: number, n: number) => (n > 1 ? `${pct(m)} ± ${pp(sd)}` : pct(m));
const interval = (s: Series) => (s.interval ? `${pct(s.interval.low, 1)} – ${pct(s.interval.high, 1)}` : DASH);

function candidateName(c: { featureSet?: string; params: Record<string, unknown> }, varying: Set<string>): string {
  const params = Object.fromEntries(Object.entries(c.params).filter(([k]) => varying.has(k)));
  const p = Object.keys(params).length ? paramsShort(params, 50) : '';
  return [c.featureSet, p].filter(Boolean).join('; ') || 'default';
}

/** Per classifier with several candidate settings: each one's validation accuracy over folds (and repetitions), the chosen one marked. */
export async function selectionSection(selection: readonly SelectionRow[], rows: readonly ResultRow[]): Promise<Section | undefined> {
  const tables = selectionTables(selection, rows);
  if (!tables.length) return undefined;
  const files: SectionFile[] = [];
  // Rows from before the tie rule changed (they have no elapsedSeconds) were chosen with ties going to the faster fit; the text says which rule chose.
  const ties = selection.length && selection.every((r) => r.elapsedSeconds === undefined) ? 'faster fit' : 'the earlier setting in the file';
  const lines = [
    '## Selection',
    '',
    'Settings (grid points and feature sets) are chosen **without the test rows**: each is fitted and scored on folds of the training rows only ' +
      '(stratified k-fold cross-validation, or one stratified validation part carved from the training rows; feature pipelines are refitted on each fold\'s training part). ' +
      `The one with the highest mean validation accuracy (ties: ${ties}) is refitted on all training rows and tested once; the Results above are its test figures. ` +
      'Figures are over every fold of every repetition; **chosen** counts the repetitions whose test run used the setting.',
    '',
  ];
  for (const t of tables) {
    const varying = new Set<string>();
    for (const c of t.candidates) for (const [k, v] of Object.entries(c.params)) if (t.candidates.some((o) => JSON.stringify(o.params[k]) !== JSON.stringify(v))) varying.add(k);
    const names = t.candidates.map((c) => candidateName(c, varying));
    const how = t.method === 'cv' ? `${t.folds}-fold cross-validation` : 'a validation part of the training rows';
    const sizes =
      t.foldTrain > 0 && t.foldTrain + t.foldValidation < t.trainSize
        ? ` inside a stratified subset of ${(t.foldTrain + t.foldValidation).toLocaleString('en-US')} of the ${t.trainSize.toLocaleString('en-US')} training rows (fitted on ${t.foldTrain.toLocaleString('en-US')}, scored on ${t.foldValidation.toLocaleString('en-US')})`
        : t.foldTrain > 0
          ? ` (fitted on ${t.foldTrain.toLocaleString('en-US')}, scored on ${t.foldValidation.toLocaleString('en-US')} rows)`
          : '';
    const searched = t.rungs ? ', successive halving (figures from the last rung each setting reached)' : t.search === 'random' ? ', a seeded random sample' : '';
    lines.push(`### ${t.label}${tables.some((o) => o !== t && o.label === t.label) ? ` (n = ${t.trainSize})` : ''}`, '', `${t.candidates.length} settings${searched}, ${how}${sizes}, ${t.repetitions} repetition${t.repetitions === 1 ? '' : 's'}.`, '');
    const best = Math.max(...t.candidates.map((c) => (c.foldAccuracies.length ? c.mean : -1)));
    lines.push(
      table(
        [...(t.rungs ? ['rung'] : []), 'setting', 'features', t.folds > 1 || t.repetitions > 1 ? 'validation accuracy (mean ± sd)' : 'validation accuracy', 'folds', 'fit s', 'pipeline s', 'transform ms / image', 'chosen'],
        t.candidates.map((c, i) => [
          ...(t.rungs ? [String(c.rung ?? 0)] : []),
          (t.rungs ? c.chosen > 0 : c.mean === best) ? `**${cell(names[i]!)}**` : cell(names[i]!),
          cell(c.features.join(' → ') || 'raw'),
          c.foldAccuracies.length ? meanSd(c.mean, c.sd, c.foldAccuracies.length) : c.failed.length ? `failed: ${cell(c.failed[0]!)}` : DASH,
          String(c.foldAccuracies.length),
          num(c.fitSeconds),
          num(c.featureSeconds),
          num(c.transformMsPerImage),
          c.chosen ? `**✓ ${c.chosen}/${t.repetitions}**` : '',
        ]),
        [...(t.rungs ? (['r'] as const) : []), 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
    );
    if (t.rungs) {
      const epochs = t.rungs[0]!.resource.kind === 'epochs';
      const nameOf = (candidate: number) => names[t.candidates.findIndex((c) => c.candidate === candidate)] ?? `#${candidate}`;
      lines.push(
        `Rungs: each scores its candidates with ${epochs ? 'that many epochs' : 'that many of the selection rows (each fold\'s training and validation parts cut in proportion, stratified and nested)'} and keeps the best ⌈n/η⌉ (ties: the earlier setting in the file); the last rung's best is chosen. Candidate-s: the rung's scoring processes' wall times summed.`,
        '',
        table(
          ['rung', epochs ? 'epochs' : 'rows (fit / scored, first fold)', 'candidates', 'kept', 'best', 'validation accuracy', 'candidate-s'],
          t.rungs.map((r) => [
            String(r.rung),
            epochs ? String(r.resource.value) : `${r.resource.value.toLocaleString('en-US')}${r.foldTrain !== undefined ? ` (${r.foldTrain.toLocaleString('en-US')} / ${r.foldValidation!.toLocaleString('en-US')})` : ''}`,
            num(r.candidates),
            num(r.kept),
            r.best ? cell(nameOf(r.best.candidate)) : DASH,
            r.best ? pct(r.best.accuracy) : DASH,
            num(r.candidateSeconds),
          ]),
          ['r', 'r', 'r', 'r', 'l', 'r', 'r'],
        ),
        '',
      );
      const rungFile = `selection-${slugify(`${t.label}-${t.trainSize}`)}-rungs.svg`;
      const chosen = t.candidates.find((c) => c.chosen);
      files.push(
        svgFile(
          rungFile,
          await rungChart(
            (t.rungPoints ?? []).map((p) => ({ candidate: nameOf(p.candidate), resource: p.resource, accuracy: p.accuracy })),
            { title: `${t.label}: successive halving`, resource: epochs ? 'epochs' : 'rows', ...(chosen ? { chosen: nameOf(chosen.candidate) } : {}) },
          ),
        ),
      );
      lines.push(`![Validation accuracy per rung, ${t.label}](${rungFile})`, '');
    }
    const name = `selection-${slugify(`${t.label}-${t.trainSize}`)}.svg`;
    files.push(
      svgFile(
        name,
        await spreadChart(
          t.candidates.flatMap((c, i) => c.foldAccuracies.map((value) => ({ group: names[i]!, value }))),
          { title: `${t.label}: validation accuracy of each fold`, xTitle: 'validation accuracy, % (bar: mean ± sd)', marked: t.candidates.filter((c) => c.chosen).map((c) => names[t.candidates.indexOf(c)]!) },
        ),
      ),
    );
    lines.push(`![Validation accuracy per fold, ${t.label}](${name})`, '');
  }
  return { markdown: lines.join('\n').trimEnd(), files };
}

/** Repetitions: mean ± sd and a t-interval per classifier, and every pair compared over paired repetitions. */
export async function repetitionsSection(rows: readonly ResultRow[]): Promise<Section | undefined> {
  const series = seriesOf(rows).filter((s) => s.rows.length >= 2);
  if (!series.length) return undefined;
  const files: SectionFile[] = [];
  const resampled = series.some((s) => s.splits > 1);
  const lines = [
    '## Repetitions',
    '',
    resampled
      ? 'Each repetition re-drew the stratified train and test subsets (split seed + repetition) and the classifier\'s seed: the spread below is what a different draw of the data and of the seed would give.'
      : 'The repetitions share one split and vary the classifier\'s seed only: the spread is the seed\'s, not the data\'s (set `"resample": "split"` to re-draw the split too).',
    '',
    table(
      ['classifier', 'train n', 'repetitions', 'splits', 'accuracy mean ± sd', '95% t-interval', 'min – max', 'each repetition'],
      series.map((s) => [
        `**${cell(s.label)}**`,
        String(s.trainSize),
        String(s.rows.length),
        String(s.splits),
        `${pct(s.mean)} ± ${pp(s.sd)}`,
        interval(s),
        `${pct(Math.min(...s.accuracies))} – ${pct(Math.max(...s.accuracies))}`,
        s.accuracies.map((a) => pp(a)).join(', '),
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    ),
    '',
  ];
  const multi = new Set(series.map((s) => s.trainSize)).size > 1;
  files.push(svgFile('repetitions.svg', await spreadChart(series.map((s) => s.accuracies.map((value) => ({ group: multi ? `${s.label} (n=${s.trainSize})` : s.label, value }))).flat(), { title: 'Test accuracy of each repetition', xTitle: 'test accuracy, % (bar: mean ± sd)' })));
  lines.push('![Test accuracy of each repetition](repetitions.svg)', '');
  const pairs = pairwise(series);
  if (pairs.length) {
    lines.push(
      '### Differences between classifiers',
      '',
      'Every pair on the same repetitions. **Corrected t-test**: the corrected resampled t-test of Nadeau & Bengio (2003), t = mean(d) / √((1/J + n_test/n_train) · var(d)) over the J paired repetitions, ' +
        'which widens the plain paired t-test for the overlap between the repetitions\' training sets; **Holm p** adjusts it over the pairs. ' +
        '**McNemar** counts the repetitions on which McNemar\'s test on that repetition\'s test rows finds a difference at 5%. ' +
        'The verdict rests on the corrected t-test (Holm p < 0.05); a difference that it does not support is a **tie**.' +
        (resampled ? '' : ' The repetitions here share one split, so the corrected t-test does not apply: every verdict is a tie unless the split is resampled.'),
      '',
      table(
        ['pair', 'mean difference, points', 'sd', 't', 'p', 'Holm p', 'McNemar: repetitions differing at 5%', 'verdict'],
        pairs.map((p) => [
          `${cell(p.a.label)} − ${cell(p.b.label)}${multi ? ` (n=${p.a.trainSize})` : ''}`,
          p.test ? pp(p.test.meanDifference) : DASH,
          p.test ? pp(p.test.sdDifference) : DASH,
          p.test ? num(p.test.t) : DASH,
          p.test ? pValue(p.test.pValue) : DASH,
          p.holmP !== undefined ? pValue(p.holmP) : DASH,
          `${p.mcnemarDiffer} of ${p.mcnemarTested}`,
          p.verdict === 'tie' ? 'tie' : `**${cell(p.verdict === 'a' ? p.a.label : p.b.label)} better**`,
        ]),
        ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
      ),
      '',
    );
  }
  return { markdown: lines.join('\n').trimEnd(), files };
}

/** The classifier × feature-set matrix of validation accuracy, with what each pipeline costs. */
export async function featureSetsSection(selection: readonly SelectionRow[], rows: readonly ResultRow[]): Promise<Section | undefined> {
  const { cells, costs } = featureMatrix(selectionTables(selection, rows));
  if (!cells.length) return undefined;
  const sets = costs.map((c) => c.featureSet);
  const classifiers = [...new Set(cells.map((c) => c.classifier))];
  const lines = [
    '## Feature sets',
    '',
    'Each classifier that takes vectors on each named pipeline: **validation** accuracy (mean ± sd over folds and repetitions when there are several; the best grid point per cell), never the test rows. ' +
      '✓ = the feature set the classifier was tested with (chosen on validation); its test figures are in the Results.',
    '',
    table(
      ['classifier', ...sets.map((s) => code(s))],
      classifiers.map((c) => [
        `**${cell(c)}**`,
        ...sets.map((s) => {
          const x = cells.find((y) => y.classifier === c && y.featureSet === s);
          return x ? `${x.chosen ? '**' : ''}${meanSd(x.accuracy, x.sd, x.n)}${x.chosen ? ' ✓**' : ''}` : DASH;
        }),
      ]),
      ['l', ...sets.map(() => 'r' as const)],
    ),
    '',
    '**What each pipeline costs**: fitting and applying it on a fold\'s rows (seconds, on the first candidate that needed it; the others read it from the cache) and applying the fitted pipeline to raw images (ms per image, batches of up to 500).',
    '',
    table(
      ['feature set', 'steps', 'fit + apply s', 'transform ms / image'],
      costs.map((c) => [code(c.featureSet), cell(c.features.join(' → ') || 'raw'), num(c.fitSeconds), num(c.transformMsPerImage)]),
      ['l', 'l', 'r', 'r'],
    ),
    '',
    '![Classifier × feature set, validation accuracy](feature-sets.svg)',
  ];
  return { markdown: lines.join('\n'), files: [svgFile('feature-sets.svg', await featureMatrixChart(cells))] };
}

/** Accuracy, fit and predict time against the training size, and how fit time grows. */
export async function learningCurveSection(rows: readonly ResultRow[]): Promise<Section | undefined> {
  const curves = learningCurves(seriesOf(rows));
  if (!curves.length) return undefined;
  const sizes = [...new Set(curves.flatMap((c) => c.points.map((p) => p.trainSize)))].sort((a, b) => a - b);
  const lines = [
    '## Learning curve',
    '',
    `Each classifier trained on nested stratified subsets of the training set (${sizes.join(', ')} rows) and tested on the same test rows. ` +
      'Accuracy with its 95% interval (Wilson on the test rows; a t-interval when there are repetitions); fit and predict (whole test set) times in seconds. ' +
      '**Growth**: the least-squares slope of log time against log n over every size, so fit ∝ n^slope (R² of the fit in brackets).',
    '',
    table(
      ['classifier', 'fit growth (all sizes)', `fit growth (${sizes[sizes.length - 2]} → ${sizes[sizes.length - 1]})`, 'predict growth (all sizes)', `predict growth (${sizes[sizes.length - 2]} → ${sizes[sizes.length - 1]})`, `accuracy at ${sizes[0]} → ${sizes[sizes.length - 1]}`],
      curves.map((c) => [
        `**${cell(c.label)}**`,
        c.fit ? `n^${c.fit.exponent.toFixed(2)} (R² ${c.fit.r2.toFixed(2)})` : DASH,
        c.fitTail !== undefined ? `n^${c.fitTail.toFixed(2)}` : DASH,
        c.predict ? `n^${c.predict.exponent.toFixed(2)} (R² ${c.predict.r2.toFixed(2)})` : DASH,
        c.predictTail !== undefined ? `n^${c.predictTail.toFixed(2)}` : DASH,
        `${pct(c.points[0]!.mean)} → ${pct(c.points[c.points.length - 1]!.mean)}`,
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    table(
      ['classifier', 'training rows n', 'accuracy', '95% interval', 'fit s', 'predict s (whole test set)'],
      curves.flatMap((c) => c.points.map((p) => [`**${cell(c.label)}**`, String(p.trainSize), c.points.length && p.rows.length > 1 ? `${pct(p.mean)} ± ${pp(p.sd)}` : pct(p.mean), interval(p), num(p.fitSeconds), num(p.predictSeconds)])),
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '![Accuracy vs training size](learning-curve-accuracy.svg)',
    '',
    '![Fit time vs training size, log-log](learning-curve-fit.svg)',
  ];
  const charts = await learningCurveCharts(
    curves.flatMap((c) => c.points.map((p) => ({ classifier: c.label, n: p.trainSize, accuracy: p.mean, low: p.interval?.low ?? p.mean, high: p.interval?.high ?? p.mean, fitSeconds: p.fitSeconds, predictSeconds: p.predictSeconds }))),
    curves.flatMap((c) => (c.fit ? [{ classifier: c.label, exponent: c.fit.exponent, coefficient: c.fit.coefficient }] : [])),
  );
  return { markdown: lines.join('\n'), files: [svgFile('learning-curve-accuracy.svg', charts.accuracy), svgFile('learning-curve-fit.svg', charts.fitTime)] };
}
