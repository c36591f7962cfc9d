/** Per classifier: params, runs, the confusion matrix (chart and table), per-class scores and the grid of misclassified digits. */
import type { Matrix } from '@digitbench/runtime/internal';
import type { ConfusionMatrix } from '../../metrics/confusion.ts';
import type { Group, Run } from '../analysis.ts';
import { cell, code, distinctJoin, escapeHtml, featuresText, pct } from '../format.ts';
import { misclassifiedGrid, pickMisclassified } from '../images.ts';
import { markdownTable as table } from '../table.ts';
import type { ReportFile, ReportOptions } from '../types.ts';
import { confusionChart } from '../vega.ts';

function confusionTable(cm: ConfusionMatrix, name: (l: number) => string): string {
  return table(
    ['true \\ pred', ...cm.labels.map((l) => cell(name(l)))],
    cm.counts.map((r, t) => [`**${cell(name(cm.labels[t]!))}**`, ...r.map((c, p) => (t === p ? `**${c}**` : c === 0 ? '·' : String(c)))]),
    ['l', ...cm.labels.map(() => 'r' as const)],
  );
}

/** The raw test images of a run's split (by its fingerprint, or the one matrix when its row count fits), if the report was given them. */
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
