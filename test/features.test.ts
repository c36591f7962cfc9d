import { EigenvalueDecomposition, Matrix as MlMatrix } from 'ml-matrix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeRows, type Matrix } from '@digitbench/runtime/internal';
import { closeEnginePool, enginePoolSize, runInPool } from '../src/engine/pool.ts';
import { liveWorkers } from '../src/engine/threads.ts';
import { blurImage, deskewImage, gaussianKernel, hogImage, hogLength } from '@digitbench/runtime/internal';
import { fitPca, projectPca } from '../src/features/pca.ts';
import { encodeBundle, decodeBundle } from '@digitbench/runtime/internal';
import { createPipeline, fitTransform, parsePipeline, pipelineStates, restorePipeline, STEP_NAMES, transformRows, type StepSpec } from '../src/features/pipeline.ts';
import { bundleInput } from './helpers/bundle.ts';
import { mnistSubset } from './helpers/mnist.ts';
import { resizeRows } from './helpers/resize.ts';

function moments(img: Float32Array, h: number, w: number) {
  let t = 0, sr = 0, sc = 0;
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) { const p = img[r * w + c]!; t += p; sr += r * p; sc += c * p; }
  const mr = sr / t, mc = sc / t;
  let vr = 0, crc = 0;
  for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) { const p = img[r * w + c]!; vr += (r - mr) ** 2 * p; crc += (r - mr) * (c - mc) * p; }
  return { mr, mc, skew: crc / vr };
}

describe('deskew', () => {
  it('straightens a slanted bar and centres it', () => {
    const h = 28, w = 28;
    const img = new Float32Array(h * w);
    // A bar leaning right by 0.5 px per row, off-centre.
    for (let r = 4; r < 24; r++) for (let d = 0; d < 3; d++) img[r * w + Math.round(6 + 0.5 * (24 - r)) + d] = 1;
    expect(moments(img, h, w).skew).toBeLessThan(-0.4);
    const out = new Float32Array(h * w);
    deskewImage(img, out, h, w);
    const m = moments(out, h, w);
    expect(Math.abs(m.skew)).toBeLessThan(0.02);
    expect(m.mr).toBeCloseTo(14, 0);
    expect(m.mc).toBeCloseTo(14, 0);
  });

  it('removes most of the skew of real digits and keeps blank images blank', async () => {
    const { xTrain } = await mnistSubset(200, 10, 5);
    const out = new Float32Array(784);
    let before = 0, after = 0;
    for (let i = 0; i < 200; i++) {
      const img = xTrain.data.subarray(i * 784, (i + 1) * 784);
      deskewImage(img, out, 28, 28);
      before += Math.abs(moments(img, 28, 28).skew);
      after += Math.abs(moments(out, 28, 28).skew);
    }
    expect(after).toBeLessThan(before * 0.15);
    const blank = new Float32Array(784);
    deskewImage(new Float32Array(784), blank, 28, 28);
    expect(blank.every((v) => v === 0)).toBe(true);
  });
});

describe('downsample', () => {
  it('averages 2×2 blocks exactly like a direct computation', async () => {
    const { xTrain } = await mnistSubset(50, 10, 2);
    const p = createPipeline(parsePipeline([{ step: 'downsample' }]), [28, 28]);
    expect(p.outputImage).toEqual([14, 14]);
    const out = (await p.steps[0]!.transform(xTrain)) as Matrix;
    expect(out.cols).toBe(196);
    for (let i = 0; i < 50; i += 7) {
      for (let r = 0; r < 14; r++) {
        for (let c = 0; c < 14; c++) {
          const at = (rr: number, cc: number) => xTrain.data[i * 784 + rr * 28 + cc]!;
          const want = (at(2 * r, 2 * c) + at(2 * r + 1, 2 * c) + at(2 * r, 2 * c + 1) + at(2 * r + 1, 2 * c + 1)) / 4;
          expect(out.data[i * 196 + r * 14 + c]).toBeCloseTo(want, 6);
        }
      }
    }
  });
});

describe('hog', () => {
  const params = { cellSize: 4, bins: 9, blockSize: 2 };

  it('has the expected length (7×7 cells, 6×6 blocks of 2×2 cells × 9 bins)', () => {
    expect(hogLength(28, 28, params)).toBe(6 * 6 * 4 * 9);
  });

  it('puts a vertical edge in the 0° bin and a horizontal edge in the 90° bin', () => {
    const v = new Float32Array(784);
    const hz = new Float32Array(784);
    for (let r = 0; r < 28; r++) for (let c = 14; c < 28; c++) v[r * 28 + c] = 1;
    for (let r = 14; r < 28; r++) for (let c = 0; c < 28; c++) hz[r * 28 + c] = 1;
    const len = hogLength(28, 28, params);
    const hv = new Float32Array(len);
    const hh = new Float32Array(len);
    hogImage(v, hv, 28, 28, params);
    hogImage(hz, hh, 28, 28, params);
    const binTotals = (hist: Float32Array) => {
      const t = new Array(9).fill(0);
      hist.forEach((x, i) => (t[i % 9] += x));
      return t;
    };
    const tv = binTotals(hv);
    const th = binTotals(hh);
    expect(tv[0]).toBeGreaterThan(0);
    expect(tv.slice(1).every((x: number) => x === 0)).toBe(true);
    expect(th[4]).toBeGreaterThan(0); // 90° falls in [80°, 100°)
    expect(th.filter((_: number, i: number) => i !== 4).every((x: number) => x === 0)).toBe(true);
  });

  it('matches a direct re-computation (gradients, cells, L2-Hys blocks) on real digits', async () => {
    const { xTrain } = await mnistSubset(20, 10, 4);
    const len = hogLength(28, 28, params);
    const got = new Float32Array(len);
    for (let i = 0; i < 20; i += 3) {
      const img = xTrain.data.subarray(i * 784, (i + 1) * 784);
      hogImage(img, got, 28, 28, params);
      // Reference, written independently: gradient images first, then cell histograms, then blocks.
      const px = (r: number, c: number) => img[r * 28 + c]!;
      const cells = Array.from({ length: 7 }, () => Array.from({ length: 7 }, () => new Array(9).fill(0)));
      for (let r = 0; r < 28; r++) {
        for (let c = 0; c < 28; c++) {
          const gx = c === 0 || c === 27 ? 0 : px(r, c + 1) - px(r, c - 1);
          const gy = r === 0 || r === 27 ? 0 : px(r + 1, c) - px(r - 1, c);
          const mag = Math.sqrt(gx * gx + gy * gy);
          if (!mag) continue;
          const deg = ((Math.atan2(gy, gx) * 180) / Math.PI + 180) % 180;
          cells[Math.floor(r / 4)]![Math.floor(c / 4)]![Math.min(8, Math.floor(deg / 20))] += mag / 16;
        }
      }
      const want: number[] = [];
      for (let br = 0; br < 6; br++) {
        for (let bc = 0; bc < 6; bc++) {
          let v = [...cells[br]![bc]!, ...cells[br]![bc + 1]!, ...cells[br + 1]![bc]!, ...cells[br + 1]![bc + 1]!];
          const n1 = Math.sqrt(v.reduce((a, b) => a + b * b, 0) + 1e-10);
          v = v.map((x) => Math.min(0.2, x / n1));
          const n2 = Math.sqrt(v.reduce((a, b) => a + b * b, 0) + 1e-10);
          want.push(...v.map((x) => x / n2));
        }
      }
      for (let j = 0; j < len; j++) expect(got[j]).toBeCloseTo(want[j]!, 5);
    }
  });
});

describe('blur', () => {
  it('is a normalised Gaussian of radius 4σ, as scipy.ndimage.gaussian_filter', () => {
    const k = gaussianKernel(1);
    expect(k.length).toBe(9);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(k[4]! / k[5]!).toBeCloseTo(Math.exp(0.5), 12);
    expect(gaussianKernel(0.5).length).toBe(5);
  });

  it('equals a direct 2-D convolution with zero outside the image, on real digits', async () => {
    const { xTrain } = await mnistSubset(5, 1, 21);
    const sigma = 1.2;
    const k = gaussianKernel(sigma);
    const r = (k.length - 1) / 2;
    const out = new Float32Array(784);
    for (let i = 0; i < 5; i++) {
      const img = xTrain.data.subarray(i * 784, (i + 1) * 784);
      blurImage(img, out, 28, 28, k, new Float64Array(784));
      for (let y = 0; y < 28; y++) {
        for (let x = 0; x < 28; x++) {
          let s = 0;
          for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
            const yy = y + dy, xx = x + dx;
            if (yy >= 0 && yy < 28 && xx >= 0 && xx < 28) s += k[dy + r]! * k[dx + r]! * img[yy * 28 + xx]!;
          }
          expect(out[y * 28 + x]).toBeCloseTo(s, 3);
        }
      }
    }
  });

  it('keeps the total ink of a digit away from the border', () => {
    const img = new Float32Array(784);
    img[14 * 28 + 14] = 1;
    const out = new Float32Array(784);
    blurImage(img, out, 28, 28, gaussianKernel(1), new Float64Array(784));
    expect(out.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    expect(out[14 * 28 + 14]! > out[14 * 28 + 15]!).toBe(true);
  });
});

describe('hog with several cell sizes', () => {
  it('is the concatenation of the single-size vectors, in the order given', async () => {
    const { xTrain } = await mnistSubset(30, 1, 22);
    const both = createPipeline(parsePipeline([{ step: 'hog', cellSize: [4, 7] }]), [28, 28]);
    const out = (await both.steps[0]!.transform(xTrain)) as Matrix;
    const l4 = hogLength(28, 28, { cellSize: 4, bins: 9, blockSize: 2 });
    const l7 = hogLength(28, 28, { cellSize: 7, bins: 9, blockSize: 2 });
    expect(out.cols).toBe(l4 + l7);
    expect(both.labels).toEqual(['hog(4px+7px,9bins,2x2)']);
    const a = new Float32Array(l4);
    const b = new Float32Array(l7);
    for (let i = 0; i < 30; i += 7) {
      const img = xTrain.data.subarray(i * 784, (i + 1) * 784);
      hogImage(img, a, 28, 28, { cellSize: 4, bins: 9, blockSize: 2 });
      hogImage(img, b, 28, 28, { cellSize: 7, bins: 9, blockSize: 2 });
      expect(Array.from(out.data.subarray(i * out.cols, (i + 1) * out.cols))).toEqual([...a, ...b]);
    }
  });
});

describe('pca', () => {
  afterAll(() => closeEnginePool());

  it('matches a direct eigen-decomposition of the covariance', async () => {
    const { xTrain } = await mnistSubset(1500, 10, 9);
    // 14×14 images keep the exact decomposition quick.
    const ds = createPipeline(parsePipeline([{ step: 'downsample' }]), [28, 28]);
    const x = (await ds.steps[0]!.transform(xTrain)) as Matrix;
    const n = x.rows, d = x.cols, k = 10;
    const model = await fitPca(x, { components: k, oversamples: 20, iterations: 4, seed: 1 });

    const xm = new MlMatrix(n, d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xm.set(i, j, x.data[i * d + j]!);
    const centred = xm.clone().subRowVector(xm.mean('column'));
    const cov = centred.transpose().mmul(centred).div(n - 1);
    const evd = new EigenvalueDecomposition(cov, { assumeSymmetric: true });
    const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
    const total = evd.realEigenvalues.reduce((a, b) => a + b, 0);
    for (let c = 0; c < k; c++) {
      const [value, col] = order[c]!;
      expect(model.explainedVariance[c]! / value).toBeCloseTo(1, 4);
      expect(model.explainedVarianceRatio[c]! / (value / total)).toBeCloseTo(1, 4);
      let dot = 0;
      for (let j = 0; j < d; j++) dot += model.components[c * d + j]! * evd.eigenvectorMatrix.get(j, col);
      expect(Math.abs(dot)).toBeGreaterThan(0.999);
    }
    // Projection = centred rows times components.
    const proj = await projectPca(model, x);
    for (const i of [0, 17, 1499]) {
      for (let c = 0; c < k; c++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += centred.get(i, j) * model.components[c * d + j]!;
        expect(proj.data[i * k + c]).toBeCloseTo(s, 3);
      }
    }
  });

  it('gives the same model with two worker threads (rows in shared memory) as in one thread', async () => {
    const { xTrain } = await mnistSubset(3000, 10, 8);
    const data = new Float32Array(new SharedArrayBuffer(xTrain.data.byteLength));
    data.set(xTrain.data);
    const x = { rows: xTrain.rows, cols: xTrain.cols, data };
    const opts = { components: 10, oversamples: 10, iterations: 3, seed: 2, blockRows: 256 };
    const one = await fitPca(x, { ...opts, threads: 1 });
    const two = await fitPca(x, { ...opts, threads: 2 });
    for (let c = 0; c < 10; c++) {
      expect(two.explainedVariance[c]! / one.explainedVariance[c]!).toBeCloseTo(1, 5);
      let dot = 0;
      for (let j = 0; j < 784; j++) dot += one.components[c * 784 + j]! * two.components[c * 784 + j]!;
      expect(dot).toBeCloseTo(1, 5);
    }
  });

  it('fits on the engine pool (shared rows, two threads), and the pool stays for the next fit', async () => {
    const { xTrain } = await mnistSubset(3000, 10, 8);
    const data = new Float32Array(new SharedArrayBuffer(xTrain.data.byteLength));
    data.set(xTrain.data);
    const shared = { rows: xTrain.rows, cols: xTrain.cols, data };
    // The tfjs path's pool (on onnxruntime, the passes run on its own intra-op threads instead).
    const opts = { components: 5, oversamples: 5, iterations: 1, seed: 3, blockRows: 256, threads: 2, engine: 'wasm' as const };
    await fitPca(shared, opts);
    expect(enginePoolSize()).toBe(2);
    await fitPca(shared, opts);
    expect(enginePoolSize()).toBe(2);
    // Pool threads belong to the process, not to a model.
    expect(liveWorkers()).toBe(0);
  });

  it('an engine-pool task that throws rejects with its message, and the worker serves the next task', async () => {
    const pca = new URL('../src/features/pca.ts', import.meta.url);
    await expect(runInPool(0, pca, 'noSuchFunction', {})).rejects.toThrow(/engine pool: a worker thread failed: .*pca\.ts has no function noSuchFunction/);
    // One pass of X̃ᵀX̃Z for X = [[1, 2, 3]], μ = 0, Z = the first two unit vectors: Z's columns times 1·x.
    const basis = Float64Array.of(1, 0, 0, 1, 0, 0);
    const out = await runInPool<Float64Array>(0, pca, 'passTask', { data: Float32Array.of(1, 2, 3), d: 3, start: 0, end: 1, basis, l: 2, mean: new Float64Array(3), gram: false, block: 8 });
    expect(Array.from(out)).toEqual([1, 2, 3, 2, 4, 6]);
  });

  it('whitens: each output column is the projection divided by the square root of its variance, unit variance on the training rows', async () => {
    const { xTrain, xTest } = await mnistSubset(1200, 300, 23);
    const plain = createPipeline(parsePipeline([{ step: 'pca', components: 8 }]), [28, 28], 4);
    const white = createPipeline(parsePipeline([{ step: 'pca', components: 8, whiten: true }]), [28, 28], 4);
    const p = await fitTransform(plain, { train: xTrain, test: xTest }, new Int32Array(1200));
    const w = await fitTransform(white, { train: xTrain, test: xTest }, new Int32Array(1200));
    expect(white.labels).toEqual(['pca(8,whiten)']);
    const ev = plain.steps[0]!.state().explainedVariance as Float64Array;
    for (const part of ['train', 'test']) {
      const a = p.parts[part]!, b = w.parts[part]!;
      for (let i = 0; i < a.rows; i += 37) for (let c = 0; c < 8; c++) expect(b.data[i * 8 + c]).toBeCloseTo(a.data[i * 8 + c]! / Math.sqrt(ev[c]!), 3);
    }
    for (let c = 0; c < 8; c++) {
      let s = 0, s2 = 0;
      for (let i = 0; i < 1200; i++) { const v = w.parts.train!.data[i * 8 + c]!; s += v; s2 += v * v; }
      expect((s2 - (s * s) / 1200) / 1199).toBeCloseTo(1, 2);
    }
  });

  it('refuses more components than the data has', async () => {
    const x: Matrix = { rows: 5, cols: 3, data: new Float32Array(15).map((_, i) => (i * 37) % 11) };
    await expect(fitPca(x, { components: 4, oversamples: 2, iterations: 1, seed: 0 })).rejects.toThrow(
      'Feature step "pca": 4 components requested but the data has 5 rows × 3 features; ask for at most 3.',
    );
  });
});

describe('pipeline', () => {
  it('validates steps as data, naming the bad step and field', () => {
    expect(() => parsePipeline([{ step: 'scale' }, { step: 'pca' }])).toThrow('pipeline[1] (pca): components: Invalid input: expected number, received undefined.');
    expect(() => parsePipeline([{ step: 'smooth' }])).toThrow(
      'pipeline[0]: unknown step "smooth"; use one of scale, standardize, drop-constant, deskew, blur, downsample, hog, pca.',
    );
    expect(() => parsePipeline([{ step: 'pca', components: 5, whitening: true }])).toThrow('pipeline[0] (pca): Unrecognized key: "whitening".');
    expect(() => parsePipeline([{ step: 'blur', sigma: 0 }])).toThrow('pipeline[0] (blur): sigma: Too small: expected number to be >0.');
    expect(() => parsePipeline([{ step: 'hog', cellSize: [4, 1] }])).toThrow(/^pipeline\[0\] \(hog\): cellSize/);
    expect(() => createPipeline(parsePipeline([{ step: 'hog', cellSize: [4, 20] }]), [28, 28])).toThrow(
      'pipeline[0] (hog): Feature step "hog": cells of 20 px in blocks of 2 need images of at least 40×40, but these are 28×28; lower cellSize or blockSize.',
    );
    expect(() => createPipeline(parsePipeline([{ step: 'pca', components: 5 }, { step: 'deskew' }]), [28, 28])).toThrow(
      'pipeline[1] (deskew): Feature step "deskew" needs images, but an earlier step turned the rows into plain vectors; move "deskew" before it.',
    );
  });

  it('fits on the training part only: no statistic changes when the test part changes', async () => {
    const a = await mnistSubset(600, 200, 11);
    const b = await mnistSubset(600, 200, 12);
    const specs: StepSpec[] = parsePipeline([
      { step: 'scale', max: 1 },
      { step: 'deskew' },
      { step: 'downsample' },
      { step: 'drop-constant' },
      { step: 'standardize' },
      { step: 'pca', components: 8 },
    ]);
    const hogSpecs = parsePipeline([{ step: 'hog' }, { step: 'standardize' }]);
    for (const s of [specs, hogSpecs]) {
      const p1 = createPipeline(s, [28, 28], 3);
      const p2 = createPipeline(s, [28, 28], 3);
      const r1 = await fitTransform(p1, { train: a.xTrain, test: a.xTest }, a.yTrain);
      const r2 = await fitTransform(p2, { train: a.xTrain, test: takeRows(b.xTest, Array.from({ length: 150 }, (_, i) => i)) }, a.yTrain);
      p1.steps.forEach((step, i) => expect(p2.steps[i]!.state()).toEqual(step.state()));
      expect(r2.parts.train!.data).toEqual(r1.parts.train!.data);
      expect(r2.parts.test!.rows).toBe(150);
    }
  });

  it('every step round-trips its fitted state: a restored pipeline transforms new rows identically', async () => {
    const a = await mnistSubset(500, 100, 14);
    const pipelines = [
      [{ step: 'scale' }, { step: 'deskew' }, { step: 'downsample' }, { step: 'drop-constant' }, { step: 'standardize' }, { step: 'pca', components: 10 }],
      [{ step: 'scale', max: 1 }, { step: 'hog', cellSize: 7 }, { step: 'standardize' }],
      [{ step: 'drop-constant' }, { step: 'pca', components: 4, oversamples: 2, iterations: 1 }],
      [{ step: 'scale' }, { step: 'blur', sigma: 0.8 }, { step: 'hog', cellSize: [4, 7] }, { step: 'pca', components: 6, whiten: true }],
    ];
    const tested = new Set<string>();
    for (const raw of pipelines) {
      const specs = parsePipeline(raw);
      const fitted = createPipeline(specs, [28, 28], 9);
      await fitTransform(fitted, { train: a.xTrain }, a.yTrain);
      const states = pipelineStates(fitted);
      // Through a bundle (bytes), as a deployed model gets them.
      const bytes = await encodeBundle(bundleInput(specs, states));
      const restored = restorePipeline(specs, [28, 28], (await decodeBundle(bytes, 'round-trip.bundle')).states);
      const direct = await transformRows(fitted, a.xTest);
      const again = await transformRows(restored, a.xTest);
      expect(again.cols).toBe(direct.cols);
      expect(Array.from(again.data)).toEqual(Array.from(direct.data));
      expect(restored.states).toEqual(states);
      for (const sp of specs) tested.add(sp.step);
    }
    expect([...tested].sort()).toEqual([...STEP_NAMES].sort());
  });

  it('rejects a saved state of the wrong shape, naming the step and the field', () => {
    const pca = createPipeline(parsePipeline([{ step: 'pca', components: 3 }]), [28, 28]);
    expect(() => pca.steps[0]!.setState({ k: 3, d: 784, mean: new Float64Array(10) })).toThrow(
      'Feature step "pca": the saved state\'s "mean" is not a Float64Array of 784 values; the bundle is damaged or was written by another version.',
    );
    const std = createPipeline(parsePipeline([{ step: 'standardize' }]), [28, 28]);
    expect(() => std.steps[0]!.setState({ mean: new Float64Array(4), inv: new Float32Array(4) })).toThrow(
      'Feature step "standardize": the saved state\'s "inv" is not a Float64Array of 4 values; the bundle is damaged or was written by another version.',
    );
    expect(() => restorePipeline(parsePipeline([{ step: 'scale' }]), [28, 28], [])).toThrow('The pipeline has 1 steps but 0 saved states; the bundle is damaged.');
  });

  it('does not mutate its inputs', async () => {
    const a = await mnistSubset(300, 100, 13);
    const before = a.xTrain.data.slice();
    const p = createPipeline(parsePipeline([{ step: 'scale', max: 1 }, { step: 'standardize' }, { step: 'pca', components: 5 }]), [28, 28]);
    await fitTransform(p, { train: a.xTrain, test: a.xTest }, a.yTrain);
    expect(a.xTrain.data).toEqual(before);
  });
});

/** HOG written out directly for an h×w image (gradients, whole cells from the top-left, L2-Hys blocks of 2×2 cells, 9 bins). */
function hogReference(img: Float32Array, h: number, w: number, cs: number): number[] {
  const px = (r: number, c: number) => img[r * w + c]!;
  const cr = Math.floor(h / cs), cc = Math.floor(w / cs);
  const cells = Array.from({ length: cr }, () => Array.from({ length: cc }, () => new Array(9).fill(0)));
  for (let r = 0; r < cr * cs; r++) {
    for (let c = 0; c < cc * cs; c++) {
      const gx = c === 0 || c === w - 1 ? 0 : px(r, c + 1) - px(r, c - 1);
      const gy = r === 0 || r === h - 1 ? 0 : px(r + 1, c) - px(r - 1, c);
      const mag = Math.sqrt(gx * gx + gy * gy);
      if (!mag) continue;
      const deg = ((Math.atan2(gy, gx) * 180) / Math.PI + 180) % 180;
      cells[Math.floor(r / cs)]![Math.floor(c / cs)]![Math.min(8, Math.floor(deg / 20))] += mag / (cs * cs);
    }
  }
  const want: number[] = [];
  for (let br = 0; br + 1 < cr; br++) {
    for (let bc = 0; bc + 1 < cc; bc++) {
      let v = [...cells[br]![bc]!, ...cells[br]![bc + 1]!, ...cells[br + 1]![bc]!, ...cells[br + 1]![bc + 1]!];
      const n1 = Math.sqrt(v.reduce((a, b) => a + b * b, 0) + 1e-10);
      v = v.map((x) => Math.min(0.2, x / n1));
      const n2 = Math.sqrt(v.reduce((a, b) => a + b * b, 0) + 1e-10);
      want.push(...v.map((x) => x / n2));
    }
  }
  return want;
}

describe('any image shape', () => {
  const shapes: [number, number][] = [[8, 8], [16, 16], [20, 24], [24, 20], [32, 32], [64, 64], [9, 13]];
  let raw: Awaited<ReturnType<typeof mnistSubset>>;
  const at = (shape: [number, number]) => ({ train: resizeRows(raw.xTrain, [28, 28], shape), test: resizeRows(raw.xTest, [28, 28], shape) });
  beforeAll(async () => {
    // Real digits brought to each shape by exact area averaging (test/helpers/resize.ts).
    raw = await mnistSubset(200, 40, 31);
  });

  it('every step works on real digits from 8×8 to 64×64, square or not: output image shapes and widths, finite values, states that round-trip', async () => {
    for (const [h, w] of shapes) {
      const { train, test } = at([h, w]);
      const even = h % 2 === 0 && w % 2 === 0;
      const cases: [unknown[], [number, number] | undefined, number][] = [
        [[{ step: 'scale' }], [h, w], h * w],
        [[{ step: 'standardize' }], [h, w], h * w],
        [[{ step: 'deskew' }], [h, w], h * w],
        [[{ step: 'blur', sigma: 1 }], [h, w], h * w],
        [[{ step: 'hog', cellSize: 4 }], undefined, hogLength(h, w, { cellSize: 4, bins: 9, blockSize: 2 })],
        [[{ step: 'pca', components: 5 }], undefined, 5],
        [[{ step: 'deskew' }, { step: 'blur', sigma: 0.8 }, { step: 'scale' }], [h, w], h * w],
      ];
      if (even) {
        cases.push([[{ step: 'downsample' }], [h / 2, w / 2], (h / 2) * (w / 2)]);
        cases.push([[{ step: 'deskew' }, { step: 'downsample' }, { step: 'hog', cellSize: 2 }], undefined, hogLength(h / 2, w / 2, { cellSize: 2, bins: 9, blockSize: 2 })]);
      }
      for (const [steps, image, cols] of cases) {
        const specs = parsePipeline(steps);
        const what = `${h}×${w} ${specs.map((s) => s.step).join('→')}`;
        const p = createPipeline(specs, [h, w], 3);
        expect([what, p.outputImage]).toEqual([what, image]);
        const fitted = await fitTransform(p, { train, test }, raw.yTrain);
        expect([what, fitted.parts.train!.cols, fitted.parts.test!.cols]).toEqual([what, cols, cols]);
        expect(fitted.parts.test!.data.every((v) => Number.isFinite(v)), what).toBe(true);
        const restored = restorePipeline(specs, [h, w], pipelineStates(p));
        expect(Array.from((await transformRows(restored, test)).data), what).toEqual(Array.from(fitted.parts.test!.data));
      }
      // drop-constant keeps what varies, at most every pixel.
      const dc = createPipeline(parsePipeline([{ step: 'drop-constant' }]), [h, w]);
      const kept = (await fitTransform(dc, { train }, raw.yTrain)).parts.train!.cols;
      expect(dc.outputImage).toBeUndefined();
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThanOrEqual(h * w);
    }
  });

  it('hog on non-square and small images equals the direct computation (whole cells from the top-left)', () => {
    for (const [h, w, cs] of [[20, 24, 4], [24, 20, 4], [8, 8, 4], [13, 9, 4], [64, 64, 8]] as const) {
      const img = resizeRows(raw.xTrain, [28, 28], [h, w]).data.subarray(3 * h * w, 4 * h * w);
      const len = hogLength(h, w, { cellSize: cs, bins: 9, blockSize: 2 });
      const got = new Float32Array(len);
      hogImage(img, got, h, w, { cellSize: cs, bins: 9, blockSize: 2 });
      const want = hogReference(img, h, w, cs);
      expect([h, w, len]).toEqual([h, w, want.length]);
      for (let j = 0; j < len; j++) expect(got[j]).toBeCloseTo(want[j]!, 5);
    }
    expect(hogLength(20, 24, { cellSize: 4, bins: 9, blockSize: 2 })).toBe(4 * 5 * 36);
    expect(hogLength(8, 8, { cellSize: 4, bins: 9, blockSize: 2 })).toBe(36);
  });

  it('deskew straightens a slanted bar in non-square images and centres it at (h/2, w/2)', () => {
    for (const [h, w] of [[20, 24], [24, 20], [8, 8], [64, 40]] as const) {
      const img = new Float32Array(h * w);
      const top = Math.round(h * 0.15), bottom = Math.round(h * 0.85);
      for (let r = top; r < bottom; r++) for (let d = 0; d < Math.max(1, Math.round(w / 10)); d++) img[r * w + Math.round(w * 0.2 + 0.4 * (bottom - r)) + d] = 1;
      expect(moments(img, h, w).skew).toBeLessThan(-0.3);
      const out = new Float32Array(h * w);
      deskewImage(img, out, h, w);
      const m = moments(out, h, w);
      expect(Math.abs(m.skew), `${h}×${w}`).toBeLessThan(0.05);
      expect(Math.abs(m.mr - h / 2), `${h}×${w}`).toBeLessThan(0.6);
      expect(Math.abs(m.mc - w / 2), `${h}×${w}`).toBeLessThan(0.6);
    }
  });

  it('blur and downsample on 20×24 equal their direct computations', async () => {
    const [h, w] = [20, 24];
    const x = resizeRows(raw.xTrain, [28, 28], [h, w]);
    const k = gaussianKernel(1.1);
    const r = (k.length - 1) / 2;
    const out = new Float32Array(h * w);
    for (let i = 0; i < 3; i++) {
      const img = x.data.subarray(i * h * w, (i + 1) * h * w);
      blurImage(img, out, h, w, k, new Float64Array(h * w));
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          let s = 0;
          for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
            const yy = y + dy, xc = xx + dx;
            if (yy >= 0 && yy < h && xc >= 0 && xc < w) s += k[dy + r]! * k[dx + r]! * img[yy * w + xc]!;
          }
          expect(out[y * w + xx]).toBeCloseTo(s, 3);
        }
      }
    }
    const p = createPipeline(parsePipeline([{ step: 'downsample', factor: 4 }]), [h, w]);
    expect(p.outputImage).toEqual([5, 6]);
    const d = (await p.steps[0]!.transform(x)) as Matrix;
    for (let i = 0; i < 3; i++) {
      for (let rr = 0; rr < 5; rr++) {
        for (let c = 0; c < 6; c++) {
          let s = 0;
          for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) s += x.data[i * h * w + (4 * rr + a) * w + 4 * c + b]!;
          expect(d.data[i * 30 + rr * 6 + c]).toBeCloseTo(s / 16, 4);
        }
      }
    }
  });

  it('refuses only where a step cannot take a shape, in one line naming the step and both sizes', () => {
    const make = (steps: unknown[], shape: [number, number]) => () => createPipeline(parsePipeline(steps), shape);
    expect(make([{ step: 'hog', cellSize: 7 }], [8, 8])).toThrow(
      'pipeline[0] (hog): Feature step "hog": cells of 7 px in blocks of 2 need images of at least 14×14, but these are 8×8; lower cellSize or blockSize.',
    );
    expect(make([{ step: 'downsample' }, { step: 'hog', cellSize: 4 }], [12, 20])).toThrow(
      'pipeline[1] (hog): Feature step "hog": cells of 4 px in blocks of 2 need images of at least 8×8, but these are 6×10; lower cellSize or blockSize.',
    );
    expect(make([{ step: 'downsample', factor: 3 }], [20, 24])).toThrow(
      'pipeline[0] (downsample): Feature step "downsample": factor 3 does not divide the 20×24 images; use a factor that divides both sides (2, 4).',
    );
    expect(make([{ step: 'downsample' }], [9, 13])).toThrow(
      'pipeline[0] (downsample): Feature step "downsample": factor 2 does not divide the 9×13 images; no factor divides both sides; leave out downsample.',
    );
  });
});
