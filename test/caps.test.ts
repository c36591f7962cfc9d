/**
 * Caps before reads (issue #21): inputs that are not regular files, files over the size caps, images over
 * the pixel limit and idx files whose header does not fit are refused in one line, before their contents
 * are read or decoded. Through `readInputs` / `decodeImage` / `loadDataset`, and through `digitbench
 * predict` (a real knn bundle fitted on MNIST) for the exit code and the lines the user sees. The refusals
 * of /dev/zero, a sparse 2 GB file and a 16000×16000 PNG are timed in a process of their own, with its
 * peak memory (test/helpers/caps-probe.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeBundle } from '../src/bundle/file.ts';
import { knn } from '../src/classifiers/knn.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { FILES, loadDataset } from '../src/data/datasets.ts';
import { formatBytes } from '@digitbench/runtime/internal';
import { createMatrix } from '@digitbench/runtime/internal';
import { decodeImage, readInputs } from '../src/input/decode.ts';
import { bundleInput } from './helpers/bundle.ts';
import { idxFile, render } from './helpers/photos.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
const PROBE = join(ROOT, 'test/helpers/caps-probe.ts');
const GIVE = 'give a PNG or JPEG image, a folder of them, or an idx images file.';
const dir = mkdtempSync(join(tmpdir(), 'digitbench-caps-'));
const at = (name: string) => join(dir, name);

let fifo: string | undefined;
let fifoSkip = '';
try {
  fifo = at('pipe.png');
  execFileSync('mkfifo', [fifo]);
} catch (e) {
  fifoSkip = `mkfifo is not available here (${(e as Error).message.split('\n')[0]})`;
  fifo = undefined;
}

/** An idx header (and body) as written, whatever it claims. */
function idxHeader(magic: number, ...dims: number[]): Buffer {
  const b = Buffer.alloc(4 + 4 * dims.length);
  b.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  return b;
}

let bundle: string;
let good: string;
let goodBytes: Buffer;
let big: string;
let sparse: string;

beforeAll(async () => {
  const ds = await loadDataset('mnist');
  // A real model: knn on 500 raw MNIST training digits, no feature steps.
  const n = 500;
  const params = parseParams(knn, { k: 3 });
  const model = await knn.create(params, { seed: 1, log: { info() {}, warn() {} } }).fit(
    createMatrix(n, 784, ds.train.images.data.slice(0, n * 784)),
    ds.train.labels.slice(0, n),
  );
  bundle = at('knn.bundle');
  await writeBundle(bundle, {
    ...bundleInput([], [], new Uint8Array(await model.serialize!())),
    plugin: { name: 'knn', ref: 'knn', library: knn.library, params, engine: model.engine() },
  });
  model.dispose();

  // A photo of test digit 0 (a 7), dark on light paper.
  goodBytes = await render(ds.test.images.data.subarray(0, 784), {
    scale: 5,
    kernel: 'linear',
    pad: { left: 20, right: 40, top: 10, bottom: 30 },
    format: 'grey-png',
  });
  good = at('seven.png');
  writeFileSync(good, goodBytes);

  // A real, decodable 16000×16000 PNG: blank paper, about 279 kB.
  big = at('big.png');
  await sharp({ create: { width: 16000, height: 16000, channels: 3, background: '#ffffff' } })
    .toColourspace('b-w')
    .png({ compressionLevel: 9 })
    .toFile(big);

  // A PNG that goes on for 2 GiB: its first bytes are a real PNG's, the rest a hole (no blocks written).
  sparse = at('huge.png');
  writeFileSync(sparse, goodBytes);
  truncateSync(sparse, 2 ** 31);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('test inputs', () => {
  it('are what they claim: a 16000×16000 PNG that decodes, of about 279 kB; a 2 GiB sparse file', async () => {
    const meta = await sharp(big).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 16000, 16000]);
    const size = statSync(big).size;
    expect(size).toBeGreaterThan(200_000);
    expect(size).toBeLessThan(400_000);
    // Decodes in full (libvips streams it down to 16×16 without holding all 256 MP).
    const { info } = await sharp(big, { limitInputPixels: false }).resize(16, 16).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([16, 16]);
    const s = statSync(sparse);
    expect(s.size).toBe(2 ** 31);
    expect(s.blocks * 512).toBeLessThan(1e6);
    expect([formatBytes(999), formatBytes(1000), formatBytes(1550), formatBytes(2 ** 31), formatBytes(50e6)]).toEqual([
      '999 bytes', '1 kB', '1.6 kB', '2.1 GB', '50 MB',
    ]);
  });
});

describe('readInputs refuses before reading', () => {
  it('/dev/zero and a folder named as an image inside a folder: not regular files', async () => {
    const folder = at('scans');
    mkdirSync(folder);
    writeFileSync(join(folder, 'a.png'), goodBytes);
    mkdirSync(at('elsewhere'));
    symlinkSync(at('elsewhere'), join(folder, 'b.png'));
    const entries = await readInputs(['/dev/zero', folder]);
    expect(entries.map((e) => [e.name, e.error])).toEqual([
      ['/dev/zero', `/dev/zero: not a regular file (a character device); ${GIVE}`],
      [join(folder, 'a.png'), undefined],
      [join(folder, 'b.png'), `${join(folder, 'b.png')}: not a regular file (a folder); ${GIVE}`],
    ]);
  });

  it.skipIf(!fifo)(`a FIFO, without blocking on it${fifoSkip ? ` (skipped: ${fifoSkip})` : ''}`, async () => {
    const [e] = await readInputs([fifo!]);
    expect(e!.error).toBe(`${fifo}: not a regular file (a FIFO (named pipe)); ${GIVE}`);
  }, 10_000);

  it('an image file over the size cap, from its size: the 2 GiB sparse file and a small cap by option or variable', async () => {
    const size = formatBytes(goodBytes.length);
    expect((await readInputs([sparse]))[0]!.error).toBe(
      `${sparse}: the file is 2.1 GB, over the 50 MB limit for an image file; give a smaller file, or raise the limit with DIGITBENCH_MAX_IMAGE_MB.`,
    );
    expect((await readInputs([good], { maxImageBytes: 1000 }))[0]!.error).toBe(
      `${good}: the file is ${size}, over the 1 kB limit for an image file; give a smaller file, or raise the limit with the maxImageBytes option.`,
    );
    process.env.DIGITBENCH_MAX_IMAGE_MB = '0.001';
    try {
      expect((await readInputs([good]))[0]!.error).toBe(
        `${good}: the file is ${size}, over the 1 kB limit for an image file; give a smaller file, or raise the limit with DIGITBENCH_MAX_IMAGE_MB.`,
      );
      process.env.DIGITBENCH_MAX_IMAGE_MB = 'lots';
      await expect(readInputs([good])).rejects.toThrow('DIGITBENCH_MAX_IMAGE_MB is "lots"; set it to a positive number of MB (default 50) or unset it.');
    } finally {
      delete process.env.DIGITBENCH_MAX_IMAGE_MB;
    }
    expect((await readInputs([good]))[0]!.pixels).toHaveLength(784);
  });

  it('an image over the pixel limit, from its header, with its size; the limit is an option of decodeImage', async () => {
    expect((await readInputs([big]))[0]!.error).toBe(
      `${big}: the image is 16000×16000 pixels (256 MP), over the 25 MP limit for a digit; crop or scale it down first.`,
    );
    // The photo of the 7 is 200×180 pixels.
    await expect(decodeImage(goodBytes, 'seven.png', { maxPixels: 30_000 })).rejects.toThrow(
      'seven.png: the image is 200×180 pixels (0.036 MP), over the 0.03 MP limit for a digit; crop or scale it down first.',
    );
    expect((await decodeImage(goodBytes, 'seven.png', { maxPixels: 36_000 })).width).toBe(200);
    expect((await readInputs([good], { maxPixels: 30_000 }))[0]!.error).toBe(
      `${good}: the image is 200×180 pixels (0.036 MP), over the 0.03 MP limit for a digit; crop or scale it down first.`,
    );
    process.env.DIGITBENCH_MAX_MEGAPIXELS = '0.03';
    try {
      await expect(decodeImage(goodBytes, 'seven.png')).rejects.toThrow('seven.png: the image is 200×180 pixels (0.036 MP), over the 0.03 MP limit');
    } finally {
      delete process.env.DIGITBENCH_MAX_MEGAPIXELS;
    }
    await expect(decodeImage(goodBytes, 'seven.png', { maxPixels: -1 })).rejects.toThrow('maxPixels must be a positive number (got -1).');
  });
});

describe('idx files given as inputs go through the idx reader', () => {
  const images = (count: number, body: number) => Buffer.concat([idxHeader(2051, count, 28, 28), Buffer.alloc(body, 7)]);
  const labels = Buffer.concat([idxHeader(2049, 3), Buffer.from([7, 2, 1])]);

  it('a labels file, plain or gzipped, is named as such; a gzip that holds no idx images is refused', async () => {
    const plain = at('t10k-labels-idx1-ubyte');
    const gz = at('train-labels-idx1-ubyte.gz');
    const other = at('my.labels');
    const gzPng = at('seven.png.gz');
    writeFileSync(plain, labels);
    writeFileSync(gz, gzipSync(labels));
    writeFileSync(other, labels);
    writeFileSync(gzPng, gzipSync(goodBytes));
    const entries = await readInputs([plain, gz, other, gzPng]);
    expect(entries.map((e) => e.error)).toEqual([
      `${plain}: that is an idx labels file; give the images file (t10k-images-idx3-ubyte).`,
      `${gz}: that is an idx labels file; give the images file (train-images-idx3-ubyte.gz).`,
      `${other}: that is an idx labels file; give the images file (…-images-idx3-ubyte).`,
      `${gzPng}: gzip data that is not an idx images file; ${GIVE}`,
    ]);
  });

  it('a truncated file, plain or gzipped, gets the idx reader\'s message', async () => {
    const plain = at('cut-images-idx3-ubyte');
    const gz = at('cut-images-idx3-ubyte.gz');
    writeFileSync(plain, images(3, 1000));
    writeFileSync(gz, gzipSync(images(3, 1000)));
    const entries = await readInputs([plain, gz]);
    expect(entries.map((e) => e.error)).toEqual([
      `${plain}: the file is truncated: the header announces 3 images of 28×28 (2368 bytes) but the file has 1016.`,
      `${gz}: the file is truncated: the header announces 3 images of 28×28 (2368 bytes) but the unpacked data has 1016.`,
    ]);
  });

  it('a header claiming 2^31 images is refused at once, plain (16 bytes) or gzipped', async () => {
    const plain = at('claims-images-idx3-ubyte');
    const gz = at('claims-images-idx3-ubyte.gz');
    writeFileSync(plain, images(2 ** 31, 0));
    writeFileSync(gz, gzipSync(images(2 ** 31, 1000)));
    const t0 = performance.now();
    const entries = await readInputs([plain, gz]);
    const ms = performance.now() - t0;
    expect(entries.map((e) => e.error)).toEqual([
      `${plain}: the file is truncated: the header announces 2147483648 images of 28×28 (1683627180048 bytes) but the file has 16.`,
      `${gz}: the header announces 2147483648 images of 28×28 (1.7 TB unpacked), over the 1 GB limit for an idx file; give a smaller file, or raise the limit with DIGITBENCH_MAX_IDX_MB.`,
    ]);
    console.log(`2^31-image headers refused in ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(2000);
  });

  it('a gzip bomb stops at the cap; an idx file over the cap is refused from its size', async () => {
    const bomb = at('bomb-images-idx3-ubyte.gz');
    writeFileSync(bomb, gzipSync(images(1, 784 + 20e6)));
    const ok = at('two-images-idx3-ubyte');
    writeFileSync(ok, images(2, 2 * 784));
    const entries = await readInputs([bomb, ok], { maxIdxBytes: 1e6 });
    expect(entries.map((e) => e.error)).toEqual([
      `${bomb}: the gzip data unpacks to more than the 1 MB limit for an idx file, past the 1 images of 28×28 its header announces; it is not a valid idx file.`,
      undefined,
      undefined,
    ]);
    expect((await readInputs([ok], { maxIdxBytes: 1000 }))[0]!.error).toBe(
      `${ok}: the file is 1.6 kB, over the 1 kB limit for an idx file; give a smaller file, or raise the limit with the maxIdxBytes option.`,
    );
  });
});

describe('loadDataset: the idx reader stats every file', () => {
  it('refuses a folder or a FIFO named as one of the four files', async () => {
    const mnist = (await loadDataset('mnist')).source;
    const withFolder = at('ds-folder');
    mkdirSync(withFolder);
    for (const f of [FILES.trainImages, FILES.trainLabels, FILES.testImages]) symlinkSync(join(mnist, f), join(withFolder, f));
    mkdirSync(join(withFolder, FILES.testLabels));
    await expect(loadDataset(withFolder)).rejects.toThrow(
      `${join(withFolder, FILES.testLabels)}: not a regular file (a folder); give the idx file itself (plain or gzipped).`,
    );
    if (!fifo) return;
    const withFifo = at('ds-fifo');
    mkdirSync(withFifo);
    for (const f of [FILES.trainImages, FILES.trainLabels, FILES.testLabels]) symlinkSync(join(mnist, f), join(withFifo, f));
    execFileSync('mkfifo', [join(withFifo, FILES.testImages)]);
    await expect(loadDataset(withFifo)).rejects.toThrow(
      `${join(withFifo, FILES.testImages)}: not a regular file (a FIFO (named pipe)); give the idx file itself (plain or gzipped).`,
    );
  }, 30_000);
});

describe('digitbench predict', () => {
  const predict = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [BIN, 'predict', bundle, ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 });
  const lines = (s: string) => s.split('\n').filter(Boolean);

  it('gives one line per refused input, predicts the good one, exits 1', () => {
    const labels = at('cli-labels-idx1-ubyte');
    writeFileSync(labels, Buffer.concat([idxHeader(2049, 1), Buffer.from([7])]));
    const truncated = at('cli-images-idx3-ubyte');
    writeFileSync(truncated, Buffer.concat([idxHeader(2051, 2, 28, 28), Buffer.alloc(784)]));
    const inputs = ['/dev/zero', ...(fifo ? [fifo] : []), labels, truncated, big, sparse, good];
    const r = predict(inputs);
    expect(r.status).toBe(1);
    const err = lines(r.stderr);
    const want = [
      `/dev/zero: not a regular file (a character device); ${GIVE}`,
      ...(fifo ? [`${fifo}: not a regular file (a FIFO (named pipe)); ${GIVE}`] : []),
      `${labels}: that is an idx labels file; give the images file (cli-images-idx3-ubyte).`,
      `${truncated}: the file is truncated: the header announces 2 images of 28×28 (1584 bytes) but the file has 800.`,
      `${big}: the image is 16000×16000 pixels (256 MP), over the 25 MP limit for a digit; crop or scale it down first.`,
      `${sparse}: the file is 2.1 GB, over the 50 MB limit for an image file; give a smaller file, or raise the limit with DIGITBENCH_MAX_IMAGE_MB.`,
    ];
    for (const w of want) expect(err).toContain(w);
    expect(err.at(-1)).toMatch(/^digitbench: /);
    // The 7 is still predicted (the bundle has no trust fields, which the last line says).
    expect(lines(r.stdout)).toEqual([
      expect.stringMatching(new RegExp(`^${good.replace(/[.]/g, '\\.')}\\s+7 \\(confidence [\\d.]+\\)`)),
      'this bundle has no calibration or threshold (fitted without a validation part): confidences are raw scores and no answer is unsure',
    ]);
  }, 60_000);

  it('takes the caps from the environment, and refuses a bad value in one line before reading anything', () => {
    const small = predict([good], { DIGITBENCH_MAX_IMAGE_MB: '0.001' });
    expect(small.status).toBe(1);
    expect(lines(small.stderr)).toContain(
      `${good}: the file is ${formatBytes(goodBytes.length)}, over the 1 kB limit for an image file; give a smaller file, or raise the limit with DIGITBENCH_MAX_IMAGE_MB.`,
    );
    const bad = predict(['/dev/zero', good], { DIGITBENCH_MAX_MEGAPIXELS: '-5' });
    expect(bad.status).toBe(1);
    expect(lines(bad.stderr).at(-1)).toBe('digitbench: DIGITBENCH_MAX_MEGAPIXELS is "-5"; set it to a positive number of megapixels (default 25) or unset it.');
    expect(bad.stdout).toBe('');
  }, 60_000);
});

describe('refusals are cheap: wall time and peak memory in a process of their own', () => {
  const probe = (call: string, file: string) => {
    const r = spawnSync(process.execPath, ['--import', './bin/register.js', PROBE, call, file], { encoding: 'utf8', cwd: ROOT, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ms: number; peakGrowth: number; rssGrowth: number; error?: string };
  };
  const cases: [string, string, () => string, () => string][] = [
    ['/dev/zero', 'readInputs', () => '/dev/zero', () => `/dev/zero: not a regular file (a character device); ${GIVE}`],
    ['the 2 GiB sparse file', 'readInputs', () => sparse, () => `${sparse}: the file is 2.1 GB, over the 50 MB limit for an image file; give a smaller file, or raise the limit with DIGITBENCH_MAX_IMAGE_MB.`],
    ['the 16000×16000 PNG', 'decodeImage', () => big, () => `${big}: the image is 16000×16000 pixels (256 MP), over the 25 MP limit for a digit; crop or scale it down first.`],
    ['the 16000×16000 PNG', 'readInputs', () => big, () => `${big}: the image is 16000×16000 pixels (256 MP), over the 25 MP limit for a digit; crop or scale it down first.`],
  ];
  for (const [what, call, file, message] of cases) {
    it(`${what} through ${call}: under 2 s and under 300 MB`, () => {
      const m = probe(call, file());
      console.log(`${what} through ${call}: refused in ${m.ms.toFixed(1)} ms; peak memory +${(m.peakGrowth / 1e6).toFixed(1)} MB, resident +${(m.rssGrowth / 1e6).toFixed(1)} MB`);
      expect(m.error).toBe(message());
      expect(m.ms).toBeLessThan(2000);
      expect(m.peakGrowth).toBeLessThan(300e6);
    }, 60_000);
  }
});
