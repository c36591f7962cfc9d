/**
 * `digitbench serve [report dir]`: a local web page for an experiment's bundles. It serves, and only
 * serves:
 * - the pages (index.html: draw a digit, every model answers; bench.html: what browser-bench drives) and
 *   the browser build of the project's code (src/serve/build.ts);
 * - the wasm files the engines fetch (tfjs-backend-wasm's three builds, libsvm-js's one);
 * - the report folder's own files: report.md, its charts and digit grids, experiment.json, results and
 *   the model bundles (by extension, inside the folder, no dot-files, no links out of it);
 * - /api/experiment (the summary the page shows) and /api/test-images (the split's raw test digits).
 * Anything else is 404. It binds to 127.0.0.1 unless told otherwise.
 *
 * Every response may be gzip-encoded (what a static host does), so a page's downloads can be measured
 * as sent. `?isolated=1` on a page (or `isolated: true` for all) adds the COOP/COEP headers that make it
 * cross-origin isolated, which lets tfjs-wasm run threads and sharpens the page's clock.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { decodeBundle } from '../bundle/format.ts';
import { loadDataset } from '../data/datasets.ts';
import { makeSplit } from '../data/split.ts';
import { takeRows } from '../engine/matrix.ts';
import { reportRows } from '../harness/report-rows.ts';
import { deploymentChoice } from '../report/analysis.ts';
import { decodeLabels, type OkRow, type ResultRow } from '../results/row.ts';
import { buildBrowserApp, type BrowserBuild, type PluginBuildStatus } from './build.ts';

const require = createRequire(import.meta.url);
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'page');
const TFJS_WASM_DIR = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
const WASM_FILES: Record<string, string> = {
  '/wasm/tfjs-backend-wasm.wasm': join(TFJS_WASM_DIR, 'dist/tfjs-backend-wasm.wasm'),
  '/wasm/tfjs-backend-wasm-simd.wasm': join(TFJS_WASM_DIR, 'dist/tfjs-backend-wasm-simd.wasm'),
  '/wasm/tfjs-backend-wasm-threaded-simd.wasm': join(TFJS_WASM_DIR, 'dist/tfjs-backend-wasm-threaded-simd.wasm'),
  // libsvm-js's loader asks for it beside the page (new URL('libsvm.wasm', location.href)).
  '/libsvm.wasm': join(dirname(require.resolve('libsvm-js/package.json')), 'out/wasm/libsvm.wasm'),
};
const PAGES: Record<string, string> = { '/': 'index.html', '/index.html': 'index.html', '/bench.html': 'bench.html', '/style.css': 'style.css' };
const REPORT_TYPES: Record<string, string> = {
  '.md': 'text/markdown; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'application/x-ndjson; charset=utf-8',
  '.bundle': 'application/octet-stream',
};
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', ...REPORT_TYPES };

export interface ServeOptions {
  host?: string;
  /** 0: any free port. */
  port?: number;
  /** Send COOP/COEP on every page (default: only on pages asked for with ?isolated=1). */
  isolated?: boolean;
  /** Extra lines of log (requests); default none. */
  log?: (line: string) => void;
}

/** One model of the experiment as the page lists it. */
export interface PageModel {
  /** The report's label (e.g. "svm", or "svm (hog)" when several share a plugin). */
  label: string;
  runId: string;
  classifier: string;
  /** URL of its bundle, under /report/. */
  bundle: string;
  bundleBytes: number;
  /** The plugin ref the bundle names (a built-in name or a plugin file path). */
  plugin: string;
  features: string[];
  accuracy: number;
  /** Node figures measured on the bundle (the report's deployment section). */
  node?: { latencyMsP50: number; latencyMsP95: number; coldStartMs: number };
  /** The first misclassified test rows: index in the test split, true and predicted label. */
  misclassified: { row: number; truth: number; predicted: number }[];
  picked: boolean;
  /** Why the page cannot load it, when the browser build left its plugin out. */
  unavailable?: string;
}

export interface PageExperiment {
  name: string;
  dataset: string;
  split: OkRow['split'];
  classNames: string[];
  imageShape: [number, number];
  models: PageModel[];
  /** Runs without a bundle: failed, timed out, or not serializable. */
  others: { classifier: string; status: string; reason: string }[];
  bundler: string;
}

export interface RunningServer {
  url: string;
  port: number;
  experiment: PageExperiment;
  build: BrowserBuild;
  close(): Promise<void>;
}

const MISCLASSIFIED_SHOWN = 60;

/** What the page lists: every ok row with a bundle on disk, the pick, and the other rows' reasons. */
async function describeExperiment(dir: string, rows: ResultRow[], config: Record<string, unknown>, plugins: Map<string, string>): Promise<Omit<PageExperiment, 'bundler' | 'classNames' | 'imageShape'>> {
  const choice = deploymentChoice(rows, { config: config as never });
  const ok = rows.filter((r): r is OkRow => r.status === 'ok');
  const models: PageModel[] = [];
  const others: PageExperiment['others'] = [];
  for (const r of rows) {
    if (r.status !== 'ok') others.push({ classifier: r.classifier, status: r.status, reason: r.reason });
    else if (!r.bundle) others.push({ classifier: r.classifier, status: 'no bundle', reason: r.noBundle ?? 'the run wrote no bundle' });
  }
  for (const b of choice.bundles) {
    const row = ok.find((r) => r.bundle?.file === b.file);
    if (!row || !existsSync(join(dir, b.file))) continue;
    const truth = row.testLabels ? decodeLabels(row.testLabels) : decodeLabels(ok.find((o) => o.testLabelsHash === row.testLabelsHash && o.testLabels)!.testLabels!);
    const predicted = decodeLabels(row.predictions);
    const misclassified: PageModel['misclassified'] = [];
    for (let i = 0; i < truth.length && misclassified.length < MISCLASSIFIED_SHOWN; i++) {
      if (truth[i] !== predicted[i]) misclassified.push({ row: i, truth: truth[i]!, predicted: predicted[i]! });
    }
    models.push({
      label: b.label,
      runId: row.id,
      classifier: row.classifier,
      bundle: `/report/${b.file.split(sep).join('/')}`,
      bundleBytes: row.bundle!.bytes,
      plugin: plugins.get(b.file) ?? row.classifier,
      features: row.features,
      accuracy: row.metrics.accuracy,
      ...(row.deployment ? { node: { latencyMsP50: row.deployment.latencyMsP50, latencyMsP95: row.deployment.latencyMsP95, coldStartMs: row.deployment.coldStartMs } } : {}),
      misclassified,
      picked: choice.pick?.file === b.file,
    });
  }
  const first = ok[0] ?? rows[0];
  return { name: String(config.name ?? first?.experiment ?? dir), dataset: first?.dataset ?? String(config.dataset ?? 'mnist'), split: first!.split, models, others };
}

function isInside(root: string, file: string): boolean {
  const rel = relative(root, file);
  return rel !== '' && !rel.startsWith('..') && !rel.split(sep).some((p) => p.startsWith('.'));
}

/**
 * Starts the server on a report folder that holds bundles. Errors (no folder, no results, no bundles on
 * disk, a build failure) name the folder and what to do.
 */
export async function startServer(dirArg: string, opts: ServeOptions = {}): Promise<RunningServer> {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dirArg} is not a folder; give a report folder with model bundles, e.g. runs/quick (made by \`npm run experiment\`).`);
  if (!existsSync(join(dir, 'results.jsonl'))) throw new Error(`${dirArg} has no results.jsonl; give a report folder made by \`digitbench experiment\`, e.g. runs/quick.`);
  const root = realpathSync(dir);
  const { rows, config } = await reportRows(dir);
  // The plugin each bundle names (a path plugin's file goes into the browser build).
  const plugins = new Map<string, string>();
  for (const r of rows) {
    if (r.status !== 'ok' || !r.bundle || !existsSync(join(dir, r.bundle.file))) continue;
    const { header } = await decodeBundle(await readFile(join(dir, r.bundle.file)), join(dirArg, r.bundle.file));
    plugins.set(r.bundle.file, header.plugin.ref);
  }
  if (plugins.size === 0) {
    throw new Error(`${dirArg} has no model bundles on disk (reports in reports/ are committed without them); run \`npm run experiment -- <config>\` and serve its folder, runs/<config>.`);
  }
  const build = await buildBrowserApp([...plugins.values()]);
  const described = await describeExperiment(dir, rows, config as Record<string, unknown>, plugins);
  const unavailable = new Map(build.plugins.filter((p): p is PluginBuildStatus & { reason: string } => !p.ok).map((p) => [p.ref, p.reason]));
  for (const m of described.models) {
    const why = unavailable.get(m.plugin);
    if (why) m.unavailable = `its plugin cannot be bundled for a browser: ${why}`;
  }

  // The split's test digits, loaded once on first request (the dataset takes a moment).
  let testImages: Promise<{ bytes: Uint8Array; size: number; classNames: string[]; imageShape: [number, number] }> | undefined;
  const loadTestImages = () =>
    (testImages ??= (async () => {
      const dataset = await loadDataset(described.dataset);
      const s = described.split;
      const split = makeSplit(dataset, { train: s.train, validation: s.validation, test: s.test, seed: s.seed });
      if (split.fingerprint !== s.fingerprint) {
        throw new Error(`the dataset here gives split fingerprint ${split.fingerprint}, not the report's ${s.fingerprint}: another version of "${described.dataset}"?`);
      }
      const m = takeRows(dataset.test.images, split.test);
      return { bytes: Uint8Array.from(m.data, (v) => Math.max(0, Math.min(255, Math.round(v)))), size: m.cols, classNames: [...dataset.classes], imageShape: [...dataset.imageShape] as [number, number] };
    })());
  const meta = await loadTestImages();
  const experiment: PageExperiment = { ...described, classNames: meta.classNames, imageShape: meta.imageShape, bundler: build.bundler };

  const gzipped = new Map<string, Buffer>();
  const send = (req: IncomingMessage, res: ServerResponse, status: number, type: string, body: Uint8Array | string, key?: string, extra: Record<string, string> = {}) => {
    const raw = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && raw.length > 256;
    let out = raw;
    if (gzip) {
      out = (key && gzipped.get(key)) || gzipSync(raw, { level: 9 });
      if (key) gzipped.set(key, out);
    }
    res.writeHead(status, {
      'content-type': type,
      'content-length': String(out.length),
      'cache-control': 'no-cache',
      'cross-origin-resource-policy': 'same-origin',
      'x-content-type-options': 'nosniff',
      ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
      ...extra,
    });
    res.end(req.method === 'HEAD' ? undefined : out);
  };
  const notFound = (req: IncomingMessage, res: ServerResponse) => send(req, res, 404, 'text/plain; charset=utf-8', 'not found\n');

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(req, res, 405, 'text/plain; charset=utf-8', 'only GET\n');
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = decodeURIComponent(url.pathname);
    opts.log?.(`${req.method} ${path}`);
    const page = PAGES[path];
    if (page) {
      const isolate = opts.isolated === true || url.searchParams.get('isolated') === '1';
      const headers: Record<string, string> = isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
      return send(req, res, 200, TYPES[extname(page)]!, await readFile(join(PAGE_DIR, page)), `page:${page}`, headers);
    }
    const built = build.files.get(path);
    if (built) return send(req, res, 200, built.type, built.bytes, `build:${path}`);
    const wasm = WASM_FILES[path];
    if (wasm) return send(req, res, 200, 'application/wasm', await readFile(wasm), `wasm:${path}`);
    if (path === '/api/experiment') return send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify(experiment));
    if (path === '/api/test-images') {
      const t = await loadTestImages();
      return send(req, res, 200, 'application/octet-stream', t.bytes, 'api:test-images', { 'x-image-size': String(t.size), 'x-fingerprint': experiment.split.fingerprint });
    }
    if (path.startsWith('/report/')) {
      const file = resolve(root, '.' + path.slice('/report'.length));
      const type = REPORT_TYPES[extname(file)];
      if (!type || !isInside(root, file) || !existsSync(file)) return notFound(req, res);
      const real = realpathSync(file);
      if (!isInside(root, real) || !statSync(real).isFile()) return notFound(req, res);
      return send(req, res, 200, type, await readFile(real), `report:${real}`);
    }
    return notFound(req, res);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(req, res, 500, 'text/plain; charset=utf-8', `${(e as Error).message}\n`);
      else res.destroy();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(new Error(e.code === 'EADDRINUSE' ? `port ${opts.port} on ${host} is in use; give another with --port (0: any free port).` : `the server could not listen on ${host}:${opts.port}: ${e.message}`)),
    );
    server.listen(opts.port ?? 0, host, () => ok());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    experiment,
    build,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
