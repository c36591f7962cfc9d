/**
 * CSV dataset sources (src/data/csv.ts): real MNIST rows written as CSV in every supported form read back
 * as exactly the idx dataset's pixels and labels; every bad file and row refused in one line naming the
 * file, line and column; both readers (the byte scanner and csv-parse) give the same rows and messages.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadCsv, parseNumber, parseNumberString, type CsvReadOptions } from '../src/data/csv.ts';
import { loadDataset, type Dataset, type LabeledImages } from '../src/data/datasets.ts';
import { writeMnistCsv } from './helpers/csv.ts';
import { writeTinyMnist } from './helpers/tiny-dataset.ts';

const BIN = resolve(__dirname, '../bin/digitbench.js');
const dir = mkdtempSync(join(tmpdir(), 'digitbench-csv-'));
const READERS: CsvReadOptions['reader'][] = ['auto', 'csv-parse'];
const ROWS = 300;
const TEST_ROWS = 60;

let idx: Dataset;

beforeAll(async () => {
  idx = await loadDataset(await writeTinyMnist(join(dir, 'idx'), ROWS, TEST_ROWS));
}, 60_000);

/** The index of the first differing value, -1 when equal (a readable failure, unlike a 235,200-value diff). */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

function expectRows(got: LabeledImages, want: LabeledImages, map: (p: number) => number = (p) => p): void {
  expect([got.images.rows, got.images.cols]).toEqual([want.images.rows, want.images.cols]);
  expect(firstDiff(got.images.data, Float32Array.from(want.images.data, map))).toBe(-1);
  expect(Array.from(got.labels)).toEqual(Array.from(want.labels));
}

function file(name: string, text: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** Both readers refuse `source` with exactly `message` (the file's path is prefixed). */
async function expectRefused(source: Parameters<typeof loadCsv>[0], message: string, options: CsvReadOptions = {}): Promise<void> {
  for (const reader of READERS) {
    await expect(loadCsv(source, { ...options, reader }), `reader ${reader}`).rejects.toThrow(message);
    await loadCsv(source, { ...options, reader }).catch((e: Error) => expect(e.message.split('\n')).toHaveLength(1));
  }
}

describe('CSV datasets: the same rows as idx files', () => {
  const variants: [string, Parameters<typeof writeMnistCsv>[2], object, ((p: number) => number)?][] = [
    ['header, label first (Kaggle)', {}, {}],
    ['no header, label first', { header: false }, {}],
    ['header, label last', { labelColumn: 'last' }, { labelColumn: 'last' }],
    ['no header, label last', { header: false, labelColumn: 'last' }, { labelColumn: 'last' }],
    ['0–1 floats', { scale01: true }, {}],
    ['gzipped', { gzip: true }, {}],
    ['tab-separated, CRLF line ends', { delimiter: '\t', eol: '\r\n' }, { delimiter: '\t' }],
    ['pixelMax 15, quantized values', { pixelMax: 15 }, { pixelMax: 15 }, (p) => Math.round((p * 15) / 255) * 17],
  ];

  for (const [title, write, source, map] of variants) {
    it(`${title}: identical pixels and labels, both readers`, async () => {
      const f = join(dir, `same-${title.replace(/\W+/g, '-')}.csv${write?.gzip ? '.gz' : ''}`);
      await writeMnistCsv(f, idx.train, write);
      for (const reader of READERS) {
        const ds = await loadCsv({ csv: f, ...source }, { reader });
        expectRows(ds.train, idx.train, map);
        expect(ds.classes).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
        expect(ds.imageShape).toEqual([28, 28]);
        expect(ds.test.images.rows).toBe(0);
        expect(ds.test.images.cols).toBe(784);
        expect(ds.source).toBe(resolve(f));
        expect(ds.name).toBe(f.split('/').pop()!.replace(/\.gz$/, '').replace(/\.csv$/, ''));
        expect(ds.groups).toBeUndefined();
      }
    });
  }

  it('the content hash is over what was read: header or not, label first or last, gzip, 0–1 floats hash alike; pixelMax data differs', async () => {
    const hashes = new Set<string>();
    for (const [i, opts] of ([{}, { header: false }, { gzip: true }, { scale01: true }, { labelColumn: 'last' }] as const).entries()) {
      const f = join(dir, `hash-${i}.csv`);
      await writeMnistCsv(f, idx.train, opts);
      hashes.add((await loadCsv({ csv: f, ...('labelColumn' in opts ? { labelColumn: 'last' as const } : {}) })).contentHash);
    }
    expect(hashes.size).toBe(1);
    const q = join(dir, 'hash-q.csv');
    await writeMnistCsv(q, idx.train, { pixelMax: 15 });
    expect(hashes.has((await loadCsv({ csv: q, pixelMax: 15 })).contentHash)).toBe(false);
  });

  it('a quoted file (as R writes it) is read by csv-parse with the same rows', async () => {
    const plain = join(dir, 'r-plain.csv');
    await writeMnistCsv(plain, idx.train, { classNames: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'] });
    const lines = readFileSync(plain, 'utf8').split('\n');
    const quoted = lines.map((l, i) => (i === 0 ? l.split(',').map((n) => `"${n}"`).join(',') : l.replace(/^(\w+),/, '"$1",'))).join('\n');
    const f = file('r-quoted.csv', quoted);
    const classes = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    const a = await loadCsv({ csv: f, classes });
    const b = await loadCsv({ csv: plain, classes });
    expectRows(a.train, idx.train);
    expect(a.contentHash).toBe(b.contentHash);
  });

  it('a second file gives the test rows; its columns must match', async () => {
    const train = join(dir, 'split-train.csv');
    const test = join(dir, 'split-test.csv.gz');
    await writeMnistCsv(train, idx.train);
    await writeMnistCsv(test, idx.test, { header: false, gzip: true });
    const ds = await loadCsv({ csv: train, test });
    expectRows(ds.train, idx.train);
    expectRows(ds.test, idx.test);

    const narrow = file('split-narrow.csv', '3,0,0,0,255\n1,0,1,2,3\n');
    await expectRefused({ csv: train, test: narrow }, `${narrow}: the rows have 5 columns but ${train}'s have 785; the test file needs the same columns as the training file.`);
    const missing = join(dir, 'no-such-test.csv');
    await expectRefused({ csv: train, test: missing }, `${missing}: no such file; check the "test" path.`);
  });

  it("a multi-member gzip (its trailer gives only the last member's size) grows its reservation and reads every row", async () => {
    const whole = join(dir, 'members.csv');
    await writeMnistCsv(whole, idx.train);
    const text = readFileSync(whole);
    const cut = text.indexOf(10, text.length - 2000) + 1;
    const f = file('members.csv.gz', Buffer.concat([gzipSync(text.subarray(0, cut)), gzipSync(text.subarray(cut))]));
    for (const reader of READERS) expectRows((await loadCsv({ csv: f }, { reader })).train, idx.train);
  });

  it('0–1 floats in one file and 0–255 in the other are refused; pixelMax reads both on one scale', async () => {
    const unit = join(dir, 'scale-unit.csv');
    const bytes = join(dir, 'scale-bytes.csv');
    await writeMnistCsv(unit, idx.train, { scale01: true });
    await writeMnistCsv(bytes, idx.test);
    await expectRefused({ csv: unit, test: bytes }, `${unit}: every pixel value is within 0–1 but ${bytes} has values up to 255; give "pixelMax" so both files are read on one scale.`);
    const ds = await loadCsv({ csv: bytes, test: bytes, pixelMax: 255 });
    expectRows(ds.test, idx.test);
  });
});

describe('CSV datasets: classes, groups, shapes', () => {
  const names = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

  it('labels may be class names (given in "classes") or indices into them', async () => {
    const f = join(dir, 'named.csv');
    await writeMnistCsv(f, idx.train, { classNames: names });
    const ds = await loadCsv({ csv: f, classes: names });
    expectRows(ds.train, idx.train);
    expect(ds.classes).toEqual(names);
    const bare = join(dir, 'named-bare.csv');
    await writeMnistCsv(bare, idx.train, { classNames: names, header: false });
    expect((await loadCsv({ csv: bare, classes: names })).contentHash).toBe(ds.contentHash);
    const mixed = file('named-mixed.csv', 'label,a,b,c,d\nseven,0,1,2,3\n2,4,5,6,7\n');
    expect(Array.from((await loadCsv({ csv: mixed, classes: names })).train.labels)).toEqual([7, 2]);
  });

  it('without "classes", k = the largest label + 1 and names are "0" … "k-1"', async () => {
    const f = file('k.csv', '4,0,1,2,3\n1,4,5,6,7\n');
    const ds = await loadCsv({ csv: f });
    expect(ds.classes).toEqual(['0', '1', '2', '3', '4']);
    expect(Array.from(ds.train.labels)).toEqual([4, 1]);
  });

  it('groupColumn: any strings, ids in order of first appearance; by header name or index', async () => {
    const writers = Array.from({ length: ROWS }, (_, i) => `writer-${['b', 'a', 'c'][i % 3]}${i % 7 === 0 ? ' x' : ''}`);
    const f = join(dir, 'groups.csv');
    await writeMnistCsv(f, idx.train, { groups: writers });
    const firstSeen = [...new Set(writers)];
    const want = writers.map((w) => firstSeen.indexOf(w));
    for (const groupColumn of ['group', 1] as const) {
      for (const reader of READERS) {
        const ds = await loadCsv({ csv: f, groupColumn }, { reader });
        expectRows(ds.train, idx.train);
        expect(Array.from(ds.groups!)).toEqual(want);
      }
    }
    const last = join(dir, 'groups-last.csv');
    await writeMnistCsv(last, idx.train, { groups: writers, labelColumn: 'last', header: false });
    const ds = await loadCsv({ csv: last, labelColumn: 'last', groupColumn: 'first' });
    expectRows(ds.train, idx.train);
    expect(Array.from(ds.groups!)).toEqual(want);
  });

  it('the image shape: inferred from a square pixel count, or given; a wrong or missing shape is refused', async () => {
    const px = (n: number) => Array.from({ length: n }, (_, i) => i % 256).join(',');
    const sq = file('shape-16.csv', `0,${px(256)}\n1,${px(256)}\n`);
    expect((await loadCsv({ csv: sq })).imageShape).toEqual([16, 16]);
    const wide = file('shape-700.csv', `0,${px(700)}\n1,${px(700)}\n`);
    const ds = await loadCsv({ csv: wide, imageShape: [20, 35] });
    expect(ds.imageShape).toEqual([20, 35]);
    expect(ds.train.images.cols).toBe(700);
    await expectRefused({ csv: wide }, `${wide}: the rows have 700 pixel columns, not a square number; give "imageShape": [height, width] with height × width = 700 (e.g. [25, 28]).`);
    await expectRefused({ csv: sq, imageShape: [20, 20] }, `${sq}: imageShape [20, 20] makes 400 pixels but the rows have 256 pixel columns; give an imageShape whose height × width is 256.`);
  });

  it('0–1 floats that stay fractional on 0–255: both files scaled, values as close as float32 holds them', async () => {
    const train = file('fractional-train.csv', '0,0,0.5,0.1,1\n1,0.2,0,0,1\n');
    const test = file('fractional-test.csv', '1,1,0,0,0.5\n0,0,0,0,0\n');
    for (const reader of READERS) {
      const ds = await loadCsv({ csv: train, test }, { reader });
      expect(Array.from(ds.train.images.data)).toEqual([0, 127.5, 25.5, 255, 51, 0, 0, 255]);
      expect(Array.from(ds.test.images.data)).toEqual([255, 0, 0, 127.5, 0, 0, 0, 0]);
    }
    const whole = file('fractional-whole.csv', '0,0,0.5,0.1,1\n1,0.2,0,0,1\n'.replace('0.5', '1').replace('0.1', '0'));
    expect((await loadCsv({ csv: whole })).contentHash).not.toBe((await loadCsv({ csv: train })).contentHash);
  });

  it('binary 0/1 images read as 0/255 (within 0–1 means 0–1 floats); pixelMax 255 keeps them as 0/1', async () => {
    const f = file('binary.csv', '0,0,1,1,0\n1,1,0,0,1\n');
    expect(Array.from((await loadCsv({ csv: f })).train.images.data)).toEqual([0, 255, 255, 0, 255, 0, 0, 255]);
    expect(Array.from((await loadCsv({ csv: f, pixelMax: 255 })).train.images.data)).toEqual([0, 1, 1, 0, 1, 0, 0, 1]);
  });
});

describe('CSV datasets: bad files and rows, one line each', () => {
  const ok = 'label,a,b,c,d\n1,0,255,3,4\n';

  it('a row with the wrong number of columns', async () => {
    const few = file('cols-few.csv', `${ok}0,1,2,3\n`);
    await expectRefused({ csv: few }, `${few}: line 3 has 4 columns but line 1 has 5; every row needs the same columns (a label and 4 pixels).`);
    const many = file('cols-many.csv', `${ok}\n0,1,2,3,4,5,6\n`);
    await expectRefused({ csv: many }, `${many}: line 4 has 7 columns but line 1 has 5; every row needs the same columns (a label and 4 pixels).`);
    const grouped = file('cols-group.csv', 'label,w,a,b,c,d\n1,x,0,255,3,4\n0,y,1,2,3\n');
    await expectRefused({ csv: grouped, groupColumn: 'w' }, `${grouped}: line 3 has 5 columns but line 1 has 6; every row needs the same columns (a label, a group and 4 pixels).`);
  });

  it('a pixel that is not a number, or missing', async () => {
    const nan = file('nan.csv', `${ok}0,1,2x,3,4\n`);
    await expectRefused({ csv: nan }, `${nan}: line 3, column 3: "2x" is not a number; pixel values are numbers (0–255, 0–1, or 0 to "pixelMax").`);
    const empty = file('px-empty.csv', `${ok}0,1,2,,4\n`);
    await expectRefused({ csv: empty }, `${empty}: line 3, column 4: the pixel value is missing; every row needs all 4 pixel values.`);
    const nanWord = file('px-nan.csv', `${ok}0,1,2,NaN,4\n`);
    await expectRefused({ csv: nanWord }, `${nanWord}: line 3, column 4: "NaN" is not a number; pixel values are numbers (0–255, 0–1, or 0 to "pixelMax").`);
  });

  it('a pixel out of range', async () => {
    const high = file('px-high.csv', `${ok}0,1,256,3,4\n`);
    await expectRefused({ csv: high }, `${high}: line 3, column 3: pixel value 256 is above 255; give "pixelMax" when the values go higher.`);
    const neg = file('px-neg.csv', `${ok}0,1,2,-0.5,4\n`);
    await expectRefused({ csv: neg }, `${neg}: line 3, column 4: pixel value -0.5 is below 0; pixel values run from 0 (background) up to 255, 1 or "pixelMax".`);
    const q = file('px-max.csv', 'label,a,b,c,d\n1,0,15,3,4\n0,1,16,3,4\n');
    await expectRefused({ csv: q, pixelMax: 15 }, `${q}: line 3, column 3: pixel value 16 is above pixelMax 15; fix the value or raise "pixelMax".`);
  });

  it('a missing or unknown label', async () => {
    const missing = file('label-missing.csv', `${ok} ,1,2,3,4\n`);
    await expectRefused({ csv: missing }, `${missing}: line 3, column 1: the label is missing; every row needs a label.`);
    const last = file('label-missing-last.csv', '0,1,2,3,1\n0,1,2,3,\n');
    await expectRefused({ csv: last, labelColumn: 'last' }, `${last}: line 2, column 5: the label is missing; every row needs a label.`);
    const word = file('label-word.csv', `${ok}cat,1,2,3,4\n`);
    await expectRefused({ csv: word }, `${word}: line 3, column 1: label "cat" is not a class index (a whole number from 0); give "classes" to label rows by name.`);
    const classes = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];
    await expectRefused({ csv: word, classes }, `${word}: line 3, column 1: label "cat" is neither a class name (zero, one, two, three, …, nine) nor a class index 0–9; fix the label or add it to "classes".`);
    const big = file('label-big.csv', `${ok}12,1,2,3,4\n`);
    await expectRefused({ csv: big, classes }, `${big}: line 3, column 1: label 12 is outside the 10 classes (indices 0–9); fix the label or add its name to "classes".`);
    const huge = file('label-huge.csv', `${ok}123456,1,2,3,4\n`);
    await expectRefused({ csv: huge }, `${huge}: line 3, column 1: label 123456 is too large; labels are class indices 0–9999, or names listed in "classes".`);
    const one = file('label-one.csv', '0,1,2,3,4\n0,4,3,2,1\n');
    await expectRefused({ csv: one }, `${one}: every row has label 0; a dataset needs at least two classes.`);
    const group = file('group-missing.csv', 'label,w,a,b,c,d\n1,x,0,255,3,4\n0,,1,2,3,4\n');
    await expectRefused({ csv: group, groupColumn: 'w' }, `${group}: line 3, column 2: the group id (groupColumn) is missing; every row needs one.`);
  });

  it('an empty file, a header without rows, a first line that is neither', async () => {
    const empty = file('empty.csv', '');
    await expectRefused({ csv: empty }, `${empty}: the file is empty; give one row per image: a label and the pixel values.`);
    const blank = file('blank.csv', '\n\r\n\n');
    await expectRefused({ csv: blank }, `${blank}: the file is empty; give one row per image: a label and the pixel values.`);
    const header = file('header-only.csv', 'label,a,b,c,d\n\n');
    await expectRefused({ csv: header }, `${header}: the file has a header (line 1) but no rows; give one row per image under it.`);
    const odd = file('first-odd.csv', 'label,1,2,3,4\n1,0,255,3,4\n');
    await expectRefused({ csv: odd }, `${odd}: line 1 is neither a header nor a row of numbers (label "label" is not a class index, 4 pixel fields are numbers); set "header" to true or false.`);
    expect((await loadCsv({ csv: odd, header: true })).train.images.rows).toBe(1);
    const typo = file('first-typo.csv', '1,0,255,3o,4\n0,1,2,3,4\n');
    await expectRefused({ csv: typo }, `${typo}: line 1 is neither a header nor a row of numbers (column 4 is "3o", 3 pixel fields are numbers); set "header" to true or false.`);
    await expectRefused({ csv: typo, header: false }, `${typo}: line 1, column 4: "3o" is not a number; pixel values are numbers (0–255, 0–1, or 0 to "pixelMax").`);
    const single = file('one-column.csv', '1\n0\n');
    await expectRefused({ csv: single }, `${single}: line 1 has 1 column and no pixel columns; give a label and the pixel values on every row.`);
    const semi = file('semicolons.csv', '1;0;255;3;4\n');
    await expectRefused({ csv: semi }, `${semi}: line 1 has 1 column and no pixel columns; give a label and the pixel values on every row.`);
  });

  it('labelColumn and groupColumn that are not there', async () => {
    const f = join(dir, 'columns.csv');
    await writeMnistCsv(f, idx.train);
    await expectRefused({ csv: f, labelColumn: 'digit' }, `${f}: labelColumn "digit" is not in the header (line 1, 785 columns: label, pixel0, pixel1, pixel2, …, pixel783); give a header name, "first", "last" or a 0-based index.`);
    await expectRefused({ csv: f, groupColumn: 'writer' }, `${f}: groupColumn "writer" is not in the header (line 1, 785 columns: label, pixel0, pixel1, pixel2, …, pixel783); give a header name, "first", "last" or a 0-based index.`);
    await expectRefused({ csv: f, labelColumn: 785 }, `${f}: labelColumn 785 is past the last column (line 1 has 785 columns, indices 0–784); give an index below 785, "first", "last" or a header name.`);
    await expectRefused({ csv: f, labelColumn: 'label', header: false }, `${f}: labelColumn "label" is a header name but header is false; give "first", "last" or a 0-based index, or set header to true.`);
    await expectRefused({ csv: f, labelColumn: 'label', groupColumn: 'label' }, `${f}: labelColumn and groupColumn are the same column ("label"); give the group ids their own column.`);
    await expectRefused({ csv: f, groupColumn: 0 }, `${f}: labelColumn and groupColumn are the same column (0); give the group ids their own column.`);
  });

  it('quotes csv-parse cannot close, mapped to one line', async () => {
    const open = file('quote-open.csv', `${ok}0,1,"2,3,4\n1,2,3,4,5\n`);
    await expectRefused({ csv: open }, `${open}: the file ends inside a quoted field (a quote opened on or before line 4 is never closed); check the quotes.`);
    const inside = file('quote-inside.csv', `${ok}0,1,2"2,3,4\n`);
    await expectRefused({ csv: inside }, `${inside}: line 3, column 3: a quote inside an unquoted field; quote the whole field or remove the quote.`);
    const after = file('quote-after.csv', `${ok}0,1,"2"x,3,4\n`);
    await expectRefused({ csv: after }, `${after}: line 3, column 3: a closing quote is followed by something other than the delimiter or the line end; check the quotes.`);
  });

  it('damaged gzip, a gzip bomb, a file over the cap, a folder, a missing file', async () => {
    const good = gzipSync(ok + '0,1,2,3,4\n'.repeat(50));
    const cut = file('cut.csv.gz', good.subarray(0, good.length - 12));
    await expectRefused({ csv: cut }, `${cut}: the gzip data is damaged (unexpected end of file); give an intact .gz file or the plain CSV.`);
    const flipped = Buffer.from(good);
    flipped[20] = flipped[20]! ^ 0xff;
    const bad = file('flipped.csv.gz', flipped);
    await expect(loadCsv({ csv: bad })).rejects.toThrow(new RegExp(`^${bad}: the gzip data is damaged \\([^)]+\\); give an intact \\.gz file or the plain CSV\\.$`));

    // 200 MB of zeros packed into ~200 kB: stopped at the 1 MB cap, not unpacked whole.
    const bomb = file('bomb.csv.gz', gzipSync(Buffer.concat([Buffer.from('0,'.repeat(784) + '1\n'), Buffer.alloc(200e6, '0,0\n')]), { level: 9 }));
    const before = process.memoryUsage().rss;
    await expectRefused({ csv: bomb }, `${bomb}: the gzip data unpacks to more than 1 MB, the limit for a CSV file; give a smaller file, or raise the limit with the maxBytes option.`, { maxBytes: 1e6 });
    expect(process.memoryUsage().rss - before).toBeLessThan(300e6);

    // A sparse 3 GB file: refused from its size, nothing read.
    const sparse = file('sparse.csv', '');
    truncateSync(sparse, 3e9);
    const t0 = performance.now();
    await expectRefused({ csv: sparse }, `${sparse}: the file is 3 GB, over the 2 GB limit for a CSV file; give a smaller file, or raise the limit with DIGITBENCH_MAX_CSV_MB.`);
    expect(performance.now() - t0).toBeLessThan(2000);

    const folder = join(dir, 'folder.csv');
    mkdirSync(folder, { recursive: true });
    await expectRefused({ csv: folder }, `${folder}: not a regular file (a folder); give a CSV file (plain or .gz).`);
    const missing = join(dir, 'missing.csv');
    await expectRefused({ csv: missing }, `${missing}: no such file; check the "csv" path.`);
    expect(existsSync(missing)).toBe(false);
  });

  it('the cap comes from DIGITBENCH_MAX_CSV_MB; a bad value is refused before reading', async () => {
    const f = join(dir, 'capped.csv');
    await writeMnistCsv(f, idx.train);
    const saved = process.env.DIGITBENCH_MAX_CSV_MB;
    try {
      process.env.DIGITBENCH_MAX_CSV_MB = '0.1';
      await expectRefused({ csv: f }, `${f}: the file is 553 kB, over the 100 kB limit for a CSV file; give a smaller file, or raise the limit with DIGITBENCH_MAX_CSV_MB.`);
      process.env.DIGITBENCH_MAX_CSV_MB = 'lots';
      await expectRefused({ csv: f }, 'DIGITBENCH_MAX_CSV_MB is "lots"; set it to a positive number of MB (default 2000) or unset it.');
    } finally {
      if (saved === undefined) delete process.env.DIGITBENCH_MAX_CSV_MB;
      else process.env.DIGITBENCH_MAX_CSV_MB = saved;
    }
  });

  it('through the CLI: one line, exit code 1, the output folder untouched', () => {
    const bad = file('cli-bad.csv', `${ok}0,1,x,3,4\n`);
    const config = file('cli-bad.json', JSON.stringify({ dataset: { csv: bad }, split: { train: 1, test: 1, seed: 1 }, features: [{ step: 'scale' }], classifiers: [{ plugin: 'naive-bayes' }] }));
    const out = join(dir, 'cli-out');
    const r = spawnSync(process.execPath, [BIN, 'experiment', config, '--out', out], { encoding: 'utf8' });
    expect(r.stderr.trim().split('\n')).toEqual([`digitbench: ${bad}: line 3, column 3: "x" is not a number; pixel values are numbers (0–255, 0–1, or 0 to "pixelMax").`]);
    expect(r.status).toBe(1);
    expect(existsSync(out)).toBe(false);
  }, 60_000);
});

describe('CSV number parsing', () => {
  it('matches Number() on valid numbers and refuses what is not one', () => {
    const valid = ['0', '255', '007', '0.5', '.5', '5.', '1e2', '1E-3', '+3', '-0', ' 12 ', '\t7', '0.00392156862745098', '0.0039215686274509803', '123456789012345678', '1e-30', '2.5e+1'];
    for (const s of valid) expect(parseNumberString(s), s).toBe(Number(s) + 0);
    const invalid = ['', ' ', '.', '-', '1e', '1e+', '0x1f', 'Infinity', 'NaN', '1,5', '1_000', '٣', '1 2', '--1', 'e5'];
    for (const s of invalid) expect(parseNumberString(s), JSON.stringify(s)).toBeNaN();
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      const v = [rand(), rand() * 255, Math.round(rand() * 255) / 255, rand() * 1e-5][i % 4]!;
      const s = i % 3 === 0 ? v.toFixed(i % 9) : String(v);
      expect(parseNumberString(s), s).toBe(Number(s));
    }
  });

  it('stops at the delimiter and leaves the field end', () => {
    const b = Buffer.from('12,3.5;x');
    expect(parseNumber(b, 0, b.length, 44)).toBe(12);
    expect(parseNumber(b, 3, b.length, 59)).toBe(3.5);
    expect(parseNumber(b, 3, b.length, 44)).toBeNaN();
  });
});
