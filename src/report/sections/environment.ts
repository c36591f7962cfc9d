/** The environments the runs ran in (Node.js, platform, CPU, host, queue workers, threads, commit, package versions), one column each. */
import { canonicalJson } from '../../engine/hash.ts';
import type { Env, ResultRow, SelectionRow } from '../../results/row.ts';
import { cell, cmp, code, DASH, distinct, distinctJoin } from '../format.ts';
import { markdownTable as table } from '../table.ts';

/**
 * `selection`: the selection rows; those scored by queue workers (candidate jobs, env.worker) add each
 * worker's candidate count beside its runs.
 */
export function envSection(rows: readonly ResultRow[], selection: readonly SelectionRow[] = []): string {
  const lines = ['## Environment', ''];
  // Rows from queue workers group by their machine's environment; the workers of each are listed in one row. The
  // threads and package versions are each run's own (what its plugin and feature steps used), shown per classifier
  // where the runs of a group differ.
  const envs = new Map<string, { env: Env; n: number; workers: Map<string, number>; rows: ResultRow[] }>();
  for (const r of rows) {
    const { worker, threads: _t, threadsUsed: _u, packages: _p, ...machine } = r.env;
    const k = canonicalJson(machine);
    const e = envs.get(k) ?? { env: r.env, n: 0, workers: new Map<string, number>(), rows: [] };
    envs.set(k, e);
    e.n++;
    e.rows.push(r);
    if (worker) e.workers.set(worker, (e.workers.get(worker) ?? 0) + 1);
  }
  // Candidates by worker, each with the group of the runs of its host (else of its own runs, else the first).
  const candidates = new Map<string, number>();
  for (const s of selection) if (s.env?.worker) candidates.set(s.env.worker, (candidates.get(s.env.worker) ?? 0) + 1);
  for (const [w, n] of candidates) {
    if (n === 0) continue;
    const host = selection.find((s) => s.env?.worker === w)?.env?.host;
    const e = [...envs.values()].find((x) => x.workers.has(w)) ?? [...envs.values()].find((x) => host !== undefined && x.env.host === host) ?? [...envs.values()][0];
    if (e && !e.workers.has(w)) e.workers.set(w, 0);
  }
  const perCandidate = candidates.size > 0;
  if (!envs.size) {
    lines.push('No runs.');
    return lines.join('\n');
  }
  const list = [...envs.values()];
  const header = ['', ...list.map((e, i) => (list.length === 1 ? 'value' : `environment ${i + 1} (${e.n} runs)`))];
  const field = (f: (e: Env) => string) => list.map((e) => cell(f(e.env)));
  const pkgNames = distinct(list.flatMap((e) => e.rows.flatMap((r) => Object.keys(r.env.packages)))).sort(cmp);
  lines.push(
    table(header, [
      ['Node.js', ...field((e) => e.node)],
      ['platform', ...field((e) => e.platform)],
      ['CPU', ...field((e) => e.cpu)],
      ['cores', ...field((e) => String(e.cores))],
      ...(list.some((e) => e.env.host) ? [['host', ...field((e) => e.host ?? 'not recorded')]] : []),
      ...(list.some((e) => e.workers.size)
        ? [[perCandidate ? 'queue workers (runs / candidates)' : 'queue workers (runs)', ...list.map((e) => cell(e.workers.size ? [...e.workers].map(([w, n]) => `${w} (${perCandidate ? `${n} / ${candidates.get(w) ?? 0}` : n})`).join(', ') : 'none: run locally'))]]
        : []),
      // Rows from before there were two engines do not record one (they ran on tfjs).
      ...(list.some((e) => e.env.engine) ? [['engine', ...field((e) => (e.engine === 'ort' ? 'onnxruntime-node (ort)' : e.engine === 'wasm' ? 'tfjs (wasm)' : 'tfjs (not recorded)'))]] : []),
      ['tfjs backend', ...field((e) => e.tfjsBackend ?? 'not loaded')],
      ['threads', ...list.map((e) => cell(threadsCell(e.rows)))],
      ['git commit', ...field((e) => e.gitCommit ?? 'unknown')],
      ...pkgNames.map((p) => [code(p), ...list.map((e) => cell(packageCell(e.rows, p)))]),
    ]),
  );
  return lines.join('\n');
}

/** Parts of a run that kept more than one thread busy, e.g. "2 (features 2, fit 2)"; the count alone otherwise. */
function threadsOf(env: Env): string {
  const u = env.threadsUsed;
  const parts = u ? ([['features', u.features ?? 1], ['fit', u.fit], ['predict', u.predict]] as const).filter(([, n]) => n > 1) : [];
  return parts.length ? `${env.threads} (${parts.map(([k, n]) => `${k} ${n}`).join(', ')})` : String(env.threads);
}

/** The threads of a group's runs: one count when every run used it alone, else per classifier. */
function threadsCell(rows: readonly ResultRow[]): string {
  const each = rows.map((r) => threadsOf(r.env));
  if (distinct(each).length === 1) return each[0]!;
  const byLabel = new Map<string, string[]>();
  rows.forEach((r, i) => byLabel.set(r.classifier, [...(byLabel.get(r.classifier) ?? []), each[i]!]));
  return [...byLabel].map(([label, v]) => `${label} ${distinctJoin(v)}`).join(', ');
}

/** A package's version in a group: as it is when every run used it, else with the classifiers whose runs did. */
function packageCell(rows: readonly ResultRow[], name: string): string {
  const using = rows.filter((r) => r.env.packages[name] !== undefined);
  if (!using.length) return DASH;
  const versions = distinctJoin(using.map((r) => r.env.packages[name]!));
  if (using.length === rows.length) return versions;
  const who = distinct(using.map((r) => r.classifier)).join(', ');
  // "3.0.0 (patched)" → "3.0.0 (patched; knn)".
  return versions.endsWith(')') ? `${versions.slice(0, -1)}; ${who})` : `${versions} (${who})`;
}
