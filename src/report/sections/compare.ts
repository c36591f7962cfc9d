/** This run set against another report (its defaults) and against published figures, per classifier. */
import { buildGroups, largestSizeGroups, type Group } from '../analysis.ts';
import { cell, code, DASH, featuresText, num, paramsShort, pct } from '../format.ts';
import { markdownTable as table } from '../table.ts';
import type { ReportOptions } from '../types.ts';

const largest = (groups: Group[]): Group[] => largestSizeGroups(groups).filter((g) => g.runs.length > 0);

export function compareSection(groups: Group[], opts: ReportOptions): string | undefined {
  const published = opts.published ?? [];
  if (!opts.baseline && !published.length) return undefined;
  const base = opts.baseline ? largest(buildGroups(opts.baseline.rows, [])) : [];
  const baseOf = (label: string) => base.find((b) => b.label === label);
  const mine = largest(groups);
  const labels = [...new Set([...mine.map((g) => g.label), ...published.map((p) => p.classifier)])];
  const rows = labels.map((label) => {
    const g = mine.find((x) => x.label === label);
    const b = baseOf(label);
    const p = published.find((x) => x.classifier === label);
    const acc = g ? g.accuracyMean * 100 : undefined;
    const met = p?.target === undefined || acc === undefined ? DASH : acc >= p.target - 1e-9 ? 'met' : `missed by ${(p.target - acc).toFixed(2)}`;
    return [
      `**${cell(label)}**`,
      b ? `${pct(b.accuracyMean)} (${cell(featuresText(b.features))})` : DASH,
      g ? `**${pct(g.accuracyMean)}**` : DASH,
      g?.ci ? `${pct(g.ci.low, 1)} – ${pct(g.ci.high, 1)}` : DASH,
      g && b ? `${((g.accuracyMean - b.accuracyMean) * 100 >= 0 ? '+' : '')}${((g.accuracyMean - b.accuracyMean) * 100).toFixed(2)}` : DASH,
      g ? cell(featuresText(g.features)) : DASH,
      g ? cell(paramsShort(g.params, 400)) : DASH,
      g ? num(g.fitSeconds) : DASH,
      b ? num(b.fitSeconds) : DASH,
      p ? (p.accuracy !== undefined ? `${p.accuracy.toFixed(2)}% (${cell(p.source)})` : `— (${cell(p.source)})`) : DASH,
      p?.target !== undefined ? `≥ ${p.target.toFixed(2)}%` : DASH,
      met,
    ];
  });
  return [
    '## Against the defaults and the published results',
    '',
    `Each classifier's setting in this run (chosen on validation rows when it had several, see Selection) beside ${[
      opts.baseline ? `its default setting in ${code(opts.baseline.dir)}` : '',
      published.length ? 'the published result for the same method' : '',
    ]
      .filter(Boolean)
      .join(' and ')}. **Δ** is the difference in test accuracy from the baseline, in percentage points.`,
    '',
    table(
      ['classifier', 'defaults: accuracy (features)', 'best', '95% CI', 'Δ', 'chosen features', 'chosen params', 'fit s', 'defaults fit s', 'published', 'target', 'target met'],
      rows,
      ['l', 'r', 'r', 'r', 'r', 'l', 'l', 'r', 'r', 'l', 'r', 'l'],
    ),
  ].join('\n');
}
