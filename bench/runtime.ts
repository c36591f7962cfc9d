/**
 * The budgets of @digitbench/runtime (issue 23), measured as an app gets the package
 * (`npm run bench:runtime [-- --runs 9] [--json]`):
 * - install: a plain `npm install <packed tarball>` in an empty app: packages and bytes on disk
 *   (budget: 30 packages, 30 MB, image decoding included); and with the CNN's optional peers;
 * - Node: import of the entry, and import + loadModel + first prediction of a decision-tree bundle, each in
 *   a fresh process (medians; budgets 150 ms and 300 ms);
 * - web: the JavaScript a page downloads to predict with a tree, naive Bayes or k-NN bundle (entry + the
 *   plugin's lazy chunk, esbuild, minified, gzip -9; budget 60 kB), and a CNN page with its wasm file
 *   (budget 600 kB).
 * Bundles come from a small real experiment (bench/runtime-app.ts makeBundles). Results go to stdout and
 * reports/bench/runtime.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { diskBytes, gzipBytes, installedPackages, makeApp, makeBundles, packRuntime, pageBytes, ROOT } from './runtime-app.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, json: { type: 'boolean', default: false } } });
const RUNS = Number(values.runs);
const TFJS = ['@tensorflow/tfjs-core@4.22.0', '@tensorflow/tfjs-layers@4.22.0', '@tensorflow/tfjs-backend-wasm@4.22.0'];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
const kb = (n: number) => `${(n / 1000).toFixed(1)} kB`;

const tmp = mkdtempSync(join(tmpdir(), 'digitbench-runtime-bench-'));
try {
  process.stderr.write('packing the runtime and fitting bundles …\n');
  const tarball = packRuntime(join(tmp, 'pack'));
  const bundles = makeBundles(join(tmp, 'bundles'));

  // Install budget: the runtime alone, then with the CNN's optional peers.
  const app = join(tmp, 'app');
  makeApp(app, [tarball]);
  const plain = { packages: installedPackages(app), disk: diskBytes(join(app, 'node_modules')) };
  const cnnApp = join(tmp, 'cnn-app');
  makeApp(cnnApp, [tarball, ...TFJS]);
  const withCnn = { packages: installedPackages(cnnApp), disk: diskBytes(join(cnnApp, 'node_modules')) };

  // Node: fresh processes, interleaved.
  copyFileSync(bundles['decision-tree'], join(app, 'tree.bundle'));
  writeFileSync(
    join(app, 'time.mjs'),
    `const t0 = performance.now();
const { loadModel } = await import('@digitbench/runtime');
const t1 = performance.now();
if (process.argv[2] === 'cold') {
  const model = await loadModel('tree.bundle');
  const [p] = await model.predict(new Float32Array(784).fill(0).map((_, i) => (i % 28 > 10 && i % 28 < 16 ? 255 : 0)));
  if (typeof p.label !== 'number') throw new Error('no label');
}
console.log(JSON.stringify({ importMs: t1 - t0, totalMs: performance.now() - t0 }));
`,
  );
  const importMs: number[] = [];
  const coldMs: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    for (const kind of ['import', 'cold'] as const) {
      const t = performance.now();
      const p = spawnSync(process.execPath, ['time.mjs', kind], { cwd: app, encoding: 'utf8' });
      const wall = performance.now() - t;
      if (p.status !== 0) throw new Error(p.stderr);
      const m = JSON.parse(p.stdout) as { importMs: number; totalMs: number };
      (kind === 'import' ? importMs : coldMs).push(kind === 'import' ? m.importMs : m.totalMs);
      void wall;
    }
  }
  const nodeStart = (() => {
    const xs: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t = performance.now();
      spawnSync(process.execPath, ['-e', '0']);
      xs.push(performance.now() - t);
    }
    return median(xs);
  })();

  // Web: one page, each plugin in its own lazy chunk; the CNN page in the app with tfjs.
  const page = `import { loadModel, decodeImage } from '@digitbench/runtime';
export async function classify(url, blob) { const m = await loadModel(url); return (await m.predict(await decodeImage(blob, 'x')))[0].label; }`;
  const cnnPage = `import { loadModel, decodeImage } from '@digitbench/runtime';
import { cnnPlugin } from '@digitbench/runtime/cnn';
export async function classify(url, blob) { const m = await loadModel(url, { plugins: [cnnPlugin({ wasmPaths: '/wasm/' })] }); return (await m.predict(await decodeImage(blob, 'x')))[0].label; }`;
  const build = async (dir: string, source: string) => {
    writeFileSync(join(dir, 'page.js'), source);
    const r = await esbuild.build({ absWorkingDir: dir, entryPoints: ['page.js'], bundle: true, splitting: true, format: 'esm', platform: 'browser', minify: true, outdir: 'web', metafile: true, logLevel: 'silent' });
    const nodeBuiltins = Object.values(r.metafile.inputs).flatMap((i) => i.imports.map((x) => x.path)).filter((p) => p.startsWith('node:'));
    return { meta: r.metafile, nodeBuiltins };
  };
  const web = await build(app, page);
  const pages = {
    'decision-tree': pageBytes(web.meta, app, 'page.js', /models\/decision-tree\.js$/),
    'naive-bayes': pageBytes(web.meta, app, 'page.js', /models\/naive-bayes\.js$/),
    knn: pageBytes(web.meta, app, 'page.js', /models\/knn\.js$/),
    svm: pageBytes(web.meta, app, 'page.js', /models\/svm\.js$/),
    'random-forest': pageBytes(web.meta, app, 'page.js', /models\/random-forest\.js$/),
  };
  const cnnWeb = await build(cnnApp, cnnPage);
  // The CNN page loads tfjs lazily (the plugin's first load): its chunks count.
  const cnnJs = pageBytes(cnnWeb.meta, cnnApp, 'page.js', /@tensorflow\/|runtime\/dist\/esm\/cnn\.js$/);
  const wasm = gzipBytes(join(cnnApp, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));

  const result = {
    tarballBytes: Number(execFileSync('stat', ['-c', '%s', tarball], { encoding: 'utf8' })),
    install: { packages: plain.packages.length, names: plain.packages, diskBytes: plain.disk.allocated, apparentBytes: plain.disk.apparent },
    installWithCnnPeers: { packages: withCnn.packages.length, diskBytes: withCnn.disk.allocated },
    node: { runs: RUNS, importMs: median(importMs), coldStartTreeMs: median(coldMs), bareNodeStartMs: nodeStart },
    web: Object.fromEntries(Object.entries(pages).map(([k, v]) => [k, { jsGzip: v.gzip, jsRaw: v.raw, files: v.files.length }])),
    webCnn: { jsGzip: cnnJs.gzip, wasmGzip: wasm, totalGzip: cnnJs.gzip + wasm },
    nodeBuiltinsInBrowserGraph: [...web.nodeBuiltins, ...cnnWeb.nodeBuiltins],
    node_version: process.version,
  };
  if (values.json) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    const lines = [
      '# @digitbench/runtime budgets',
      '',
      `Measured by \`npm run bench:runtime\` on ${new Date().toISOString().slice(0, 10)} (Node ${process.version}; ${RUNS} fresh processes per Node figure, medians).`,
      '',
      '| what | measured | budget |',
      '|---|---:|---:|',
      `| \`npm install @digitbench/runtime\` in an empty app: packages | ${result.install.packages} (${plain.packages.join(', ')}) | ≤ 30 |`,
      `| … on disk (du, allocated; apparent ${mb(result.install.apparentBytes)}) | ${mb(result.install.diskBytes)} | ≤ 30 MB |`,
      `| with the CNN's optional peers (tfjs-core, -layers, -backend-wasm) | ${result.installWithCnnPeers.packages} packages, ${mb(result.installWithCnnPeers.diskBytes)} | — |`,
      `| Node: import of the entry | ${result.node.importMs.toFixed(1)} ms | ≤ 150 ms |`,
      `| Node: import + loadModel + first prediction, decision tree | ${result.node.coldStartTreeMs.toFixed(1)} ms | ≤ 300 ms |`,
      `| (a bare \`node -e 0\` process, for scale) | ${result.node.bareNodeStartMs.toFixed(1)} ms | — |`,
      ...Object.entries(pages).map(([k, v]) => `| web page JS for a ${k} bundle (${v.files.length} files, gzip -9) | ${kb(v.gzip)} | ${['decision-tree', 'naive-bayes', 'knn'].includes(k) ? '≤ 60 kB' : '—'} |`),
      `| web page for a CNN bundle: JS ${kb(cnnJs.gzip)} + tfjs-backend-wasm-simd.wasm ${kb(wasm)} | ${kb(cnnJs.gzip + wasm)} | ≤ 600 kB |`,
      `| Node built-ins in the browser graph | ${result.nodeBuiltinsInBrowserGraph.length ? result.nodeBuiltinsInBrowserGraph.join(', ') : 'none'} | none |`,
      `| packed tarball | ${kb(result.tarballBytes)} | — |`,
      '',
    ];
    const text = lines.join('\n');
    console.log(text);
    mkdirSync(join(ROOT, 'reports/bench'), { recursive: true });
    writeFileSync(join(ROOT, 'reports/bench/runtime.md'), text);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
