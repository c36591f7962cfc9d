/**
 * The page server's safety, without a browser: servers started in-process on port 0 over a small real
 * experiment (kNN, naive Bayes, a decision tree and the example nearest-centroid plugin file, on an MNIST
 * subset), and raw HTTP requests through node:http / node:net, so the tests choose the Host header and
 * the exact request target. Covers the Host check (DNS rebinding), the gzip cache following a changed
 * file, malformed paths and methods, port and --plugin validation in the CLI, plugins matched by name
 * (only built-ins and --plugin files are in the page), damaged bundles, browser-bench --only, and forged
 * bundles that name local files (never run, never served).
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reframe } from './helpers/forge.ts';
import { decodeBundle } from '@digitbench/runtime/internal';
import { loadBundleBytes } from '@digitbench/runtime/internal';
import { resolvePlugin } from '../src/classifiers/registry.ts';
import { createMatrix } from '@digitbench/runtime/internal';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { decodeLabels, type OkRow, type ResultRow } from '../src/results/row.ts';
import { loadPluginFiles } from '../src/serve/build.ts';
import { acceptedHosts, startServer, type RunningServer } from '../src/serve/server.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
const CENTROID = join(ROOT, 'examples/nearest-centroid.ts');
const NODE_ONLY = join(ROOT, 'test/fixtures/plugins/node-only.ts');

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with node:http: `host` undefined sends Host 127.0.0.1:<port>, null sends none. */
function get(port: number, path: string, opts: { host?: string | null; method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const host = opts.host === undefined ? `127.0.0.1:${port}` : opts.host;
  return new Promise((ok, fail) => {
    const req = request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', setHost: false, headers: { ...(host !== null ? { host } : {}), ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** Bytes written as they are to a socket; the whole answer as text (the server closes the connection). */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((ok, fail) => {
    const s = connect(port, '127.0.0.1', () => s.end(bytes));
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => ok(Buffer.concat(chunks).toString('latin1')));
    s.on('error', fail);
  });
}

/**
 * A forged bundle: `bytes` with its header JSON edited (and the format version set), every blob kept,
 * the lengths and the SHA-256 checksum made right again, so only what the header says is false.
 */
function forge(bytes: Uint8Array, edit: (header: { plugin: Record<string, unknown> }) => void, version = 1): Uint8Array {
  return reframe(
    bytes,
    (json) => {
      const header = JSON.parse(json) as { plugin: Record<string, unknown> };
      edit(header);
      return JSON.stringify(header);
    },
    version,
  );
}

let dir: string;
let out: string;
let rows: ResultRow[];
const servers: RunningServer[] = [];
const serve = async (folder: string, opts: Parameters<typeof startServer>[1] = {}) => {
  const s = await startServer(folder, { port: 0, ...opts });
  servers.push(s);
  return s;
};
const bundleOf = (classifier: string) => (rows.find((r) => r.classifier === classifier) as OkRow).bundle!.file;
const cli = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'digitbench-serve-'));
  out = join(dir, 'out');
  const file = join(dir, 'serve.json');
  writeFileSync(
    file,
    JSON.stringify({
      dataset: 'mnist',
      split: { train: 600, test: 100, seed: 1 },
      features: [{ step: 'scale' }, { step: 'pca', components: 20 }],
      classifiers: [{ plugin: 'knn' }, { plugin: 'naive-bayes' }, { plugin: 'decision-tree', features: [{ step: 'scale' }] }, { plugin: CENTROID }],
      latencySamples: 10,
      deploy: { passes: 2, calls: 20, batch: 100 },
    }),
  );
  const summary = await runExperiment(await loadExperiment(file), { outDir: out });
  rows = summary.rows;
  expect(rows.map((r) => [r.classifier, r.status])).toEqual(['knn', 'naive-bayes', 'decision-tree', 'nearest-centroid'].map((c) => [c, 'ok']));
}, 180_000);

afterAll(async () => {
  for (const s of servers) await s.close();
});

describe('the Host check (DNS rebinding)', () => {
  let s: RunningServer;
  beforeAll(async () => {
    s = await serve(out);
  }, 60_000);

  it('answers 127.0.0.1, localhost and [::1] with its port, in any case', async () => {
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `[::1]:${s.port}`, `LocalHost:${s.port}`]) {
      expect([host, (await get(s.port, '/', { host })).status]).toEqual([host, 200]);
    }
  });

  it('refuses any other Host header, another port, no port, and a missing Host, with 421 and a short body', async () => {
    const body = `misdirected request: this server answers only to 127.0.0.1:${s.port}, localhost:${s.port}, [::1]:${s.port}\n`;
    for (const host of ['evil.example', `evil.example:${s.port}`, `127.0.0.1:${s.port + 1}`, '127.0.0.1', `127.0.0.1.evil.example:${s.port}`]) {
      const r = await get(s.port, '/report/report.md', { host });
      expect([host, r.status, r.body.toString()]).toEqual([host, 421, body]);
    }
    const none = await get(s.port, '/', { host: null });
    expect([none.status, none.body.toString()]).toEqual([421, body]);
    // HTTP/1.0 allows a request without Host; it is refused too.
    const old = await rawRequest(s.port, 'GET /report/report.md HTTP/1.0\r\n\r\n');
    expect(old.split('\r\n')[0]).toBe('HTTP/1.1 421 Misdirected Request');
    expect(old.endsWith(`\r\n\r\n${body}`)).toBe(true);
  });

  it('--host adds that host; 0.0.0.0 answers any Host header (not a missing one) and warns in one line', async () => {
    const other = await serve(out, { host: '127.0.0.2' });
    expect(other.url).toBe(`http://127.0.0.2:${other.port}/`);
    expect(other.warning).toBeUndefined();
    const at = (host: string) => new Promise<number>((ok, fail) => request({ host: '127.0.0.2', port: other.port, path: '/', setHost: false, headers: { host } }, (res) => (res.resume(), ok(res.statusCode!))).on('error', fail).end());
    expect(await at(`127.0.0.2:${other.port}`)).toBe(200);
    expect(await at(`localhost:${other.port}`)).toBe(200);
    expect(await at(`evil.example:${other.port}`)).toBe(421);
    const wide = await serve(out, { host: '0.0.0.0' });
    expect(wide.warning).toBe('--host 0.0.0.0: the page, the report and its model bundles are reachable from the network (any Host header is answered); use --host 127.0.0.1 to keep them on this machine.');
    expect((await get(wide.port, '/report/report.md', { host: 'digits.example.org:8080' })).status).toBe(200);
    const none = await get(wide.port, '/', { host: null });
    expect([none.status, none.body.toString()]).toEqual([421, 'misdirected request: this server answers only to requests with a Host header\n']);
  }, 60_000);

  it('acceptedHosts: the loopback names and --host with the port; IPv6 in brackets; port 80 also without it; any for 0.0.0.0 and ::', () => {
    expect(acceptedHosts('127.0.0.1', 5178)).toEqual(new Set(['127.0.0.1:5178', 'localhost:5178', '[::1]:5178']));
    expect(acceptedHosts('Digits.Local', 5178)).toEqual(new Set(['127.0.0.1:5178', 'localhost:5178', '[::1]:5178', 'digits.local:5178']));
    expect(acceptedHosts('fe80::1', 5178)).toEqual(new Set(['127.0.0.1:5178', 'localhost:5178', '[::1]:5178', '[fe80::1]:5178']));
    expect(acceptedHosts('127.0.0.1', 80)).toEqual(new Set(['127.0.0.1:80', '127.0.0.1', 'localhost:80', 'localhost', '[::1]:80', '[::1]']));
    expect(acceptedHosts('0.0.0.0', 5178)).toBe('any');
    expect(acceptedHosts('::', 5178)).toBe('any');
  });

  it('the CLI prints the warning for --host 0.0.0.0 as one line on stderr at start', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', out, '--host', '0.0.0.0', '--port', '0'], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
    await new Promise<void>((ok, fail) => {
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (stdout.includes('\n')) ok();
      });
      child.on('exit', () => fail(new Error(`serve exited: ${stderr}`)));
    });
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/^Serving 4 model\(s\) of "serve" at http:\/\/0\.0\.0\.0:\d+\/ /);
    expect(stderr.split('\n')).toEqual([
      'warning: --host 0.0.0.0: the page, the report and its model bundles are reachable from the network (any Host header is answered); use --host 127.0.0.1 to keep them on this machine.',
      'note: nearest-centroid: the plugin "nearest-centroid" is not built in; pass its file with --plugin <file>',
      '',
    ]);
  }, 60_000);
});

describe('responses', () => {
  let s: RunningServer;
  let folder: string;
  beforeAll(async () => {
    folder = join(dir, 'responses');
    cpSync(out, folder, { recursive: true });
    s = await serve(folder);
  }, 60_000);

  it('a rewritten file is sent as it is now, gzip-encoded as before (the gzip cache follows the file)', async () => {
    const fetchReport = async () => {
      const r = await get(s.port, '/report/report.md', { headers: { 'accept-encoding': 'gzip' } });
      expect([r.status, r.headers['content-encoding']]).toEqual([200, 'gzip']);
      return gunzipSync(r.body).toString();
    };
    const file = join(folder, 'report.md');
    expect(await fetchReport()).toBe(readFileSync(file, 'utf8'));
    writeFileSync(file, `# A different report\n\n${'new line\n'.repeat(100)}`);
    expect(await fetchReport()).toBe(`# A different report\n\n${'new line\n'.repeat(100)}`);
    // The same size, put in place by a rename, as an atomic writer does.
    writeFileSync(`${file}.tmp`, `# A different report\n\n${'NEW LINE\n'.repeat(100)}`);
    renameSync(`${file}.tmp`, file);
    expect(await fetchReport()).toBe(`# A different report\n\n${'NEW LINE\n'.repeat(100)}`);
  });

  it('a bad % escape or a NUL gets 400 with a short body; other paths are still 404', async () => {
    for (const [path, body] of [
      ['/%E0%A4%A', 'bad request: the path has a malformed % escape\n'],
      ['/report/%', 'bad request: the path has a malformed % escape\n'],
      ['/report/report.md%00', 'bad request: the path has a control character\n'],
      ['/report/%0d%0aX-Injected:%201', 'bad request: the path has a control character\n'],
    ] as const) {
      const r = await get(s.port, path);
      expect([path, r.status, r.body.toString()]).toEqual([path, 400, body]);
    }
    // A raw NUL byte in the request line: Node's own parser refuses it.
    expect((await rawRequest(s.port, `GET /report/report.md\0 HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`)).split('\r\n')[0]).toBe('HTTP/1.1 400 Bad Request');
    for (const path of ['/report/%2e%2e/serve.json', '/report/..%2fserve.json', '//etc/passwd', '/report/results.jsonl/..', '/report/models/']) {
      expect([path, (await get(s.port, path)).status]).toEqual([path, 404]);
    }
  });

  it('only GET and HEAD: others get 405 with Allow: GET, HEAD; HEAD has the headers and no body', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      const r = await get(s.port, '/', { method });
      expect([method, r.status, r.headers.allow, r.body.toString()]).toEqual([method, 405, 'GET, HEAD', 'only GET and HEAD\n']);
    }
    const head = await get(s.port, '/report/report.md', { method: 'HEAD' });
    expect([head.status, head.body.length, Number(head.headers['content-length'])]).toEqual([200, 0, readFileSync(join(folder, 'report.md')).length]);
  });
});

describe('the CLI refuses bad flags in one line, before any work', () => {
  it('--port out of range or not a whole number', () => {
    for (const port of ['70000', '-1', '1.5', 'http']) {
      // The folder does not exist: the port is refused while the arguments are parsed, before it is looked at.
      const r = cli('serve', join(dir, 'no-such-folder'), '--port', port);
      expect([port, r.status, r.stderr]).toEqual([port, 1, 'digitbench: --port: use a whole number from 0 to 65535.\n']);
    }
  }, 60_000);

  it('--plugin: a missing file, a folder, a non-plugin file', () => {
    const r = cli('serve', out, '--plugin', 'no-such-plugin.ts');
    expect([r.status, r.stderr]).toEqual([1, 'digitbench: --plugin: no-such-plugin.ts: no such file; give the path to a plugin file (.ts, .mts, .js, .mjs) that exports defineClassifier(...).\n']);
    // The variadic option took the report folder (it goes before --plugin): --plugin says so, not the default folder.
    const folder = cli('serve', '--plugin', CENTROID, out);
    expect([folder.status, folder.stderr]).toEqual([1, `digitbench: --plugin: ${out} is a folder; give the path to a plugin file (.ts, .mts, .js, .mjs) that exports defineClassifier(...).\n`]);
  }, 60_000);

  it('loadPluginFiles: other extensions, modules without a plugin, built-in names and duplicate names are refused', async () => {
    const notes = join(dir, 'notes.txt');
    writeFileSync(notes, 'not code');
    await expect(loadPluginFiles([notes])).rejects.toThrow(`--plugin: ${notes} is not a .ts, .mts, .js, .mjs file; give the path to a plugin file (.ts, .mts, .js, .mjs) that exports defineClassifier(...).`);
    const empty = join(dir, 'empty.mjs');
    writeFileSync(empty, 'export const x = 1;\n');
    await expect(loadPluginFiles([empty])).rejects.toThrow(`--plugin: ${empty} could not be loaded as a plugin (Plugin file ${empty} must export one classifier made with defineClassifier(...) (found 0).).`);
    const knn = join(dir, 'knn-again.ts');
    writeFileSync(knn, `import { nearestCentroid } from ${JSON.stringify(CENTROID)};\nexport default { ...nearestCentroid, name: 'knn' };\n`);
    await expect(loadPluginFiles([knn])).rejects.toThrow(`--plugin: ${knn} defines the plugin "knn", which is built in; give the plugin another name.`);
    const twin = join(dir, 'centroid-twin.ts');
    writeFileSync(twin, `export { nearestCentroid as default } from ${JSON.stringify(CENTROID)};\n`);
    await expect(loadPluginFiles([CENTROID, twin], ROOT)).rejects.toThrow(`--plugin: ${CENTROID} and ${twin} both define the plugin "nearest-centroid"; pass one of them.`);
    expect(await loadPluginFiles([CENTROID, 'examples/nearest-centroid.ts'], ROOT)).toEqual([{ name: 'nearest-centroid', file: CENTROID }]);
  });

  it('browser-bench --only with an unknown label lists the known ones, before the build and the browser', () => {
    // A browser path that does not exist: had it got as far as launching one, the error would say so.
    const r = cli('browser-bench', out, '--only', 'knn', 'xyz', '--browser', join(dir, 'no-chromium'));
    expect([r.status, r.stderr]).toEqual([1, `digitbench: --only: no model "xyz" in ${out}; use one of knn, naive-bayes, nearest-centroid, decision-tree.\n`]);
  }, 60_000);
});

describe('plugins by name: built-ins and --plugin files only', () => {
  it('without --plugin, a bundle of a plugin file gets a failing row with the reason; the built-ins are served', async () => {
    const s = await serve(out);
    const models = Object.fromEntries(s.experiment.models.map((m) => [m.label, m.unavailable ?? 'ok']));
    expect(models).toEqual({ knn: 'ok', 'naive-bayes': 'ok', 'decision-tree': 'ok', 'nearest-centroid': 'the plugin "nearest-centroid" is not built in; pass its file with --plugin <file>' });
    expect(s.build.plugins).toEqual([]);
    const js = [...s.build.files.values()].map((f) => Buffer.from(f.bytes).toString()).join('\n');
    expect(js).not.toContain('nearest centroid');
  }, 60_000);

  it('with --plugin, its file is in the page under its name; a file that cannot run in a browser fails only its own row', async () => {
    const s = await serve(out, { plugins: [CENTROID, NODE_ONLY] });
    expect(s.build.plugins).toEqual([
      { name: 'nearest-centroid', file: CENTROID, ok: true },
      {
        name: 'node-only',
        file: NODE_ONLY,
        ok: false,
        reason: 'test/fixtures/plugins/node-only.ts:5: imports "node:fs", which a browser does not have; keep Node-only code out of what bundles load, or give the module a .browser.ts twin.',
      },
    ]);
    expect(s.experiment.models.map((m) => [m.label, m.plugin, m.unavailable])).toEqual([
      ['knn', 'knn', undefined],
      ['naive-bayes', 'naive-bayes', undefined],
      ['nearest-centroid', 'nearest-centroid', undefined],
      ['decision-tree', 'decision-tree', undefined],
    ]);
    const js = [...s.build.files.values()].map((f) => Buffer.from(f.bytes).toString()).join('\n');
    expect(js).toContain('"nearest-centroid"');
  }, 60_000);
});

describe('damaged bundles', () => {
  it('a truncated, a corrupted and a FIFO bundle fail only their own rows, each with a one-line reason; the other is served and predicts as in the run', async () => {
    const folder = join(dir, 'damaged');
    cpSync(out, folder, { recursive: true });
    const knn = join(folder, bundleOf('knn'));
    const nb = join(folder, bundleOf('naive-bayes'));
    const knnBytes = readFileSync(knn);
    writeFileSync(knn, knnBytes.subarray(0, knnBytes.length - 1000));
    const nbBytes = readFileSync(nb);
    nbBytes[nbBytes.length - 100]! ^= 0xff;
    writeFileSync(nb, nbBytes);
    // A FIFO (which a blocking open would wait on for ever) as a bundle, and a file too large to read
    // (sparse: nothing is written) among the served files.
    const tree = join(folder, bundleOf('decision-tree'));
    rmSync(tree);
    expect(spawnSync('mkfifo', [tree]).status).toBe(0);
    const big = join(folder, 'big.md');
    writeFileSync(big, '');
    truncateSync(big, 300 * 1024 * 1024);
    const reason = async (file: string, shown: string) => (await decodeBundle(readFileSync(file), shown).then(() => 'decoded', (e: Error) => e.message));
    const knnReason = await reason(knn, join(folder, bundleOf('knn')));
    const nbReason = await reason(nb, join(folder, bundleOf('naive-bayes')));
    expect(knnReason).toContain('truncated');
    expect(nbReason).toContain('damaged');

    const s = await serve(folder, { plugins: [CENTROID] });
    expect(s.experiment.models.map((m) => [m.label, m.unavailable])).toEqual([
      ['knn', knnReason],
      ['naive-bayes', nbReason],
      ['nearest-centroid', undefined],
      ['decision-tree', `${tree} is not a regular file; re-run the experiment to write its bundle.`],
    ]);
    // Served files get the same checks: a FIFO is not found, an oversized file refused without being read.
    expect((await get(s.port, `/report/${bundleOf('decision-tree')}`)).status).toBe(404);
    const large = await get(s.port, '/report/big.md');
    expect([large.status, large.body.toString()]).toEqual([403, 'too large to serve: 315 MB, more than the 256 MB the page server reads\n']);
    const images = (await get(s.port, '/api/test-images')).body;
    for (const m of s.experiment.models.filter((x) => !x.unavailable)) {
      const r = await get(s.port, m.bundle);
      expect([m.label, r.status]).toEqual([m.label, 200]);
      const model = await loadBundleBytes(new Uint8Array(r.body), m.bundle, (name) => resolvePlugin(name === 'nearest-centroid' ? CENTROID : name));
      const predicted = await model.predictLabels(createMatrix(images.length / 784, 784, Float32Array.from(images)));
      const row = rows.find((x) => x.id === m.runId) as OkRow;
      expect([m.label, Array.from(predicted)]).toEqual([m.label, Array.from(decodeLabels(row.predictions))]);
      model.dispose();
    }
  }, 60_000);
});

describe('forged bundles', () => {
  it('a bundle naming a local file (a marker-writing module, a JSON file, a text file) never runs or serves it', async () => {
    const folder = join(dir, 'forged');
    cpSync(out, folder, { recursive: true });
    const marker = join(dir, 'marker-was-run');
    const mjs = join(dir, 'evil.mjs');
    writeFileSync(mjs, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'ran');\nexport default { name: 'evil', secret: 'SECRET-FROM-MJS-7f3a' };\n`);
    const json = join(dir, 'secret.json');
    writeFileSync(json, JSON.stringify({ token: 'SECRET-FROM-JSON-91c2' }));
    const txt = join(dir, 'secret.txt');
    writeFileSync(txt, 'SECRET-FROM-TXT-5d0e\n');
    const replace = async (classifier: string, edit: (h: { plugin: Record<string, unknown> }) => void) => {
      const file = join(folder, bundleOf(classifier));
      writeFileSync(file, forge(readFileSync(file), edit));
      return file;
    };
    // A plugin name of its own, with the old `ref` field pointing at the module.
    const evil = await replace('knn', (h) => Object.assign(h.plugin, { name: 'evil', ref: mjs }));
    // A built-in's name with a `ref` at a text file: the built-in runs, the file is never read.
    await replace('naive-bayes', (h) => Object.assign(h.plugin, { ref: txt }));
    // The JSON file's path as the plugin's name and ref (esbuild would bundle a JSON file's content).
    await replace('decision-tree', (h) => Object.assign(h.plugin, { name: json, ref: json }));
    // The forgeries are well-formed bundles: their checksums hold.
    expect((await decodeBundle(readFileSync(evil), evil)).header.plugin.name).toBe('evil');

    const s = await serve(folder);
    const models = Object.fromEntries(s.experiment.models.map((m) => [m.label, m.unavailable ?? 'ok']));
    expect(models.knn).toBe('the plugin "evil" is not built in; pass its file with --plugin <file>');
    expect(models['naive-bayes']).toBe('ok');
    expect(models['decision-tree']).not.toBe('ok');
    expect(s.build.plugins).toEqual([]);

    const served: string[] = [];
    for (const path of ['/', '/bench.html', '/api/experiment', ...s.build.files.keys(), ...s.experiment.models.map((m) => m.bundle)]) {
      const r = await get(s.port, path);
      expect([path, r.status]).toEqual([path, 200]);
      served.push(r.body.toString('latin1'));
    }
    for (const secret of ['SECRET-FROM-MJS-7f3a', 'SECRET-FROM-JSON-91c2', 'SECRET-FROM-TXT-5d0e']) {
      expect(served.filter((b) => b.includes(secret)).length, secret).toBe(0);
    }
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(dir)).not.toContain('marker-was-run');
  }, 60_000);
});
