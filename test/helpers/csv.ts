/**
 * Real MNIST rows written as a CSV dataset (for CSV source tests): Kaggle's layout by default
 * (`label,pixel0,…,pixel783`, one row per image, raw 0–255 integers).
 */
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { loadDataset, type LabeledImages } from '../../src/data/datasets.ts';

export interface MnistCsvOptions {
  /** A header line (`label`, `group`, `pixel0`…); default true. */
  header?: boolean;
  /** Where the label column goes; default "first". */
  labelColumn?: 'first' | 'last';
  /** Pixels as 0–1 floats (p / 255, JavaScript's shortest round-trip form); default false. */
  scale01?: boolean;
  /** Pixels quantized to 0…pixelMax (round(p × pixelMax / 255)); default: raw 0–255. */
  pixelMax?: number;
  /** Gzip the file; default false. */
  gzip?: boolean;
  /**
   * A group id per row (e.g. a writer), written as a `group` column: right after the label when the
   * label is first, else as the first column.
   */
  groups?: ArrayLike<string | number>;
  /** Write labels as these names instead of indices. */
  classNames?: readonly string[];
  /** Field delimiter; default ",". */
  delimiter?: string;
  /** Line ending; default "\n". */
  eol?: string;
}

/**
 * Writes `rows` (labelled images, or a count: MNIST's first training rows) to `file` as CSV and
 * returns the rows written.
 */
export async function writeMnistCsv(file: string, rows: LabeledImages | number, options: MnistCsvOptions = {}): Promise<LabeledImages> {
  const part = typeof rows === 'number' ? await mnistRows(rows) : rows;
  const { header = true, labelColumn = 'first', scale01 = false, pixelMax, gzip = false, groups, classNames, delimiter = ',', eol = '\n' } = options;
  const n = part.images.rows;
  const cols = part.images.cols;
  const line = (label: string, group: string | undefined, pixels: string[]): string => {
    const g = group === undefined ? [] : [group];
    return (labelColumn === 'first' ? [label, ...g, ...pixels] : [...g, ...pixels, label]).join(delimiter);
  };
  const out: string[] = [];
  if (header) out.push(line('label', groups ? 'group' : undefined, Array.from({ length: cols }, (_, j) => `pixel${j}`)));
  for (let i = 0; i < n; i++) {
    const pixels = new Array<string>(cols);
    for (let j = 0; j < cols; j++) {
      const p = part.images.data[i * cols + j]!;
      pixels[j] = String(scale01 ? p / 255 : pixelMax !== undefined ? Math.round((p * pixelMax) / 255) : p);
    }
    const label = part.labels[i]!;
    out.push(line(classNames ? classNames[label]! : String(label), groups ? String(groups[i]) : undefined, pixels));
  }
  const text = out.join(eol) + eol;
  writeFileSync(file, gzip ? gzipSync(text) : text);
  return part;
}

/** MNIST's first `n` training rows. */
export async function mnistRows(n: number): Promise<LabeledImages> {
  const ds = await loadDataset('mnist');
  const cols = ds.train.images.cols;
  return {
    images: { rows: n, cols, data: ds.train.images.data.slice(0, n * cols) },
    labels: ds.train.labels.slice(0, n),
  };
}
