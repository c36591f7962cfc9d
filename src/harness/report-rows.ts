/** The rows a report folder holds, and the baseline report an experiment compares itself with. */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readBrowserRows, readRows, type BrowserRow, type ResultRow, type WarnFn } from '../results/row.ts';
import type { PublishedFigure } from '../report/types.ts';
import { PROJECT_ROOT } from './env.ts';

/** The newest row of each run id (a re-run after a failure replaces the failure). */
export function latestPerId<T extends { id: string }>(rows: readonly T[]): T[] {
  const byId = new Map<string, T>();
  for (const r of rows) byId.set(r.id, r);
  return [...byId.values()];
}

/**
 * The rows a report folder reports (its experiment's current runs), the config saved beside them, and
 * the browser measurements of those runs (browser.jsonl, newest per id). Reads only: an incomplete last
 * line of either file (an interrupted write) is skipped and told to `warn` (default: one line on stderr).
 */
export async function reportRows(
  dir: string,
  opts: { warn?: WarnFn } = {},
): Promise<{ rows: ResultRow[]; config: { dataset?: string; split?: unknown; name?: string }; browser: BrowserRow[] }> {
  const resultsFile = join(dir, 'results.jsonl');
  let rows = latestPerId(await readRows(resultsFile, opts));
  const runsFile = join(dir, 'runs.json');
  if (existsSync(runsFile)) {
    // The experiment's current runs (older rows stay in the file but are not reported, as in the run).
    const ids = new Set(JSON.parse(await readFile(runsFile, 'utf8')) as string[]);
    rows = rows.filter((r) => ids.has(r.id));
  }
  const configFile = join(dir, 'experiment.json');
  const config = existsSync(configFile) ? JSON.parse(await readFile(configFile, 'utf8')) : {};
  // Only measurements of the bundles as they are: a run measured again since wrote a new bundle.
  const started = new Map(rows.map((r) => [r.id, r.startedAt]));
  const browser = latestPerId(await readBrowserRows(join(dir, 'browser.jsonl'), opts)).filter((b) => started.has(b.runId) && b.measuredAt >= started.get(b.runId)!);
  return { rows, config, browser };
}

/**
 * The report an experiment's `compare.baseline` names (a report folder, relative to the project root),
 * as the report's `baseline` option; nothing when there is none. A missing folder is an error that
 * names it, since the comparison is what the experiment asked for.
 */
export async function loadBaseline(config: unknown): Promise<{ baseline?: { dir: string; rows: ResultRow[] }; published?: PublishedFigure[] }> {
  // The config was validated when the experiment was loaded (experimentSchema's compare).
  const compare = (config as { compare?: { baseline?: string; published?: PublishedFigure[] } } | undefined)?.compare;
  if (!compare) return {};
  const out: { baseline?: { dir: string; rows: ResultRow[] }; published?: PublishedFigure[] } = {};
  if (compare.published) out.published = compare.published;
  if (compare.baseline) {
    const dir = resolve(PROJECT_ROOT, compare.baseline);
    if (!existsSync(join(dir, 'results.jsonl'))) {
      throw new Error(`compare.baseline: ${dir} holds no results.jsonl; name a report folder relative to the project root (e.g. "reports/mnist-full").`);
    }
    out.baseline = { dir: compare.baseline, rows: (await reportRows(dir)).rows };
  }
  return out;
}
