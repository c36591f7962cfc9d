/**
 * Image-folder datasets (src/data/image-folder.ts) on real MNIST digits written as class folders: lossless
 * PNGs read back exactly, the train/test layout, class order, other shapes, photo-like PNG and JPEG digits
 * normalized close to the originals, every bad folder with its exact one-line message (and, through the CLI,
 * exit code 1), and the decoded-dataset cache.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '@digitbench/runtime/internal';
import { readImageFolder } from '../src/data/image-folder.ts';
import { imagesSourceSchema, type ImagesSource } from '../src/data/sources.ts';
import { createMatrix } from '@digitbench/runtime/internal';
import { writeMnistPngFolder, type WrittenFolder } from './helpers/image-folder.ts';
import { resizeRows } from './helpers/resize.ts';

const BIN = resolve(__dirname, '../bin/digitbench.js');
const tmp = mkdtempSync(join(tmpdir(), 'digitbench-image-folder-'));
const cache = join(tmp, 'cache');
const savedCacheDir = process.env.DIGITBENCH_CACHE_DIR;

const source = (o: Record<string, unknown>): ImagesSource => imagesSourceSchema.parse(o);

/** A fresh cache for each load that must decode (entries are keyed by the folder's path, so sharing is safe too). */
let cacheN = 0;
function freshCache(): void {
  process.env.DIGITBENCH_CACHE_DIR = join(cache, String(cacheN++));
}

const GIVE = 'give a folder with one sub-folder of PNG or JPEG images per class, or with train/ and test/ sub-folders that hold the class folders.';

let flat: WrittenFolder;
let split: WrittenFolder;

beforeAll(async () => {
  freshCache();
  flat = await writeMnistPngFolder(join(tmp, 'flat'), 300, { layout: 'flat' });
  split = await writeMnistPngFolder(join(tmp, 'split'), { train: 200, test: 100 }, { layout: 'train-test' });
}, 60_000);

afterAll(() => {
  if (savedCacheDir === undefined) delete process.env.DIGITBENCH_CACHE_DIR;
  else process.env.DIGITBENCH_CACHE_DIR = savedCacheDir;
  rmSync(tmp, { recursive: true, force: true });
});

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

describe('image folders: layout, order and exact pixels', () => {
  it('lossless 28×28 PNGs with normalize "resize" load back as exactly the MNIST rows and labels; no test part', async () => {
    const { dataset: ds, fromCache, decoded } = await readImageFolder(source({ images: flat.dir, normalize: 'resize' }));
    expect(fromCache).toBe(false);
    expect(decoded).toBe(300);
    expect(ds.name).toBe('flat');
    expect(ds.source).toBe(resolve(flat.dir));
    expect(ds.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(ds.imageShape).toEqual([28, 28]);
    expect(ds.train.images.rows).toBe(300);
    expect(ds.train.images.cols).toBe(784);
    expect(ds.test.images.rows).toBe(0);
    expect(ds.test.labels.length).toBe(0);
    expect(Array.from(ds.train.labels)).toEqual(flat.train.map((w) => w.label));
    const expected = new Float32Array(300 * 784);
    flat.train.forEach((w, i) => expected.set(w.pixels, i * 784));
    expect(ds.train.images.data).toEqual(expected);
    expect(ds.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('train/ and test/ sub-folders fill the test part, each exact', async () => {
    freshCache();
    const { dataset: ds } = await readImageFolder(source({ images: split.dir, normalize: 'resize', name: 'mine' }));
    expect(ds.name).toBe('mine');
    expect(ds.train.images.rows).toBe(200);
    expect(ds.test.images.rows).toBe(100);
    for (const part of ['train', 'test'] as const) {
      expect(Array.from(ds[part].labels)).toEqual(split[part].map((w) => w.label));
      split[part].forEach((w, i) => expect(ds[part].images.data.subarray(i * 784, (i + 1) * 784)).toEqual(w.pixels));
    }
  });

  it('classes are in name order, or in the order "classes" gives; rows follow the file names across class folders', async () => {
    const words = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    const named = await writeMnistPngFolder(join(tmp, 'named'), 100, { layout: 'flat', classNames: words });
    const byName = (await readImageFolder(source({ images: named.dir, normalize: 'resize' }))).dataset;
    expect(byName.classes).toEqual(['eight', 'five', 'four', 'nine', 'one', 'seven', 'six', 'three', 'two', 'zero']);
    // Each row's label names the folder its file is in.
    expect(Array.from(byName.train.labels, (l) => byName.classes[l])).toEqual(named.train.map((w) => words[w.label]));
    byName.train.labels.forEach((_, i) => expect(byName.train.images.data.subarray(i * 784, (i + 1) * 784)).toEqual(named.train[i]!.pixels));

    const given = (await readImageFolder(source({ images: named.dir, normalize: 'resize', classes: words }))).dataset;
    expect(given.classes).toEqual(words);
    // Label i is words[i], i.e. the MNIST digit; rows stay in file-name (MNIST index) order.
    expect(Array.from(given.train.labels)).toEqual(named.train.map((w) => w.label));
    named.train.forEach((w, i) => expect(given.train.images.data.subarray(i * 784, (i + 1) * 784)).toEqual(w.pixels));
    expect(given.contentHash).not.toBe(byName.contentHash);
  });

  it('code-point order, not locale order: class folders and file names', async () => {
    const dir = join(tmp, 'codepoint');
    const names = ['a.png', 'B.png', '9.png', '10.PNG', 'é.png'];
    let k = 0;
    const source0: Record<string, Float32Array> = {};
    for (const c of ['alpha', 'Zeta', 'Beta']) {
      mkdirSync(join(dir, c), { recursive: true });
      for (const n of names) {
        copyFileSync(flat.train[k]!.file, join(dir, c, n));
        source0[`${c}/${n}`] = flat.train[k++]!.pixels;
      }
    }
    const ds = (await readImageFolder(source({ images: dir, normalize: 'resize' }))).dataset;
    expect(ds.classes).toEqual(['Beta', 'Zeta', 'alpha']);
    // Rows by file name in code-point order, across the class folders; ties in class order.
    const order = ['10.PNG', '9.png', 'B.png', 'a.png', 'é.png'];
    const expected = order.flatMap((n) => ds.classes.map((c) => source0[`${c}/${n}`]!));
    expected.forEach((px, i) => expect(ds.train.images.data.subarray(i * 784, (i + 1) * 784)).toEqual(px));
    expect(Array.from(ds.train.labels)).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });

  it('ignores other files, dot-names and folders inside class folders', async () => {
    const dir = join(tmp, 'clutter');
    const w = await writeMnistPngFolder(dir, 40, { layout: 'flat' });
    writeFileSync(join(dir, 'README.md'), '# my digits\n');
    writeFileSync(join(dir, '.DS_Store'), 'junk');
    writeFileSync(join(dir, '3', 'notes.txt'), 'a note');
    writeFileSync(join(dir, '3', '._00007.png'), 'AppleDouble junk');
    mkdirSync(join(dir, '.git'));
    mkdirSync(join(dir, '3', 'deeper'));
    copyFileSync(w.train[0]!.file, join(dir, '3', 'deeper', 'x.png'));
    mkdirSync(join(dir, '3', 'folder.png'));
    const ds = (await readImageFolder(source({ images: dir, normalize: 'resize' }))).dataset;
    expect(ds.classes).toHaveLength(10);
    expect(ds.train.images.rows).toBe(40);
    expect(Array.from(ds.train.labels)).toEqual(w.train.map((x) => x.label));
  });
});

describe('image folders: other shapes and photo-like digits', () => {
  it('a 16×16 target: "resize" area-averages the whole digit; "mnist" fits the ink in an 11×11 box centred at (8, 8)', async () => {
    const resized = (await readImageFolder(source({ images: flat.dir, normalize: 'resize', imageShape: [16, 16] }))).dataset;
    expect(resized.imageShape).toEqual([16, 16]);
    expect(resized.train.images.cols).toBe(256);
    const originals = createMatrix(300, 784, Float32Array.from(flat.train.flatMap((w) => Array.from(w.pixels))));
    const reference = resizeRows(originals, [28, 28], [16, 16]);
    for (let i = 0; i < reference.data.length; i++) expect(Math.abs(resized.train.images.data[i]! - reference.data[i]!)).toBeLessThan(1e-3);

    const normalized = (await readImageFolder(source({ images: flat.dir, imageShape: [16, 16] }))).dataset;
    expect(normalized.train.images.cols).toBe(256);
    let diff = 0;
    for (let r = 0; r < 300; r++) {
      const p = normalized.train.images.data.subarray(r * 256, (r + 1) * 256);
      let m = 0, mx = 0, my = 0, x0 = 16, x1 = -1, y0 = 16, y1 = -1, max = 0;
      for (let y = 0; y < 16; y++) {
        for (let x = 0; x < 16; x++) {
          const v = p[y * 16 + x]!;
          m += v;
          mx += v * x;
          my += v * y;
          if (v > 0) [x0, x1, y0, y1] = [Math.min(x0, x), Math.max(x1, x), Math.min(y0, y), Math.max(y1, y)];
          max = Math.max(max, v);
        }
      }
      expect(max).toBe(255);
      expect(Math.max(x1 - x0 + 1, y1 - y0 + 1)).toBeLessThanOrEqual(11);
      // Centred within half a pixel, except where the clamp keeps a lopsided digit's box inside the field.
      expect(Math.abs(mx / m - 8)).toBeLessThanOrEqual(1);
      expect(Math.abs(my / m - 8)).toBeLessThanOrEqual(1);
      diff += meanAbsDiff(p, reference.data.subarray(r * 256, (r + 1) * 256));
    }
    // The MNIST digit shrunk to 16×16 is already normalized the same way (box 20/28 of the side, centred):
    // the two differ by the contrast stretch and rounding of the box and shift.
    // Measured: 12.7 per pixel on average (0..255 scale).
    expect(diff / 300).toBeLessThan(15);
  });

  it('photo-like digits (enlarged, dark on light, off-centre, mixed sizes, PNG and JPEG) with "mnist" come out close to the MNIST originals', async () => {
    const photos = await writeMnistPngFolder(join(tmp, 'photos'), 120, { layout: 'flat', from: 'test', photoLike: true });
    const exts = new Set(photos.train.map((w) => w.file.split('.').pop()));
    expect(exts).toEqual(new Set(['png', 'jpg']));
    const { dataset: ds } = await readImageFolder(source({ images: photos.dir }));
    expect(ds.train.images.rows).toBe(120);
    expect(Array.from(ds.train.labels)).toEqual(photos.train.map((w) => w.label));
    const diffs = photos.train.map((w, i) => meanAbsDiff(ds.train.images.data.subarray(i * 784, (i + 1) * 784), w.pixels));
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    // As test/input.test.ts measures predict's normalization (0..255 scale): a digit and itself shifted by
    // one pixel differ by 16.4 on average, two test digits of one class by 31.4. Measured here: 7.7 on
    // average, worst digit 22.7.
    expect(mean).toBeLessThan(10);
    expect(Math.max(...diffs)).toBeLessThan(25);
  });
});

describe('image folders: bad folders', () => {
  const bad = join(tmp, 'bad');
  beforeAll(() => mkdirSync(bad));

  /** A class-folder tree with a few lossless digits, copied from the flat folder. */
  function tree(name: string, classes: Record<string, number>): string {
    const dir = join(bad, name);
    for (const [c, n] of Object.entries(classes)) {
      mkdirSync(join(dir, c), { recursive: true });
      for (let i = 0; i < n; i++) copyFileSync(flat.train[i]!.file, join(dir, c, `${i}.png`));
    }
    return dir;
  }

  const load = (o: Record<string, unknown>) => readImageFolder(source(o));

  it('a missing folder, or a file where a folder is expected', async () => {
    const missing = join(bad, 'nope');
    await expect(load({ images: missing })).rejects.toThrow(new Error(`${missing}: no such folder; ${GIVE}`));
    const file = join(bad, 'file.png');
    copyFileSync(flat.train[0]!.file, file);
    await expect(load({ images: file })).rejects.toThrow(new Error(`${file}: not a folder (a file); ${GIVE}`));
  });

  it('an empty folder, an empty class folder, an image outside the class folders', async () => {
    const empty = join(bad, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'README'), 'nothing here');
    await expect(load({ images: empty })).rejects.toThrow(new Error(`${empty}: no class folders in it; ${GIVE}`));
    const hollow = tree('hollow', { a: 2, b: 0, c: 1 });
    writeFileSync(join(hollow, 'b', 'notes.txt'), 'not an image');
    await expect(load({ images: hollow })).rejects.toThrow(
      new Error(`${join(hollow, 'b')}: the class folder holds no PNG or JPEG images (.png, .jpg or .jpeg files); add its images or remove the folder.`),
    );
    const stray = tree('stray', { a: 1, b: 1 });
    copyFileSync(flat.train[0]!.file, join(stray, 'loose.PNG'));
    await expect(load({ images: stray })).rejects.toThrow(
      new Error(`${join(stray, 'loose.PNG')}: an image outside the class folders has no class; move it into the folder of its class.`),
    );
  });

  it('an undecodable file fails the load, naming the first bad file in row order', async () => {
    const broken = tree('broken', { a: 3, b: 3 });
    const png = readdirSync(broken); // a, b
    expect(png).toEqual(['a', 'b']);
    const truncated = join(broken, 'b', '1.png');
    writeFileSync(truncated, readFileSync(flat.train[0]!.file).subarray(0, 60));
    writeFileSync(join(broken, 'b', '2.png'), 'not an image at all');
    await expect(load({ images: broken })).rejects.toThrow(new RegExp(`^${escape(truncated)}: the image could not be decoded \\(.+\\); check that the file is a complete PNG or JPEG\\.$`));
    rmSync(truncated);
    const text = join(broken, 'b', '2.png');
    await expect(load({ images: broken })).rejects.toThrow(
      new Error(`${text}: not a PNG or JPEG image (its content is neither); replace it with its image, or remove it.`),
    );
    writeFileSync(text, '');
    await expect(load({ images: broken })).rejects.toThrow(new Error(`${text}: the file is empty; replace it with its PNG or JPEG image, or remove it.`));
  });

  it('an image entry that is not a regular file, or over the size cap, is refused before anything is decoded', async () => {
    const dir = tree('fifo', { a: 2, b: 2 });
    const fifo = join(dir, 'b', '9.png');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    await expect(load({ images: dir })).rejects.toThrow(new Error(`${fifo}: not a regular file (a FIFO (named pipe)); remove it or replace it with a PNG or JPEG image.`));
    rmSync(fifo);
    const saved = process.env.DIGITBENCH_MAX_IMAGE_MB;
    process.env.DIGITBENCH_MAX_IMAGE_MB = '0.0001';
    try {
      const first = join(dir, 'a', '0.png');
      await expect(load({ images: dir })).rejects.toThrow(
        new Error(`${first}: the file is ${formatBytes(statSync(first).size)}, over the 100 bytes limit for an image file; give a smaller file, or raise the limit with DIGITBENCH_MAX_IMAGE_MB.`),
      );
    } finally {
      if (saved === undefined) delete process.env.DIGITBENCH_MAX_IMAGE_MB;
      else process.env.DIGITBENCH_MAX_IMAGE_MB = saved;
    }
  });

  it('"classes": an unlisted class folder, a listed class without its folder', async () => {
    const dir = tree('listed', { a: 1, b: 1, c: 1 });
    await expect(load({ images: dir, classes: ['a', 'b'] })).rejects.toThrow(
      new Error(`${join(dir, 'c')}: a class folder not in the source's "classes"; add "c" to classes, or move the folder out.`),
    );
    await expect(load({ images: dir, classes: ['c', 'b', 'a', 'd'] })).rejects.toThrow(
      new Error(`${join(dir, 'd')}: no such class folder, but "classes" lists "d"; add the folder with its images, or remove "d" from classes.`),
    );
    writeFileSync(join(dir, 'd'), 'a file named like a class');
    await expect(load({ images: dir, classes: ['c', 'b', 'a', 'd'] })).rejects.toThrow(
      new Error(`${join(dir, 'd')}: not a folder (a file), but "classes" lists "d"; make it the folder of that class's images, or remove "d" from classes.`),
    );
    const ok = (await load({ images: dir, classes: ['c', 'b', 'a'], normalize: 'resize' })).dataset;
    expect(ok.classes).toEqual(['c', 'b', 'a']);
    expect(Array.from(ok.train.labels)).toEqual([0, 1, 2]);
  });

  it('train/ without test/, a folder beside them, a test class train/ lacks', async () => {
    const half = tree('half', { 'train/a': 1, 'train/b': 1 });
    await expect(load({ images: half })).rejects.toThrow(
      new Error(`${join(half, 'train')}: a train/ folder without test/; add ${join(half, 'test')} with the same class folders, or put the class folders directly in ${half}.`),
    );
    tree('half', { 'test/a': 1, extra: 1 });
    await expect(load({ images: half })).rejects.toThrow(
      new Error(`${join(half, 'extra')}: a folder beside train/ and test/; move it into train/ or test/ (as a class folder), or remove it.`),
    );
    rmSync(join(half, 'extra'), { recursive: true });
    tree('half', { 'test/z': 1 });
    await expect(load({ images: half })).rejects.toThrow(
      new Error(`${join(half, 'test', 'z')}: a class folder that train/ does not have; add it to train/, or move it out.`),
    );
    rmSync(join(half, 'test', 'z'), { recursive: true });
    // A test part may lack a class.
    const ds = (await load({ images: half, normalize: 'resize' })).dataset;
    expect([ds.train.images.rows, ds.test.images.rows]).toEqual([2, 1]);
  });

  it('through the CLI: one line naming the path, exit code 1', () => {
    const env = { ...process.env, DIGITBENCH_CACHE_DIR: join(cache, 'cli') };
    const missing = join(bad, 'nope');
    const r = spawnSync(process.execPath, [BIN, 'datasets', '--inspect', JSON.stringify({ images: missing })], { encoding: 'utf8', env });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`digitbench: ${missing}: no such folder; ${GIVE}`]);
    const dir = tree('cli-listed', { a: 1, b: 1, c: 1 });
    const r2 = spawnSync(process.execPath, [BIN, 'datasets', '--inspect', JSON.stringify({ images: dir, classes: ['a', 'b'] })], { encoding: 'utf8', env });
    expect(r2.status).toBe(1);
    expect(r2.stderr.trim().split('\n')).toEqual([`digitbench: ${join(dir, 'c')}: a class folder not in the source's "classes"; add "c" to classes, or move the folder out.`]);
  }, 30_000);
});

describe('image folders: the decoded-dataset cache', () => {
  it('a second load is served by the cache and equals the first; a touched, changed or added file makes a new entry', async () => {
    freshCache();
    const dir = join(tmp, 'cached');
    const w = await writeMnistPngFolder(dir, 60, { layout: 'flat' });
    const src = source({ images: dir });
    const first = await readImageFolder(src);
    expect([first.fromCache, first.decoded]).toEqual([false, 60]);
    const entry = join(process.env.DIGITBENCH_CACHE_DIR!, 'datasets', first.cacheKey);
    expect(readdirSync(entry).sort()).toEqual(['meta.json', 'test.labels', 'test.pixels', 'train.labels', 'train.pixels']);

    const second = await readImageFolder(src);
    expect([second.fromCache, second.decoded, second.cacheKey]).toEqual([true, 0, first.cacheKey]);
    expect(second.dataset).toEqual(first.dataset);

    // Other options are other entries.
    const resized = await readImageFolder(source({ images: dir, normalize: 'resize' }));
    expect(resized.fromCache).toBe(false);
    expect(resized.cacheKey).not.toBe(first.cacheKey);
    // "resize" of lossless PNGs at their own size gives whole numbers: stored one byte per pixel, read back exact.
    const again = await readImageFolder(source({ images: dir, normalize: 'resize' }));
    expect(again.fromCache).toBe(true);
    expect(again.dataset).toEqual(resized.dataset);

    // Touching one file (same content, new modification time) makes a new entry.
    const t = new Date(Date.now() + 5000);
    utimesSync(w.train[7]!.file, t, t);
    const touched = await readImageFolder(src);
    expect(touched.fromCache).toBe(false);
    expect(touched.cacheKey).not.toBe(first.cacheKey);
    expect(touched.dataset.contentHash).toBe(first.dataset.contentHash);
    // It replaced the older entry of the same folder and options; the "resize" entry stays.
    expect(readdirSync(join(process.env.DIGITBENCH_CACHE_DIR!, 'datasets')).sort()).toEqual([touched.cacheKey, resized.cacheKey].sort());

    // A changed file: new entry, new pixels, new content hash.
    copyFileSync(w.train[0]!.file, w.train[1]!.file);
    const changed = await readImageFolder(src);
    expect(changed.fromCache).toBe(false);
    expect(changed.dataset.contentHash).not.toBe(first.dataset.contentHash);
    expect(changed.dataset.train.images.data.subarray(784, 1568)).toEqual(changed.dataset.train.images.data.subarray(0, 784));

    // An added file: a new entry with the new row.
    copyFileSync(w.train[0]!.file, join(dir, String(w.train[0]!.label), 'added.png'));
    const added = await readImageFolder(src);
    expect([added.fromCache, added.dataset.train.images.rows]).toEqual([false, 61]);
    expect((await readImageFolder(src)).fromCache).toBe(true);
  });

  it('a damaged entry is decoded again, never trusted', async () => {
    freshCache();
    const src = source({ images: split.dir });
    const first = await readImageFolder(src);
    const entry = join(process.env.DIGITBENCH_CACHE_DIR!, 'datasets', first.cacheKey);
    writeFileSync(join(entry, 'train.pixels'), 'cut off');
    const again = await readImageFolder(src);
    expect(again.fromCache).toBe(false);
    expect(again.dataset).toEqual(first.dataset);
    expect((await readImageFolder(src)).fromCache).toBe(true);
    expect(existsSync(join(entry, 'meta.json'))).toBe(true);
    expect(basename(entry)).toBe(first.cacheKey);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
