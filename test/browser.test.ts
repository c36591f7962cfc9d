/**
 * The browser as a deployment target, in a real browser: Playwright driving Chromium (Debian's
 * /usr/bin/chromium; .ci/run installs it and sets DIGITBENCH_REQUIRE_BROWSER=1, so there a missing browser
 * fails instead of skipping). A small experiment's bundles are served; MNIST test digits are drawn onto the
 * page's canvas with real pointer events, and every model's shown label must equal what `predict` (Node,
 * the same bundle) says for the same image, the canvas saved as a PNG. Pictures dropped on the page (a
 * uniform-noise PNG, clean test digits) get the labels, confidences and "unsure" flags `digitbench predict
 * --json` gives for the same files. Then browser-bench measures them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nearestCentroid } from '../examples/nearest-centroid.ts';
import { loadModel } from '../src/bundle/file.ts';
import { loadExperiment } from '../src/harness/experiment.ts';
import { reportRows } from '../src/harness/report-rows.ts';
import { runExperiment } from '../src/harness/run.ts';
import { decodeImage } from '../src/input/decode.ts';
import { browserView, buildGroups, deploymentChoice } from '../src/report/analysis.ts';
import { decodeLabels, type OkRow } from '../src/results/row.ts';
import { buildBrowserApp, loadPluginFiles } from '../src/serve/build.ts';
import { browserBench, DEFAULT_CHROMIUM, launchChromium } from '../src/serve/browser-bench.ts';
import { startServer, type RunningServer } from '../src/serve/server.ts';
import { PNG } from 'pngjs';
import { createRng } from '../packages/runtime/src/corruptions/random.ts';
import { render } from './helpers/photos.ts';

const chromium = process.env.DIGITBENCH_CHROMIUM ?? DEFAULT_CHROMIUM;
const haveBrowser = existsSync(chromium);
if (!haveBrowser && process.env.DIGITBENCH_REQUIRE_BROWSER === '1') throw new Error(`DIGITBENCH_REQUIRE_BROWSER=1 but there is no Chromium at ${chromium}.`);

const ROOT = resolve(import.meta.dirname, '..');
const NODE_ONLY = join(ROOT, 'test/fixtures/plugins/node-only.ts');
const CENTROID = join(ROOT, 'examples/nearest-centroid.ts');
/** The plugin files the page may run besides the built-ins (serve / browser-bench --plugin). */
const PLUGINS = [CENTROID, NODE_ONLY];
const DIGITS = 5;

describe('browser build', () => {
  it('is an app of the runtime\'s browser entry: no fitting code or library, each model plugin and tfjs in chunks of their own', async () => {
    const b = await buildBrowserApp([], { minify: false });
    const files = [...b.files].map(([path, f]) => ({ path, text: new TextDecoder().decode(f.bytes) }));
    const all = files.map((f) => f.text).join('\n');
    // None of the workbench's fitting code or libraries: ml-naivebayes (its predictLogJoint), ml-cart, libsvm-js (its wasm), threads.
    for (const absent of ['predictLogJoint', 'DecisionTreeClassifier', 'libsvm.wasm', 'worker threads are not available']) expect(all).not.toContain(absent);
    // The pages' own scripts do not carry tfjs or the models: tfjs comes in a chunk only the CNN imports.
    for (const page of ['/assets/app.js', '/assets/bench.js']) {
      const text = files.find((f) => f.path === page)!.text;
      expect(text).not.toContain('setWasmPaths');
      expect(text).not.toContain('knnModelOf');
    }
    const tfjs = files.filter((f) => f.text.includes('setWasmPaths')).map((f) => f.path);
    expect(tfjs.length).toBeGreaterThan(0);
    for (const path of tfjs) expect(path).toMatch(/^\/assets\/chunk-/);
  });

  it('the browser twin of threads.ts has exactly the exports of the Node module', async () => {
    const node = await import('../src/engine/threads.ts');
    const browser = await import('../src/engine/threads.browser.ts');
    expect(Object.keys(browser).sort()).toEqual(Object.keys(node).sort());
  });

  it('a plugin file (--plugin) that imports a Node built-in is left out with the reason, the rest still builds', async () => {
    const b = await buildBrowserApp(await loadPluginFiles([NODE_ONLY]));
    expect(b.plugins).toEqual([
      {
        name: 'node-only',
        file: NODE_ONLY,
        ok: false,
        reason:
          'test/fixtures/plugins/node-only.ts:5: imports "node:fs", which a browser does not have; keep Node-only code out of what bundles load, or give the module a .browser.ts twin.',
      },
    ]);
    expect(b.files.has('/assets/app.js')).toBe(true);
  });
});

describe.skipIf(!haveBrowser)('in Chromium', () => {
  let dir: string;
  let server: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'digitbench-browser-'));
    const file = join(dir, 'browser.json');
    writeFileSync(
      file,
      JSON.stringify({
        dataset: 'mnist',
        // A validation part: every bundle gets a calibration and an "unsure" threshold (98% on this small split).
        split: { train: 1500, validation: 1000, test: 200, seed: 1 },
        reject: { targetAccuracy: 0.98 },
        features: [{ step: 'scale' }, { step: 'pca', components: 30 }],
        imageFeatures: [{ step: 'scale' }],
        classifiers: [
          { plugin: 'knn', params: { k: 3 } },
          { plugin: 'svm' },
          { plugin: 'naive-bayes' },
          { plugin: 'decision-tree', features: [{ step: 'scale' }] },
          { plugin: 'random-forest', params: { nEstimators: 20 }, features: [{ step: 'scale' }] },
          { plugin: 'cnn', params: { epochs: 2 } },
          { plugin: CENTROID },
          { plugin: NODE_ONLY },
        ],
        deploy: { passes: 2, calls: 20, batch: 200 },
      }),
    );
    const summary = await runExperiment(await loadExperiment(file), { outDir: join(dir, 'out') });
    expect(summary.rows.map((r) => r.status)).toEqual(Array(8).fill('ok'));
    server = await startServer(join(dir, 'out'), { port: 0, isolated: true, plugins: PLUGINS });
    browser = await launchChromium(chromium);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('binds to 127.0.0.1 and serves only the experiment: anything else is 404', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const status = async (path: string) => (await fetch(server.url.replace(/\/$/, '') + path)).status;
    expect(await status('/report/report.md')).toBe(200);
    expect(await status(server.experiment.models[0]!.bundle)).toBe(200);
    for (const p of ['/package.json', '/src/cli.ts', '/node_modules/esbuild/package.json', '/report/../browser.json', '/report/%2e%2e/browser.json', '/report/.resume', '/report/models/', '/api/nothing', '/report/results.jsonl.bak']) {
      expect([p, await status(p)]).toEqual([p, 404]);
    }
  });

  it('an empty folder is an error that says what to do', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'digitbench-empty-'));
    await expect(startServer(empty)).rejects.toThrow(`${empty} has no results.jsonl; give a report folder made by \`digitbench experiment\`, e.g. runs/quick.`);
  });

  async function drawDigit(page: Page, pixels: Uint8Array): Promise<void> {
    const box = (await page.locator('#canvas').boundingBox())!;
    const cell = box.width / 28;
    // Each horizontal run of ink (> 127) is one stroke: pointer down at its first pixel, moved to its last, up.
    for (let y = 0; y < 28; y++) {
      let x = 0;
      while (x < 28) {
        if (pixels[y * 28 + x]! <= 127) {
          x++;
          continue;
        }
        const start = x;
        while (x < 28 && pixels[y * 28 + x]! > 127) x++;
        const at = (px: number) => [box.x + (px + 0.5) * cell, box.y + (y + 0.5) * cell] as const;
        await page.mouse.move(...at(start));
        await page.mouse.down();
        await page.mouse.move(...at(x - 1), { steps: 2 });
        await page.mouse.up();
      }
    }
  }

  /** Waits until the page has finished a prediction round after the last stroke. */
  async function settled(page: Page, before: number): Promise<void> {
    await page.waitForFunction((n) => Number(document.body.dataset.predictions ?? 0) > n, before);
    let last = -1;
    for (;;) {
      await page.waitForTimeout(300);
      const now = await page.evaluate(() => Number(document.body.dataset.predictions ?? 0));
      if (now === last) return;
      last = now;
    }
  }

  it('draws MNIST test digits with pointer events: every model shows the label predict gives for the same image', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
    const rows = await page.$$eval('#models tbody tr', (trs) => trs.map((tr) => ({ model: (tr as HTMLElement).dataset.model!, state: (tr as HTMLElement).dataset.state!, reason: (tr as HTMLElement).dataset.reason })));
    const nodeOnly = rows.find((r) => r.model === 'node-only')!;
    expect(nodeOnly.state).toBe('unavailable');
    expect(nodeOnly.reason).toContain('imports "node:fs", which a browser does not have');
    const ready = rows.filter((r) => r.state === 'ready').map((r) => r.model);
    expect(ready.sort()).toEqual(['cnn', 'decision-tree', 'knn', 'naive-bayes', 'nearest-centroid', 'random-forest', 'svm']);

    const models = new Map(await Promise.all(server.experiment.models.filter((m) => ready.includes(m.label)).map(async (m) => [m.label, await loadModel(join(dir, 'out', m.bundle.slice('/report/'.length)), { plugins: [nearestCentroid] })] as const)));
    const res = await fetch(new URL('/api/test-images', server.url));
    const images = new Uint8Array(await res.arrayBuffer());
    const labels = decodeLabels((await reportRows(join(dir, 'out'))).rows.find((r): r is OkRow => r.status === 'ok' && !!r.testLabels)!.testLabels!);
    let recognised = 0;
    for (let d = 0; d < DIGITS; d++) {
      await page.click('#clear');
      const before = await page.evaluate(() => Number(document.body.dataset.predictions ?? 0));
      await drawDigit(page, images.subarray(d * 784, (d + 1) * 784));
      await settled(page, before);
      if (d === 0 && process.env.DIGITBENCH_SCREENSHOT) await page.screenshot({ path: process.env.DIGITBENCH_SCREENSHOT, fullPage: true });
      const png = Buffer.from((await page.evaluate(() => (document.getElementById('canvas') as HTMLCanvasElement).toDataURL('image/png'))).split(',')[1]!, 'base64');
      const decoded = await decodeImage(png, `drawn digit ${d}`);
      const shown = Object.fromEntries(await page.$$eval('#models tbody tr[data-state="ready"]', (trs) => trs.map((tr) => [(tr as HTMLElement).dataset.model!, Number((tr as HTMLElement).dataset.label)])));
      const expected: Record<string, number> = {};
      for (const [label, model] of models) expected[label] = (await model.predict(decoded))[0]!.label;
      expect([d, shown]).toEqual([d, expected]);
      if (expected.cnn === labels[d]) recognised++;
    }
    // The strokes are thicker than MNIST's, yet the digits stay digits: the CNN reads most of them right.
    expect(recognised).toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([]);
    for (const m of models.values()) m.dispose();
    await page.close();
  }, 240_000);

  it('a dropped picture: "unsure" for uniform noise, a sure label for a clean digit, as predict --json says for the same files', async () => {
    const pictures = join(dir, 'pictures');
    mkdirSync(pictures);
    // Uniform noise 0..255, seeded, as a 28×28 grey PNG.
    const rng = createRng(24);
    const noise = new PNG({ width: 28, height: 28 });
    for (let i = 0; i < 784; i++) noise.data.set([...Array(3).fill(rng.randint(0, 256)), 255], i * 4);
    writeFileSync(join(pictures, 'noise.png'), PNG.sync.write(noise, { colorType: 0 }));
    // The first 8 test digits as photos (dark ink on white, enlarged).
    const res = await fetch(new URL('/api/test-images', server.url));
    const images = new Uint8Array(await res.arrayBuffer());
    for (let d = 0; d < 8; d++) {
      writeFileSync(join(pictures, `digit-${d}.png`), await render(Float32Array.from(images.subarray(d * 784, (d + 1) * 784)), { scale: 4, kernel: 'linear', pad: { left: 12, right: 20, top: 8, bottom: 16 }, format: 'grey-png' }));
    }
    const names = ['noise.png', ...Array.from({ length: 8 }, (_, d) => `digit-${d}.png`)];
    type Answer = { label: number; unsure: boolean; confidence?: number };
    const ready = server.experiment.models.filter((m) => !m.unavailable && m.label !== 'node-only').map((m) => m.label);
    const cli: Record<string, Answer[]> = {};
    const trusted = new Set<string>();
    for (const model of ready) {
      const r = spawnSync(process.execPath, [join(ROOT, 'bin/digitbench.js'), 'predict', join(dir, 'out'), ...names.map((n) => join(pictures, n)), '--model', model, '--json', '--plugin', CENTROID], { encoding: 'utf8', cwd: ROOT });
      expect(r.status, r.stderr).toBe(0);
      const json = JSON.parse(r.stdout) as { trust: unknown; results: Answer[] };
      cli[model] = json.results;
      if (json.trust) trusted.add(model);
    }
    // Every model with scores has a threshold (nearest-centroid has no scores, so no trust).
    expect(ready.filter((m) => !trusted.has(m))).toEqual(['nearest-centroid']);
    // The clean digit: the first that a model with a threshold answers (not unsure), and answers right.
    const labels = decodeLabels((await reportRows(join(dir, 'out'))).rows.find((r): r is OkRow => r.status === 'ok' && !!r.testLabels)!.testLabels!);
    const sure = (m: string, i: number) => trusted.has(m) && !cli[m]![i]!.unsure && cli[m]![i]!.label === labels[i - 1];
    const clean = names.findIndex((n, i) => i > 0 && ready.some((m) => sure(m, i)));
    expect(clean, 'a test digit some model answers').toBeGreaterThan(0);
    const answering = ready.find((m) => sure(m, clean))!;

    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
    const shown: Record<string, Record<string, Answer & { text: string }>> = {};
    for (const i of [0, clean]) {
      const before = await page.evaluate(() => Number(document.body.dataset.predictions ?? 0));
      await page.setInputFiles('#file', join(pictures, names[i]!));
      await settled(page, before);
      expect(await page.evaluate(() => document.body.dataset.picture)).toBe(names[i]);
      shown[names[i]!] = Object.fromEntries(
        await page.$$eval('#models tbody tr[data-state="ready"]', (trs) =>
          trs.map((tr) => {
            const d = (tr as HTMLTableRowElement).dataset;
            const cells = (tr as HTMLTableRowElement).cells;
            return [d.model!, { label: Number(d.label), unsure: d.unsure === 'true', confidence: d.confidence ? Number(d.confidence) : undefined, text: `${cells[1]!.textContent} | ${cells[2]!.textContent}` }];
          }),
        ),
      );
      // Every model: predict's label and unsure flag for the same file, and its confidence.
      for (const model of ready) {
        const want = cli[model]![i]!;
        const got = shown[names[i]!]![model]!;
        expect([names[i], model, got.label, got.unsure]).toEqual([names[i], model, want.label, want.unsure]);
        // A model without scores (nearest-centroid) has no confidence on either side.
        if (want.confidence === undefined) expect(got.confidence, `${names[i]} ${model}`).toBeUndefined();
        else expect(Math.abs(got.confidence! - want.confidence), `${names[i]} ${model}`).toBeLessThan(1e-4);
      }
    }
    // The page says it: "unsure" over the best guess for the noise (the CNN), the label and its confidence for the digit.
    const noiseCnn = shown['noise.png']!.cnn!;
    expect(noiseCnn.unsure).toBe(true);
    expect(noiseCnn.text).toMatch(new RegExp(`^unsurebest guess ${noiseCnn.label} \\| \\d\\.\\d{3} < \\d\\.\\d{3}$`));
    expect(shown[names[clean]!]![answering]!.text).toMatch(new RegExp(`^${labels[clean - 1]} \\| \\d\\.\\d{3}$`));
    const refused = ready.filter((m) => shown['noise.png']![m]!.unsure);
    console.log(`noise refused by ${refused.length} of ${ready.length} models (${refused.join(', ')}); test digit ${clean - 1}: ${ready.map((m) => `${m} ${shown[names[clean]!]![m]!.text}`).join('; ')}`);
    // The summary gives each run's test figures at its threshold, from its row.
    const summary = Object.fromEntries(await page.$$eval('#summary tbody tr', (trs) => trs.map((tr) => [(tr as HTMLTableRowElement).cells[1]!.textContent!, (tr as HTMLTableRowElement).cells[7]!.textContent!])));
    const okRows = (await reportRows(join(dir, 'out'))).rows.filter((r): r is OkRow => r.status === 'ok');
    const pc = (x: number) => `${(x * 100).toFixed(2)}%`;
    for (const r of okRows) {
      const at = r.trust?.test.atThreshold;
      const want = !r.trust ? 'no threshold' : r.trust.threshold === null ? 'none reach 98.00%' : `${pc(at!.coverage)}${at!.accuracy === null ? '' : ` (${pc(at!.accuracy)} right)`}`;
      expect([r.classifier, summary[r.classifier]]).toEqual([r.classifier, want]);
    }
    expect(summary.cnn).toMatch(/^\d+\.\d\d% \(\d+\.\d\d% right\)$/);
    if (process.env.DIGITBENCH_SCREENSHOT) await page.screenshot({ path: process.env.DIGITBENCH_SCREENSHOT.replace(/(\.png)?$/, '-dropped.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 240_000);

  it('browser-bench: plain and isolated pages, identical labels to Node, the report shows both targets, deploy.target picks on browser figures', async () => {
    const out = join(dir, 'out');
    const r = await browserBench(out, { browser: chromium, passes: 2, calls: 250, plugins: PLUGINS });
    const ok = r.rows.filter((x) => x.status === 'ok');
    expect(ok.length).toBe(14);
    for (const row of ok) {
      expect([row.classifier, row.agreement!.same]).toEqual([row.classifier, row.agreement!.total]);
      expect(row.calls).toBe(500);
      expect(row.download!.gzipBytes).toBeGreaterThan(0);
      expect(row.download!.gzipBytes).toBeLessThan(row.download!.bytes);
      expect(row.crossOriginIsolated).toBe(row.isolated);
      expect(row.coldStart!.totalMs).toBeGreaterThan(row.coldStart!.firstPredictMs);
    }
    const failed = r.rows.filter((x) => x.status === 'failed');
    expect(failed.map((x) => [x.classifier, x.isolated])).toEqual([
      ['node-only', false],
      ['node-only', true],
    ]);
    expect(failed[0]!.reason).toContain('imports "node:fs", which a browser does not have');

    const { rows, config, browser: browserRows } = await reportRows(out);
    const groups = buildGroups(rows, []);
    const views = groups.map((g) => ({ g, v: browserView(g, browserRows) })).filter((x) => x.v?.used);
    expect(views.length).toBe(7);
    // With only a size limit, the pick is the most accurate model whose gzip download fits.
    const smallest = Math.min(...views.map((x) => x.v!.used!.downloadGzipBytes));
    const fits = views.filter((x) => x.v!.used!.downloadGzipBytes <= smallest).map((x) => x.g).sort((a, b) => b.accuracyMean - a.accuracyMean);
    const choice = deploymentChoice(rows, { config: { ...config, deploy: { target: 'browser', maxModelBytes: smallest } }, browser: browserRows });
    expect(choice.pick?.label).toBe(fits[0]!.label);
    // On Node figures the same limit (bundle bytes) picks by bundle size instead.
    const nodeChoice = deploymentChoice(rows, { config: { ...config, deploy: { maxModelBytes: smallest } }, browser: browserRows });
    const nodeFits = groups.filter((g) => g.deploy && g.deploy.bundleBytes <= smallest).sort((a, b) => b.accuracyMean - a.accuracyMean);
    expect(nodeChoice.pick?.label).toBe(nodeFits[0]?.label);

    const { readFileSync } = await import('node:fs');
    const report = readFileSync(r.report, 'utf8');
    expect(report).toContain('### In the browser');
    expect(report).toMatch(/\| \*\*node-only\*\* \| — \| .* \| cannot run: /);
  }, 300_000);

  describe('a non-square dataset (20×24 digits)', () => {
    const shape: [number, number] = [20, 24];
    let out20: string;
    let server20: RunningServer;

    beforeAll(async () => {
      const { loadDataset } = await import('../src/data/datasets.ts');
      const { sliceRows } = await import('@digitbench/runtime/internal');
      const { resizeRows, writeIdxDataset } = await import('./helpers/resize.ts');
      const mnist = await loadDataset('mnist');
      const part = (p: typeof mnist.train, n: number) => ({ x: resizeRows(sliceRows(p.images, 0, n), [28, 28], shape), y: p.labels.subarray(0, n) });
      const ds = writeIdxDataset(join(dir, 'mnist-20x24'), shape, part(mnist.train, 1000), part(mnist.test, 100));
      const file = join(dir, 'browser-20x24.json');
      writeFileSync(
        file,
        JSON.stringify({
          dataset: ds,
          split: { train: 1000, test: 100, seed: 1 },
          features: [{ step: 'deskew' }, { step: 'scale' }, { step: 'pca', components: 20 }],
          classifiers: [{ plugin: 'knn', params: { k: 3 } }, { plugin: 'naive-bayes' }, { plugin: 'cnn', params: { epochs: 3, batchSize: 32 } }],
          deploy: { passes: 2, calls: 20, batch: 100 },
        }),
      );
      out20 = join(dir, 'out-20x24');
      const summary = await runExperiment(await loadExperiment(file), { outDir: out20 });
      expect(summary.rows.map((r) => r.status)).toEqual(['ok', 'ok', 'ok']);
      server20 = await startServer(out20, { port: 0 });
    }, 300_000);

    afterAll(async () => {
      await server20?.close();
    });

    it('the page shows the 20×24 image the models see, and every model answers what predict answers for the drawn canvas', async () => {
      expect(server20.experiment.imageShape).toEqual(shape);
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(server20.url);
      await page.waitForSelector('body[data-state="ready"]', { timeout: 120_000 });
      const preview = await page.$eval('#preview', (c) => ({ shape: (c as HTMLCanvasElement).dataset.shape, width: (c as HTMLCanvasElement).width, height: (c as HTMLCanvasElement).height, label: c.getAttribute('aria-label') }));
      expect(preview).toEqual({ shape: '20x24', width: 112, height: 93, label: 'The 20×24 image the models see' });
      expect(await page.textContent('#preview-caption')).toBe('What the models see: 20×24, normalized as digitbench predict does');
      const models = new Map(await Promise.all(server20.experiment.models.map(async (m) => [m.label, await loadModel(join(out20, m.bundle.slice('/report/'.length)))] as const)));
      expect([...models.values()].map((m) => m.imageShape)).toEqual([shape, shape, shape]);
      // MNIST test digits drawn at 28×28 strokes on the canvas: the page brings the canvas to 20×24, as predict does.
      const mnist = new Uint8Array((await (await fetch(new URL('/api/test-images', server.url))).arrayBuffer()));
      for (let d = 0; d < 3; d++) {
        await page.click('#clear');
        const before = await page.evaluate(() => Number(document.body.dataset.predictions ?? 0));
        await drawDigit(page, mnist.subarray(d * 784, (d + 1) * 784));
        await settled(page, before);
        const png = Buffer.from((await page.evaluate(() => (document.getElementById('canvas') as HTMLCanvasElement).toDataURL('image/png'))).split(',')[1]!, 'base64');
        const decoded = await decodeImage(png, `drawn digit ${d}`);
        const shown = Object.fromEntries(await page.$$eval('#models tbody tr[data-state="ready"]', (trs) => trs.map((tr) => [(tr as HTMLElement).dataset.model!, Number((tr as HTMLElement).dataset.label)])));
        const expected: Record<string, number> = {};
        for (const [label, model] of models) expected[label] = (await model.predict(decoded))[0]!.label;
        expect([d, shown]).toEqual([d, expected]);
      }
      // The misclassified test digits are drawn at 20×24.
      const grid = await page.$$eval('#misclassified canvas', (cs) => cs.map((c) => `${(c as HTMLCanvasElement).height}x${(c as HTMLCanvasElement).width}`));
      expect(grid.length).toBeGreaterThan(0);
      expect(new Set(grid)).toEqual(new Set(['20x24']));
      expect(errors).toEqual([]);
      for (const m of models.values()) m.dispose();
      await page.close();
    }, 240_000);

    it('browser-bench measures the bundles on the 20×24 test digits, with the Node labels', async () => {
      const r = await browserBench(out20, { browser: chromium, modes: ['plain'], passes: 2, calls: 250 });
      expect(r.rows.map((x) => [x.classifier, x.status, x.agreement?.same, x.agreement?.total]).sort()).toEqual([
        ['cnn', 'ok', 100, 100],
        ['knn', 'ok', 100, 100],
        ['naive-bayes', 'ok', 100, 100],
      ]);
      const { readFileSync } = await import('node:fs');
      expect(readFileSync(r.report, 'utf8')).toContain('**latency** = one raw 20×24 image per call, p50 / p95 over every timed call, as in Node');
    }, 300_000);
  });
});
