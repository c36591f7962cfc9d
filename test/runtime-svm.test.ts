/**
 * The runtime's SVM (@digitbench/runtime models/svm.ts, plain JS) against the workbench's (fit by libsvm-js,
 * rbf labels from tfjs float32 products with an exact float64 recheck of near ties): same labels, same
 * scores, the same load errors, and decision values equal to libsvm's one-row-at-a-time loop bit for bit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { decisionValues, parseLibsvmModel, readSvm, sliceRows, svmModel, type Matrix, type Model, type SvmModel } from '@digitbench/runtime/internal';
import { svm } from '../src/classifiers/svm.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { mnistSubset, type Subset } from './helpers/mnist.ts';

const ctx = { seed: 1, log: { info() {}, warn() {} } };
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const savedText = (bytes: Uint8Array) => (JSON.parse(new TextDecoder().decode(bytes)) as { libsvmModel: string }).libsvmModel;

/** libsvm's svm_predict_values, one row and one kernel value at a time (k_function's order), in float64. */
function referenceDecisionValues(m: SvmModel, x: Matrix): Float64Array {
  const { l, d, nrClass, coef, rho, start, nSV, sv } = m;
  const P = rho.length;
  const out = new Float64Array(x.rows * P);
  const kv = new Float64Array(l);
  for (let r = 0; r < x.rows; r++) {
    for (let i = 0; i < l; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        const xv = x.data[r * d + j]!;
        if (m.kernel === 'rbf') s += (xv - sv[i * d + j]!) * (xv - sv[i * d + j]!);
        else s += xv * sv[i * d + j]!;
      }
      if (m.kernel === 'rbf') kv[i] = Math.exp(-m.gamma * s);
      else if (m.kernel === 'linear') kv[i] = s;
      else if (m.kernel === 'sigmoid') kv[i] = Math.tanh(m.gamma * s + m.coef0);
      else {
        // libsvm's powi
        let tmp = m.gamma * s + m.coef0;
        let ret = 1;
        for (let t = m.degree; t > 0; t = Math.floor(t / 2)) {
          if (t % 2 === 1) ret *= tmp;
          tmp *= tmp;
        }
        kv[i] = ret;
      }
    }
    let p = 0;
    for (let i = 0; i < nrClass; i++) {
      for (let j = i + 1; j < nrClass; j++) {
        let sum = 0;
        for (let t = 0; t < nSV[i]!; t++) sum += coef[(j - 1) * l + start[i]! + t]! * kv[start[i]! + t]!;
        for (let t = 0; t < nSV[j]!; t++) sum += coef[i * l + start[j]! + t]! * kv[start[j]! + t]!;
        out[r * P + p] = sum - rho[p]!;
        p++;
      }
    }
  }
  return out;
}

const bitEqual = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

let d: Subset;
/** 603 test rows: not a multiple of the 4-row micro-blocks or the 32-row chunks. */
let xTest: Matrix;
beforeAll(async () => {
  d = await mnistSubset(700, 603, 3);
  xTest = d.xTest;
});

const CONFIGS: [string, Record<string, unknown>][] = [
  ['rbf', {}],
  ['rbf, probability', { probability: true }],
  ['linear', { kernel: 'linear' }],
  ['poly (coef0 1)', { kernel: 'poly', coef0: 1 }],
  ['poly, probability', { kernel: 'poly', coef0: 1, probability: true }],
  ['sigmoid', { kernel: 'sigmoid', gamma: 0.001 }],
];

describe('runtime svm = workbench svm on MNIST (700 train rows, 603 test rows, raw pixels / 255)', () => {
  for (const [name, raw] of CONFIGS) {
    it(`${name}: labels identical, scores exactly equal, decision values equal libsvm's loop bit for bit`, async () => {
      const params = parseParams(svm, raw);
      const fitted = await svm.create(params, ctx).fit(sliceRows(d.xTrain, 0, 700), d.yTrain.subarray(0, 700));
      const bytes = await fitted.serialize!();
      const wb: Model = await svm.load!(bytes, params, ctx);
      const rt: Model = await svmModel.load!(bytes, parseParams(svmModel, raw), ctx);
      const labels = await rt.predict(xTest);
      expect(labels).toEqual(await wb.predict(xTest));
      expect(labels).toEqual(await fitted.predict(xTest));
      // Same code (svmScores over the exact decision values) on both sides: equal to the bit.
      const scores = await rt.scores!(xTest);
      expect(bitEqual(scores.data, (await wb.scores!(xTest)).data)).toBe(true);
      expect([scores.rows, scores.cols]).toEqual([603, 10]);
      if (raw.probability) {
        for (let r = 0; r < 603; r++) expect(scores.data.subarray(r * 10, r * 10 + 10).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      }
      // The runtime's blocked kernels (4 rows × 2 SVs, 32-row chunks) keep libsvm's summation order.
      const m = readSvm(bytes).model;
      const dec = decisionValues(m, xTest);
      expect(bitEqual(dec, referenceDecisionValues(m, xTest))).toBe(true);
      // A subset of rows by index gives those rows' values.
      const rows = Int32Array.from([602, 0, 33, 31, 32, 5]);
      const sub = decisionValues(m, xTest, rows);
      for (let u = 0; u < rows.length; u++) expect(bitEqual(sub.subarray(u * 45, (u + 1) * 45), dec.subarray(rows[u]! * 45, (rows[u]! + 1) * 45))).toBe(true);
      expect(rt.engine()).toBe('js (exact float64 decision values; libsvm model format)');
      expect(new TextDecoder().decode(await rt.serialize!())).toBe(new TextDecoder().decode(bytes));
      for (const model of [fitted, wb, rt]) model.dispose();
    });
  }

  it('rbf accuracy is what the fit gives (measured 0.932 on these 603 rows)', async () => {
    const c = await svm.create(parseParams(svm, {}), ctx).fit(sliceRows(d.xTrain, 0, 700), d.yTrain.subarray(0, 700));
    const rt = await svmModel.load!(await c.serialize!(), parseParams(svmModel, {}), ctx);
    const p = await rt.predict(xTest);
    const acc = p.reduce((n, v, i) => n + (v === d.yTest[i] ? 1 : 0), 0) / p.length;
    expect(acc).toBeGreaterThan(0.9);
    c.dispose();
    rt.dispose();
  });
});

describe('runtime svm load errors are the workbench\'s, word for word', () => {
  const F = 'digitbench-libsvm';
  const why = (s: string) => `svm: the saved model is not a digitbench libsvm model (${s}); pass the bytes that serialize() returned.`;
  const header = 'svm_type c_svc\nkernel_type rbf\ngamma 0.5\nnr_class 2\ntotal_sv 2\nrho 0.1\nlabel 1 2\nnr_sv 1 1\nSV\n';
  const text = (t: string) => ({ format: F, version: 1, features: 2, libsvmModel: t });
  const cases: [unknown, string][] = [
    ['not json', 'svm: the saved model is not valid JSON; pass the bytes that serialize() returned.'],
    [{ format: 'other' }, why('format: Invalid input: expected "digitbench-libsvm"')],
    [{ format: F, version: 2, features: 2, libsvmModel: 'x' }, why('version: Invalid input: expected 1')],
    [{ format: F, version: 1, features: 0, libsvmModel: 'x' }, why('features: Too small: expected number to be >0')],
    [{ format: F, version: 1, features: 2.5, libsvmModel: 'x' }, why('features: Invalid input: expected int, received number')],
    [{ format: F, version: 1, features: 2, libsvmModel: '' }, why('libsvmModel: Too small: expected string to have >=1 characters')],
    [{ format: F, version: 1, features: 2 }, why('libsvmModel: Invalid input: expected string, received undefined')],
    [[], why('root: Invalid input: expected object, received array')],
    [text('svm_type c_svc\n'), 'svm: the libsvm model is not usable (no SV section); pass the bytes that serialize() returned.'],
    [text(header.replace('c_svc', 'nu_svc')), 'svm: the libsvm model is not usable (svm_type nu_svc, expected c_svc); pass the bytes that serialize() returned.'],
    [text(header.replace('rbf', 'precomputed')), 'svm: the libsvm model is not usable (kernel_type precomputed); pass the bytes that serialize() returned.'],
    [text(header.replace('rho 0.1', 'rho x')), 'svm: the libsvm model has a bad "rho" line; pass the bytes that serialize() returned.'],
    [text(header.replace('nr_sv 1 1', 'nr_sv 1 2')), 'svm: the libsvm model is not usable (nr_sv does not add up to total_sv); pass the bytes that serialize() returned.'],
    [text(`${header}1 1:0.5 2:0.5`), 'svm: the libsvm model is not usable (only 1 of 2 support vectors); pass the bytes that serialize() returned.'],
    [text(`${header}1 1:0.5 3:0.5\n-1 1:0\n`), 'svm: the libsvm model is not usable (support vector 0 has a bad feature "3:0.5" (features 1..2)); pass the bytes that serialize() returned.'],
  ];
  it.each(cases.map(([bytes, message], i) => [i, bytes, message] as const))('case %i', async (_, bytes, message) => {
    await expect(svmModel.load!(enc(bytes), parseParams(svmModel, {}), ctx)).rejects.toThrow(message);
    await expect(svm.load!(enc(bytes), parseParams(svm, {}), ctx)).rejects.toThrow(message);
  });

  it('a hand-written libsvm model loads and predicts by its rule (two SVs, rbf)', async () => {
    const t = `${header}1 1:0 2:0\n-1 1:1 2:1\n`;
    const rt = await svmModel.load!(enc(text(t)), parseParams(svmModel, {}), ctx);
    expect(Array.from(rt.classes)).toEqual([1, 2]);
    // dec = K(x, s1) − K(x, s2) − 0.1: positive near (0, 0) → label 1.
    expect(Array.from(await rt.predict({ rows: 2, cols: 2, data: Float32Array.from([0, 0, 1, 1]) }))).toEqual([1, 2]);
    await expect(rt.predict({ rows: 1, cols: 3, data: new Float32Array(3) })).rejects.toThrow(
      'svm: the model was trained on 2 features but got rows of 3; use the same feature pipeline for fit and predict.',
    );
    expect(parseLibsvmModel(t, 2).l).toBe(2);
    rt.dispose();
  });
});
