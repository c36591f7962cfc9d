/**
 * Load time and peak memory of an image-folder dataset: full MNIST (60,000 train + 10,000 test digits)
 * written as 28×28 lossless PNGs in the train/test layout, loaded with `normalize: "mnist"` (the default).
 *
 *   node --import ./bin/register.js bench/load-images.ts [folder] [--json]
 *
 * The folder is built once (in a temporary folder removed at the end, or in `folder`, kept and reused when
 * it holds a finished build). Then, each load in a fresh process (node --import ./bin/register.js), with an empty
 * decoded-dataset cache of its own (DIGITBENCH_CACHE_DIR in a temporary folder): the first load (every
 * image decoded and normalized, the cache entry written), and three loads served by the cache. Printed:
 * the build time, the first load's time, the cached loads' median (min–max), each with the process's peak
 * resident memory (VmHWM), and the cache entry's size on disk. Times are of the load call itself, not
 * the process start.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { REGISTER_SOURCES } from '../src/engine/register.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SELF = join(ROOT, 'bench/load-images.ts');
const MARKER = '.bench-built';
const ROWS = { train: 60000, test: 10000 };

function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface ChildResult {
  seconds: number;
  peakMb: number;
  fromCache: boolean;
  rows: number;
  contentHash: string;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { child: { type: 'boolean' }, json: { type: 'boolean' } } });

if (values.child) {
  // One load, in this fresh process.
  const { readImageFolder } = await import('../src/data/image-folder.ts');
  const { imagesSourceSchema } = await import('../src/data/sources.ts');
  const source = imagesSourceSchema.parse({ images: positionals[0] });
  const t0 = performance.now();
  const r = await readImageFolder(source);
  const seconds = (performance.now() - t0) / 1000;
  const out: ChildResult = {
    seconds,
    peakMb: peakRssMb(),
    fromCache: r.fromCache,
    rows: r.dataset.train.images.rows + r.dataset.test.images.rows,
    contentHash: r.dataset.contentHash,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

const given = positionals[0];
const folder = given ? resolve(given) : mkdtempSync(join(tmpdir(), 'digitbench-mnist-pngs-'));
const cache = mkdtempSync(join(tmpdir(), 'digitbench-cache-'));

function load(): ChildResult {
  const p = spawnSync(process.execPath, ['--import', REGISTER_SOURCES, SELF, '--child', folder], {
    cwd: ROOT,
    env: { ...process.env, DIGITBENCH_CACHE_DIR: cache },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (p.status !== 0) throw new Error(`the load failed (exit ${p.status}):\n${p.stderr.slice(-2000)}`);
  return JSON.parse(p.stdout.trim().split('\n').pop()!) as ChildResult;
}

function duSync(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? duSync(p) : statSync(p).size;
  }
  return total;
}

try {
  let buildSeconds: number | undefined;
  if (!existsSync(join(folder, MARKER))) {
    const { writeMnistPngFolder } = await import('../test/helpers/image-folder.ts');
    const t0 = performance.now();
    await writeMnistPngFolder(folder, ROWS, { layout: 'train-test' });
    buildSeconds = (performance.now() - t0) / 1000;
    writeFileSync(join(folder, MARKER), JSON.stringify(ROWS));
  }
  const first = load();
  if (first.fromCache) throw new Error('the first load was served by the cache, which should have been empty');
  const cached = [load(), load(), load()];
  if (cached.some((c) => !c.fromCache)) throw new Error('a second load was not served by the cache');
  if (cached.some((c) => c.contentHash !== first.contentHash)) throw new Error('a cached load gave other data than the first');
  const cacheBytes = duSync(cache);
  const times = cached.map((c) => c.seconds).sort((a, b) => a - b);
  const result = {
    images: first.rows,
    buildSeconds,
    first: { seconds: first.seconds, peakMb: first.peakMb },
    cached: { medianSeconds: times[1]!, minSeconds: times[0]!, maxSeconds: times[2]!, peakMb: Math.max(...cached.map((c) => c.peakMb)) },
    cacheMb: cacheBytes / 1e6,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } else {
    const s = (x: number) => `${x.toFixed(2)} s`;
    console.log(`image folder: ${result.images.toLocaleString('en')} MNIST digits as 28×28 PNGs (train/ and test/), normalize "mnist", ${folder}`);
    console.log(`build: ${buildSeconds === undefined ? 'reused (already built)' : s(buildSeconds)}`);
    console.log(`first load (decoded, cache written): ${s(result.first.seconds)}, peak memory ${result.first.peakMb.toFixed(0)} MB`);
    console.log(
      `cached load, median of 3 fresh processes: ${s(result.cached.medianSeconds)} (${s(result.cached.minSeconds)}–${s(result.cached.maxSeconds)}), peak memory ${result.cached.peakMb.toFixed(0)} MB`,
    );
    console.log(`cache entry on disk: ${result.cacheMb.toFixed(0)} MB`);
  }
} finally {
  rmSync(cache, { recursive: true, force: true });
  if (!given) rmSync(folder, { recursive: true, force: true });
}
