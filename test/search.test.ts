import { describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit, selectionFolds, subsampleFold } from '../src/data/split.ts';
import { createRng } from '../src/engine/rng.ts';
import { loadExperiment, parseExperiment } from '../src/harness/experiment.ts';
import { folderSearchFigures } from '../src/harness/search/compare.ts';
import { takeLabels } from '@digitbench/runtime/internal';
import { floorLog, halvingSchedule, keptCount, subsampleSize, type HalvingOptions } from '../src/harness/search/halving.ts';
import { distributionsSchema, draw, gridSize, issueLine, sampleSpace, searchSchema, type Dimension } from '../src/harness/search/space.ts';

const halving = (o: Partial<HalvingOptions> = {}): HalvingOptions => ({ factor: 3, minResources: 'exhaust', maxResources: 'auto', aggressiveElimination: false, ...o });
const rows = (samples: number, splits: number, classes: number) => ({ resource: 'rows' as const, samples, splits, classes });
const schedule = (n: number, o: Partial<HalvingOptions>, inputs: Parameters<typeof halvingSchedule>[2]) => {
  const s = halvingSchedule(n, halving(o), inputs);
  return [s.rungs.map((r) => r.resources), s.rungs.map((r) => r.candidates)];
};

describe('successive halving schedule (scikit-learn 1.2 HalvingGridSearchCV n_resources_ / n_candidates_)', () => {
  it("scikit-learn's example: 10 and 5 candidates, η 3, KFold(3), 90 rows, smallest 6 (a regressor: 1 class)", () => {
    expect(schedule(10, {}, rows(90, 3, 1))).toEqual([[10, 30, 90], [10, 4, 2]]);
    expect(schedule(5, {}, rows(90, 3, 1))).toEqual([[30, 90], [5, 2]]);
  });

  it('the 18-candidate test grid on 600 rows, cv 3, 10 classes: exhaust max(60, 600 // 9) = 66', () => {
    const s = halvingSchedule(18, halving(), rows(600, 3, 10));
    expect(s.minResources).toBe(66);
    expect([s.requiredRungs, s.possibleRungs]).toEqual([3, 3]);
    expect(s.rungs).toEqual([{ resources: 66, candidates: 18 }, { resources: 198, candidates: 6 }, { resources: 594, candidates: 2 }]);
  });

  it("mnist-best's k-NN (48) and SVM (15) on a 20,000-row subset with a validation part, the CNN on epochs", () => {
    expect(schedule(48, {}, rows(20000, 1, 10))).toEqual([[740, 2220, 6660, 19980], [48, 16, 6, 2]]);
    expect(schedule(15, {}, rows(20000, 1, 10))).toEqual([[2222, 6666, 19998], [15, 5, 2]]);
    expect(schedule(4, {}, { resource: 'epochs', samples: 20000, splits: 1, classes: 10, epochs: 9 })).toEqual([[3, 9], [4, 2]]);
    // rung 0 of k-NN: 740 of 20,000 rows, so the 15,000-row training part keeps 555 and the 5,000-row validation part 185
    expect([subsampleSize(15000, 740, 20000), subsampleSize(5000, 740, 20000)]).toEqual([555, 185]);
  });

  it('other settings, each checked against scikit-learn 1.2.1 (smallest, aggressive elimination, a fractional η, a max)', () => {
    expect(schedule(18, { factor: 2, minResources: 'smallest' }, rows(600, 3, 10))).toEqual([[60, 120, 240, 480], [18, 9, 5, 3]]);
    expect(schedule(18, { aggressiveElimination: true, minResources: 150 }, rows(600, 3, 10))).toEqual([[150, 150, 450], [18, 6, 2]]);
    expect(schedule(30, { factor: 2.5 }, rows(1000, 2, 10))).toEqual([[64, 160, 400], [30, 12, 5]]);
    expect(schedule(27, { aggressiveElimination: true, minResources: 'smallest', maxResources: 100 }, rows(300, 2, 3))).toEqual([[12, 12, 12, 36], [27, 9, 3, 1]]);
  });

  it('an exact integer log: 243 candidates at η 3 need 6 rungs (Python floor(log(243, 3)) = 4 gives scikit-learn 5)', () => {
    expect(floorLog(243, 3)).toBe(5);
    expect(floorLog(242, 3)).toBe(4);
    expect(floorLog(1, 3)).toBe(0);
    expect(floorLog(2 ** 40, 2)).toBe(40);
    expect(schedule(243, {}, rows(30000, 2, 2))).toEqual([[123, 369, 1107, 3321, 9963, 29889], [243, 81, 27, 9, 3, 1]]);
  });

  it('keeps ⌈n/η⌉ per rung', () => {
    expect([keptCount(48, 3), keptCount(16, 3), keptCount(6, 3), keptCount(2, 3), keptCount(30, 2.5)]).toEqual([16, 6, 2, 1, 12]);
  });

  it('refuses impossible resources with one line naming the key', () => {
    expect(() => halvingSchedule(18, halving({ minResources: 700 }), rows(600, 3, 10))).toThrow(/^search\.minResources: 700 rows is more than maxResources 600; lower minResources or raise maxResources\.$/);
    expect(() => halvingSchedule(18, halving({ maxResources: 601 }), rows(600, 3, 10))).toThrow(/^search\.maxResources: 601 rows, but the selection folds divide only 600; give at most 600 or "auto"\.$/);
    expect(() => halvingSchedule(4, halving(), { resource: 'epochs', samples: 600, splits: 1, classes: 10 })).toThrow(/^search\.maxResources: "auto" takes the params' epochs, which are not set; give maxResources or params\.epochs\.$/);
  });
});

describe('search and distributions schemas', () => {
  const dist = (v: unknown) => {
    const r = distributionsSchema.safeParse(v);
    return r.success ? r.data : issueLine('classifiers[1].distributions', r.error);
  };
  const search = (v: unknown) => {
    const r = searchSchema.safeParse(v);
    return r.success ? r.data : issueLine('classifiers[0].search', r.error);
  };

  it('defaults', () => {
    expect(search({ strategy: 'halving' })).toEqual({ strategy: 'halving', candidates: 'grid', factor: 3, resource: 'rows', minResources: 'exhaust', maxResources: 'auto', aggressiveElimination: false, seed: 0 });
    expect(search({ strategy: 'random', candidates: 8 })).toEqual({ strategy: 'random', candidates: 8, seed: 0 });
    expect(dist({ k: { int: [1, 9] }, C: { logUniform: [1, 100] }, w: ['uniform', 'distance'] })).toEqual({ k: { int: [1, 9], log: false }, C: { logUniform: [1, 100] }, w: ['uniform', 'distance'] });
  });

  it('one-line errors naming the key', () => {
    expect(dist({ C: { logUniform: [100, 1] } })).toBe('classifiers[1].distributions.C.logUniform: give [low, high] with low < high.');
    expect(dist({ gamma: { logUniform: [0, 1] } })).toMatch(/^classifiers\[1\]\.distributions\.gamma\.logUniform\[0\]: .*>0\.$/);
    expect(dist({ C: { normal: [0, 1] } })).toBe('classifiers[1].distributions.C: give a list of choices, {"logUniform": [low, high]}, {"uniform": [low, high]} or {"int": [low, high], "log": false}.');
    expect(dist({ k: [] })).toBe('classifiers[1].distributions.k: list at least one choice.');
    expect(dist({ k: { int: [0, 9], log: true } })).toBe('classifiers[1].distributions.k.int: a log-scaled int range must start at 1 or more.');
    expect(dist({ k: { int: [1.5, 9] } })).toMatch(/^classifiers\[1\]\.distributions\.k\.int\[0\]: /);
    expect(search({ strategy: 'halving', factor: 1 })).toMatch(/^classifiers\[0\]\.search\.factor: .*>1\.$/);
    expect(search({ strategy: 'random' })).toMatch(/^classifiers\[0\]\.search\.candidates: /);
    expect(search({ strategy: 'grid', seed: 1 })).toMatch(/^classifiers\[0\]\.search: .*"seed"/);
  });
});

describe('sampling', () => {
  const dims = (raw: Record<string, unknown>): Dimension[] => Object.entries(distributionsSchema.parse(raw)).map(([key, distribution]) => ({ key, distribution }));

  it('draws as the formulas say, from the seeded stream', () => {
    const [u1, u2, u3, u4] = (() => {
      const r = createRng('s');
      return [r.next(), r.next(), r.next(), r.next()];
    })();
    const rng = createRng('s');
    const [lu, un, it1, il] = dims({ a: { logUniform: [1, 100] }, b: { uniform: [-2, 3] }, c: { int: [4, 9] }, d: { int: [1, 1000], log: true } });
    expect(draw(lu!.distribution, rng)).toBe(Math.exp(Math.log(1) + u1! * (Math.log(100) - Math.log(1))));
    expect(draw(un!.distribution, rng)).toBe(-2 + u2! * 5);
    expect(draw(it1!.distribution, rng)).toBe(4 + Math.floor(u3! * 6));
    expect(draw(il!.distribution, rng)).toBe(Math.floor(Math.exp(u4! * Math.log(1001))));
  });

  it('stays in bounds, log-uniform halves its decades, and the same seed gives the same candidates', () => {
    const space = dims({ C: { logUniform: [1, 100] }, x: { uniform: [0.5, 0.75] }, k: { int: [3, 7] }, n: { int: [1, 1000], log: true } });
    const a = sampleSpace(space, 2000, createRng('7:svm:search'), { where: 'x' });
    const b = sampleSpace(space, 2000, createRng('7:svm:search'), { where: 'x' });
    expect(a).toEqual(b);
    expect(sampleSpace(space, 5, createRng('8:svm:search'), { where: 'x' })).not.toEqual(a.slice(0, 5));
    const C = a.map((d) => d.params.C as number);
    expect(Math.min(...C)).toBeGreaterThanOrEqual(1);
    expect(Math.max(...C)).toBeLessThan(100);
    const below10 = C.filter((c) => c < 10).length / C.length;
    expect(below10).toBeGreaterThan(0.45);
    expect(below10).toBeLessThan(0.55);
    const x = a.map((d) => d.params.x as number);
    expect(Math.min(...x)).toBeGreaterThanOrEqual(0.5);
    expect(Math.max(...x)).toBeLessThan(0.75);
    expect([...new Set(a.map((d) => d.params.k))].sort()).toEqual([3, 4, 5, 6, 7]);
    const n = a.map((d) => d.params.n as number);
    expect(n.every((v) => Number.isInteger(v) && v >= 1 && v <= 1000)).toBe(true);
    // log-scaled: P(n < 10) = ln 10 / ln 1001 ≈ 0.333
    expect(n.filter((v) => v < 10).length / n.length).toBeGreaterThan(0.3);
    expect(n.filter((v) => v < 10).length / n.length).toBeLessThan(0.37);
  });

  it('draws without replacement from a finite grid (the feature set a dimension), and refuses more than the grid holds', () => {
    const space: Dimension[] = [{ key: 'featureSet', distribution: [0, 1] }, ...dims({ k: [1, 3, 5], weights: ['uniform', 'distance'] })];
    expect(gridSize(space)).toBe(12);
    const all = sampleSpace(space, 12, createRng('0:knn:search'), { where: 'x' });
    const keys = all.map((d) => JSON.stringify([d.featureSet, d.params.k, d.params.weights]));
    expect(new Set(keys).size).toBe(12);
    const grid = [0, 1].flatMap((f) => [1, 3, 5].flatMap((k) => ['uniform', 'distance'].map((w) => JSON.stringify([f, k, w]))));
    expect([...keys].sort()).toEqual([...grid].sort());
    expect(keys).not.toEqual(grid); // shuffled
    expect(sampleSpace(space, 5, createRng('0:knn:search'), { where: 'x' })).toEqual(all.slice(0, 5));
    expect(() => sampleSpace(space, 13, createRng('0'), { where: 'classifiers[0].search.candidates' })).toThrow(
      /^classifiers\[0\]\.search\.candidates: 13 candidates asked, but the grid has only 12 settings; ask for at most 12, or give distributions\.$/,
    );
    expect(sampleSpace(space, 13, createRng('0'), { where: 'x', cap: true })).toHaveLength(12);
  });

  it('redraws duplicates, and gives up with one line when the space is exhausted', () => {
    const space = dims({ k: { int: [1, 4] }, x: { uniform: [0, 1] } });
    const drawn = sampleSpace([space[0]!], 4, createRng('1'), { where: 'x' });
    expect(drawn.map((d) => d.params.k).sort()).toEqual([1, 2, 3, 4]);
    expect(() => sampleSpace([space[0]!], 5, createRng('1'), { where: 'classifiers[2].search' })).toThrow(
      /^classifiers\[2\]\.search: candidate 5 of 5 drew only settings already drawn \(100 times\); ask for fewer candidates or widen the distributions\.$/,
    );
  });

  it('runs the check on every draw and lets its error through', () => {
    const space = dims({ k: [1, 4] });
    expect(() => sampleSpace(space, 2, createRng('1'), { where: 'x', check: (d) => { if (d.params.k === 4) throw new Error('k: at most 3'); } })).toThrow(/^k: at most 3$/);
  });
});

describe('subsampleFold (the rows resource)', () => {
  it("cuts a fold's training and validation parts to ⌊r/n·|part|⌋, stratified, nested, inside the fold, seeded", async () => {
    const ds = await loadDataset('mnist');
    const split = makeSplit(ds, { train: 600, test: 100, seed: 5 });
    const folds = selectionFolds(ds, split, { method: 'cv', folds: 3, seed: 0 });
    const fold = folds[0]!;
    expect([fold.train.length, fold.validation.length]).toEqual([400, 200]);
    const counts = (rows: Int32Array) => {
      const c = new Array<number>(10).fill(0);
      for (const y of takeLabels(ds.train.labels, rows)) c[y]!++;
      return c;
    };
    const r66 = subsampleFold(ds, fold, 66, 600, 0);
    const r198 = subsampleFold(ds, fold, 198, 600, 0);
    // 66/600 · 400 = 44 and 66/600 · 200 = 22; 198/600 · 400 = 132 and 198/600 · 200 = 66
    expect([r66.train.length, r66.validation.length, r198.train.length, r198.validation.length]).toEqual([44, 22, 132, 66]);
    expect(subsampleFold(ds, fold, 600, 600, 0)).toBe(fold);
    const inFold = new Set([...fold.train]);
    const inVal = new Set([...fold.validation]);
    expect([...r198.train].every((r) => inFold.has(r))).toBe(true);
    expect([...r198.validation].every((r) => inVal.has(r))).toBe(true);
    const t198 = new Set([...r198.train]);
    const v198 = new Set([...r198.validation]);
    expect([...r66.train].every((r) => t198.has(r)) && [...r66.validation].every((r) => v198.has(r))).toBe(true);
    // each class keeps its share within one row
    for (const [part, whole] of [[r66.train, fold.train], [r198.validation, fold.validation]] as const) {
      const c = counts(whole);
      counts(part).forEach((n, k) => expect(Math.abs(n - (c[k]! * part.length) / whole.length)).toBeLessThanOrEqual(1));
    }
    expect(subsampleFold(ds, fold, 66, 600, 0)).toEqual(r66);
    expect(subsampleFold(ds, fold, 66, 600, 1).train).not.toEqual(r66.train);
    expect(r66.fingerprint).not.toBe(fold.fingerprint);
    expect(() => subsampleFold(ds, fold, 2, 600, 0)).toThrow(/^search\.minResources: 2 of 600 rows leaves the validation part of a fold empty; raise minResources\.$/);
  });
});

describe('search in experiment files', () => {
  const KNN = 'knn';
  const CNN = 'cnn';
  const exp = (entry: Record<string, unknown>) => parseExperiment({ split: { train: 600, test: 100 }, classifiers: [{ plugin: KNN, ...entry }] }, 'e.json');

  it("mnist-best-halving keeps mnist-best's grids; mnist-best-random samples them (seeded, without replacement) and draws SVM's gammaFactor log-uniform", async () => {
    const best = await loadExperiment('experiments/mnist-best.json');
    const halving = await loadExperiment('experiments/mnist-best-halving.json');
    const random = await loadExperiment('experiments/mnist-best-random.json');
    const key = (c: { featureSet?: string; params: Record<string, unknown> }) => JSON.stringify([c.featureSet, c.params]);
    expect(halving.runs.map((r) => [r.candidates.length, r.search?.strategy])).toEqual([[48, 'halving'], [15, 'halving']]);
    expect(halving.runs.map((r) => r.candidates.map(key))).toEqual(best.runs.slice(0, 2).map((r) => r.candidates.map(key)));
    const [knn, svm] = random.runs;
    expect([knn!.candidates.length, svm!.candidates.length]).toEqual([16, 15]);
    const grid = new Set(best.runs[0]!.candidates.map(key));
    expect(knn!.candidates.every((c) => grid.has(key(c)))).toBe(true);
    expect(new Set(knn!.candidates.map(key)).size).toBe(16);
    const gammas = svm!.candidates.map((c) => c.params.gammaFactor as number);
    expect(gammas.every((g) => g >= 1 && g < 2)).toBe(true);
    expect(new Set(svm!.candidates.map((c) => c.featureSet)).size).toBeGreaterThan(1);
    const again = await loadExperiment('experiments/mnist-best-random.json');
    expect(again.runs.map((r) => r.candidates)).toEqual(random.runs.map((r) => r.candidates));
  });

  it('a random search over the grid equals a sample of the full grid, by its own seed', async () => {
    const full = await exp({ grid: { k: [1, 3, 5], metric: ['l2', 'cosine'] } });
    const sampled = await exp({ grid: { k: [1, 3, 5], metric: ['l2', 'cosine'] }, search: { strategy: 'random', candidates: 4, seed: 2 } });
    const other = await exp({ grid: { k: [1, 3, 5], metric: ['l2', 'cosine'] }, search: { strategy: 'random', candidates: 4, seed: 3 } });
    const params = (e: typeof full) => e.runs[0]!.candidates.map((c) => JSON.stringify(c.params));
    expect(params(sampled).every((p) => params(full).includes(p))).toBe(true);
    expect(params(sampled)).not.toEqual(params(other));
    expect(sampled.runs[0]!.search).toEqual({ strategy: 'random', candidates: 4, seed: 2 });
    expect(full.runs[0]!.search).toEqual({ strategy: 'grid' });
  });

  it('refuses what scikit-learn refuses, and what cannot be drawn, with one line naming the key', async () => {
    await expect(exp({ grid: { k: [1, 3] }, distributions: { k: [5, 7] } })).rejects.toThrow(
      /^e\.json: classifiers\[0\]\.distributions: distributions are drawn from by a random search; set "search": \{"strategy": "random", "candidates": N\} \(or halving with "candidates": N\), or list the values in grid\.$/,
    );
    await expect(exp({ grid: { k: [1, 3] }, distributions: { k: [5, 7] }, search: { strategy: 'random', candidates: 2 } })).rejects.toThrow(/^e\.json: classifiers\[0\]\.distributions\.k: k is also in grid; give it in one of the two\.$/);
    await expect(exp({ grid: { k: [1, 3] }, search: { strategy: 'halving', resource: 'epochs' } })).rejects.toThrow(/^e\.json: classifiers\[0\]\.search\.resource: "epochs" needs an epochs param, which knn has not; use "resource": "rows"\.$/);
    await expect(
      parseExperiment({ classifiers: [{ plugin: CNN, grid: { epochs: [1, 2] }, search: { strategy: 'halving', resource: 'epochs' } }] }, 'e.json'),
    ).rejects.toThrow(/^e\.json: classifiers\[0\]\.search\.resource: epochs cannot be the resource since it is searched \(in grid or distributions\); remove it there or use "resource": "rows"\.$/);
    await expect(exp({ distributions: { k: { int: [1, 9] } }, search: { strategy: 'halving', candidates: 'exhaust' } })).rejects.toThrow(
      /^e\.json: classifiers\[0\]\.search\.candidates: "exhaust" draws maxResources \/\/ minResources candidates, so give minResources as a number and maxResources as a number \(or a number of candidates\)\.$/,
    );
    await expect(exp({ grid: { k: [1, 3] }, search: { strategy: 'random', candidates: 3 } })).rejects.toThrow(
      /^e\.json: classifiers\[0\]\.search\.candidates: 3 candidates asked, but the grid has only 2 settings; ask for at most 2, or give distributions\.$/,
    );
    await expect(exp({ search: { strategy: 'halving' } })).rejects.toThrow(/^e\.json: classifiers\[0\]\.search: a halving search needs at least two candidate settings \(it has 1\); add grid values or distributions, or remove search\.$/);
    // every draw passes the plugin's params
    await expect(exp({ distributions: { k: { int: [1, 9] }, metric: ['chebyshev'] }, search: { strategy: 'random', candidates: 3 } })).rejects.toThrow(/^e\.json: classifiers\[0\]: .*metric/);
    await expect(exp({ distributions: { C: { logUniform: [10, 1] } }, search: { strategy: 'random', candidates: 3 } })).rejects.toThrow(/^e\.json: classifiers\[0\]\.distributions\.C\.logUniform: give \[low, high\] with low < high\.$/);
    // exhaust with the numbers given draws max // min candidates (capped at a finite grid's size)
    const ex = await exp({ distributions: { k: { int: [1, 50] } }, search: { strategy: 'halving', candidates: 'exhaust', minResources: 100, maxResources: 600 } });
    expect(ex.runs[0]!.candidates).toHaveLength(6);
  });
});

describe('search-compare figures', () => {
  it("reads reports/mnist-best: the chosen setting, its accuracies, the tasks scored, their seconds and the selection's span", async () => {
    const figures = await folderSearchFigures('reports/mnist-best');
    const knn = figures.find((f) => f.classifier === 'knn')!;
    // The run at abc8e48: ties (candidates 42 and 43 at 98.14%) go to the earlier setting, k=5 uniform.
    expect(knn).toMatchObject({ featureSet: 'deskew-hog-pca60', validationAccuracy: 0.9814, testAccuracy: 0.9875, scored: 48, search: 'grid', timed: 'elapsed' });
    expect(knn.params).toMatchObject({ k: 5, metric: 'l2', weights: 'uniform' });
    expect([...knn.varying].sort()).toEqual(['k', 'metric', 'weights']);
    // rows with elapsedSeconds: their sum, and the first start to the last end
    expect(knn.candidateSeconds).toBeCloseTo(51.398, 3);
    expect(knn.wallSeconds).toBeCloseTo(51.578, 3);
    expect(figures.find((f) => f.classifier === 'svm')).toMatchObject({ featureSet: 'deskew-hog-pca150', varying: ['gammaFactor'], validationAccuracy: 0.988, testAccuracy: 0.9927, scored: 15 });
  });
});
