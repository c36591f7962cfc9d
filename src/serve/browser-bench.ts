/**
 * `digitbench browser-bench [report dir]`: every bundle of a report folder measured in a real headless
 * browser (Playwright driving Chromium; Debian's /usr/bin/chromium by default), in two page modes: a
 * plain page, and a cross-origin isolated one (COOP/COEP, which lets tfjs-wasm load its threaded build
 * and gives the page a 5 µs clock instead of 100 µs).
 *
 * Per bundle and mode, in a fresh browser context (empty cache) on the measuring page (bench.html):
 * - download: what the page fetched to run that model (page, scripts, wasm, bundle), gzip-encoded as
 *   the server sent it, and decoded;
 * - cold start: navigation start → first prediction, with its parts (page and scripts, bundle download,
 *   rebuild incl. plugin chunk and engine start, first prediction);
 * - latency: 20 warm-up calls, then `passes` × `calls` single-image calls over the test rows (as the Node
 *   measurement in deploy-child.ts does), p50 / p95 and the per-pass p50s;
 * - agreement: the page's label for every test row (batches of 1,000) against the run's Node prediction;
 *   rows that differ are listed with the page's top-3 scores.
 * Rows go to browser.jsonl beside the results, and the report is re-rendered with them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { sha256 } from '../engine/hash.ts';
import { gitCommit, machine } from '../harness/env.ts';
import { rerender } from '../harness/rerender.ts';
import { percentile } from '../metrics/intervals.ts';
import { appendBrowserRow, decodeLabels, type BrowserRow, type OkRow } from '../results/row.ts';
import { reportRows } from '../harness/report-rows.ts';
import { deploymentChoice } from '../report/analysis.ts';
import type { BenchApi, ColdStart } from './page/bench.ts';
import { loadPluginFiles } from './build.ts';
import { checkReportFolder, startServer } from './server.ts';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

/**
 * Chromium's flags for a closed machine: no sandbox (root in a container), no GPU, and none of the
 * background connections that a network-less machine refuses (see the machine notes).
 */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps'];

/** Starts headless Chromium at `executable`, with an error that says what to install when it is missing. */
export async function launchChromium(executable = process.env.DIGITBENCH_CHROMIUM ?? DEFAULT_CHROMIUM): Promise<Browser> {
  if (!existsSync(executable)) {
    throw new Error(`Chromium not found at ${executable}; install Debian's chromium (apt-get install chromium) or give its path with --browser <path> (or DIGITBENCH_CHROMIUM).`);
  }
  return chromium.launch({ executablePath: executable, args: CHROMIUM_ARGS, headless: true });
}

export interface BrowserBenchOptions {
  browser?: string;
  /** Page modes to measure (default both). */
  modes?: readonly ('plain' | 'isolated')[];
  /** Timed passes and calls per pass (default: the experiment's deploy.passes / calls; at least 500 calls in all). */
  passes?: number;
  calls?: number;
  /** Only these report labels (default all). */
  only?: readonly string[];
  /** Plugin files the page may run besides the built-ins (the user's --plugin). */
  plugins?: readonly string[];
  log?: (line: string) => void;
}

export interface BrowserBenchResult {
  rows: BrowserRow[];
  report: string;
}

const WARMUP = 20;
const MIN_CALLS = 500;

export async function browserBench(dir: string, opts: BrowserBenchOptions = {}): Promise<BrowserBenchResult> {
  const log = opts.log ?? (() => {});
  // The checks that need no build and no browser, first (startServer loads the plugin files again, from the module cache).
  await loadPluginFiles(opts.plugins ?? []);
  checkReportFolder(dir);
  if (opts.only) {
    // Before the build and the browser: an unknown label is a one-line error that lists the known ones.
    const { rows, config } = await reportRows(dir);
    const labels = deploymentChoice(rows, { config: config as never }).bundles.filter((b) => existsSync(join(dir, b.file))).map((b) => b.label);
    const unknown = opts.only.filter((l) => !labels.includes(l));
    if (unknown.length) {
      throw new Error(`--only: no model ${unknown.map((l) => JSON.stringify(l)).join(', ')} in ${dir}; use one of ${labels.join(', ') || '(none: no bundles on disk)'}.`);
    }
  }
  const server = await startServer(dir, { port: 0, plugins: opts.plugins ?? [] });
  const browser = await launchChromium(opts.browser).catch(async (e: unknown) => {
    await server.close();
    throw e;
  });
  const browserName = `Chromium ${browser.version()} (headless)`;
  const out: BrowserRow[] = [];
  try {
    const { rows, config } = await reportRows(dir);
    const deploy = ((config as { deploy?: { passes?: number; calls?: number } }).deploy ?? {}) as { passes?: number; calls?: number };
    const passes = opts.passes ?? deploy.passes ?? 5;
    const perPass = Math.max(opts.calls ?? deploy.calls ?? 200, Math.ceil(MIN_CALLS / passes));
    const res = await fetch(new URL('/api/test-images', server.url));
    const size = Number(res.headers.get('x-image-size'));
    const images = new Uint8Array(await res.arrayBuffer());
    const first = Array.from(images.subarray(0, size));
    const env = machine();
    const commit = gitCommit();
    const modes = opts.modes ?? ['plain', 'isolated'];
    for (const m of server.experiment.models) {
      if (opts.only && !opts.only.includes(m.label)) continue;
      const row = rows.find((r): r is OkRow => r.id === m.runId && r.status === 'ok')!;
      const node = decodeLabels(row.predictions);
      for (const mode of modes) {
        const isolated = mode === 'isolated';
        const base = {
          id: sha256(JSON.stringify([m.runId, isolated, browserName])).slice(0, 16),
          runId: m.runId,
          experiment: server.experiment.name,
          classifier: m.classifier,
          bundle: row.bundle!.file,
          isolated,
          browser: browserName,
          measuredAt: new Date().toISOString(),
          gitCommit: commit,
          cpu: env.cpu,
          cores: env.cores,
        };
        const context = await browser.newContext();
        try {
          const page = await context.newPage();
          const pageErrors: string[] = [];
          page.on('pageerror', (e) => pageErrors.push(e.message));
          await page.goto(new URL(`/bench.html${isolated ? '?isolated=1' : ''}`, server.url).href);
          await page.waitForFunction(() => 'digitbenchBench' in globalThis, undefined, { timeout: 60_000 });
          type G = { digitbenchBench: BenchApi };
          const info = await page.evaluate(() => (globalThis as unknown as G).digitbenchBench.info());
          if (m.unavailable) {
            out.push({ ...base, crossOriginIsolated: info.crossOriginIsolated, status: 'failed', reason: m.unavailable });
            continue;
          }
          const cold: ColdStart = await page.evaluate(([url, name, px]) => (globalThis as unknown as G).digitbenchBench.coldStart(url, name, px), [m.bundle, m.bundle.split('/').pop()!, first] as const);
          if (!cold.ok) {
            out.push({ ...base, crossOriginIsolated: info.crossOriginIsolated, status: 'failed', reason: `cannot run in this browser: ${cold.reason ?? pageErrors[0] ?? 'unknown error'}` });
            log(`${m.label} (${mode}): failed: ${cold.reason}`);
            continue;
          }
          const r = await page.evaluate(([w, n]) => (globalThis as unknown as G).digitbenchBench.measure(w, n), [WARMUP, passes * perPass] as const);
          const differing: number[] = [];
          let same = 0;
          for (let i = 0; i < r.batch.length; i++) (r.batch[i] === node[i] ? same++ : differing.push(i));
          for (let c = 0; c < r.single.length; c++) if (r.single[c] !== node[c % r.rows] && !differing.includes(c % r.rows)) differing.push(c % r.rows);
          const shown = differing.slice(0, 20);
          const tops = shown.length ? await page.evaluate((rs) => (globalThis as unknown as G).digitbenchBench.top(rs), shown) : [];
          const downloads = await page.evaluate(() => (globalThis as unknown as G).digitbenchBench.downloads());
          const sorted = [...r.times].sort((a, b) => a - b);
          const passP50Ms = Array.from({ length: passes }, (_, p) => percentile(r.times.slice(p * perPass, (p + 1) * perPass).sort((a, b) => a - b), 50));
          const browserRow: BrowserRow = {
            ...base,
            crossOriginIsolated: info.crossOriginIsolated,
            status: 'ok',
            download: { gzipBytes: downloads.encoded, bytes: downloads.decoded, files: downloads.files.length },
            coldStart: { totalMs: cold.coldStartMs, pageMs: cold.pageMs, fetchMs: cold.fetchMs, rebuildMs: cold.rebuildMs, firstPredictMs: cold.firstPredictMs },
            latencyMsP50: percentile(sorted, 50),
            latencyMsP95: percentile(sorted, 95),
            passP50Ms,
            calls: r.times.length,
            timerResolutionMs: info.timerResolutionMs,
            engine: r.engine,
            threads: r.threads,
            agreement: {
              same,
              total: r.batch.length,
              differing: shown.map((row, k) => ({
                row,
                browser: r.batch[row]!,
                node: node[row]!,
                top: (tops[k]?.top ?? []).map((t) => `${t.name} ${t.score.toFixed(4)}`).join(', ') || '(no scores)',
              })),
            },
          };
          out.push(browserRow);
          log(
            `${m.label} (${mode}): ${(downloads.encoded / 1e3).toFixed(0)} kB gzip, cold start ${cold.coldStartMs.toFixed(0)} ms, p50 ${browserRow.latencyMsP50!.toFixed(3)} ms, p95 ${browserRow.latencyMsP95!.toFixed(3)} ms, agrees ${same}/${r.batch.length}`,
          );
          await page.evaluate(() => (globalThis as unknown as G).digitbenchBench.dispose());
        } catch (e) {
          out.push({ ...base, crossOriginIsolated: false, status: 'failed', reason: `the measurement failed: ${(e as Error).message.split('\n')[0]}` });
          log(`${m.label} (${mode}): the measurement failed: ${(e as Error).message.split('\n')[0]}`);
        } finally {
          await context.close();
        }
      }
    }
  } finally {
    await browser.close();
    await server.close();
  }
  for (const r of out) await appendBrowserRow(join(dir, 'browser.jsonl'), r);
  const { report } = await rerender(dir);
  return { rows: out, report };
}
