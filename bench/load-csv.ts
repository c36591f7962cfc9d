/**
 * Load time and peak memory of a 60,000-row MNIST CSV against the same rows as idx files
 * (`node --import ./bin/register.js bench/load-csv.ts [--runs 5] [--rows 60000] [--json]`).
 *
 * MNIST's first training rows are written once into a temporary folder: as a Kaggle-style CSV
 * (`label,pixel0,…,pixel783`, raw 0–255 integers, ≈110 MB for 60,000 rows), the same CSV gzipped, and as
 * an idx folder (those rows as the training part, an empty test part). Each load runs in a fresh child
 * process, so its memory is its own: the child notes its resident memory (VmRSS) after its imports, loads
 * the dataset once, and reports the time and its peak resident memory (VmHWM from /proc/self/status);
 * the growth is the peak less the resident memory before the load. The sources are interleaved per run
 * (a noisy moment on a shared machine hits all of them); medians are printed with min–max, the ratio of
 * each CSV load to the idx load, and the peak growth against the dataset's float32 size (rows × 784 × 4).
 * Targets (issue 22): a CSV loads in at most 3× the idx time, with peak growth at most 2× the float32 size.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { REGISTER_SOURCES } from '../src/engine/register.ts';
import { createGzip } from 'node:zlib';

interface ChildResult {
  ms: number;
  rssBeforeMb: number;
  peakMb: number;
  rows: number;
}

function procStatusMb(field: 'VmRSS' | 'VmHWM'): number {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** In the child: one load, reported as JSON on stdout. */
async function child(kind: string, path: string): Promise<void> {
  const { loadCsv } = await import('../src/data/csv.ts');
  const { load } = await import('../src/data/datasets.ts');
  const rssBeforeMb = procStatusMb('VmRSS');
  const t0 = performance.now();
  const ds = kind === 'idx' ? await load(path) : await loadCsv({ csv: path });
  const ms = performance.now() - t0;
  const result: ChildResult = { ms, rssBeforeMb, peakMb: procStatusMb('VmHWM'), rows: ds.train.images.rows };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/** Writes the first `rows` MNIST training rows as CSV, gzipped CSV and an idx folder under `dir`. */
async function build(dir: string, rows: number): Promise<{ csv: string; gz: string; idx: string }> {
  const { loadDataset } = await import('../src/data/datasets.ts');
  const ds = await loadDataset('mnist');
  if (rows > ds.train.images.rows) throw new Error(`--rows: MNIST has ${ds.train.images.rows} training rows; use at most that.`);
  const px = ds.train.images.cols;
  const csv = join(dir, 'mnist.csv');
  const out = createWriteStream(csv);
  out.write(`label,${Array.from({ length: px }, (_, j) => `pixel${j}`).join(',')}\n`);
  for (let i = 0; i < rows; i++) {
    const line = `${ds.train.labels[i]},${Array.from(ds.train.images.data.subarray(i * px, (i + 1) * px)).join(',')}\n`;
    if (!out.write(line)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
  const gz = `${csv}.gz`;
  await pipeline((await import('node:fs')).createReadStream(csv), createGzip(), createWriteStream(gz));
  const idx = join(dir, 'idx');
  mkdirSync(idx);
  const file = (magic: number, dims: number[], bytes: Uint8Array) => {
    const head = Buffer.alloc(4 + 4 * dims.length);
    head.writeUInt32BE(magic, 0);
    dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([head, bytes]);
  };
  writeFileSync(join(idx, 'train-images-idx3-ubyte'), file(2051, [rows, 28, 28], Uint8Array.from(ds.train.images.data.subarray(0, rows * px))));
  writeFileSync(join(idx, 'train-labels-idx1-ubyte'), file(2049, [rows], Uint8Array.from(ds.train.labels.subarray(0, rows))));
  writeFileSync(join(idx, 't10k-images-idx3-ubyte'), file(2051, [0, 28, 28], new Uint8Array(0)));
  writeFileSync(join(idx, 't10k-labels-idx1-ubyte'), file(2049, [0], new Uint8Array(0)));
  return { csv, gz, idx };
}

function runChild(kind: string, path: string): ChildResult {
  const r = spawnSync(process.execPath, ['--import', REGISTER_SOURCES, import.meta.filename, '--child', kind, path], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`${kind} load failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export interface LoadCsvBench {
  rows: number;
  runs: number;
  float32Mb: number;
  sources: { source: string; bytes: number; medianMs: number; minMs: number; maxMs: number; peakGrowthMb: number; ratioToIdx: number }[];
}

/** Builds the files, runs `runs` interleaved child loads of each source, and summarizes them. */
export async function benchLoadCsv(rows = 60_000, runs = 5, log: (line: string) => void = () => {}): Promise<LoadCsvBench> {
  const dir = mkdtempSync(join(tmpdir(), 'digitbench-load-csv-'));
  try {
    log(`Writing ${rows.toLocaleString('en-US')} MNIST rows as CSV, gzipped CSV and idx files in ${dir} …`);
    const files = await build(dir, rows);
    const sources = [
      { source: 'idx', path: files.idx, bytes: statSync(join(files.idx, 'train-images-idx3-ubyte')).size },
      { source: 'csv', path: files.csv, bytes: statSync(files.csv).size },
      { source: 'csv.gz', path: files.gz, bytes: statSync(files.gz).size },
    ];
    const results = new Map<string, ChildResult[]>(sources.map((s) => [s.source, []]));
    for (let i = 0; i < runs; i++) {
      for (const s of sources) {
        const r = runChild(s.source === 'idx' ? 'idx' : 'csv', s.path);
        if (r.rows !== rows) throw new Error(`${s.source}: loaded ${r.rows} rows, expected ${rows}.`);
        results.get(s.source)!.push(r);
      }
      log(`run ${i + 1}/${runs}: ${sources.map((s) => `${s.source} ${results.get(s.source)!.at(-1)!.ms.toFixed(0)} ms`).join(', ')}`);
    }
    const idxMs = median(results.get('idx')!.map((r) => r.ms));
    return {
      rows,
      runs,
      float32Mb: (rows * 784 * 4) / 2 ** 20,
      sources: sources.map((s) => {
        const rs = results.get(s.source)!;
        const ms = rs.map((r) => r.ms);
        return {
          source: s.source,
          bytes: s.bytes,
          medianMs: median(ms),
          minMs: Math.min(...ms),
          maxMs: Math.max(...ms),
          peakGrowthMb: median(rs.map((r) => r.peakMb - r.rssBeforeMb)),
          ratioToIdx: median(ms) / idxMs,
        };
      }),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatLoadCsvBench(b: LoadCsvBench): string {
  const lines = [
    `Loading ${b.rows.toLocaleString('en-US')} MNIST rows (float32: ${b.float32Mb.toFixed(0)} MiB), median of ${b.runs} fresh processes:`,
    '',
    '| source | file | load (median, min–max) | × idx | peak memory growth | × float32 |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const s of b.sources) {
    lines.push(
      `| ${s.source} | ${(s.bytes / 1e6).toFixed(1)} MB | ${s.medianMs.toFixed(0)} ms (${s.minMs.toFixed(0)}–${s.maxMs.toFixed(0)}) | ${s.ratioToIdx.toFixed(2)} | ${s.peakGrowthMb.toFixed(0)} MiB | ${(s.peakGrowthMb / b.float32Mb).toFixed(2)} |`,
    );
  }
  lines.push('', 'Targets: a CSV load at most 3× the idx load; peak memory growth at most 2× the float32 size.');
  return lines.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { child: { type: 'string' }, runs: { type: 'string', default: '5' }, rows: { type: 'string', default: '60000' }, json: { type: 'boolean', default: false } },
  });
  if (values.child) await child(values.child, positionals[0]!);
  else {
    const runs = Number(values.runs);
    const rows = Number(values.rows);
    if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs: use a positive whole number.');
    if (!Number.isInteger(rows) || rows < 1) throw new Error('--rows: use a positive whole number.');
    const b = await benchLoadCsv(rows, runs, values.json ? () => {} : (l) => console.error(l));
    console.log(values.json ? JSON.stringify(b, null, 2) : formatLoadCsvBench(b));
  }
}
