/**
 * Times tree fits on full MNIST (60,000 rows, pixels / 255) in this process: a decision tree and
 * forest trees grown one after another in this thread. Usage:
 *   node --import ./bin/register.js scripts/time-trees.ts [forestTrees=10] [repeats=1] [tree|forest|both]
 * Prints per-step wall and CPU seconds (medians of repeats) and a digest of the saved model (same digest
 * = same trees). On a shared machine, CPU time is the steadier figure.
 */
import { createHash } from 'node:crypto';
import { loadDataset } from '../src/data/datasets.ts';
import { decisionTree } from '../src/classifiers/decision-tree.ts';
import { randomForest } from '../src/classifiers/random-forest.ts';
import { parseParams } from '../src/classifiers/plugin.ts';

const nTrees = Number(process.argv[2] ?? 10);
const repeats = Number(process.argv[3] ?? 1);
const which = process.argv[4] ?? 'both';
const ds = await loadDataset('mnist');
const x0 = ds.train.images;
const y = ds.train.labels;
const data = new Float32Array(x0.data.length);
for (let i = 0; i < data.length; i++) data[i] = x0.data[i]! / 255;
const x = { rows: x0.rows, cols: x0.cols, data };
const ctx = { seed: 1, log: { info() {}, warn() {} } };
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;

async function time(name: string, fit: () => Promise<{ serialize?: () => Promise<Uint8Array> | Uint8Array }>) {
  const seconds: number[] = [];
  const cpu: number[] = [];
  let digest = '';
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const model = await fit();
    seconds.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
    digest = createHash('sha256').update(await model.serialize!()).digest('hex').slice(0, 16);
  }
  console.log(`${name}: wall median ${median(seconds).toFixed(2)} s (${seconds.map((s) => s.toFixed(2)).join(', ')}), CPU median ${median(cpu).toFixed(2)} s, model ${digest}`);
}

console.log(`rows ${x.rows}, features ${x.cols}, node ${process.version}`);
if (which !== 'forest') await time('decision tree (full, gini)', () => decisionTree.create(parseParams(decisionTree, {}), ctx).fit(x, y));
if (which !== 'tree') await time(`forest ${nTrees} trees, 1 thread`, () => randomForest.create(parseParams(randomForest, { nEstimators: nTrees, threads: 1 }), ctx).fit(x, y));
