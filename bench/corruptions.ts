/**
 * What the 15 MNIST-C corruptions cost (issue 24's target: all 15 over the 10,000 MNIST test images in
 * under 30 s on 2 cores): `npm run bench:corruptions [-- --runs 3]`.
 * 1. One thread: each corruption over the 10,000 test images (median of the runs).
 * 2. Two processes, each corrupting half of the images with all 15 (the per-image streams make the halves
 *    the same bytes as one pass; the sha256 of the outputs is compared): wall time, median of the runs.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { CORRUPTION_NAMES, corruptImages } from '../packages/runtime/src/corruptions/index.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { REGISTER_SOURCES } from '../src/engine/register.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, child: { type: 'string' } } });
const SEED = 1;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

async function testImages() {
  const ds = await loadDataset('mnist');
  const [h, w] = ds.imageShape;
  return { pixels: Uint8Array.from(ds.test.images.data), rows: ds.test.labels.length, h, w };
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
  const halves = (start: number, end: number) => {
    const hash = createHash('sha256');
    for (const name of CORRUPTION_NAMES) hash.update(corruptImages(name, t.pixels.subarray(start * n, end * n), end - start, t.h, t.w, SEED, start));
    return hash.digest('hex');
  };
  for (let r = 0; r < runs; r++) {
    for (const name of CORRUPTION_NAMES) {
      const t0 = performance.now();
      corruptImages(name, t.pixels, t.rows, t.h, t.w, SEED);
      single[name]!.push(performance.now() - t0);
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
  const total = CORRUPTION_NAMES.reduce((s, c) => s + median(single[c]!), 0);
  console.log(`# MNIST-C corruptions over the ${t.rows.toLocaleString('en-US')} MNIST test images (${runs} runs, medians; Node ${process.version})\n`);
  console.log('| corruption | one thread, s |\n|---|---:|');
  for (const c of CORRUPTION_NAMES) console.log(`| ${c} | ${(median(single[c]!) / 1000).toFixed(2)} |`);
  console.log(`| **all 15, one thread** | **${(total / 1000).toFixed(1)}** |`);
  console.log(`\nAll 15 in 2 processes of half the images each (process start and dataset load included): **${(median(wall) / 1000).toFixed(1)} s** wall (target: under 30 s on 2 cores); the same bytes as one pass.`);
}
