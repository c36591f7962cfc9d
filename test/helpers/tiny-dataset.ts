/** A small real dataset on disk: the first rows of MNIST written as the four idx files (fast to load in tests). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../../src/data/datasets.ts';

function idx(magic: number, dims: number[], bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
}

/** Writes MNIST's first `train` training and `test` test rows as an idx folder `dir`; returns `dir`. */
export async function writeTinyMnist(dir: string, train = 1000, test = 300): Promise<string> {
  const ds = await loadDataset('mnist');
  mkdirSync(dir, { recursive: true });
  const px = 28 * 28;
  for (const [part, n, prefix] of [[ds.train, train, 'train'], [ds.test, test, 't10k']] as const) {
    const pixels = Uint8Array.from(part.images.data.subarray(0, n * px));
    writeFileSync(join(dir, `${prefix}-images-idx3-ubyte`), idx(2051, [n, 28, 28], pixels));
    writeFileSync(join(dir, `${prefix}-labels-idx1-ubyte`), idx(2049, [n], Uint8Array.from(part.labels.subarray(0, n))));
  }
  return dir;
}
