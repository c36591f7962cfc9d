import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clearCodeHashes, codeHash, moduleClosure } from '../src/engine/code-hash.ts';
import { runCodeHash } from '../src/harness/provenance.ts';
import { mcnemarFromCounts } from '../src/metrics/significance.ts';
import { correctedResampledTTest, powerLawFit, tInterval } from '../src/metrics/resampling.ts';

const ROOT = resolve(__dirname, '..');

describe('statistics over repetitions (values from scipy 1.17.1)', () => {
  const a = [0.951, 0.944, 0.957, 0.948, 0.953];
  const b = [0.943, 0.941, 0.95, 0.946, 0.94];

  it('corrected resampled t-test (Nadeau & Bengio) matches scipy', () => {
    // t = mean(d) / sqrt((1/J + n2/n1) var(d)); p = 2 * scipy.stats.t.sf(|t|, J - 1)
    const r = correctedResampledTTest(a, b, 5000, 1000);
    expect(r.t).toBeCloseTo(2.375391977470692, 10);
    expect(r.pValue).toBeCloseTo(0.07637122923619846, 10);
    expect(r.df).toBe(4);
    // The plain paired t-test (no n2/n1 term) would call it significant: the correction is what stops it.
    const plain = correctedResampledTTest(a, b, 1e12, 1);
    expect(plain.pValue).toBeLessThan(0.05);
    expect(() => correctedResampledTTest([0.9], [0.8], 100, 10)).toThrow('The corrected t-test needs at least 2 paired repetitions, got 1.');
    expect(correctedResampledTTest([0.9, 0.9], [0.9, 0.9], 100, 10).pValue).toBe(1);
  });

  it('t-interval of a mean matches scipy', () => {
    const ci = tInterval([0.943, 0.933, 0.91])!;
    expect(ci.low).toBeCloseTo(0.8866316114276657, 12);
    expect(ci.high).toBeCloseTo(0.9707017219056676, 12);
    expect(tInterval([0.9])).toBeUndefined();
  });

  it('power-law fit recovers the exponent (numpy.polyfit on logs)', () => {
    const ns = [1000, 2000, 5000, 10000];
    const fit = powerLawFit(ns, ns.map((n) => 3e-6 * n ** 1.9))!;
    expect(fit.exponent).toBeCloseTo(1.9, 10);
    expect(Math.log(fit.coefficient)).toBeCloseTo(-12.71689827, 6);
    expect(fit.r2).toBeCloseTo(1, 12);
    expect(powerLawFit([1000], [1])).toBeUndefined();
  });

  it('McNemar per repetition uses the exact test below 25 discordant rows (scipy.stats.binomtest)', () => {
    expect(mcnemarFromCounts(3, 12).pValue).toBeCloseTo(0.03515625, 12);
  });
});

describe('code hashes', () => {
  it('change with a source file a plugin uses, not with the README or another plugin', () => {
    const dir = mkdtempSync(join(ROOT, '.tmp', 'code-'));
    writeFileSync(join(dir, 'helper.ts'), 'export const k = 1;\n');
    writeFileSync(join(dir, 'worker.ts'), 'export const w = 1;\n');
    writeFileSync(join(dir, 'plugin.ts'), "import { k } from './helper.ts';\nconst url = new URL('./worker.ts', import.meta.url);\nexport default { k, url };\n");
    writeFileSync(join(dir, 'other.ts'), 'export const o = 1;\n');
    writeFileSync(join(dir, 'README.md'), '# notes\n');
    expect(moduleClosure([join(dir, 'plugin.ts')])).toEqual([join(dir, 'helper.ts'), join(dir, 'plugin.ts'), join(dir, 'worker.ts')]);
    const hash = () => {
      clearCodeHashes();
      return runCodeHash('./plugin.ts', dir);
    };
    const before = hash();
    writeFileSync(join(dir, 'README.md'), '# other notes\n');
    writeFileSync(join(dir, 'other.ts'), 'export const o = 2;\n');
    expect(hash()).toBe(before);
    writeFileSync(join(dir, 'helper.ts'), 'export const k = 2;\n');
    const afterHelper = hash();
    expect(afterHelper).not.toBe(before);
    writeFileSync(join(dir, 'worker.ts'), 'export const w = 2;\n');
    expect(hash()).not.toBe(afterHelper);
  });

  it('built-ins hash their own module: knn covers the distance kernels and the runtime\'s knn, svm does not cover the kernels; paths are relative to the root', () => {
    const knn = moduleClosure([join(ROOT, 'src/classifiers/knn.ts')]);
    expect(knn).toContain(join(ROOT, 'src/engine/distance.ts'));
    expect(knn).toContain(join(ROOT, 'src/engine/distance-worker.ts'));
    expect(moduleClosure([join(ROOT, 'src/classifiers/svm.ts')])).not.toContain(join(ROOT, 'src/engine/distance.ts'));
    // Through the runtime package, resolved to its sources: the model's load and predict code counts.
    expect(knn).toContain(join(ROOT, 'packages/runtime/src/models/knn.ts'));
    expect(knn).toContain(join(ROOT, 'packages/runtime/src/engine/nearest.ts'));
    expect(moduleClosure([join(ROOT, 'src/classifiers/cnn.ts')])).toContain(join(ROOT, 'packages/runtime/src/cnn.ts'));
    expect(runCodeHash('knn', ROOT)).not.toBe(runCodeHash('svm', ROOT));
    // Moving the checkout does not change a hash: files are named relative to the root.
    const copy = mkdtempSync(join(ROOT, '.tmp', 'moved-'));
    mkdirSync(join(copy, 'src/engine'), { recursive: true });
    copyFileSync(join(ROOT, 'src/engine/hash.ts'), join(copy, 'src/engine/hash.ts'));
    expect(codeHash([join(copy, 'src/engine/hash.ts')], copy)).toBe(codeHash([join(ROOT, 'src/engine/hash.ts')], ROOT));
  });
});
