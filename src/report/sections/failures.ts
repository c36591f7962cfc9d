/** The failed, timed-out and skipped runs, with their reasons. */
import type { Group } from '../analysis.ts';
import { cell, DASH, num, paramsShort } from '../format.ts';
import { markdownTable as table } from '../table.ts';

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
