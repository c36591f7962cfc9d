/**
 * `digitbench datasets --inspect <name | path | JSON source>`: what a dataset source would give, before an
 * experiment uses it: its parts and rows, image shape, classes with their counts per part, the pixel
 * range, groups, and the content hash that run ids and split fingerprints build on. Paths are told apart
 * as `evaluate` tells labelled data apart (a CSV file, a class-folder tree, an idx folder or pair).
 */
import { basename } from 'node:path';
import { loadDataset, type Dataset, type LabeledImages } from '../data/datasets.ts';
import { readIdxPair } from '@digitbench/runtime/internal';
import { sha256 } from '../engine/hash.ts';
import { createMatrix } from '@digitbench/runtime/internal';
import { textTable } from '../report/table.ts';
import { dataSpec } from './evaluate.ts';

export interface Inspection {
  name: string;
  source: string;
  kind: string;
  imageShape: [number, number];
  classes: { name: string; train: number; test: number }[];
  train: number;
  test: number;
  /** No separate test part: split.test carves one. */
  pooled: boolean;
  groups?: number;
  pixels: { min: number; max: number };
  contentHash: string;
}

const NAMED = /^(mnist|fashion-mnist(:.*)?)$/;

function counts(part: LabeledImages, k: number): number[] {
  const c = new Array<number>(k).fill(0);
  for (const l of part.labels) c[l]!++;
  return c;
}

function range(parts: LabeledImages[]): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const p of parts) {
    for (const v of p.images.data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min === Infinity ? { min: 0, max: 0 } : { min, max };
}

export function describeDataset(ds: Dataset, kind: string): Inspection {
  const k = ds.classes.length;
  const [tr, te] = [counts(ds.train, k), counts(ds.test, k)];
  return {
    name: ds.name,
    source: ds.source,
    kind,
    imageShape: ds.imageShape,
    classes: ds.classes.map((name, i) => ({ name, train: tr[i]!, test: te[i]! })),
    train: ds.train.labels.length,
    test: ds.test.labels.length,
    pooled: ds.test.labels.length === 0,
    ...(ds.groups ? { groups: new Set(ds.groups).size } : {}),
    pixels: range([ds.train, ds.test]),
    contentHash: ds.contentHash,
  };
}

export async function inspectDataset(arg: string): Promise<Inspection> {
  if (NAMED.test(arg)) return describeDataset(await loadDataset(arg), 'built-in (idx files)');
  const spec = await dataSpec(arg);
  if (spec.kind === 'idx-pair') {
    const { images, labels } = await readIdxPair(spec.images, spec.labels);
    let max = 0;
    for (const l of labels) if (l > max) max = l;
    const ds: Dataset = {
      name: basename(spec.images),
      source: spec.images,
      classes: Array.from({ length: max + 1 }, (_, i) => String(i)),
      imageShape: [images.rows, images.cols],
      train: { images: createMatrix(images.count, images.rows * images.cols, Float32Array.from(images.pixels)), labels: Int32Array.from(labels) },
      test: { images: createMatrix(0, images.rows * images.cols), labels: new Int32Array(0) },
      contentHash: sha256(images.pixels, labels),
    };
    return describeDataset(ds, 'an idx pair (images and labels files)');
  }
  return describeDataset(await loadDataset(spec.source), spec.description);
}

export function inspectionText(i: Inspection): string {
  const parts = i.pooled
    ? `one pool of ${i.train} rows (no separate test part: give split.test, e.g. 0.2, to carve a holdout)`
    : `${i.train} train / ${i.test} test rows`;
  const lines = [
    `${i.name}: ${i.kind}, read from ${i.source}`,
    `  rows: ${parts}`,
    `  images: ${i.imageShape[0]}×${i.imageShape[1]}, raw pixels ${i.pixels.min}–${i.pixels.max} (digitbench's scale is 0–255, bright ink on black)`,
    `  classes: ${i.classes.length}${i.groups !== undefined ? `; groups: ${i.groups} (no group is put on two sides of a split)` : ''}`,
    `  content hash: ${i.contentHash.slice(0, 16)}`,
    '',
    textTable(['  class', 'label', i.pooled ? 'rows' : 'train', ...(i.pooled ? [] : ['test'])], i.classes.map((c, label) => [`  ${c.name}`, String(label), String(c.train), ...(i.pooled ? [] : [String(c.test)])])),
  ];
  return `${lines.join('\n')}\n`;
}
