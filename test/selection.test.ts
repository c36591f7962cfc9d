import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit, selectionFolds } from '../src/data/split.ts';
import { takeRows } from '@digitbench/runtime/internal';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { readRows, readSelectionRows, type OkRow } from '../src/results/row.ts';
import { rowsDigest } from './fixtures/plugins/test-peeker.ts';

const ROOT = resolve(__dirname, '..');
const PEEKER = resolve(__dirname, 'fixtures/plugins/test-peeker.ts');
const KNN = 'knn';

function tmp(): string {
  const base = join(ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'selection-'));
}

describe('selection folds', () => {
  it('divide only the training rows: disjoint, covering, stratified, never a validation or test row', async () => {
    const ds = await loadDataset('mnist');
    const split = makeSplit(ds, { train: 1000, validation: 100, test: 200, seed: 3 });
    const folds = selectionFolds(ds, split, { method: 'cv', folds: 4, seed: 0 });
    expect(folds).toHaveLength(4);
    const seen = new Map<number, number>();
    for (const f of folds) {
      expect(f.test.length).toBe(0);
      expect(f.train.length + f.validation.length).toBe(1000);
      for (const r of f.validation) seen.set(r, (seen.get(r) ?? 0) + 1);
      expect(f.validation.length === 250).toBe(true);
    }
    // Every training row is held out exactly once, and nothing else is.
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(Array.from(split.train));
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    // Stratified: each class's share in a fold is within one row of its share in the training rows.
    const count = (idx: Int32Array, c: number) => idx.reduce((n, i) => n + (ds.train.labels[i] === c ? 1 : 0), 0);
    for (const f of folds) for (let c = 0; c < 10; c++) expect(Math.abs(count(f.validation, c) - count(split.train, c) / 4)).toBeLessThanOrEqual(1);
    // Seeded: the same spec gives the same folds; another seed others.
    expect(selectionFolds(ds, split, { method: 'cv', folds: 4, seed: 0 }).map((f) => f.fingerprint)).toEqual(folds.map((f) => f.fingerprint));
    expect(selectionFolds(ds, split, { method: 'cv', folds: 4, seed: 1 })[0]!.fingerprint).not.toBe(folds[0]!.fingerprint);
    const [v] = selectionFolds(ds, split, { method: 'validation', rows: 300, seed: 0 });
    expect([v!.train.length, v!.validation.length]).toEqual([700, 300]);
    expect(() => selectionFolds(ds, split, { method: 'validation', rows: 1000, seed: 0 })).toThrow(
      'selection.rows (1000) must be fewer than the 1000 training rows it is carved from; lower selection.rows.',
    );
  });

  it('with a subset, work inside a stratified subset of the training rows only', async () => {
    const ds = await loadDataset('mnist');
    const split = makeSplit(ds, { train: 2000, validation: 100, test: 200, seed: 3 });
    const inTrain = new Set(split.train);
    const count = (idx: Int32Array, c: number) => idx.reduce((n, i) => n + (ds.train.labels[i] === c ? 1 : 0), 0);
    const [v] = selectionFolds(ds, split, { method: 'validation', rows: 200, seed: 0, subset: 700 });
    expect([v!.train.length, v!.validation.length]).toEqual([500, 200]);
    const used = [...v!.train, ...v!.validation];
    expect(new Set(used).size).toBe(700);
    expect(used.every((r) => inTrain.has(r))).toBe(true);
    // The subset keeps each class's share of the training rows (within one row).
    const subset = Int32Array.from(used);
    for (let c = 0; c < 10; c++) expect(Math.abs(count(subset, c) - (count(split.train, c) * 700) / 2000)).toBeLessThanOrEqual(1);
    const cv = selectionFolds(ds, split, { method: 'cv', folds: 5, seed: 0, subset: 1000 });
    expect(cv.map((f) => f.validation.length)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(cv.flatMap((f) => [...f.validation])).size).toBe(1000);
    // A subset as large as the training rows changes nothing.
    expect(selectionFolds(ds, split, { method: 'cv', folds: 5, seed: 0, subset: 2000 }).map((f) => f.fingerprint)).toEqual(
      selectionFolds(ds, split, { method: 'cv', folds: 5, seed: 0 }).map((f) => f.fingerprint),
    );
    expect(() => selectionFolds(ds, split, { method: 'validation', rows: 700, seed: 0, subset: 700 })).toThrow(
      'selection.rows (700) must be fewer than the 700 rows of selection.subset it is carved from; lower selection.rows or raise selection.subset.',
    );
  });
});

describe('choosing a setting without the test rows', () => {
  it('picks the CV-best setting although another is test-best, and reads the test rows once', async () => {
    const dir = tmp();
    const log = join(dir, 'predict.log');
    const file = join(dir, 'exp.json');
    writeFileSync(
      file,
      JSON.stringify({
        split: { train: 600, test: 150, seed: 4 },
        features: [{ step: 'scale' }],
        selection: { method: 'cv', folds: 3 },
        latencySamples: 0,
        bundles: false,
        classifiers: [{ plugin: PEEKER, params: { log }, grid: { mode: ['peek', 'centroid'] } }],
      }),
    );
    const exp = await loadExperiment(file);
    const out = join(dir, 'out');
    const summary = await runExperiment(exp, { outDir: out });
    expect(summary.failed).toBe(0);
    const [row] = (await readRows(join(out, 'results.jsonl'))) as OkRow[];
    // Choosing on the test rows would take "peek" (it knows every test label).
    expect(row!.params.mode).toBe('centroid');
    expect(row!.selection).toMatchObject({ method: 'cv', folds: 3, candidates: 2 });
    expect(row!.metrics.accuracy).toBeGreaterThan(0.6);
    expect(row!.metrics.accuracy).toBeLessThan(1);
    const sel = await readSelectionRows(join(out, 'selection.jsonl'));
    expect(sel.map((r) => [r.params.mode, r.status, r.folds!.length])).toEqual([
      ['peek', 'ok', 3],
      ['centroid', 'ok', 3],
    ]);
    const mean = (r: (typeof sel)[number]) => r.folds!.reduce((a, f) => a + f.accuracy, 0) / 3;
    expect(mean(sel[1]!)).toBeGreaterThan(mean(sel[0]!) + 0.3);
    expect(row!.selection!.validationAccuracy).toBeCloseTo(mean(sel[1]!), 12);
    // The log of every predict call: 6 on folds (200 rows each), one on the test rows, by the chosen setting.
    const ds = await loadDataset('mnist');
    const split = makeSplit(ds, { train: 600, test: 150, seed: 4 });
    const testRows = takeRows(ds.test.images, split.test);
    const testDigest = rowsDigest({ ...testRows, data: testRows.data.map((v) => v / 255) });
    const calls = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { mode: string; rows: number; digest: string });
    expect(calls.filter((c) => c.rows === 200)).toHaveLength(6);
    expect(calls.filter((c) => c.digest === testDigest)).toEqual([{ mode: 'centroid', rows: 150, digest: testDigest }]);
    expect(calls).toHaveLength(7);
    expect(existsSync(join(out, 'report.md'))).toBe(true);
  }, 120_000);
});

describe('successive halving, run locally', () => {
  it('scores a 9-candidate k-NN grid in rungs of 66, 198 and 594 rows with 9, 3 and 1 candidates, keeps the best third, reports the rungs, and resumes per rung', async () => {
    const dir = tmp();
    const file = join(dir, 'exp.json');
    writeFileSync(
      file,
      JSON.stringify({
        split: { train: 600, test: 100, seed: 4 },
        features: [{ step: 'scale' }],
        selection: { method: 'cv', folds: 3, seed: 0 },
        latencySamples: 0,
        bundles: false,
        classifiers: [{ plugin: KNN, grid: { k: [1, 3, 5], metric: ['l2', 'l3', 'cosine'] }, search: { strategy: 'halving', factor: 3 } }],
      }),
    );
    const exp = await loadExperiment(file);
    expect(exp.runs[0]!.candidates).toHaveLength(9);
    const out = join(dir, 'out');
    const summary = await runExperiment(exp, { outDir: out });
    expect(summary.failed).toBe(0);
    const [row] = (await readRows(join(out, 'results.jsonl'))) as OkRow[];
    const sel = await readSelectionRows(join(out, 'selection.jsonl'));
    expect(sel.every((r) => r.status === 'ok' && r.search === 'halving' && r.folds!.length === 3)).toBe(true);
    // the hand-computed schedule: 1 + ⌊log₃ 9⌋ = 3 rungs, min = max(3·2·10, 600 // 3²) = 66 rows; fold parts of 400 and 200 rows cut to ⌊r/600·|part|⌋
    const rungs = [0, 1, 2].map((i) => sel.filter((r) => r.rung === i));
    expect(rungs.map((r) => r.length)).toEqual([9, 3, 1]);
    expect(rungs.map((r) => r.map((s) => s.resource))).toEqual([0, 1, 2].map((i) => Array(rungs[i]!.length).fill({ kind: 'rows', value: [66, 198, 594][i] })));
    expect(rungs.map((r) => [r[0]!.folds![0]!.train, r[0]!.folds![0]!.validation])).toEqual([[44, 22], [132, 66], [396, 198]]);
    // each rung scores the ⌈n/3⌉ best of the one before (mean accuracy, then file order); the last rung's best is chosen
    const meanOf = (r: (typeof sel)[number]) => r.folds!.reduce((a, f) => a + f.accuracy, 0) / r.folds!.length;
    const best = (rs: typeof sel, n: number) =>
      [...rs].sort((a, b) => meanOf(b) - meanOf(a) || a.candidate - b.candidate).slice(0, n).map((r) => r.candidate).sort((a, b) => a - b);
    expect(rungs[1]!.map((r) => r.candidate).sort((a, b) => a - b)).toEqual(best(rungs[0]!, 3));
    expect(rungs[2]!.map((r) => r.candidate).sort((a, b) => a - b)).toEqual(best(rungs[1]!, 1));
    const winner = sel.find((r) => r.rung === 2 && r.candidate === best(rungs[2]!, 1)[0])!;
    expect(row!.params).toEqual(winner.params);
    expect(row!.selection!.validationAccuracy).toBe(meanOf(winner));
    // the report: a rung table and a rung chart
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('| rung | rows (fit / scored, first fold) | candidates | kept | best | validation accuracy | candidate-s |');
    for (const [i, [rows, fit, scored, n, kept]] of [[66, 44, 22, 9, 3], [198, 132, 66, 3, 1], [594, 396, 198, 1, 1]].entries()) {
      const top = [...rungs[i]!].sort((a, b) => meanOf(b) - meanOf(a) || a.candidate - b.candidate)[0]!;
      expect(report).toMatch(new RegExp(`\\| +${i} \\| +${rows} \\(${fit} / ${scored}\\) \\| +${n} \\| +${kept} \\| [^|]+ \\| +${(meanOf(top) * 100).toFixed(2)}% \\|`));
    }
    expect(existsSync(join(out, `selection-${exp.runs[0]!.label}-600-rungs.svg`))).toBe(true);

    // Interrupted before the last rung: a resume keeps the rows of rungs 0 and 1 and scores only rung 2's task.
    const lines = readFileSync(join(out, 'selection.jsonl'), 'utf8').trim().split('\n');
    writeFileSync(join(out, 'selection.jsonl'), `${lines.filter((l) => (JSON.parse(l) as { rung?: number }).rung !== 2).join('\n')}\n`);
    writeFileSync(join(out, 'results.jsonl'), '');
    writeFileSync(join(out, '.resume'), `${exp.name}\n`);
    const again = await runExperiment(exp, { outDir: out });
    expect(again.failed).toBe(0);
    const after = await readSelectionRows(join(out, 'selection.jsonl'));
    expect(after).toHaveLength(13);
    expect(after.slice(0, 12).map((r) => r.id)).toEqual(sel.filter((r) => r.rung !== 2).map((r) => r.id));
    expect(after.slice(12).map((r) => [r.id, r.candidate])).toEqual(rungs[2]!.map((r) => [r.id, r.candidate]));
    const [resumed] = (await readRows(join(out, 'results.jsonl'))) as OkRow[];
    expect([resumed!.id, resumed!.params, resumed!.selection]).toEqual([row!.id, row!.params, row!.selection]);
  }, 180_000);
});
