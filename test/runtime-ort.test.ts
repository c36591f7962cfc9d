/**
 * Deployment on onnxruntime (issue 25 item 6): @digitbench/runtime's loadModel with engine 'ort' and 'js' on
 * real bundles fitted on an MNIST subset gives the same labels on every test row (and the same scores where
 * the ort path keeps them exact); a bundle's bytes do not depend on the engine that fitted it
 * (DIGITBENCH_ENGINE=ort and =wasm); engine 'ort' where onnxruntime-node cannot load is refused in one line
 * (a child process whose module resolution hides the package); the browser entry's bundle holds neither
 * onnxruntime-node nor protobufjs. Where onnxruntime-node does not load, the ort comparisons are skipped with
 * the reason, unless DIGITBENCH_REQUIRE_ORT=1 (CI) makes that a failure.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseParams, type Matrix, type StepSpec } from '@digitbench/runtime/internal';
import { loadModel } from '@digitbench/runtime';
import { loadOrt as loadOrtBy } from '../packages/runtime/src/engine/ort.ts';
import { boundFeatures, chunkLayout, chunkSearch } from '../packages/runtime/src/engine/chunk-search.ts';
import { ortChunkMinima } from '@digitbench/runtime/internal';
import { NearestIndex } from '../packages/runtime/src/engine/nearest.ts';
import { writeBundle } from '../src/bundle/file.ts';
import { cnn } from '../src/classifiers/cnn.ts';
import { decisionTree } from '../src/classifiers/decision-tree.ts';
import { knn } from '../src/classifiers/knn.ts';
import { naiveBayes } from '../src/classifiers/naive-bayes.ts';
import type { ClassifierPlugin } from '../src/classifiers/plugin.ts';
import { svm } from '../src/classifiers/svm.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { applySplit, makeSplit } from '../src/data/split.ts';
import { engineChoice, loadOrt } from '../src/engine/ort.ts';
import { createPipeline, fitTransform, pipelineStates } from '../src/features/pipeline.ts';
import { measureBundle } from '../src/harness/deploy-child.ts';
import { deploymentSchema, encodeLabels } from '../src/results/row.ts';
import { bundleInput } from './helpers/bundle.ts';
import { fixtureRows } from './helpers/report-rows.ts';
import { renderReport } from '../src/report/markdown.ts';
import { ortForTests } from './helpers/ort.ts';

const { why } = ortForTests();

const ROOT = join(import.meta.dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'digitbench-runtime-ort-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let train: { x: Matrix; y: Int32Array };
let test: { x: Matrix; y: Int32Array };
beforeAll(async () => {
  const ds = await loadDataset('mnist');
  const d = applySplit(ds, makeSplit(ds, { train: 600, test: 300, seed: 7 }));
  train = d.train;
  test = d.test;
});

const scaled: StepSpec[] = [{ step: 'scale', max: 255 }];
const pca: StepSpec[] = [{ step: 'scale', max: 255 }, { step: 'pca', components: 30, oversamples: 10, iterations: 4 }];

/** A real bundle's bytes: the pipeline fitted on the training rows, the plugin fitted on its output, on engine `engine`. */
async function bundleBytes(plugin: ClassifierPlugin, raw: Record<string, unknown>, specs: StepSpec[], engine: 'ort' | 'wasm'): Promise<Uint8Array> {
  const saved = process.env.DIGITBENCH_ENGINE;
  process.env.DIGITBENCH_ENGINE = engine;
  try {
    const pipeline = createPipeline(specs, [28, 28], 1);
    const f = await fitTransform(pipeline, { train: train.x }, train.y);
    const params = parseParams(plugin, raw);
    const model = await plugin.create(params, { seed: 1, log: { info() {}, warn() {} }, ...(pipeline.outputImage ? { imageShape: pipeline.outputImage } : {}) }).fit(f.parts.train!, train.y);
    const input = bundleInput(specs, pipelineStates(pipeline), new Uint8Array(await model.serialize!()));
    // The plugin's engine string is provenance, not the model: the same on both sides here, as it is the model bytes that must not differ.
    input.plugin = { name: plugin.name, library: 'none', params: params as Record<string, unknown>, engine: 'either' };
    input.classes = Array.from(model.classes);
    model.dispose();
    const file = join(dir, `${plugin.name}-${engine}-${specs.length}.bundle`);
    await writeBundle(file, input);
    return new Uint8Array(readFileSync(file));
  } finally {
    if (saved === undefined) delete process.env.DIGITBENCH_ENGINE;
    else process.env.DIGITBENCH_ENGINE = saved;
  }
}

const cases: [string, ClassifierPlugin, Record<string, unknown>, StepSpec[]][] = [
  ['naive-bayes on pca(30)', naiveBayes, {}, pca],
  ['naive-bayes on raw pixels', naiveBayes, {}, scaled],
  ['knn', knn, { k: 3 }, pca],
  ['knn, cosine, 1/distance votes, raw pixels', knn, { k: 5, metric: 'cosine', weights: 'distance' }, scaled],
  ['knn, l3 (plain JS on both)', knn, { k: 3, metric: 'l3' }, pca],
  ['svm (rbf)', svm, { kernel: 'rbf', C: 5, gamma: 0.05 }, pca],
  ['decision tree', decisionTree, { maxDepth: 12 }, scaled],
];

describe.skipIf(!!why)(`loadModel on engine 'ort' and 'js': the same labels on every test row${why ? ` (not run: ${why})` : ''}`, () => {
  it.each(cases)('%s', async (_name, plugin, raw, specs) => {
    const bytes = await bundleBytes(plugin, raw, specs, 'ort');
    const onOrt = await loadModel(bytes, { engine: 'ort' });
    const onJs = await loadModel(bytes, { engine: 'js' });
    const byDefault = await loadModel(bytes);
    expect(onOrt.engineKind).toBe('ort');
    expect(onJs.engineKind).toBe('js');
    expect(byDefault.engineKind).toBe('ort');
    const a = await onOrt.classify(test.x);
    const b = await onJs.classify(test.x);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(Array.from(a.confidence)).toEqual(Array.from(b.confidence));
    let right = 0;
    a.labels.forEach((l, i) => (right += l === test.y[i] ? 1 : 0));
    expect(right / test.x.rows).toBeGreaterThan(0.5);
    // (Gaussian NB on pca(30): 300 feature × class terms, below NATIVE_MIN_TERMS: plain JS on both, and its engine says so.)
    if (_name === 'naive-bayes on pca(30)') expect(onOrt.engine()).toContain('300 feature × class terms, below the 2048 where an onnxruntime session pays');
    else if (plugin !== decisionTree && raw.metric !== 'l3') expect(onOrt.engine()).toContain('onnxruntime-node 1.31.1 (1 thread)');
    expect(onJs.engine()).not.toContain('onnxruntime');
    for (const m of [onOrt, onJs, byDefault]) m.dispose();
  });
});

describe.skipIf(!!why)('a CNN bundle on ort (the forward graph) and on js (tfjs)', () => {
  it.each([
    ['lenet', 2],
    ['keras-mnist', 1],
  ] as const)('%s: the same labels on every test row, probabilities within float32 rounding; trained on ort or wasm, the same format', async (architecture, epochs) => {
    const raw = { architecture, epochs, batchSize: 32, threads: 1, patience: 0 };
    const bytes = await bundleBytes(cnn, raw, scaled, 'ort');
    const onOrt = await loadModel(bytes, { engine: 'ort' });
    const onJs = await loadModel(bytes, { engine: 'js' });
    expect(onOrt.engine()).toContain('onnxruntime-node 1.31.1 (1 thread) (forward graph)');
    expect(onJs.engine()).toContain('tfjs-');
    const [a, b] = [await onOrt.scores!(test.x), await onJs.scores!(test.x)];
    const [la, lb] = [await onOrt.predictLabels(test.x), await onJs.predictLabels(test.x)];
    let worst = 0;
    for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i]! - b.data[i]!));
    expect(worst).toBeLessThan(1e-5);
    // A label may differ only where tfjs's two best probabilities are within that rounding (none did here).
    const k = b.cols;
    for (let r = 0; r < test.x.rows; r++) {
      if (la[r] === lb[r]) continue;
      const row = Array.from(b.data.subarray(r * k, (r + 1) * k)).sort((x, y) => y - x);
      expect(row[0]! - row[1]!).toBeLessThan(2e-5);
    }
    expect(Array.from(la)).toEqual(Array.from(lb));
    for (const m of [onOrt, onJs]) m.dispose();
    // Trained on wasm: the same header and layout (weights differ in the last bits: other summation orders).
    const wasm = await bundleBytes(cnn, raw, scaled, 'wasm');
    expect(wasm.length).toBe(bytes.length);
    const m = await loadModel(wasm, { engine: 'ort' });
    expect((await m.predictLabels(test.x)).length).toBe(test.x.rows);
    m.dispose();
  });
});

describe.skipIf(!!why)("the runtime's k-NN search on ort: chunk minima and the exact rescan", () => {
  it.each([
    ['raw pixels (a high-variance subset of the pixels in the product)', 'raw'],
    ['every feature in the product', 'all'],
  ] as const)('%s: the plain loop\'s neighbours and distances, bit for bit (k = 1, 4)', async (_name, which) => {
    const x = { rows: train.x.rows, cols: train.x.cols, data: train.x.data.slice() };
    const features = which === 'all' ? Int32Array.from({ length: x.cols }, (_, j) => j) : boundFeatures(x);
    if (which === 'raw') expect(features.length).toBeLessThan(0.7 * x.cols);
    const layout = chunkLayout(x, 16, features);
    const minima = await ortChunkMinima(layout.xaT, layout.w, layout.chunks, layout.chunk, 1);
    const plain = new NearestIndex({ rows: x.rows, cols: x.cols, data: x.data.slice() });
    for (const k of [1, 4]) {
      const a = await chunkSearch(x, layout, minima, test.x, k, 50_000);
      const b = plain.search(test.x, k);
      expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
      expect(Array.from(a.distances)).toEqual(Array.from(b.distances));
    }
    minima.dispose();
  });
});

describe('a bundle is the same bytes whichever engine fitted it', () => {
  it.skipIf(!!why).each(cases.filter(([name]) => name !== 'naive-bayes on raw pixels'))('%s: DIGITBENCH_ENGINE=ort and =wasm', async (_name, plugin, raw, specs) => {
    // PCA fitted on ort and on tfjs-wasm differs in the last bits; the model's own bytes are compared on the same features.
    const same = specs.some((s) => s.step === 'pca') ? scaled : specs;
    const a = await bundleBytes(plugin, raw, same, 'ort');
    const b = await bundleBytes(plugin, raw, same, 'wasm');
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});

describe.skipIf(!!why)('the deployment figures on both engines (deploy-child)', () => {
  it('k-NN: cold start and p50 / p95 on ort and on js, the labels the same; the row schema takes them (none under DIGITBENCH_ENGINE=wasm)', async () => {
    const bytes = await bundleBytes(knn, { k: 3 }, pca, 'ort');
    const file = join(dir, 'deploy.bundle');
    writeFileSync(file, bytes);
    const m = await loadModel(bytes, { engine: 'js' });
    const predictions = encodeLabels(await m.predictLabels(test.x));
    m.dispose();
    const d = await measureBundle({ bundleFile: file, dataset: 'mnist', split: { train: 600, test: 300, seed: 7 }, predictions, passes: 1, calls: 20, batch: 100, pluginRef: 'knn', baseDir: ROOT });
    expect(d.agreement).toEqual({ same: 300, total: 300 });
    if (engineChoice().engine !== 'ort') {
      // DIGITBENCH_ENGINE=wasm (the forced-wasm suite): one engine, as before.
      expect(d.engines).toBeUndefined();
      return;
    }
    expect(d.engines!.labelsAgree).toEqual({ same: 100, total: 100 });
    expect(d.engines!.ort.engine).toContain('onnxruntime-node 1.31.1 (1 thread) float32 chunk minima, exact float64 rescan');
    expect(d.engines!.js.engine).not.toContain('onnxruntime');
    for (const e of [d.engines!.ort, d.engines!.js]) {
      expect(e.calls).toBe(100);
      expect(e.latencyMsP50).toBeGreaterThan(0);
      expect(e.latencyMsP95).toBeGreaterThanOrEqual(e.latencyMsP50);
      expect(e.coldStartMs).toBeGreaterThanOrEqual(e.latencyMsP50);
    }
    expect(deploymentSchema.parse(d)).toEqual(d);
    const { engines: _, ...old } = d;
    expect(deploymentSchema.parse(old)).toEqual(old);
  });
});

describe("the report's deployment section", () => {
  it('shows p50 / p95 and cold start on both engines where rows have them, and nothing more for older rows', async () => {
    const rows = fixtureRows();
    const before = (await renderReport(rows)).markdown;
    expect(before).not.toContain('**On each engine**');
    const withEngines = rows.map((r) =>
      r.status === 'ok' && r.deployment
        ? { ...r, deployment: { ...r.deployment, engines: { ort: { coldStartMs: 120, latencyMsP50: 0.41, latencyMsP95: 0.9, calls: 100, engine: 'onnxruntime-node 1.31.1 (1 thread)' }, js: { coldStartMs: 95, latencyMsP50: 1.2, latencyMsP95: 2.5, calls: 100, engine: 'js' }, labelsAgree: { same: 100, total: 100 } } } }
        : r,
    );
    const md = (await renderReport(withEngines)).markdown;
    expect(md).toContain('**On each engine**');
    expect(md).toMatch(/\| 0\.41 \(ort\) \/ 1\.2 \(js\) \| 0\.9 \/ 2\.5 \| 120 \/ 95 \| onnxruntime-node 1\.31\.1 \(1 thread\) \|/);
    const first = withEngines.findIndex((x) => x.status === 'ok' && x.deployment?.engines);
    const oneDiffers = withEngines.map((r, i) =>
      i === first && r.status === 'ok' ? { ...r, deployment: { ...r.deployment!, engines: { ...r.deployment!.engines!, labelsAgree: { same: 99, total: 100 } } } } : r,
    );
    expect((await renderReport(oneDiffers)).markdown).toMatch(/\(labels differ on 1 of [1-9]00 rows\)/);
    // The rest of the report is unchanged.
    expect(md.replace(/\*\*On each engine\*\*[^]*?\n\n[^]*?\n\n/, '')).toBe(before);
  });
});

describe("engine 'ort' where onnxruntime-node cannot load", () => {
  it('the loader says why in one line (a package name that does not resolve)', async () => {
    const r = await loadOrtBy('onnxruntime-node-absent');
    expect('error' in r && r.error).toBe(
      'onnxruntime-node-absent is not installed (npm install onnxruntime-node@1.31.1, an optional peer dependency of @digitbench/runtime, on linux/win32 x64 or arm64 or darwin arm64)',
    );
  });

  it("loadModel refuses engine 'ort' in one line and runs 'js' by default (a process where the package does not resolve)", async () => {
    const bytes = await bundleBytes(naiveBayes, {}, scaled, 'wasm');
    const file = join(dir, 'hidden-ort.bundle');
    writeFileSync(file, bytes);
    const hook = join(dir, 'hide-ort.mjs');
    writeFileSync(
      hook,
      `export async function resolve(s, c, next) { if (s === 'onnxruntime-node' || s.startsWith('onnxruntime-node/')) { const e = new Error("Cannot find package '" + s + "' imported from " + c.parentURL); e.code = 'ERR_MODULE_NOT_FOUND'; throw e; } return next(s, c); }\n`,
    );
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module'; register(${JSON.stringify(`file://${hook}`)});\n`);
    const script = join(dir, 'probe.mts');
    writeFileSync(
      script,
      [
        `import { loadModel } from ${JSON.stringify(join(ROOT, 'packages/runtime/src/index.ts'))};`,
        `const m = await loadModel(${JSON.stringify(file)});`,
        `console.log(m.engineKind);`,
        `m.dispose();`,
        `try { await loadModel(${JSON.stringify(file)}, { engine: 'ort' }); console.log('loaded'); } catch (e) { console.log(e.message); }`,
      ].join('\n'),
    );
    const out = execFileSync(process.execPath, ['--import', register, '--import', 'tsx', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DIGITBENCH_ENGINE: '' } });
    const lines = out.trim().split('\n');
    expect(lines).toEqual([
      'js',
      "loadModel: engine 'ort', but onnxruntime-node is not installed (npm install onnxruntime-node@1.31.1, an optional peer dependency of @digitbench/runtime, on linux/win32 x64 or arm64 or darwin arm64); install it or pass engine: 'js'.",
    ]);
  });

  it('an engine that is neither is refused in one line', async () => {
    const bytes = await bundleBytes(naiveBayes, {}, scaled, 'wasm');
    await expect(loadModel(bytes, { engine: 'wasm' as 'js' })).rejects.toThrow(/^loadModel: engine is "wasm"; give 'ort' \(onnxruntime-node\), 'js' \(plain JS and tfjs\), or leave it out\.$/);
  });
});

describe("the browser entry's bundle", () => {
  it('pulls neither onnxruntime-node nor protobufjs nor the runtime\'s ort files', async () => {
    const r = await esbuild.build({
      entryPoints: [join(ROOT, 'packages/runtime/src/browser.ts')],
      bundle: true,
      write: false,
      splitting: true,
      format: 'esm',
      outdir: join(dir, 'web'),
      platform: 'browser',
      conditions: ['digitbench-source'],
      metafile: true,
      logLevel: 'silent',
      external: ['@tensorflow/*'],
    });
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((f) => f.includes('models/naive-bayes.ts'))).toBe(true);
    expect(inputs.filter((f) => /onnxruntime|protobufjs|engine\/ort|engine\/onnx/.test(f))).toEqual([]);
    expect(r.outputFiles.some((f) => f.text.includes('onnxruntime-node'))).toBe(false);
  });
});
