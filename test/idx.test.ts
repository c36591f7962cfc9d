import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readIdxImages, readIdxLabels, readIdxPair } from '@digitbench/runtime/internal';

const dir = mkdtempSync(join(tmpdir(), 'digitbench-idx-'));

function imagesFile(count: number, rows: number, cols: number, magic = 2051, extra = 0): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(magic, 0);
  head.writeUInt32BE(count, 4);
  head.writeUInt32BE(rows, 8);
  head.writeUInt32BE(cols, 12);
  const body = Buffer.alloc(count * rows * cols + extra);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 256;
  return Buffer.concat([head, body]);
}

function labelsFile(labels: number[], magic = 2049): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(magic, 0);
  head.writeUInt32BE(labels.length, 4);
  return Buffer.concat([head, Buffer.from(labels)]);
}

function write(name: string, bytes: Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

describe('idx reader', () => {
  it('reads a valid images file and labels file', async () => {
    const img = await readIdxImages(write('ok-images', imagesFile(3, 2, 4)));
    expect([img.count, img.rows, img.cols]).toEqual([3, 2, 4]);
    expect(Array.from(img.pixels.subarray(0, 4))).toEqual([0, 7, 14, 21]);
    expect(Array.from(await readIdxLabels(write('ok-labels', labelsFile([1, 2, 9]))))).toEqual([1, 2, 9]);
  });

  it('reads gzipped files the same as plain ones', async () => {
    const plain = await readIdxImages(write('p-images', imagesFile(5, 3, 3)));
    const gz = await readIdxImages(write('g-images.gz', gzipSync(imagesFile(5, 3, 3))));
    expect(gz.pixels).toEqual(plain.pixels);
  });

  it('rejects a truncated file, naming it', async () => {
    const f = write('trunc-images', imagesFile(3, 2, 4).subarray(0, 16 + 20));
    await expect(readIdxImages(f)).rejects.toThrow(
      `${f}: the file is truncated: the header announces 3 images of 2×4 (40 bytes) but the file has 36.`,
    );
  });

  it('rejects a file shorter than its header', async () => {
    const f = write('tiny', Buffer.from([0, 0, 8]));
    await expect(readIdxLabels(f)).rejects.toThrow(`${f}: the file is truncated: 3 bytes is shorter than the 8-byte idx header.`);
  });

  it('rejects trailing bytes', async () => {
    const f = write('long-images', imagesFile(2, 2, 2, 2051, 5));
    await expect(readIdxImages(f)).rejects.toThrow(`${f}: the file has 5 bytes after the 2 images of 2×2 its header announces; it is not a valid idx file.`);
  });

  it('rejects a wrong magic number, naming what the file is', async () => {
    const f = write('labels-as-images', labelsFile([1, 2]));
    await expect(readIdxImages(f)).rejects.toThrow(`${f}: wrong magic number 2049 (that is a label file); an idx images file starts with 2051.`);
    const g = write('junk', imagesFile(1, 1, 1, 1234));
    await expect(readIdxLabels(g)).rejects.toThrow(`${g}: wrong magic number 1234; an idx labels file starts with 2049.`);
  });

  it('rejects an images/labels count mismatch', async () => {
    const i = write('m-images', imagesFile(3, 2, 2));
    const l = write('m-labels', labelsFile([1, 2]));
    await expect(readIdxPair(i, l)).rejects.toThrow(`${l}: has 2 labels but m-images has 3 images; use the labels file that belongs to those images.`);
  });

  it('rejects damaged gzip data', async () => {
    const bad = gzipSync(imagesFile(2, 2, 2));
    const f = write('bad.gz', Buffer.concat([bad.subarray(0, 12), Buffer.alloc(6)]));
    await expect(readIdxImages(f)).rejects.toThrow(new RegExp(`^${f.replace(/[.]/g, '\\.')}: the gzip data is damaged`));
  });

  it('checks a gzipped file as a plain one: trailing bytes counted exactly, a wrong magic named', async () => {
    const f = write('long-images.gz', gzipSync(imagesFile(2, 2, 2, 2051, 5)));
    await expect(readIdxImages(f)).rejects.toThrow(`${f}: the file has 5 bytes after the 2 images of 2×2 its header announces; it is not a valid idx file.`);
    const g = write('labels-as-images.gz', gzipSync(labelsFile([1, 2])));
    await expect(readIdxImages(g)).rejects.toThrow(`${g}: wrong magic number 2049 (that is a label file); an idx images file starts with 2051.`);
    const h = write('short.gz', gzipSync(Buffer.from([0, 0, 8, 3, 0, 0])));
    await expect(readIdxImages(h)).rejects.toThrow(`${h}: the file is truncated: 6 bytes is shorter than the 16-byte idx header.`);
  });

  it('refuses a file over the size cap (option or DIGITBENCH_MAX_IDX_MB), and a bad cap, before reading', async () => {
    const f = write('cap-images', imagesFile(10, 28, 28));
    await expect(readIdxImages(f, { maxBytes: 1000 })).rejects.toThrow(
      `${f}: the file is 7.9 kB, over the 1 kB limit for an idx file; give a smaller file, or raise the limit with the maxBytes option.`,
    );
    process.env.DIGITBENCH_MAX_IDX_MB = '0.005';
    try {
      await expect(readIdxImages(f)).rejects.toThrow(
        `${f}: the file is 7.9 kB, over the 5 kB limit for an idx file; give a smaller file, or raise the limit with DIGITBENCH_MAX_IDX_MB.`,
      );
      process.env.DIGITBENCH_MAX_IDX_MB = '0';
      await expect(readIdxImages(f)).rejects.toThrow('DIGITBENCH_MAX_IDX_MB is "0"; set it to a positive number of MB (default 1000) or unset it.');
    } finally {
      delete process.env.DIGITBENCH_MAX_IDX_MB;
    }
    await expect(readIdxImages(f, { maxBytes: Number.NaN })).rejects.toThrow('maxBytes must be a positive number (got NaN).');
    expect((await readIdxImages(f)).count).toBe(10);
    // Gzipped: the unpacked size counts, refused from the header before unpacking the rest.
    const g = write('cap-images.gz', gzipSync(imagesFile(10, 28, 28)));
    await expect(readIdxImages(g, { maxBytes: 1000 })).rejects.toThrow(
      `${g}: the header announces 10 images of 28×28 (7.9 kB unpacked), over the 1 kB limit for an idx file; give a smaller file, or raise the limit with the maxBytes option.`,
    );
  });

  it('refuses a folder in one line', async () => {
    const d = join(dir, 'a-folder');
    mkdirSync(d);
    await expect(readIdxLabels(d)).rejects.toThrow(`${d}: not a regular file (a folder); give the idx file itself (plain or gzipped).`);
  });

  it('names a missing file', async () => {
    const f = join(dir, 'nope');
    await expect(readIdxImages(f)).rejects.toThrow(`${f}: cannot read the file (ENOENT); check the path.`);
  });
});
