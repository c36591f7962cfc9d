/**
 * PCA's projection on onnxruntime (src/engine/ort-pca-project.ts; issue 25 item 2): a float64 MatMul whose
 * float32 output must equal the runtime's plain-JS projectPca bit for bit, through a rounding bound and an
 * exact JS recheck of the values the bound cannot settle. Real MNIST rows (pixels / 255), plain and
 * whitened, in ordinary and shared memory, values planted on float32 rounding ties (the recheck must run),
 * and an experiment's prepared features. Skipped where onnxruntime-node does not load (ortForTests).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { applySplit, makeSplit } from '../src/data/split.ts';
import { parsePipeline, restorePipeline, transformRows } from '../src/features/pipeline.ts';
import { prepareFeatures } from '../src/features/prepare.ts';
import { fitPca, JS_PROJECTION, ORT_PROJECT_MIN_ROWS, pcaProjector, projectPca, type PcaModel } from '../src/features/pca.ts';
import { exactValue, ortProjected, ortProjection } from '../src/engine/ort-pca-project.ts';
import { projectionWeights } from '@digitbench/runtime/internal';
import type { Matrix } from '@digitbench/runtime/internal';
import { mnistSubset, type Subset } from './helpers/mnist.ts';
import { ortForTests } from './helpers/ort.ts';

const { why } = ortForTests();

/** Indices where the two float32 arrays differ bit for bit (NaN payloads included). */
function differing(a: Float32Array, b: Float32Array): number[] {
  expect(a.length).toBe(b.length);
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const out: number[] = [];
  for (let i = 0; i < ua.length; i++) if (ua[i] !== ub[i]) out.push(i);
  return out;
}

function shared(m: Matrix): Matrix {
  const data = new Float32Array(new SharedArrayBuffer(m.data.byteLength));
  data.set(m.data);
  return { rows: m.rows, cols: m.cols, data };
}

/** The next float32 after `f` towards +∞ (f finite, positive or negative) or towards −∞. */
function nextFloat32(f: number, up: boolean): number {
  const a = new Float32Array([f]);
  const u = new Uint32Array(a.buffer);
  if (f === 0) u[0] = up ? 1 : 0x80000001;
  else if (f > 0 === up) u[0]! += 1;
  else u[0]! -= 1;
  return a[0]!;
}

/** The float64 value before rounding, as the JS projection computes it (sum in feature order, minus μC). */
function jsDouble(x: Matrix, i: number, cT: Float64Array, k: number, c: number, muC: number): number {
  let acc = 0;
  for (let j = 0; j < x.cols; j++) {
    const v = x.data[i * x.cols + j]!;
    if (v !== 0) acc += v * cT[j * k + c]!;
  }
  return acc - muC;
}

/**
 * The model with its mean moved along the components so that, for component c, row c's value lands on a
 * float32 rounding tie (the midpoint between two float32s) to within a few float64 ulps: every such value
 * needs the exact recheck. Returns the model and how far each planted value is from its tie.
 */
function plantTies(model: PcaModel, x: Matrix, whiten: boolean): { model: PcaModel; distance: number[] } {
  const { k, d } = model;
  const { cT, muC } = projectionWeights(model, whiten);
  const target = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    const j = jsDouble(x, c, cT, k, c, muC[c]!);
    const f = Math.fround(j);
    const tie = (f + nextFloat32(f, j > f)) / 2;
    target[c] = j + muC[c]! - tie; // the μC that puts row c's value on the tie
  }
  const mean = Float64Array.from(model.mean);
  const planted = { ...model, mean };
  for (let it = 0; it < 6; it++) {
    const now = projectionWeights(planted, whiten).muC;
    for (let c = 0; c < k; c++) {
      const v = model.explainedVariance[c]!;
      const t = (target[c]! - now[c]!) * (whiten && v > 0 ? Math.sqrt(v) : 1); // μC_c moves by t / √v per t along the unit component
      for (let j = 0; j < d; j++) mean[j]! += t * model.components[c * d + j]!;
    }
  }
  const w = projectionWeights(planted, whiten);
  const distance = Array.from({ length: k }, (_, c) => {
    const j = jsDouble(x, c, w.cT, k, c, w.muC[c]!);
    const f = Math.fround(j);
    return Math.abs(j - (f + nextFloat32(f, j > f)) / 2);
  });
  return { model: planted, distance };
}

describe.skipIf(!!why)(`PCA projection on onnxruntime, bit for bit the plain-JS one (MNIST: 3,000 training rows, 2,500 test rows)${why ? ` (skipped: ${why})` : ''}`, () => {
  let d: Subset;
  let model: PcaModel;
  beforeAll(async () => {
    d = await mnistSubset(3000, 2500, 5);
    model = await fitPca(d.xTrain, { components: 50, oversamples: 10, iterations: 4, seed: 3, threads: 1, engine: 'ort' });
  }, 60_000);

  it('equals projectPca bit for bit on real MNIST rows, plain and whitened, on 1 and 2 threads', async () => {
    for (const whiten of [false, true]) {
      for (const threads of [1, 2]) {
        const proj = await ortProjection(model, whiten, threads);
        try {
          for (const x of [d.xTrain, d.xTest]) {
            const { matrix, rechecked } = await proj.run(x);
            const want = projectPca(model, x, whiten);
            expect([matrix.rows, matrix.cols]).toEqual([want.rows, want.cols]);
            expect(differing(matrix.data, want.data), `whiten ${whiten}, ${threads} thread(s), ${x.rows} rows`).toEqual([]);
            // The bound settles nearly every value: at most 1 in 200 is recomputed (measured: about 1 in 1,000).
            expect(rechecked).toBeLessThan(x.rows * 50 / 200);
          }
        } finally {
          proj.dispose();
        }
      }
    }
  });

  it('values planted on float32 rounding ties are recomputed exactly (the recheck runs) and equal projectPca', async () => {
    for (const whiten of [false, true]) {
      const { model: planted, distance } = plantTies(model, d.xTest, whiten);
      // Each planted value is within 1e-13 of a tie: far inside the bound (≥ γ_784·‖x‖∞·‖c‖₁ ≈ 1e-12 here).
      for (const [c, dist] of distance.entries()) expect(dist, `component ${c}`).toBeLessThan(1e-13);
      const proj = await ortProjection(planted, whiten, 2);
      try {
        const { matrix, rechecked } = await proj.run(d.xTest);
        const want = projectPca(planted, d.xTest, whiten);
        expect(differing(matrix.data, want.data), `whiten ${whiten}`).toEqual([]);
        expect(rechecked).toBeGreaterThanOrEqual(planted.k);
        // The planted values are those the JS loop rounds on a tie: exactValue (the recheck) gives them too.
        const { cT, muC } = projectionWeights(planted, whiten);
        for (let c = 0; c < planted.k; c++) expect(Object.is(exactValue(d.xTest.data, c, planted.d, cT, planted.k, c, muC[c]!), want.data[c * planted.k + c]!)).toBe(true);
      } finally {
        proj.dispose();
      }
    }
  });

  it('rows with NaN and ∞ are recomputed (the JS loop\'s NaN and ∞ values), the rest unchanged', async () => {
    const x = { rows: 40, cols: d.xTest.cols, data: d.xTest.data.slice(0, 40 * d.xTest.cols) };
    x.data[3 * x.cols + 300] = Number.NaN;
    x.data[7 * x.cols + 10] = Number.POSITIVE_INFINITY;
    x.data[9 * x.cols + 500] = 3e38;
    const proj = await ortProjection(model, false, 1);
    try {
      const { matrix, rechecked } = await proj.run(x);
      expect(differing(matrix.data, projectPca(model, x).data)).toEqual([]);
      expect(rechecked).toBeGreaterThanOrEqual(2 * model.k);
    } finally {
      proj.dispose();
    }
  });

  it('takes rows in a SharedArrayBuffer (copied per chunk) and gives the same bits; the workbench projector uses ort from ORT_PROJECT_MIN_ROWS rows', async () => {
    const x = shared(d.xTrain);
    const proj = await ortProjection(model, true, 2);
    try {
      expect(differing((await proj.project(x)).data, projectPca(model, d.xTrain, true).data)).toEqual([]);
    } finally {
      proj.dispose();
    }
    const projector = pcaProjector(model, false, { engine: 'ort', threads: 2 });
    try {
      const before = ortProjected.rows;
      expect(differing((await projector.project(x)).data, projectPca(model, x).data)).toEqual([]);
      expect(ortProjected.rows - before).toBe(x.rows);
      expect(projector.description(x.rows)).toMatch(/^onnxruntime-node \S+ \(2 threads\): float64 MatMul, exact float32 rounding checks$/);
      const small = { rows: ORT_PROJECT_MIN_ROWS - 1, cols: x.cols, data: x.data.subarray(0, (ORT_PROJECT_MIN_ROWS - 1) * x.cols) };
      expect(differing((await projector.project(small)).data, projectPca(model, small).data)).toEqual([]);
      expect(ortProjected.rows - before).toBe(x.rows); // below the threshold: the plain-JS projection
      expect(projector.description(small.rows)).toBe(JS_PROJECTION);
    } finally {
      projector.release();
    }
    expect(pcaProjector(model, false, { engine: 'wasm' }).description(x.rows)).toBe(JS_PROJECTION);
  });

  it('an experiment\'s prepared features: on ort the PCA step projects there, and every part equals the runtime pipeline restored from the fitted states (what bundles compute); the cache keys differ by engine', async () => {
    const saved = { dir: process.env.DIGITBENCH_CACHE_DIR, engine: process.env.DIGITBENCH_ENGINE };
    process.env.DIGITBENCH_CACHE_DIR = mkdtempSync(join(tmpdir(), 'digitbench-cache-'));
    try {
      const ds = await loadDataset('mnist');
      const split = makeSplit(ds, { train: 3000, validation: 2100, test: 2200, seed: 6 });
      const raw = applySplit(ds, split);
      const specs = parsePipeline([{ step: 'scale' }, { step: 'pca', components: 30, whiten: true }]);
      const keys: Record<string, string | undefined> = {};
      for (const engine of ['ort', 'wasm'] as const) {
        process.env.DIGITBENCH_ENGINE = engine;
        const before = ortProjected.rows;
        const prepared = await prepareFeatures(ds, split, specs, { seed: 2 });
        expect(prepared.fromCache).toBe(false);
        keys[engine] = prepared.cacheKey;
        // Every part has 2,048+ rows, so on ort all three are projected there; on wasm none is.
        expect(ortProjected.rows - before).toBe(engine === 'ort' ? 3000 + 2100 + 2200 : 0);
        const runtime = restorePipeline(specs, ds.imageShape, prepared.states);
        for (const [part, got] of [['train', prepared.train.x], ['validation', prepared.validation!.x], ['test', prepared.test.x]] as const) {
          const want = transformRows(runtime, raw[part]!.x);
          expect(differing(got.data, want.data), `${engine}: ${part}`).toEqual([]);
        }
        // Read back from the cache: the same bits.
        const again = await prepareFeatures(ds, split, specs, { seed: 2 });
        expect(again.fromCache).toBe(true);
        expect(differing(again.test.x.data, prepared.test.x.data)).toEqual([]);
      }
      expect(keys.ort).not.toBe(keys.wasm);
    } finally {
      for (const [k, v] of [['DIGITBENCH_CACHE_DIR', saved.dir], ['DIGITBENCH_ENGINE', saved.engine]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
