/**
 * `digitbench serve [report dir]`: a local web page for an experiment's bundles. It serves, and only
 * serves:
 * - the pages (index.html: draw a digit, every model answers; bench.html: what browser-bench drives) and
 *   the browser build of the project's code (src/serve/build.ts);
 * - the wasm files the built-in plugins' predict fetches (their `browserAssets`: the CNN's tfjs-backend-wasm builds);
 * - the report folder's own files: report.md, its charts and digit grids, experiment.json, results and
 *   the model bundles (by extension, inside the folder, no dot-files, no links out of it);
 * - /api/experiment (the summary the page shows) and /api/test-images (the split's raw test digits).
 * Anything else is 404. It binds to 127.0.0.1 unless told otherwise, and answers only requests whose
 * Host header names an address it serves (127.0.0.1, localhost, [::1] or --host, with its port; any
 * with --host 0.0.0.0 or ::), so a web page on another origin cannot reach it through DNS rebinding:
 * others get 421. Only GET and HEAD (else 405); a path with a bad % escape or a control character is 400.
 *
 * The page runs the built-in plugins and the plugin files the user passed (`plugins`, --plugin), matched
 * by the plugin name a bundle's header gives. Nothing a bundle names is ever bundled, imported or served:
 * a bundle whose plugin is neither is listed with the reason, as is a bundle that cannot be decoded
 * (damaged, truncated, too large); the other models still work.
 *
 * Every response may be gzip-encoded (what a static host does), so a page's downloads can be measured
 * as sent; the gzip of a file is cached by its path, mtime, ctime, size and inode, so a changed file is
 * sent as it is now. `?isolated=1` on a page (or `isolated: true` for all) adds the COOP/COEP headers
 * that make it cross-origin isolated, which lets tfjs-wasm run threads and sharpens the page's clock.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isIPv6 } from 'node:net';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { DatasetSource } from '../data/sources.ts';
import { NotRegularFileError, openRegularFile, readAt } from '@digitbench/runtime/internal';
import { decodeBundle } from '@digitbench/runtime/internal';
import { loadDataset } from '../data/datasets.ts';
import { makeSplit, testPart } from '../data/split.ts';
import { reportRows } from '../harness/report-rows.ts';
import { deploymentChoice } from '../report/analysis.ts';
import { decodeLabels, type OkRow, type ResultRow } from '../results/row.ts';
import { BUILTIN_MODELS } from '@digitbench/runtime';
import { builtins } from '../classifiers/registry.ts';
import { buildBrowserApp, loadPluginFiles, type BrowserBuild } from './build.ts';

const require = createRequire(import.meta.url);
const PAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), 'page');
/** URL path → file of every wasm file a built-in plugin's predict needs in a page (its `browserAssets`). */
const WASM_FILES: Record<string, string> = Object.fromEntries(
  builtins.flatMap((p) => p.browserAssets ?? []).map((a) => [`/wasm/${a.file}`, join(dirname(require.resolve(`${a.package}/package.json`)), a.path)]),
);
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
  /** Plugin files the page may run besides the built-ins (the user's --plugin); bundles name plugins by name. */
  plugins?: readonly string[];
}

/** No file larger than this is read: a bundle decoded at start, or a file served. */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** One model of the experiment as the page lists it. */
export interface PageModel {
  /** The report's label (e.g. "svm", or "svm (hog)" when several share a plugin). */
  label: string;
  runId: string;
  classifier: string;
  /** URL of its bundle, under /report/. */
  bundle: string;
  bundleBytes: number;
  /** The plugin name the bundle's header gives (a built-in, or a plugin file passed with --plugin). */
  plugin: string;
  features: string[];
  accuracy: number;
  /** Node figures measured on the bundle (the report's deployment section). */
  node?: { latencyMsP50: number; latencyMsP95: number; coldStartMs: number };
  /** The run's "unsure" threshold and, at it, the test rows answered (row.trust); absent when the run had none. */
  sure?: { targetAccuracy: number; threshold: number | null; coverage: number; accuracy: number | null };
  /** The first misclassified test rows: index in the test split, true and predicted label. */
  misclassified: { row: number; truth: number; predicted: number }[];
  picked: boolean;
  /** Why the page cannot load it (one line): the bundle cannot be decoded, its plugin is neither built in nor passed, or it cannot be bundled for a browser. */
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
  /** One line to show at start when the server is reachable from the network (--host 0.0.0.0 or ::). */
  warning?: string;
  close(): Promise<void>;
}

const MISCLASSIFIED_SHOWN = 60;

/** What the page lists: every ok row with a bundle on disk, the pick, and the other rows' reasons. */
async function describeExperiment(rows: ResultRow[], config: Record<string, unknown>, probes: Map<string, BundleProbe>, dir: string): Promise<Omit<PageExperiment, 'bundler' | 'classNames' | 'imageShape'>> {
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
    const probe = probes.get(b.file);
    if (!row || !probe) continue;
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
      bundle: `/report/${b.file.split(sep).map(encodeURIComponent).join('/')}`,
      bundleBytes: row.bundle!.bytes,
      plugin: probe.plugin ?? row.classifier,
      features: row.features,
      accuracy: row.metrics.accuracy,
      ...(row.deployment ? { node: { latencyMsP50: row.deployment.latencyMsP50, latencyMsP95: row.deployment.latencyMsP95, coldStartMs: row.deployment.coldStartMs } } : {}),
      ...(row.trust
        ? { sure: { targetAccuracy: row.trust.targetAccuracy, threshold: row.trust.threshold, coverage: row.trust.test.atThreshold.coverage, accuracy: row.trust.test.atThreshold.accuracy } }
        : {}),
      misclassified,
      picked: choice.pick?.file === b.file,
      ...(probe.error ? { unavailable: probe.error } : {}),
    });
  }
  const first = ok[0] ?? rows[0];
  return { name: String(config.name ?? first?.experiment ?? dir), dataset: first?.dataset ?? String(config.dataset ?? 'mnist'), split: first!.split, models, others };
}

function isInside(root: string, file: string): boolean {
  const rel = relative(root, file);
  return rel !== '' && !rel.startsWith('..') && !rel.split(sep).some((p) => p.startsWith('.'));
}

/** A regular file read whole, with the stamp its cached gzip is keyed by; the size is checked before reading. */
interface FileRead {
  bytes: Buffer;
  stamp: string;
}

class TooLarge extends Error {}

/**
 * Opens `file`, refuses a non-regular file (undefined) or one over MAX_FILE_BYTES (TooLarge), and reads
 * it (@digitbench/runtime io/files.ts: a FIFO is refused instead of waiting for a writer).
 */
async function readRegular(file: string): Promise<FileRead | undefined> {
  let opened;
  try {
    opened = await openRegularFile(file, '');
  } catch (e) {
    if (e instanceof NotRegularFileError) return undefined;
    throw e;
  }
  const { handle, size, stats: st } = opened;
  try {
    if (size > MAX_FILE_BYTES) throw new TooLarge(`${(size / 1e6).toFixed(0)} MB, more than the ${MAX_FILE_BYTES / 1024 / 1024} MB the page server reads`);
    // The stamp of the very file read (fstat of the open handle): a rewrite or a rename gives a new one.
    return { bytes: await readAt(handle, size), stamp: `${st.mtimeMs}:${st.ctimeMs}:${size}:${st.ino}` };
  } finally {
    await handle.close();
  }
}

/** What the server learned of one bundle at start: its plugin's name, or why the page cannot load it. */
interface BundleProbe {
  plugin?: string;
  error?: string;
}

/**
 * Reads and decodes the bundle `file` (relative to the folder, from its results) to learn the plugin
 * name its header gives; undefined when it is not on disk. Only the header's name is used: nothing the
 * bundle names is loaded.
 */
async function probeBundle(root: string, dirArg: string, file: string): Promise<BundleProbe | undefined> {
  const path = resolve(root, file);
  const shown = join(dirArg, file);
  if (!isInside(root, path)) return { error: `${shown}: the results name a bundle outside the report folder; re-run the experiment to write its bundle.` };
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return undefined;
  }
  if (!isInside(root, real)) return { error: `${shown} links outside the report folder; copy the bundle into it.` };
  let read: FileRead | undefined;
  try {
    read = await readRegular(real);
  } catch (e) {
    if (e instanceof TooLarge) return { error: `${shown} is ${e.message}; serve a smaller model.` };
    return { error: `${shown} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).` };
  }
  if (!read) return { error: `${shown} is not a regular file; re-run the experiment to write its bundle.` };
  try {
    const { header } = await decodeBundle(read.bytes, shown);
    return { plugin: header.plugin.name };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0]! };
  }
}

/** Checks that `dirArg` is a report folder (results.jsonl inside); the error names it and what to do. */
export function checkReportFolder(dirArg: string): string {
  const dir = resolve(dirArg);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`${dirArg} is not a folder; give a report folder with model bundles, e.g. runs/quick (made by \`npm run experiment\`).`);
  if (!existsSync(join(dir, 'results.jsonl'))) throw new Error(`${dirArg} has no results.jsonl; give a report folder made by \`digitbench experiment\`, e.g. runs/quick.`);
  return dir;
}

/** True for the unspecified address (0.0.0.0, ::): listening on every interface. */
function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || (isIPv6(host) && /^[0:]+$/.test(host));
}

/**
 * The Host header values the server answers (lower case): 127.0.0.1, localhost and [::1] with the port,
 * and the --host address with it; 'any' when it listens on every interface. Port 80 also without it.
 */
export function acceptedHosts(host: string, port: number): Set<string> | 'any' {
  if (isWildcard(host)) return 'any';
  const names = ['127.0.0.1', 'localhost', '[::1]', isIPv6(host) ? `[${host.toLowerCase()}]` : host.toLowerCase()];
  return new Set(names.flatMap((n) => (port === 80 ? [`${n}:${port}`, n] : [`${n}:${port}`])));
}

/** The path of a request target ("/a%20b?x=1" → "/a b") and its query; a string is why it is refused (400). */
function parseTarget(target: string | undefined): { path: string; query: URLSearchParams } | string {
  if (!target?.startsWith('/')) return 'bad request: the path must start with /';
  const q = target.indexOf('?');
  let path: string;
  try {
    path = decodeURIComponent(q < 0 ? target : target.slice(0, q));
  } catch {
    return 'bad request: the path has a malformed % escape';
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(path)) return 'bad request: the path has a control character';
  return { path, query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
}

/**
 * Starts the server on a report folder that holds bundles. Errors (no folder, no results, a --plugin
 * file that cannot be used, no bundles on disk, a build failure) name the folder or file and what to do.
 */
export async function startServer(dirArg: string, opts: ServeOptions = {}): Promise<RunningServer> {
  // The user's plugin files, loaded as the user's code to learn their names (a refusal names --plugin;
  // first, since a report folder typed after --plugin <files...> is taken as one of them).
  const pluginFiles = await loadPluginFiles(opts.plugins ?? []);
  const dir = checkReportFolder(dirArg);
  const root = realpathSync(dir);
  const { rows, config } = await reportRows(dir);
  // What each bundle on disk names: only the plugin's name is read, and nothing it names is loaded.
  const probes = new Map<string, BundleProbe>();
  for (const r of rows) {
    if (r.status !== 'ok' || !r.bundle || probes.has(r.bundle.file)) continue;
    const probe = await probeBundle(root, dirArg, r.bundle.file);
    if (probe) probes.set(r.bundle.file, probe);
  }
  if (probes.size === 0) {
    throw new Error(`${dirArg} has no model bundles on disk (reports in reports/ are committed without them); run \`npm run experiment -- <config>\` and serve its folder, runs/<config>.`);
  }
  const build = await buildBrowserApp(pluginFiles);
  const byName = new Map(build.plugins.map((p) => [p.name, p]));
  for (const p of probes.values()) {
    if (p.error || p.plugin === undefined || BUILTIN_MODELS.includes(p.plugin)) continue;
    const built = byName.get(p.plugin);
    if (!built) p.error = `the plugin "${p.plugin}" is not built in; pass its file with --plugin <file>`;
    else if (!built.ok) p.error = `its plugin cannot be bundled for a browser: ${built.reason}`;
  }
  const described = await describeExperiment(rows, config as Record<string, unknown>, probes, dir);

  // The split's test digits, loaded once on first request (the dataset takes a moment).
  let testImages: Promise<{ bytes: Uint8Array; size: number; classNames: string[]; imageShape: [number, number] }> | undefined;
  const loadTestImages = () =>
    (testImages ??= (async () => {
      const dataset = await loadDataset((config as { dataset?: DatasetSource }).dataset ?? described.dataset);
      const s = described.split;
      const split = makeSplit(dataset, { train: s.train, validation: s.validation, test: s.test, seed: s.seed });
      if (split.fingerprint !== s.fingerprint) {
        throw new Error(`the dataset here gives split fingerprint ${split.fingerprint}, not the report's ${s.fingerprint}: another version of "${described.dataset}"?`);
      }
      const m = testPart(dataset, split).x;
      return { bytes: Uint8Array.from(m.data, (v) => Math.max(0, Math.min(255, Math.round(v)))), size: m.cols, classNames: [...dataset.classes], imageShape: [...dataset.imageShape] as [number, number] };
    })());
  const meta = await loadTestImages();
  const experiment: PageExperiment = { ...described, classNames: meta.classNames, imageShape: meta.imageShape, bundler: build.bundler };

  // gzip of a body, by key (a path), valid while its stamp (file stat, or '' for what never changes) holds.
  const gzipped = new Map<string, { stamp: string; gz: Buffer }>();
  const send = (req: IncomingMessage, res: ServerResponse, status: number, type: string, body: Uint8Array | string, cache?: { key: string; stamp: string }, extra: Record<string, string> = {}) => {
    const raw = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? '')) && raw.length > 256;
    let out = raw;
    if (gzip) {
      const hit = cache && gzipped.get(cache.key);
      out = hit && hit.stamp === cache.stamp ? hit.gz : gzipSync(raw, { level: 9 });
      if (cache) gzipped.set(cache.key, { stamp: cache.stamp, gz: out });
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
  const text = (req: IncomingMessage, res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}) => send(req, res, status, 'text/plain; charset=utf-8', `${body}\n`, undefined, extra);
  const notFound = (req: IncomingMessage, res: ServerResponse) => text(req, res, 404, 'not found');
  /** A file on disk, read now, its gzip cached by its stat. */
  const sendFile = async (req: IncomingMessage, res: ServerResponse, type: string, file: string, extra: Record<string, string> = {}) => {
    let read: FileRead | undefined;
    try {
      read = await readRegular(file);
    } catch (e) {
      if (e instanceof TooLarge) return text(req, res, 403, `too large to serve: ${e.message}`);
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return notFound(req, res);
      throw e;
    }
    if (!read) return notFound(req, res);
    return send(req, res, 200, type, read.bytes, { key: file, stamp: read.stamp }, extra);
  };

  let hosts: Set<string> | 'any' = new Set();
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const hostHeader = req.headers.host?.toLowerCase();
    if (hostHeader === undefined || (hosts !== 'any' && !hosts.has(hostHeader))) {
      return text(req, res, 421, `misdirected request: this server answers only to ${hosts === 'any' ? 'requests with a Host header' : [...hosts].join(', ')}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(req, res, 405, 'only GET and HEAD', { allow: 'GET, HEAD' });
    const target = parseTarget(req.url);
    if (typeof target === 'string') return text(req, res, 400, target);
    const { path, query } = target;
    opts.log?.(`${req.method} ${path}`);
    const page = PAGES[path];
    if (page) {
      const isolate = opts.isolated === true || query.get('isolated') === '1';
      const headers: Record<string, string> = isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
      return sendFile(req, res, TYPES[extname(page)]!, join(PAGE_DIR, page), headers);
    }
    const built = build.files.get(path);
    if (built) return send(req, res, 200, built.type, built.bytes, { key: `build:${path}`, stamp: '' });
    const wasm = WASM_FILES[path];
    if (wasm) return sendFile(req, res, 'application/wasm', wasm);
    if (path === '/api/experiment') return send(req, res, 200, 'application/json; charset=utf-8', JSON.stringify(experiment));
    if (path === '/api/test-images') {
      const t = await loadTestImages();
      return send(req, res, 200, 'application/octet-stream', t.bytes, { key: 'api:test-images', stamp: '' }, { 'x-image-size': String(t.size), 'x-fingerprint': experiment.split.fingerprint });
    }
    if (path.startsWith('/report/')) {
      const file = resolve(root, '.' + path.slice('/report'.length));
      const type = REPORT_TYPES[extname(file)];
      if (!type || !isInside(root, file)) return notFound(req, res);
      let real: string;
      try {
        real = await realpath(file);
      } catch {
        return notFound(req, res);
      }
      if (!isInside(root, real)) return notFound(req, res);
      return sendFile(req, res, type, real);
    }
    return notFound(req, res);
  };

  const server = createServer({ requireHostHeader: false }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      // The reason goes to the server's own output; the client gets a short line, never exception text.
      process.stderr.write(`digitbench serve: ${req.method} ${JSON.stringify(req.url)}: ${(e as Error).message.split('\n')[0]}\n`);
      if (!res.headersSent) text(req, res, 500, 'internal error; see the server output');
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
  hosts = acceptedHosts(host, port);
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    experiment,
    build,
    ...(hosts === 'any'
      ? { warning: `--host ${host}: the page, the report and its model bundles are reachable from the network (any Host header is answered); use --host 127.0.0.1 to keep them on this machine.` }
      : {}),
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
