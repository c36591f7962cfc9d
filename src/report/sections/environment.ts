/** The environments the runs ran in (Node.js, platform, CPU, host, queue workers, threads, commit, package versions), one column each. */
import { canonicalJson } from '../../engine/hash.ts';
import type { Env, ResultRow } from '../../results/row.ts';
import { cell, cmp, code, DASH, distinct } from '../format.ts';
import { markdownTable as table } from '../table.ts';

export function envSection(rows: readonly ResultRow[]): string {
  const lines = ['## Environment', ''];
  // Rows from queue workers group by their environment; the workers of each are listed in one row.
  const envs = new Map<string, { env: Env; n: number; workers: Map<string, number> }>();
  for (const r of rows) {
    const { worker, ...rest } = r.env;
    const k = canonicalJson(rest);
    const e = envs.get(k) ?? { env: rest, n: 0, workers: new Map<string, number>() };
    envs.set(k, e);
    e.n++;
    if (worker) e.workers.set(worker, (e.workers.get(worker) ?? 0) + 1);
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
      ...(list.some((e) => e.env.host) ? [['host', ...field((e) => e.host ?? 'not recorded')]] : []),
      ...(list.some((e) => e.workers.size)
        ? [['queue workers (runs)', ...list.map((e) => cell(e.workers.size ? [...e.workers].map(([w, n]) => `${w} (${n})`).join(', ') : 'none: run locally'))]]
        : []),
      ['tfjs backend', ...field((e) => e.tfjsBackend ?? 'not loaded')],
      ['threads', ...field((e) => String(e.threads))],
      ['git commit', ...field((e) => e.gitCommit ?? 'unknown')],
      ...pkgNames.map((p) => [code(p), ...field((e) => e.packages[p] ?? DASH)]),
    ]),
  );
  return lines.join('\n');
}
