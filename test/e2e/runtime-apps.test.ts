/**
 * @digitbench/runtime where apps are: the packed tarball (`npm pack -w @digitbench/runtime`) installed
 * into temporary apps, every one of which must give, image by image, the labels `digitbench predict`
 * gives for the same bundles and images:
 * - Node ES modules (`import`) and CommonJS (`require`), all six built-ins;
 * - a Node app that also installs onnxruntime-node (the runtime's optional peer): every bundle on it by
 *   default, and on plain JS with `engine: 'js'`;
 * - a TypeScript app type-checked with NodeNext (strict, emitting JavaScript, skipLibCheck off) and run;
 * - the Vite example app type-checked with `moduleResolution: bundler` (no @types/node) and built;
 * - web builds with esbuild and with Vite (no plugins, no aliases; the CNN's wasm files through Vite's
 *   `?url` imports), run in Chromium;
 * - examples/node-service bundled by esbuild into one CommonJS file, run, and sent the images over HTTP.
 * A plain install of the tarball alone has at most 30 packages, and a CNN bundle there fails in one line
 * naming the packages to install.
 * Bundles come from a small real experiment; images are 14 MNIST test digits written as PNGs plus the
 * repository's six example photos (PNG and JPEG).
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_PLUGINS, installedPackages, makeApp, makeBundles, packRuntime } from '../../bench/runtime-app.ts';
import { loadDataset } from '../../src/data/datasets.ts';
import { DEFAULT_CHROMIUM, launchChromium } from '../../src/serve/browser-bench.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const run = promisify(execFile);
const chromium = process.env.DIGITBENCH_CHROMIUM ?? DEFAULT_CHROMIUM;
const haveBrowser = existsSync(chromium);
if (!haveBrowser && process.env.DIGITBENCH_REQUIRE_BROWSER === '1') throw new Error(`DIGITBENCH_REQUIRE_BROWSER=1 but there is no Chromium at ${chromium}.`);

type Plugin = (typeof APP_PLUGINS)[number];
type Labels = Record<string, number[]>;

const TFJS = ['@tensorflow/tfjs-core@4.22.0', '@tensorflow/tfjs-layers@4.22.0', '@tensorflow/tfjs-backend-wasm@4.22.0'];
const TOOLS = ['vite@7.3.8', 'typescript@5.9.3', '@types/node@20', 'esbuild@0.28.2'];

let tmp: string;
let apps: string;
let tarball: string;
let bundles: Record<Plugin, string>;
let images: string[];
/** `digitbench predict --json`'s labels: plugin → one label per image, in `images` order. */
const expected: Labels = {};

/** A JSON file for the apps: the bundles by plugin and the image paths. */
let jobFile: string;

async function node(cwd: string, args: string[]): Promise<string> {
  const r = await run(process.execPath, args, { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 });
  return r.stdout;
}

/** A tool the apps installed (node_modules/.bin/<name>), run in `cwd`. */
async function tool(cwd: string, bin: string, args: string[]): Promise<string> {
  try {
    const r = await run(join(apps, 'node_modules/.bin', bin), args, { cwd, encoding: 'utf8', timeout: 120_000, maxBuffer: 16 << 20 });
    return r.stdout + r.stderr;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${bin} ${args.join(' ')} failed in ${cwd}:\n${x.stdout ?? ''}${x.stderr ?? ''}${x.message}`);
  }
}

/** The Node apps' common body: every bundle on every image, printed as JSON {plugin: labels}. */
const NODE_BODY = `
  const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const inputs = await readInputs(job.images);
  const bad = inputs.find((i) => i.error);
  if (bad) throw new Error(bad.error);
  const out = {};
  for (const [plugin, file] of Object.entries(job.bundles)) {
    const model = await loadModel(file);
    out[plugin] = (await model.predict(inputs.map((i) => i.pixels))).map((p) => p.label);
    model.dispose();
  }
  console.log(JSON.stringify(out));
`;

const PAGE = (cnnImport: string, cnnPlugin: string) => `import { loadModel, decodeImage } from '@digitbench/runtime';
import { cnnPlugin } from '@digitbench/runtime/cnn';
${cnnImport}
const plugins = [cnnPlugin(${cnnPlugin})];
window.classify = async (bundleUrl, imageUrls) => {
  const model = await loadModel(bundleUrl, { plugins });
  const labels = [];
  for (const url of imageUrls) {
    const blob = await (await fetch(url)).blob();
    labels.push((await model.predict(await decodeImage(blob, url)))[0].label);
  }
  model.dispose();
  return labels;
};
window.ready = true;
`;

function writePng(file: string, pixels: Float32Array | Uint8Array, h: number, w: number): void {
  const png = new PNG({ width: w, height: h, colorType: 0, inputColorType: 0, bitDepth: 8 });
  // Dark ink on light paper, as a scan: the runtime normalizes it back to MNIST's light-on-dark.
  for (let i = 0; i < h * w; i++) png.data[i] = 255 - pixels[i]!;
  writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0 }));
}

beforeAll(async () => {
  // Outside the repository: an app there would find packages in the repository's node_modules.
  tmp = mkdtempSync(join(tmpdir(), 'digitbench-runtime-apps-'));
  tarball = packRuntime(join(tmp, 'pack'));
  bundles = makeBundles(join(tmp, 'bundles'));

  const imageDir = join(tmp, 'images');
  mkdirSync(imageDir);
  const ds = await loadDataset('mnist');
  const [h, w] = ds.imageShape;
  const test = ds.test;
  for (let k = 0; k < 14; k++) {
    const row = 97 * k + 13;
    writePng(join(imageDir, `mnist-${row}.png`), test.images.data.subarray(row * h * w, (row + 1) * h * w), h, w);
  }
  for (const f of readdirSync(join(ROOT, 'examples/digits')).filter((f) => /\.(png|jpg)$/.test(f))) copyFileSync(join(ROOT, 'examples/digits', f), join(imageDir, f));
  images = readdirSync(imageDir).sort().map((f) => join(imageDir, f));
  jobFile = join(tmp, 'job.json');
  writeFileSync(jobFile, JSON.stringify({ bundles, images }));

  for (const p of APP_PLUGINS) {
    const out = await node(ROOT, ['bin/digitbench.js', 'predict', bundles[p], ...images, '--json']);
    const json = JSON.parse(out) as { results: { input: string; label: number }[] };
    expected[p] = json.results.map((r) => r.label);
    expect(json.results.map((r) => r.input)).toEqual(images);
  }

  apps = join(tmp, 'apps');
  makeApp(apps, [tarball, ...TFJS, ...TOOLS]);
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed runtime in apps (labels equal `digitbench predict`)', () => {
  it('a plain install is the runtime and its four dependencies (protobufjs with its one, long), and a CNN bundle there names what to install', async () => {
    const plain = join(tmp, 'plain');
    makeApp(plain, [tarball]);
    const packages = installedPackages(plain);
    expect(packages).toEqual(['@digitbench/runtime', 'jpeg-js', 'long', 'pngjs', 'protobufjs', 'zod']);
    expect(packages.length).toBeLessThanOrEqual(30);
    const pkg = JSON.parse(readFileSync(join(plain, 'node_modules/@digitbench/runtime/package.json'), 'utf8'));
    expect(pkg.private).toBeUndefined();
    expect(pkg.scripts?.install ?? pkg.scripts?.postinstall ?? pkg.scripts?.preinstall).toBeUndefined();
    writeFileSync(join(plain, 'cnn.mjs'), `import { loadModel } from '@digitbench/runtime';\nawait loadModel(process.argv[2]).catch((e) => console.log(e.message));\n`);
    expect((await node(plain, ['cnn.mjs', bundles.cnn])).trim()).toBe(
      `${bundles.cnn}: the model could not be rebuilt (its plugin "cnn" needs TensorFlow.js, which is not installed; run \`npm install @tensorflow/tfjs-core @tensorflow/tfjs-layers @tensorflow/tfjs-backend-wasm\`)`,
    );
  });

  it('Node ES module app (import)', async () => {
    const dir = join(apps, 'esm');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'app.mjs'), `import { readFileSync } from 'node:fs';\nimport { loadModel, readInputs } from '@digitbench/runtime';\n${NODE_BODY}`);
    expect(JSON.parse(await node(dir, ['app.mjs', jobFile]))).toEqual(expected);
  });

  it('Node CommonJS app (require)', async () => {
    const dir = join(apps, 'cjs');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'app.cjs'), `const { readFileSync } = require('node:fs');\nconst { loadModel, readInputs } = require('@digitbench/runtime');\n(async () => {${NODE_BODY}})();\n`);
    expect(JSON.parse(await node(dir, ['app.cjs', jobFile]))).toEqual(expected);
  });

  it('a Node app that also installs onnxruntime-node predicts on it by default (engineKind "ort"), with the CLI\'s labels on both engines', async () => {
    const dir = join(tmp, 'ort-app');
    // Its install script would fetch CUDA libraries from outside the npm registry; the CPU library is in the tarball.
    process.env.ONNXRUNTIME_NODE_INSTALL ??= 'skip';
    makeApp(dir, [tarball, ...TFJS, 'onnxruntime-node@1.31.1']);
    writeFileSync(
      join(dir, 'app.mjs'),
      `import { readFileSync } from 'node:fs';
import { loadModel, readInputs } from '@digitbench/runtime';
const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const inputs = await readInputs(job.images);
const out = { default: {}, js: {}, kinds: {} };
for (const [plugin, file] of Object.entries(job.bundles)) {
  for (const engine of ['default', 'js']) {
    const model = await loadModel(file, engine === 'js' ? { engine: 'js' } : {});
    out[engine][plugin] = (await model.predict(inputs.map((i) => i.pixels))).map((p) => p.label);
    if (engine === 'default') out.kinds[plugin] = model.engineKind;
    model.dispose();
  }
}
console.log(JSON.stringify(out));
`,
    );
    const out = JSON.parse(await node(dir, ['app.mjs', jobFile])) as { default: Labels; js: Labels; kinds: Record<string, string> };
    expect(Object.values(out.kinds)).toEqual(APP_PLUGINS.map(() => 'ort'));
    expect(out.default).toEqual(expected);
    expect(out.js).toEqual(expected);
  });

  it('TypeScript app: NodeNext, strict, emitting JavaScript, skipLibCheck off; compiled and run', async () => {
    const dir = join(apps, 'ts-nodenext');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, outDir: 'out', types: ['node'] }, include: ['app.ts'] }),
    );
    writeFileSync(
      join(dir, 'app.ts'),
      `import { readFileSync } from 'node:fs';
import { loadModel, readInputs, type DigitModel, type Prediction } from '@digitbench/runtime';
const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { bundles: Record<string, string>; images: string[] };
const inputs = await readInputs(job.images);
const out: Record<string, number[]> = {};
for (const [plugin, file] of Object.entries(job.bundles)) {
  const model: DigitModel = await loadModel(file);
  const predictions: Prediction[] = await model.predict(inputs.map((i) => i.pixels!));
  out[plugin] = predictions.map((p) => p.label);
  model.dispose();
}
console.log(JSON.stringify(out));
`,
    );
    await tool(dir, 'tsc', ['-p', '.']);
    expect(JSON.parse(await node(dir, ['out/app.js', jobFile]))).toEqual(expected);
  });

  it('the Vite example app type-checks with moduleResolution: bundler (no @types/node) and builds', async () => {
    const dir = join(apps, 'vite-example');
    cpSync(join(ROOT, 'examples/vite-app'), dir, { recursive: true, filter: (f) => !f.includes('node_modules') && !f.endsWith('dist') });
    await tool(dir, 'tsc', ['-p', '.']);
    const out = await tool(dir, 'vite', ['build', '--logLevel', 'warn']);
    expect(out).not.toMatch(/error/i);
    expect(readdirSync(join(dir, 'dist/assets')).some((f) => f.endsWith('.js'))).toBe(true);
  });

  it('examples/node-service bundled by esbuild into one CommonJS file answers each image over HTTP', async () => {
    const dir = join(apps, 'service');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(ROOT, 'examples/node-service/server.mjs'), join(dir, 'server.mjs'));
    await tool(dir, 'esbuild', ['server.mjs', '--bundle', '--platform=node', '--format=cjs', '--outfile=service.cjs', '--log-level=warning']);
    for (const p of ['decision-tree', 'cnn'] as const) {
      const child = spawn(process.execPath, ['service.cjs'], { cwd: dir, env: { ...process.env, MODEL: bundles[p], PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        const port = await new Promise<number>((ok, fail) => {
          let text = '';
          child.stdout.on('data', (d: Buffer) => {
            text += d.toString();
            const m = text.match(/localhost:(\d+)\//);
            if (m) ok(Number(m[1]));
          });
          child.stderr.on('data', (d: Buffer) => (text += d.toString()));
          child.on('exit', (code) => fail(new Error(`the service exited (${code}): ${text}`)));
        });
        const labels: number[] = [];
        for (const image of images) {
          const res = await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', body: readFileSync(image) });
          expect(res.status).toBe(200);
          labels.push(((await res.json()) as { label: number }).label);
        }
        expect(labels).toEqual(expected[p]);
      } finally {
        child.kill();
      }
    }
  });

  describe.skipIf(!haveBrowser)('web builds in Chromium', () => {
    let server: Server;
    let base: string;

    beforeAll(async () => {
      // esbuild: no plugins; the wasm files served where cnnPlugin({ wasmPaths }) says.
      const esb = join(apps, 'esbuild-web');
      mkdirSync(esb, { recursive: true });
      writeFileSync(join(esb, 'page.js'), PAGE('', `{ wasmPaths: '/wasm/' }`));
      await tool(esb, 'esbuild', ['page.js', '--bundle', '--splitting', '--format=esm', '--platform=browser', '--minify', '--outdir=dist', '--metafile=meta.json', '--log-level=warning']);
      // No Node built-in anywhere in the browser graph (esbuild would also refuse to resolve one).
      const meta = JSON.parse(readFileSync(join(esb, 'meta.json'), 'utf8')) as { inputs: Record<string, { imports: { path: string }[] }> };
      expect(Object.values(meta.inputs).flatMap((i) => i.imports.map((x) => x.path)).filter((p) => /^node:|^(fs|path|zlib|url|module)$/.test(p))).toEqual([]);
      writeFileSync(join(esb, 'dist/index.html'), '<!doctype html><script type="module" src="./page.js"></script>');
      // Vite: no config, no plugins; the wasm files as assets through ?url imports.
      const vite = join(apps, 'vite-web');
      mkdirSync(vite, { recursive: true });
      const wasm = (f: string) => `@tensorflow/tfjs-backend-wasm/dist/${f}?url`;
      writeFileSync(
        join(vite, 'main.js'),
        PAGE(
          `import plain from '${wasm('tfjs-backend-wasm.wasm')}';\nimport simd from '${wasm('tfjs-backend-wasm-simd.wasm')}';\nimport threaded from '${wasm('tfjs-backend-wasm-threaded-simd.wasm')}';`,
          `{ wasmPaths: { 'tfjs-backend-wasm.wasm': plain, 'tfjs-backend-wasm-simd.wasm': simd, 'tfjs-backend-wasm-threaded-simd.wasm': threaded } }`,
        ),
      );
      writeFileSync(join(vite, 'index.html'), '<!doctype html><script type="module" src="/main.js"></script>');
      await tool(vite, 'vite', ['build', '--base=/vite/', '--logLevel', 'warn']);

      const wasmDir = join(apps, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
      const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg' };
      const routes: [string, string][] = [
        ['/esbuild/', join(esb, 'dist')],
        ['/vite/', join(vite, 'dist')],
        ['/wasm/', wasmDir],
        ['/images/', join(tmp, 'images')],
      ];
      server = createServer((req, res) => {
        const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
        let file: string | undefined;
        if (path.startsWith('/bundles/')) file = bundles[path.slice('/bundles/'.length) as Plugin];
        for (const [prefix, dir] of routes) if (path.startsWith(prefix)) file = join(dir, path.slice(prefix.length) || 'index.html');
        if (!file || !existsSync(file) || file.includes('..')) return res.writeHead(404).end();
        res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
      });
      await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterAll(() => server?.close());

    for (const build of ['esbuild', 'vite'] as const) {
      it(`${build}: every built-in, the CNN on tfjs-wasm, gives the CLI's label for every image`, async () => {
        const browser = await launchChromium(chromium);
        try {
          const page = await browser.newPage();
          const errors: string[] = [];
          page.on('pageerror', (e) => errors.push(e.message));
          await page.goto(`${base}/${build}/`);
          await page.waitForFunction(() => (globalThis as { ready?: boolean }).ready === true);
          const urls = images.map((f) => `/images/${f.split('/').pop()}`);
          const got: Labels = {};
          for (const p of APP_PLUGINS) {
            got[p] = await page.evaluate(([b, u]) => (globalThis as unknown as { classify: (b: string, u: string[]) => Promise<number[]> }).classify(b, u), [`/bundles/${p}`, urls] as const);
          }
          expect(errors).toEqual([]);
          expect(got).toEqual(expected);
        } finally {
          await browser.close();
        }
      });
    }
  });
});

/** The runtime's packed files (not noisy: asserted on every run of this file). */
describe('the packed tarball', () => {
  it('ships dist only (ESM, CommonJS and .d.ts for every module), the README and package.json', () => {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files.filter((f) => !f.startsWith('dist/')).sort()).toEqual(['README.md', 'package.json']);
    const esm = files.filter((f) => f.startsWith('dist/esm/') && f.endsWith('.js'));
    for (const f of esm) {
      expect(files).toContain(f.replace('dist/esm/', 'dist/cjs/'));
      expect(files).toContain(f.replace(/\.js$/, '.d.ts'));
    }
    expect(files).toContain('dist/cjs/package.json');
  });

  it('the browser entry\'s declarations name no Node module (an app without @types/node type-checks against them)', () => {
    const dist = join(apps, 'node_modules/@digitbench/runtime/dist/esm');
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/from ['"]node:|reference types="node"|NodeJS\./);
      for (const m of text.matchAll(/from ['"](\.{1,2}\/[^'"]+)['"]/g)) visit(resolve(file, '..', m[1]!.replace(/\.(ts|js)$/, '.d.ts')));
    };
    visit(join(dist, 'browser.d.ts'));
    expect(seen.size).toBeGreaterThan(5);
  });
});
