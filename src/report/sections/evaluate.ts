/**
 * evaluation.md, written by `digitbench evaluate`: the models on the user's labelled images beside their
 * runs' own test accuracy, McNemar between them on those images, the deployment pick made again, and per
 * model the per-class figures, the confusion matrix (chart and table) and the misclassified images.
 * Pure: the document and the names of the charts in, Markdown out.
 */
import type { Interval } from '../../metrics/intervals.ts';
import { EXACT_BELOW, type McNemarResult } from '../../metrics/significance.ts';
import { bytes, cell, code, escapeHtml, num, pct, pValue } from '../format.ts';
import type { ClassScores } from '../../metrics/per-class.ts';
import type { Misclassified } from '../images.ts';
import { markdownTable as table } from '../table.ts';

/** What `digitbench evaluate` found (evaluation.json): per class, the scores (label = the bundle's label), its name, and whether the data holds it. */
export interface ClassFigures extends ClassScores {
  name: string;
  /** Whether the data holds the class at all. */
  present: boolean;
}

export interface ModelEvaluation {
  label: string;
  bundle: string;
  classifier: string;
  imageShape: [number, number];
  accuracy: number;
  correct: number;
  total: number;
  interval: Interval;
  macroF1: number;
  /** The run's own test accuracy (bundle header) and its test rows. */
  testAccuracy: number;
  testRows: number;
  /** The report's accuracy of the classifier (its row, mean over repetitions), for a report folder. */
  reportAccuracy?: number;
  classes: ClassFigures[];
  confusion: { labels: number[]; names: string[]; counts: number[][] };
  misclassified: number;
}

export interface Comparison {
  label: string;
  b: number;
  c: number;
  method: McNemarResult['method'];
  statistic?: number;
  pValue: number;
  holmP: number;
  differs: boolean;
}

export interface EvaluationDoc {
  format: 'digitbench-evaluation';
  version: 1;
  data: { name: string; given: string; description: string; rows: number; parts: string; classes: { name: string; count: number }[]; imageShapes: [number, number][] };
  target: string;
  models: ModelEvaluation[];
  significance: { best: string; comparisons: Comparison[] } | null;
  pick: { onYourImages: string | null; report: string | null; uncertain: string[]; limits: { maxLatencyMs?: number; maxModelBytes?: number; target?: string } } | null;
  /** Bundles of the report folder that are not on this machine (not evaluated). */
  missing: string[];
}

export interface EvaluationCharts {
  /** The confusion chart's file name. */
  confusion: string;
  /** The misclassified grid's file name, when any image was misclassified. */
  misclassified?: string;
  /** The misclassified images drawn in the grid, in data order. */
  items: Misclassified[];
}

const points = (d: number) => `${d >= 0 ? '+' : '−'}${Math.abs(d * 100).toFixed(2)}`;

export function evaluationMarkdown(doc: EvaluationDoc, charts: readonly EvaluationCharts[]): string {
  const d = doc.data;
  const lines = [
    `# digitbench: evaluation on ${cell(d.name)}`,
    '',
    `Models of ${code(doc.target)} on ${code(d.given)}: ${d.rows} labelled images (${d.description}, ${d.parts}), ` +
      `${d.description === 'an image folder' ? 'images brought to each model\'s shape,' : 'images of'} ${d.imageShapes.map((s) => s.join('×')).join(' and ')}. ` +
      `Classes in the data: ${d.classes.map((c) => `${cell(c.name)} (${c.count})`).join(', ')}.`,
    '',
  ];
  if (doc.missing.length) lines.push(`Not evaluated (their bundles are not on this machine): ${doc.missing.map(cell).join(', ')}.`, '');
  lines.push(
    '## Summary',
    '',
    'Accuracy on these images with its 95% Wilson interval, beside the accuracy the run measured on its own test rows. ' +
      'Macro-F1 is over the classes present in the data.',
    '',
    table(
      ['model', 'on your images', '95% interval', 'macro-F1', "run's test accuracy", ...(doc.models.some((m) => m.reportAccuracy !== undefined) ? ['in the report'] : []), 'difference (points)'],
      doc.models.map((m) => [
        `**${cell(m.label)}**`,
        `${pct(m.accuracy)} (${m.correct} / ${m.total})`,
        `${pct(m.interval.low)} – ${pct(m.interval.high)}`,
        m.macroF1.toFixed(4),
        `${pct(m.testAccuracy)} on ${m.testRows}`,
        ...(doc.models.some((x) => x.reportAccuracy !== undefined) ? [m.reportAccuracy !== undefined ? pct(m.reportAccuracy) : '—'] : []),
        points(m.accuracy - m.testAccuracy),
      ]),
      ['l', 'r', 'r', 'r', 'r', ...(doc.models.some((m) => m.reportAccuracy !== undefined) ? (['r'] as const) : []), 'r'],
    ),
    '',
  );
  if (doc.pick) {
    const p = doc.pick;
    const limits = [
      p.limits.maxLatencyMs !== undefined ? `latency p50 is at most ${num(p.limits.maxLatencyMs)} ms` : '',
      p.limits.maxModelBytes !== undefined ? `bundle is at most ${bytes(p.limits.maxModelBytes)}` : '',
    ].filter(Boolean);
    lines.push(
      '## Deployment pick',
      '',
      `${p.onYourImages ? `**On your images the pick is ${cell(p.onYourImages)}**` : "**On your images no model meets the report's deployment limits**"}` +
        ` (the report's pick, on its test rows: ${p.report ? cell(p.report) : 'none'}). ` +
        `The same rule as the report's: the most accurate model (here, on these images) ${limits.length ? `whose ${limits.join(' and ')}` : 'with a measured bundle'}` +
        `${p.limits.target === 'browser' ? ', with the browser figures' : ''}; the latencies and sizes are the report's.` +
        (p.uncertain.length ? ` Uncertain: the per-pass latencies of ${p.uncertain.map(cell).join(', ')} straddle the limit.` : ''),
      '',
    );
  }
  if (doc.significance) {
    const s = doc.significance;
    lines.push(
      '## Significance',
      '',
      `Each model against the most accurate on these images, **${cell(s.best)}**, on the same images, by McNemar's test: ` +
        `exact binomial when fewer than ${EXACT_BELOW} images are discordant, otherwise chi-square with continuity correction. ` +
        `**b** = images the best gets right and the other wrong, **c** = the reverse. Holm's correction covers the ${s.comparisons.length} comparison${s.comparisons.length === 1 ? '' : 's'}.`,
      '',
      table(
        ['model', 'b', 'c', 'test', 'p-value', 'Holm p', 'differs at 5%?'],
        s.comparisons.map((c) => [`**${cell(c.label)}**`, String(c.b), String(c.c), c.method === 'exact' ? 'exact' : `χ² = ${num(c.statistic)}`, pValue(c.pValue), pValue(c.holmP), c.differs ? 'yes' : 'no']),
        ['l', 'r', 'r', 'l', 'r', 'r', 'l'],
      ),
      '',
    );
  }
  lines.push('## Per model', '');
  doc.models.forEach((m, i) => {
    const ch = charts[i]!;
    const name = (l: number) => m.confusion.names[m.confusion.labels.indexOf(l)] ?? String(l);
    lines.push(
      `### ${cell(m.label)}`,
      '',
      `Bundle ${code(m.bundle)} (${cell(m.classifier)}, ${m.imageShape.join('×')}): ${pct(m.accuracy)} on your images, ${pct(m.testAccuracy)} on its ${m.testRows} test rows.`,
      '',
      table(
        ['class', 'precision', 'recall', 'F1', 'images', 'predicted as it'],
        [
          ...m.classes.map((c) => [cell(c.name), c.precision.toFixed(4), c.present ? c.recall.toFixed(4) : '—', c.present ? c.f1.toFixed(4) : '—', c.present ? String(c.support) : 'not present', String(c.predicted)]),
          ['**macro** (classes present)', '', '', `**${m.macroF1.toFixed(4)}**`, String(m.total), ''],
        ],
        ['l', 'r', 'r', 'r', 'r', 'r'],
      ),
      '',
      `![Confusion matrix of ${escapeHtml(m.label)} on your images](${ch.confusion})`,
      '',
      'Rows are true classes, columns predicted ones.',
      '',
      table(
        ['true \\ pred', ...m.confusion.labels.map((l) => cell(name(l)))],
        m.confusion.counts.map((r, t) => [`**${cell(name(m.confusion.labels[t]!))}**`, ...r.map((c, p) => (t === p ? `**${c}**` : c === 0 ? '·' : String(c)))]),
        ['l', ...m.confusion.labels.map(() => 'r' as const)],
      ),
      '',
    );
    if (ch.misclassified) {
      const columns = Math.min(10, ch.items.length);
      lines.push(
        `**Misclassified images** (first ${ch.items.length} of ${m.misclassified}, in data order, as the model saw them; caption: true → predicted):`,
        '',
        `![Misclassified images of ${escapeHtml(m.label)}](${ch.misclassified})`,
        '',
        table(
          ['', ...Array.from({ length: columns }, (_, c) => String(c + 1))],
          Array.from({ length: Math.ceil(ch.items.length / columns) }, (_, r) => [
            `**${r + 1}**`,
            ...Array.from({ length: columns }, (_, c) => {
              const it = ch.items[r * columns + c];
              return it ? `${cell(name(it.actual))} → ${cell(name(it.predicted))}` : '';
            }),
          ]),
        ),
        '',
      );
    } else {
      lines.push('No image was misclassified.', '');
    }
  });
  return `${lines.join('\n').trimEnd()}\n`;
}
