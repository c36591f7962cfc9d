/** The environments the runs ran in (Node.js, platform, CPU, threads, commit, package versions), one column each. */
import { canonicalJson } from '../../engine/hash.ts';
import type { Env, ResultRow } from '../../results/row.ts';
import { cell, cmp, code, DASH, distinct } from '../format.ts';
import { markdownTable as table } from '../table.ts';

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
