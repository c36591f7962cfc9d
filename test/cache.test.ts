import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit } from '../src/data/split.ts';
import { featureCacheKey } from '../src/features/cache.ts';
import { parsePipeline } from '../src/features/pipeline.ts';
import { prepareFeatures } from '../src/features/prepare.ts';

describe('feature cache', () => {
  it('stores fitted features under a key of everything that changes them, and reads them back identically', async () => {
    process.env.DIGITBENCH_CACHE_DIR = mkdtempSync(join(tmpdir(), 'digitbench-cache-'));
    const ds = await loadDataset('mnist');
    const split = makeSplit(ds, { train: 800, test: 200, seed: 4 });
    const steps = parsePipeline([{ step: 'scale' }, { step: 'pca', components: 6 }]);
    const first = await prepareFeatures(ds, split, steps);
    expect(first.fromCache).toBe(false);
    const again = await prepareFeatures(ds, split, steps);
    expect(again.fromCache).toBe(true);
    expect(again.seconds).toBe(first.seconds);
    expect(again.train.x.data).toEqual(first.train.x.data);
    expect(again.test.x.data).toEqual(first.test.x.data);
    expect(again.train.y).toEqual(first.train.y);

    const key = (o: Partial<Parameters<typeof featureCacheKey>[0]>) =>
      featureCacheKey({ datasetHash: ds.contentHash, splitFingerprint: split.fingerprint, steps, seed: 4, ...o });
    const base = key({});
    expect(key({ splitFingerprint: makeSplit(ds, { train: 800, test: 200, seed: 5 }).fingerprint })).not.toBe(base);
    expect(key({ steps: parsePipeline([{ step: 'scale' }, { step: 'pca', components: 7 }]) })).not.toBe(base);
    expect(key({ seed: 5 })).not.toBe(base);
    expect(key({ datasetHash: 'other' })).not.toBe(base);

    // A damaged entry is recomputed, not trusted.
    const dir = join(process.env.DIGITBENCH_CACHE_DIR, 'features', first.cacheKey!);
    writeFileSync(join(dir, 'train.f32'), Buffer.alloc(12));
    expect((await prepareFeatures(ds, split, steps)).fromCache).toBe(false);
    expect(readdirSync(join(process.env.DIGITBENCH_CACHE_DIR, 'features'))).toEqual([first.cacheKey]);

    // Cheap pipelines are not cached at all.
    expect((await prepareFeatures(ds, split, parsePipeline([{ step: 'scale' }]))).cacheKey).toBeUndefined();
    delete process.env.DIGITBENCH_CACHE_DIR;
  });
});
