/**
 * Dev scratch (issue 11): validation accuracy of classifiers on feature pipelines, on rows of the
 * official training part only (never the test part). Usage:
 *   node --import ./bin/register.js scripts/explore-best.ts <fitRows> <validationRows> '<json: [{name, features, classifiers:[{plugin, params}]}]>'
 */
import { loadDataset } from '../src/data/datasets.ts';
import { applySplit, makeSplit } from '../src/data/split.ts';
import { createPipeline, fitTransform, parsePipeline } from '../src/features/pipeline.ts';
import { resolvePlugin } from '../src/classifiers/registry.ts';
import { parseParams } from '../src/classifiers/plugin.ts';

const [fitRows, valRows, spec] = [Number(process.argv[2]), Number(process.argv[3]), JSON.parse(process.argv[4]!)];
const ds = await loadDataset('mnist');
const split = makeSplit(ds, { train: fitRows, validation: valRows, test: 1, seed: 7 });
const d = applySplit(ds, split);
const log = { info() {}, warn(m: string) { console.error(m); } };
for (const set of spec as Array<{ name: string; features: unknown[]; classifiers: Array<{ plugin: string; params?: Record<string, unknown> }> }>) {
  const pipeline = createPipeline(parsePipeline(set.features), ds.imageShape, 1);
  const f = await fitTransform(pipeline, { train: d.train.x, val: d.validation!.x }, d.train.y);
  console.log(`${set.name} [${pipeline.labels.join(' → ')}] ${f.parts.train!.cols} features, ${f.seconds.toFixed(1)} s`);
  for (const c of set.classifiers) {
    const plugin = await resolvePlugin(c.plugin, process.cwd());
    const raw = { ...(c.params ?? {}) } as Record<string, unknown>;
    if (typeof raw.gammaFactor === 'number') {
      // gamma = factor × scikit-learn's 'scale' (1 / (features × variance of all training values)).
      const x = f.parts.train!.data;
      let s = 0, s2 = 0;
      for (const v of x) { s += v; s2 += v * v; }
      const variance = s2 / x.length - (s / x.length) ** 2;
      raw.gamma = raw.gammaFactor / (f.parts.train!.cols * variance);
      delete raw.gammaFactor;
    }
    const params = parseParams(plugin, raw);
    const est = plugin.create(params, { seed: 1, log, imageShape: pipeline.outputImage });
    let t = performance.now();
    const model = await est.fit(f.parts.train!, d.train.y, {});
    const fit = (performance.now() - t) / 1000;
    t = performance.now();
    const pred = await model.predict(f.parts.val!);
    const pr = (performance.now() - t) / 1000;
    let ok = 0;
    for (let i = 0; i < pred.length; i++) if (pred[i] === d.validation!.y[i]) ok++;
    console.log(`  ${c.plugin} ${JSON.stringify(raw)}: val ${(100 * ok / pred.length).toFixed(2)}% fit ${fit.toFixed(1)} s predict ${pr.toFixed(1)} s`);
    model.dispose();
  }
}
process.exit(0);
