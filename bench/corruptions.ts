/**
 * What the 15 MNIST-C corruptions cost (issue 24's targets: all 15 over the 10,000 MNIST test images in
 * under 30 s on 2 cores; the six mnist-full bundles measured on them in under 3 minutes):
 * `npm run bench:corruptions [-- --runs 3] [--images n] [--bundles dir | --no-bundles]`.
 * 1. One thread: each corruption over the test images (median of the runs).
 * 2. Two processes, each corrupting half of the images with all 15 (the per-image streams make the halves
 *    the same bytes as one pass; the sha256 of the outputs is compared): wall time, median of the runs.
 * 3. What an experiment does (harness/corrupted.ts corruptAll): all 15 in two worker threads of this
 *    process, the same bytes as one pass; wall time, median of the runs.
 * 4. When the bundles are there (default reports/mnist-full/models; bundles are never committed): each
 *    float32 bundle measured as the deploy process measures it (classify() in batches of 1000 on the clean
 *    and the 15 corrupted sets): seconds per bundle (its load apart) and in all, one run.
 * `--images n`: the first n test images only (a quicker, smaller run).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CORRUPTION_NAMES, corruptImages } from '../packages/runtime/src/corruptions/index.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { REGISTER_SOURCES } from '../src/engine/register.ts';
import { loadModel } from '../src/bundle/file.ts';
import { classifyAll, corruptAll, matrixOf } from '../src/harness/corrupted.ts';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, child: { type: 'string' }, images: { type: 'string' }, bundles: { type: 'string' }, 'no-bundles': { type: 'boolean', default: false } },
});
const SEED = 1;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function testImages() {
  const ds = await loadDataset('mnist');
  const [h, w] = ds.imageShape;
  const rows = Math.min(ds.test.labels.length, values.images ? Number(values.images) : Infinity);
  if (!(rows > 1)) throw new Error(`--images: give a whole number of test images above 1, not "${values.images}".`);
  return { pixels: Uint8Array.from(ds.test.images.data.subarray(0, rows * h * w)), labels: ds.test.labels.subarray(0, rows), rows, h, w };
}

/** All 15 corruptions of images [start, end): the sha256 of the outputs, in corruption order. */
function corruptRange(t: Awaited<ReturnType<typeof testImages>>, start: number, end: number): string {
  const n = t.h * t.w;
  const hash = createHash('sha256');
  for (const name of CORRUPTION_NAMES) hash.update(corruptImages(name, t.pixels.subarray(start * n, end * n), end - start, t.h, t.w, SEED, start));
  return hash.digest('hex');
}

if (values.child) {
  const [start, end] = values.child.split(':').map(Number) as [number, number];
  const t = await testImages();
  const t0 = performance.now();
  const digest = corruptRange(t, start, end);
  console.log(JSON.stringify({ digest, ms: performance.now() - t0 }));
} else {
  const runs = Number(values.runs);
  const t = await testImages();
  const n = t.h * t.w;
  const single: Record<string, number[]> = Object.fromEntries(CORRUPTION_NAMES.map((c) => [c, []]));
  const onePass = createHash('sha256');
  const halves = (start: number, end: number) => {
    const hash = createHash('sha256');
    for (const name of CORRUPTION_NAMES) hash.update(corruptImages(name, t.pixels.subarray(start * n, end * n), end - start, t.h, t.w, SEED, start));
    return hash.digest('hex');
  };
  for (let r = 0; r < runs; r++) {
    for (const name of CORRUPTION_NAMES) {
      const t0 = performance.now();
      const out = corruptImages(name, t.pixels, t.rows, t.h, t.w, SEED);
      single[name]!.push(performance.now() - t0);
      if (r === 0) onePass.update(out);
    }
  }
  // Two processes, half the images each; their digests must equal a one-process pass over each half.
  const mid = Math.floor(t.rows / 2);
  const expected = [halves(0, mid), halves(mid, t.rows)];
  const wall: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const out = await Promise.all(
      [`0:${mid}`, `${mid}:${t.rows}`].map(
        (range) =>
          new Promise<{ digest: string }>((ok, fail) => {
            const p = spawn(process.execPath, ['--import', REGISTER_SOURCES, import.meta.filename, '--child', range], { stdio: ['ignore', 'pipe', 'inherit'] });
            let text = '';
            p.stdout.on('data', (d: Buffer) => (text += d));
            p.on('exit', (code) => (code === 0 ? ok(JSON.parse(text)) : fail(new Error(`child ${range} exited ${code}`))));
          }),
      ),
    );
    wall.push(performance.now() - t0);
    if (out[0]!.digest !== expected[0] || out[1]!.digest !== expected[1]) throw new Error('the two processes made other bytes than one pass');
  }
  // What an experiment does: two worker threads of one process, corruption after corruption in the output.
  const onePassDigest = onePass.digest('hex');
  const threaded: number[] = [];
  let corrupted: Uint8Array | undefined;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    corrupted = await corruptAll(t.pixels, t.rows, t.h, t.w, CORRUPTION_NAMES, SEED, 2);
    threaded.push(performance.now() - t0);
    if (createHash('sha256').update(corrupted).digest('hex') !== onePassDigest) throw new Error('the two worker threads made other bytes than one pass');
  }
  const total = CORRUPTION_NAMES.reduce((s, c) => s + median(single[c]!), 0);
  console.log(`# MNIST-C corruptions over the ${t.rows.toLocaleString('en-US')} MNIST test images (${runs} runs, medians; Node ${process.version})\n`);
  console.log('| corruption | one thread, s |\n|---|---:|');
  for (const c of CORRUPTION_NAMES) console.log(`| ${c} | ${(median(single[c]!) / 1000).toFixed(2)} |`);
  console.log(`| **all 15, one thread** | **${(total / 1000).toFixed(1)}** |`);
  console.log(`\nAll 15 in 2 processes of half the images each (process start and dataset load included): **${(median(wall) / 1000).toFixed(1)} s** wall (target: under 30 s on 2 cores); the same bytes as one pass.`);
  console.log(`\nAll 15 in 2 worker threads of one process, as an experiment makes them (harness/corrupted.ts; thread start included, dataset already loaded): **${(median(threaded) / 1000).toFixed(1)} s** wall; the same bytes as one pass.`);

  // Each float32 bundle measured on the clean and corrupted images, as the deploy process does.
  const folder = resolve(values.bundles ?? 'reports/mnist-full/models');
  const bundles = values['no-bundles'] || !existsSync(folder) ? [] : readdirSync(folder).filter((f) => /^[^.]+-[0-9a-f]{8}\.bundle$/.test(f)).sort();
  if (!bundles.length) {
    console.log(`\n(No bundles measured: ${values['no-bundles'] ? '--no-bundles' : `no float32 bundles in ${folder}; run the mnist-full experiment or give --bundles <models folder>`}.)`);
  } else {
    const n = t.h * t.w;
    const clean = matrixOf(t.pixels, t.rows);
    console.log(`\n## The bundles of ${folder} on the clean and the 15 corrupted sets (${((CORRUPTION_NAMES.length + 1) * t.rows).toLocaleString('en-US')} images each, classify() in batches of 1000; one run)\n`);
    console.log('| bundle | load, s | measure, s | clean accuracy | mean corrupted accuracy |\n|---|---:|---:|---:|---:|');
    let sum = 0;
    for (const b of bundles) {
      const t0 = performance.now();
      const model = await loadModel(join(folder, b));
      const t1 = performance.now();
      try {
        const c = await classifyAll(model, clean, t.labels);
        let acc = 0;
        for (const [k] of CORRUPTION_NAMES.entries()) acc += (await classifyAll(model, matrixOf(corrupted!.subarray(k * t.rows * n, (k + 1) * t.rows * n), t.rows), t.labels)).accuracy;
        const s = (performance.now() - t1) / 1000;
        sum += s;
        console.log(`| ${b} | ${((t1 - t0) / 1000).toFixed(1)} | ${s.toFixed(1)} | ${(c.accuracy * 100).toFixed(2)}% | ${((acc / CORRUPTION_NAMES.length) * 100).toFixed(2)}% |`);
      } finally {
        model.dispose();
      }
    }
    console.log(`| **all ${bundles.length}** | | **${sum.toFixed(1)}** | | |`);
    console.log(`\nMeasuring the ${bundles.length} bundles: **${sum.toFixed(1)} s** in all (target: under 3 minutes for the six mnist-full bundles on the 10,000 test images).`);
  }
}
