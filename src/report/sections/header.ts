/** The report's header: title, experiment, dataset, splits, run counts and dates, rows by older commits, and the warnings. */
import { canonicalJson } from '../../engine/hash.ts';
import type { ResultRow } from '../../results/row.ts';
import { cmp, code, DASH, distinct } from '../format.ts';

export function headerSection(rows: readonly ResultRow[], title: string, warnings: string[]): string {
  const lines = [`# ${title}`, ''];
  const counts = ['ok', 'failed', 'timeout', 'skipped'].map((s) => [s, rows.filter((r) => r.status === s).length] as const).filter(([, n]) => n > 0);
  const splits = distinct(rows.map((r) => canonicalJson(r.split))).map((s) => JSON.parse(s) as ResultRow['split']);
  const starts = rows.map((r) => r.startedAt).sort(cmp);
  lines.push(`- **Experiment:** ${distinct(rows.map((r) => r.experiment)).map(code).join(', ') || DASH}`);
  lines.push(`- **Dataset:** ${distinct(rows.map((r) => r.dataset)).join(', ') || DASH}`);
  for (const s of splits) {
    const how = [
      ...(s.carved ? [`the test rows carved from the dataset's one pool of labelled rows by the split seed${s.grouped ? '' : ', stratified by class'}`] : []),
      ...(s.grouped ? ['whole groups per part (no group on two sides)'] : []),
    ];
    lines.push(`- **Split:** ${s.train} train, ${s.validation} validation, ${s.test} test rows; split seed ${s.seed}; fingerprint ${code(s.fingerprint)}${how.length ? `; ${how.join('; ')}` : ''}`);
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
