/** Significance: each classifier against the most accurate by McNemar's test, Holm-corrected (analysis.ts compares). */
import { EXACT_BELOW } from '../../metrics/significance.ts';
import { compareWithBest, type Group } from '../analysis.ts';
import { cell, DASH, num, pct, pValue } from '../format.ts';
import { markdownTable as table } from '../table.ts';

export function significanceSection(groups: Group[]): string {
  const done = groups.filter((g) => g.runs.length > 0);
  const lines = ['## Significance', ''];
  if (done.length < 2) {
    lines.push('Fewer than two classifiers finished; nothing to compare.');
    return lines.join('\n');
  }
  const best = done[0]!;
  const comparisons = compareWithBest(done);
  const tested = comparisons.filter((c) => c.result).length;
  lines.push(
    `Each classifier against the most accurate, **${best.label}** (${pct(best.accuracyMean)}), on the same test rows (same split fingerprint), by McNemar's test: ` +
      `exact binomial when fewer than ${EXACT_BELOW} rows are discordant, otherwise chi-square with continuity correction. ` +
      `**b** = rows the best gets right and the other wrong, **c** = the reverse. Holm's correction covers the ${tested} comparison${tested === 1 ? '' : 's'}. ` +
      'With repetitions, the first run of each that shares a test split is used.',
    '',
    table(
      ['classifier', 'accuracy of the run', 'b', 'c', 'test', 'p-value', 'Holm p', 'differs at 5%?'],
      comparisons.map((c) => {
        if (!c.result) return [`**${cell(c.g.label)}**`, pct(c.g.accuracyMean), DASH, DASH, DASH, DASH, DASH, 'not tested: no run on the same test rows with stored labels'];
        const h = c.holmP!;
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
