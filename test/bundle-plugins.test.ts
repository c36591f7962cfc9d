/**
 * Plugin files load from anywhere on disk, and a bundle's plugin is found by name only.
 *
 * Two plugin files in a temporary folder outside the project, with no package.json: one imports the
 * project's sources by absolute path (and has type annotations), the other imports the package by its
 * bare name `digitbench` (through a node_modules link, as an app that depends on digitbench has), a
 * relative TypeScript helper, and uses top-level await. Before, the CLI failed on both with Node's
 * "Cannot require() ES Module … in a cycle": a .ts file in a folder without "type": "module" is
 * CommonJS to Node and tsx. The experiment (a spawned CLI, where that happened) runs both, measures
 * their bundles with the plugin from its own config, and `predict` needs `--plugin` for them.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/bundle/file.ts';
import { resolvePlugin } from '../src/classifiers/registry.ts';
import { decodeLabels, type OkRow } from '../src/results/row.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
const SEVEN = join(ROOT, 'examples/digits/seven-test0.png');
const dir = mkdtempSync(join(tmpdir(), 'digitbench-plugins-'));
const out = join(dir, 'out');
const cli = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, timeout: 300_000 });

writeFileSync(
  join(dir, 'abs-centroid.ts'),
  `import { defineClassifier, type ClassifierPlugin } from ${JSON.stringify(join(ROOT, 'src/classifiers/plugin.ts'))};
import { nearestCentroid } from ${JSON.stringify(join(ROOT, 'examples/nearest-centroid.ts'))};
const plugin: ClassifierPlugin = defineClassifier({ ...nearestCentroid, name: 'abs-centroid', summary: 'nearest centroid, outside the project, absolute imports' });
export default plugin;
`,
);
writeFileSync(join(dir, 'helper.ts'), `export const where: string = 'a relative TypeScript helper';\n`);
writeFileSync(
  join(dir, 'bare-centroid.ts'),
  `import { defineClassifier } from 'digitbench';
import { nearestCentroid } from ${JSON.stringify(join(ROOT, 'examples/nearest-centroid.ts'))};
import { where } from './helper.ts';
const summary: string = await Promise.resolve(\`nearest centroid, bare import, \${where}\`);
export default defineClassifier({ ...nearestCentroid, name: 'bare-centroid', summary });
`,
);
writeFileSync(join(dir, 'broken.ts'), `throw new Error('broken plugin: its own error');\nexport default {};\n`);
mkdirSync(join(dir, 'node_modules'));
symlinkSync(ROOT, join(dir, 'node_modules', 'digitbench'), 'dir');
writeFileSync(
  join(dir, 'outside.json'),
  JSON.stringify({
    dataset: 'mnist',
    split: { train: 300, test: 100, seed: 2 },
    features: [{ step: 'scale' }],
    classifiers: [{ plugin: './abs-centroid.ts' }, { plugin: './bare-centroid.ts' }],
    seed: 1,
    timeoutSeconds: 120,
    deploy: { passes: 2, calls: 20, batch: 50 },
  }),
);

let rows: OkRow[];
const bundleOf = (label: string) => join(out, rows.find((r) => r.classifier === label)!.bundle!.file);
const notBuiltIn = (file: string, name: string) =>
  `${file}: its plugin "${name}" is not built in; pass it explicitly (loadModel(file, { plugins: [yourPlugin] }) or digitbench predict --plugin <file>).`;

beforeAll(() => {
  const r = cli(['experiment', join(dir, 'outside.json'), '--out', out]);
  expect(r.status, r.stderr).toBe(0);
  rows = readFileSync(join(out, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as OkRow);
}, 300_000);

describe('plugin files outside the project', () => {
  it('run in an experiment through the CLI, and their bundles are measured with the plugin from the experiment', () => {
    expect(rows.map((r) => [r.classifier, r.status]).sort()).toEqual([['abs-centroid', 'ok'], ['bare-centroid', 'ok']]);
    for (const r of rows) expect(r.deployment?.agreement, r.classifier).toEqual({ same: 100, total: 100 });
  });

  it('predict refuses their bundles without --plugin (exit 1), and with it predicts as the run did', () => {
    for (const label of ['abs-centroid', 'bare-centroid']) {
      const file = bundleOf(label);
      const r = cli(['predict', file, SEVEN]);
      expect([r.status, r.stdout, r.stderr]).toEqual([1, '', `digitbench: ${notBuiltIn(file, label)}\n`]);
      const ok = cli(['predict', file, SEVEN, '--json', '--plugin', join(dir, 'abs-centroid.ts'), join(dir, 'bare-centroid.ts')]);
      expect(ok.status, ok.stderr).toBe(0);
      expect((JSON.parse(ok.stdout) as { results: { label: number }[] }).results[0]!.label).toBe(7);
    }
  });

  it('a plugin file that fails on import fails with its own error; a missing one is named', () => {
    const file = bundleOf('abs-centroid');
    const broken = cli(['predict', file, SEVEN, '--plugin', join(dir, 'broken.ts')]);
    expect([broken.status, broken.stderr]).toEqual([1, `digitbench: --plugin: ${join(dir, 'broken.ts')} could not be loaded as a plugin (broken plugin: its own error).\n`]);
    const missing = cli(['predict', file, SEVEN, '--plugin', join(dir, 'none.ts')]);
    expect([missing.status, missing.stderr]).toEqual([1, `digitbench: --plugin: ${join(dir, 'none.ts')}: no such file; give the path to a plugin file (.ts, .mts, .js, .mjs) that exports defineClassifier(...).\n`]);
  });

  it('loadModel matches the bundle\'s plugin name against the plugins passed, then the built-ins', async () => {
    const file = bundleOf('abs-centroid');
    await expect(loadModel(file)).rejects.toThrow(notBuiltIn(file, 'abs-centroid'));
    const other = await resolvePlugin(join(dir, 'bare-centroid.ts'));
    await expect(loadModel(file, { plugins: [other] })).rejects.toThrow(notBuiltIn(file, 'abs-centroid'));
    const plugin = await resolvePlugin(join(dir, 'abs-centroid.ts'));
    const model = await loadModel(file, { plugins: [other, plugin] });
    try {
      const row = rows.find((r) => r.classifier === 'abs-centroid')!;
      const { loadDataset } = await import('../src/data/datasets.ts');
      const { makeSplit } = await import('../src/data/split.ts');
      const { takeRows } = await import('@digitbench/runtime/internal');
      const ds = await loadDataset('mnist');
      const test = takeRows(ds.test.images, makeSplit(ds, { train: 300, test: 100, seed: 2 }).test);
      expect(Array.from(await model.predictLabels(test))).toEqual(Array.from(decodeLabels(row.predictions)));
    } finally {
      model.dispose();
    }
  });
});
