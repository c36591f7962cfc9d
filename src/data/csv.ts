/**
 * Datasets from CSV files: one row per image, a label column, optionally a group column (e.g. a writer id),
 * and the pixel columns; plain or gzipped (told by the gzip magic bytes, not the name), with or without a
 * header line. See `csvSourceSchema` (./sources.ts) for the fields and data/README.md for the rules.
 *
 * Reading, nothing is trusted before it is checked:
 *  - the source's fields are checked before the file is opened; only a regular file is opened (the
 *    runtime's io/files.ts), and a file above the cap is refused from its size (2 GB,
 *    DIGITBENCH_MAX_CSV_MB or `maxBytes`); a gzipped file is unpacked as a stream (zlib) and stopped when
 *    the unpacked bytes pass the same cap;
 *  - a row is at most 64 MB long, and an image at most 1024 × 1024 pixels;
 *  - the values go straight into one Float32Array (no per-row arrays), reserved from the file's size (a
 *    valid row of n values takes at least 2n bytes, so the reservation is never outgrown; memory reserved
 *    but never written is not resident) and grown only past a 1 GB reservation;
 *  - every error is one line naming the file, and the 1-based line and column where it applies.
 *
 * Two readers give the same rows and the same errors:
 *  - csv-parse (maintained, streaming) reads any CSV: quoted fields, quoted names, a delimiter that is not
 *    ASCII. Its record path, not number parsing, is its bottleneck: it is slow on a large MNIST CSV even
 *    with nothing done per record;
 *  - a byte scanner reads files with no quote character at all (pixel data as numpy, pandas or Kaggle write
 *    it): a plain file in 4 MB reads into one reused buffer, lines split at `\n` or `\r\n`, fields at the
 *    delimiter, whole numbers parsed straight from the bytes into the Float32Array: an order of magnitude
 *    faster (docs/measurements.md; current figures: bench/load-csv.ts, reports/bench/data-load.md). At
 *    the first quote it stops, and csv-parse reads the file again from the start.
 * Both parse pixel values with one grammar (`parseNumber`: optional sign, digits with an optional
 * fraction, optional exponent, spaces or tabs around), correctly rounded as `Number()` rounds.
 *
 * Pixel values are mapped onto MNIST's raw 0–255 scale: × 255 / pixelMax when `pixelMax` is given;
 * otherwise, when every value is within 0–1, × 255 (0–1 floats; so binary 0/1 images become 0/255, ink on
 * black; give `"pixelMax": 255` to keep 0/1 as they are), else as they are (values must then be within
 * 0–255). A test file is read on the same scale (one of 0–1 values and one of 0–255 values is refused).
 * The values are kept as read until the scale is known and scaled in place; a result within 0.0001 of a
 * whole number is set to it (undoing float32 rounding, so 0–1 floats written as p/255 come back as p).
 *
 * `contentHash` is sha256 over what was read, not how it was written: class names, image shape, pixels
 * (as bytes when every value is a whole number within 0–255, else as float32), labels, group ids, and the
 * test part's pixels and labels. The same rows with or without a header, label first or last, quoted,
 * gzipped or as 0–1 floats hash alike.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse as csvParse, type CsvError } from 'csv-parse';
import { z } from 'zod';
import { createMatrix } from '@digitbench/runtime/internal';
import { allocFloat32 } from '../engine/threads.ts';
import type { Dataset, LabeledImages } from './datasets.ts';
import { checkFileSize, formatBytes, NotRegularFileError, openRegularFile, readAt, resolveLimit, type ByteCap } from '@digitbench/runtime/internal';
import { csvSourceSchema, MAX_IMAGE_SIDE, type CsvSource } from './sources.ts';

/** The default cap on a CSV file's size (and, gzipped, on its unpacked size): 2 GB. */
export const DEFAULT_MAX_CSV_BYTES = 2e9;
/** The longest row read (bytes, or characters through csv-parse). */
export const MAX_ROW_BYTES = 64e6;
/** Without `classes`, labels are class indices below this. */
export const MAX_UNNAMED_CLASSES = 10_000;
/** A scaled value this close to a whole number is set to it. */
const SNAP = 1e-4;
/** Bytes per unpacked gzip chunk. */
const CHUNK = 1 << 20;
/** Bytes per read of a plain file. */
const READ_CHUNK = 4 << 20;
/** Largest first reservation for the pixels (values); past it the array grows by half as needed. */
const MAX_RESERVE = 256 * 1024 * 1024;

export interface CsvReadOptions {
  /** Largest file (and unpacked gzip data) read, in bytes; default DIGITBENCH_MAX_CSV_MB MB, else 2 GB. */
  maxBytes?: number;
  /** "auto" (default): the byte scanner, csv-parse when the file has quotes; "csv-parse": csv-parse only (tests). */
  reader?: 'auto' | 'csv-parse';
}

/** The CSV size cap: the option, else DIGITBENCH_MAX_CSV_MB, else 2 GB. */
export function csvByteCap(maxBytes?: number): ByteCap {
  const { value, raise } = resolveLimit(maxBytes, 'maxBytes', 'DIGITBENCH_MAX_CSV_MB', { name: 'MB', size: 1e6 }, DEFAULT_MAX_CSV_BYTES);
  return { bytes: value, what: 'a CSV file', raise };
}

// ---------------------------------------------------------------------------------------------------
// Numbers.

/** Where the last `parseNumber` stopped: the delimiter after the field, or the end. */
let scanEnd = 0;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Parses the number in b[p, end) up to the delimiter `delim` (-1: none), leaving `scanEnd` at the delimiter
 * (or `end`). Grammar: spaces or tabs, an optional sign, digits with an optional `.` fraction (at least one
 * digit in all), an optional exponent (`e` or `E`, optional sign, digits), spaces or tabs. Anything else,
 * or an empty field, gives NaN. The value is correctly rounded (as `Number()` gives): up to 15 significant
 * digits and a power of ten within ±22 are computed exactly in one rounding, others go through `Number()`.
 */
export function parseNumber(b: Uint8Array, p: number, end: number, delim: number): number {
  const start = p;
  const ws1 = delim === 32 ? -1 : 32;
  const ws2 = delim === 9 ? -1 : 9;
  let c = p < end ? b[p]! : -1;
  while (c === ws1 || c === ws2) c = ++p < end ? b[p]! : -1;
  let neg = false;
  if (c === 45 || c === 43) {
    neg = c === 45;
    c = ++p < end ? b[p]! : -1;
  }
  let m = 0;
  let sig = 0;
  let exp = 0;
  let digits = 0;
  while (c >= 48 && c <= 57) {
    if (sig > 0 || c !== 48) {
      m = m * 10 + (c - 48);
      sig++;
    }
    digits++;
    c = ++p < end ? b[p]! : -1;
  }
  if (c === 46) {
    c = ++p < end ? b[p]! : -1;
    while (c >= 48 && c <= 57) {
      if (sig > 0 || c !== 48) {
        m = m * 10 + (c - 48);
        sig++;
      }
      exp--;
      digits++;
      c = ++p < end ? b[p]! : -1;
    }
  }
  let ok = digits > 0;
  if (ok && (c === 101 || c === 69)) {
    c = ++p < end ? b[p]! : -1;
    let eneg = false;
    if (c === 45 || c === 43) {
      eneg = c === 45;
      c = ++p < end ? b[p]! : -1;
    }
    let e = 0;
    let edigits = 0;
    while (c >= 48 && c <= 57) {
      if (e < 1e6) e = e * 10 + (c - 48);
      edigits++;
      c = ++p < end ? b[p]! : -1;
    }
    ok = edigits > 0;
    exp += eneg ? -e : e;
  }
  const last = p;
  while (c === ws1 || c === ws2) c = ++p < end ? b[p]! : -1;
  if (!ok || (p < end && c !== delim)) {
    while (p < end && b[p] !== delim) p++;
    scanEnd = p;
    return NaN;
  }
  scanEnd = p;
  let v: number;
  if (sig <= 15 && exp >= -22 && exp <= 22) v = exp >= 0 ? m * POW10[exp]! : m / POW10[-exp]!;
  else return Number(Buffer.from(b.buffer, b.byteOffset + start, last - start).toString('latin1'));
  return neg ? 0 - v : v; // 0 - 0 is +0: "-0" reads as 0
}

const scratch = { buf: new Uint8Array(64) };

/** `parseNumber` on a string (a field from csv-parse, a label): the same grammar, the same values. */
export function parseNumberString(s: string): number {
  if (s.length > scratch.buf.length) scratch.buf = new Uint8Array(Math.max(s.length, 2 * scratch.buf.length));
  const b = scratch.buf;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return NaN;
    b[i] = c;
  }
  return parseNumber(b, 0, s.length, -1);
}

// ---------------------------------------------------------------------------------------------------
// Messages.

/** A value for a message: quoted, one line, at most 40 characters. */
function show(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}

/** A list for a message: the first few items, an ellipsis and the last one. */
function brief(items: readonly string[], first = 4): string {
  const names = items.map((n) => (n.length > 24 ? `${n.slice(0, 24)}…` : n));
  return names.length <= first + 2 ? names.join(', ') : `${names.slice(0, first).join(', ')}, …, ${names.at(-1)}`;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

/** The factor pair of n closest to a square, as an example shape. */
function exampleShape(n: number): string {
  let best = 1;
  for (let h = 1; h * h <= n; h++) if (n % h === 0) best = h;
  return `[${best}, ${n / best}]`;
}

// ---------------------------------------------------------------------------------------------------
// One file's rows.

type Column = 'first' | 'last' | string | number;

interface Spec {
  delimiter: string;
  header: boolean | 'auto';
  labelColumn: Column;
  groupColumn?: Column;
  pixelMax?: number;
  classes?: string[];
  classIndex?: Map<string, number>;
}

interface Layout {
  columns: number;
  label: number;
  /** -1: no group column. */
  group: number;
  pixels: number;
  /** The line the columns were taken from (the header, or the first row). */
  line: number;
  header?: string[];
}

/** A CSV file read: its pixels as in the file (not yet scaled), labels and group ids. */
interface CsvRows {
  file: string;
  layout: Layout;
  rows: number;
  /** rows × pixels values, unscaled. */
  pixels: Float32Array;
  labels: Int32Array;
  groups?: Int32Array;
  /** The largest pixel value (0 when there are none). */
  max: number;
  /** Whether a pixel value is not a whole number. */
  fractional: boolean;
  maxLabel: number;
}

/** Stops the byte scanner: the file has quotes, csv-parse reads it from the start. */
class NeedsCsvParse extends Error {}

const isPosition = (c: Column | undefined): c is 'first' | 'last' | number => c === 'first' || c === 'last' || typeof c === 'number';

class RowReader {
  layout?: Layout;
  rows = 0;
  private k = 0;
  private data: Float32Array;
  private labels: Int32Array;
  private groups?: Int32Array;
  private groupIds = new Map<string, number>();
  private max = 0;
  private maxLabel = -1;
  /** Whether a pixel value is not a whole number. */
  private fractional = false;
  private readonly limit: number;
  private readonly delim: number;

  constructor(
    readonly file: string,
    private readonly spec: Spec,
    /** An upper bound on the number of values in the file (from its size), for the reservation. */
    private readonly valueBound: number,
  ) {
    this.limit = spec.pixelMax ?? 255;
    this.delim = spec.delimiter.charCodeAt(0);
    this.data = new Float32Array(0);
    this.labels = new Int32Array(0);
  }

  private fail(line: number, column: number | undefined, what: string): never {
    throw new Error(`${this.file}: line ${line}${column === undefined ? '' : `, column ${column}`}: ${what}`);
  }

  /** The first line: decides the header and the columns; true when it is a data row too. */
  first(fields: string[], line: number): boolean {
    const { spec, file } = this;
    const columns = fields.length;
    const names = fields.map((f) => f.trim());
    const position = (c: 'first' | 'last' | number, what: string): number => {
      if (c === 'first') return 0;
      if (c === 'last') return columns - 1;
      if (c >= columns) throw new Error(`${file}: ${what} ${c} is past the last column (line ${line} has ${columns} columns, indices 0–${columns - 1}); give an index below ${columns}, "first", "last" or a header name.`);
      return c;
    };
    const byName = isPosition(spec.labelColumn) === false || (spec.groupColumn !== undefined && !isPosition(spec.groupColumn));
    let label = isPosition(spec.labelColumn) ? position(spec.labelColumn, 'labelColumn') : -1;
    let group = spec.groupColumn === undefined ? -1 : isPosition(spec.groupColumn) ? position(spec.groupColumn, 'groupColumn') : -1;
    let header: boolean;
    if (spec.header !== 'auto') header = spec.header;
    else if (byName) header = true;
    else {
      // A row when its label and every pixel field read as such; a header when no pixel field is a number.
      let numbers = 0;
      let words = 0;
      let word = -1;
      names.forEach((f, i) => {
        if (i === label || i === group) return;
        if (Number.isFinite(parseNumberString(f))) numbers++;
        else if (words++ === 0) word = i;
      });
      if (words === 0 && this.isLabel(names[label]!)) header = false;
      else if (numbers === 0) header = true;
      else {
        const odd = words > 0 ? `column ${word + 1} is ${show(names[word]!)}` : `label ${show(names[label]!)} is not a class index${spec.classes ? ' or name' : ''}`;
        throw new Error(`${file}: line ${line} is neither a header nor a row of numbers (${odd}, ${fmt(numbers)} pixel fields are numbers); set "header" to true or false.`);
      }
    }
    if (header) {
      const find = (c: Column, what: string): number => {
        const i = names.indexOf(String(c));
        if (i < 0) throw new Error(`${file}: ${what} ${show(String(c))} is not in the header (line ${line}, ${columns} columns: ${brief(names)}); give a header name, "first", "last" or a 0-based index.`);
        return i;
      };
      if (label < 0) label = find(spec.labelColumn, 'labelColumn');
      if (group < 0 && spec.groupColumn !== undefined) group = find(spec.groupColumn, 'groupColumn');
    }
    if (label === group) throw new Error(`${file}: labelColumn and groupColumn are the same column (${label}); give the group ids their own column.`);
    const pixels = columns - 1 - (group >= 0 ? 1 : 0);
    if (pixels < 1) throw new Error(`${file}: line ${line} has ${columns} column${columns === 1 ? '' : 's'} and no pixel columns; give a label and the pixel values on every row${spec.delimiter === ',' ? '' : ` (separated by ${show(spec.delimiter)})`}.`);
    if (pixels > MAX_IMAGE_SIDE * MAX_IMAGE_SIDE) throw new Error(`${file}: line ${line} has ${fmt(pixels)} pixel columns, more than the largest image (${MAX_IMAGE_SIDE} × ${MAX_IMAGE_SIDE}); give smaller images.`);
    this.layout = { columns, label, group, pixels, line, ...(header ? { header: names } : {}) };
    const reserve = Math.max(pixels, Math.min(MAX_RESERVE, Math.ceil(this.valueBound / columns) * pixels));
    this.data = allocFloat32(reserve);
    this.labels = new Int32Array(Math.max(16, Math.ceil(reserve / pixels)));
    if (group >= 0) this.groups = new Int32Array(this.labels.length);
    return !header;
  }

  /** Whether a first-line field reads as a label (for header: "auto"). */
  private isLabel(f: string): boolean {
    if (this.spec.classIndex?.has(f)) return true;
    const n = parseNumberString(f);
    return Number.isInteger(n) && n >= 0;
  }

  private label(text: string, line: number, column: number): number {
    const t = text.trim();
    const { classes, classIndex } = this.spec;
    if (t === '') this.fail(line, column, 'the label is missing; every row needs a label.');
    const named = classIndex?.get(t);
    if (named !== undefined) return named;
    const n = parseNumberString(t);
    if (Number.isInteger(n) && n >= 0) {
      if (classes && n >= classes.length) this.fail(line, column, `label ${t} is outside the ${classes.length} classes (indices 0–${classes.length - 1}); fix the label or add its name to "classes".`);
      if (!classes && n >= MAX_UNNAMED_CLASSES) this.fail(line, column, `label ${t} is too large; labels are class indices 0–${MAX_UNNAMED_CLASSES - 1}, or names listed in "classes".`);
      return n;
    }
    if (classes) this.fail(line, column, `label ${show(t)} is neither a class name (${brief(classes)}) nor a class index 0–${classes.length - 1}; fix the label or add it to "classes".`);
    this.fail(line, column, `label ${show(t)} is not a class index (a whole number from 0); give "classes" to label rows by name.`);
  }

  private group(text: string, line: number, column: number): number {
    const t = text.trim();
    if (t === '') this.fail(line, column, 'the group id (groupColumn) is missing; every row needs one.');
    let id = this.groupIds.get(t);
    if (id === undefined) this.groupIds.set(t, (id = this.groupIds.size));
    return id;
  }

  private badPixel(text: string, v: number, line: number, column: number): never {
    const t = text.trim();
    if (t === '') this.fail(line, column, `the pixel value is missing; every row needs all ${this.layout!.pixels} pixel values.`);
    if (Number.isNaN(v)) this.fail(line, column, `${show(t)} is not a number; pixel values are numbers (0–255, 0–1, or 0 to "pixelMax").`);
    if (v < 0) this.fail(line, column, `pixel value ${t} is below 0; pixel values run from 0 (background) up to 255, 1 or "pixelMax".`);
    if (this.spec.pixelMax !== undefined) this.fail(line, column, `pixel value ${t} is above pixelMax ${this.spec.pixelMax}; fix the value or raise "pixelMax".`);
    this.fail(line, column, `pixel value ${t} is above 255; give "pixelMax" when the values go higher.`);
  }

  private columnCount(count: number, line: number): never {
    const L = this.layout!;
    throw new Error(`${this.file}: line ${line} has ${fmt(count)} columns but line ${L.line} has ${fmt(L.columns)}; every row needs the same columns (a label${L.group >= 0 ? ', a group' : ''} and ${fmt(L.pixels)} pixels).`);
  }

  /** Room for one more row. */
  private reserveRow(): void {
    const n = this.layout!.pixels;
    if (this.k + n > this.data.length) {
      const grown = allocFloat32(Math.max(this.k + n, Math.ceil(this.data.length * 1.5)));
      grown.set(this.data.subarray(0, this.k));
      this.data = grown;
    }
    if (this.rows >= this.labels.length) {
      const size = Math.ceil(this.labels.length * 1.5);
      const labels = new Int32Array(size);
      labels.set(this.labels);
      this.labels = labels;
      if (this.groups) {
        const groups = new Int32Array(size);
        groups.set(this.groups);
        this.groups = groups;
      }
    }
  }

  /** A data row of fields from csv-parse. */
  rowStrings(fields: string[], line: number): void {
    const L = this.layout!;
    if (fields.length !== L.columns) this.columnCount(fields.length, line);
    this.reserveRow();
    const out = this.data;
    let k = this.k;
    for (let j = 0; j < fields.length; j++) {
      const f = fields[j]!;
      if (j === L.label) this.labels[this.rows] = this.label(f, line, j + 1);
      else if (j === L.group) this.groups![this.rows] = this.group(f, line, j + 1);
      else {
        const v = parseNumberString(f);
        if (!(v >= 0 && v <= this.limit)) this.badPixel(f, v, line, j + 1);
        if (v !== Math.floor(v)) this.fractional = true;
        if (v > this.max) this.max = v;
        out[k++] = v;
      }
    }
    this.k = k;
    if (this.labels[this.rows]! > this.maxLabel) this.maxLabel = this.labels[this.rows]!;
    this.rows++;
  }

  /** A data row as bytes b[start, end); b[end] must exist and be its line end (\r or \n). */
  rowBytes(b: Buffer, start: number, end: number, line: number): void {
    const L = this.layout!;
    this.reserveRow();
    const out = this.data;
    const delim = this.delim;
    const limit = this.limit;
    const columns = L.columns;
    const labelAt = L.label;
    const groupAt = L.group;
    let max = this.max;
    let k = this.k;
    let j = 0;
    let p = start;
    while (j < columns) {
      if (j === labelAt || j === groupAt) {
        let q = b.indexOf(delim, p);
        if (q < 0 || q > end) q = end;
        const text = b.toString('utf8', p, q);
        if (j === labelAt) this.labels[this.rows] = this.label(text, line, j + 1);
        else this.groups![this.rows] = this.group(text, line, j + 1);
        if (q === end && j !== columns - 1) this.columnCount(j + 1, line);
        p = q + 1;
        j++;
        continue;
      }
      // A run of pixel columns up to the next label or group column.
      const stop = labelAt > j && (groupAt < j || labelAt < groupAt) ? labelAt : groupAt > j ? groupAt : columns;
      for (; j < stop; j++) {
        // Whole numbers directly (b[end] is the line end, not a digit: no bounds checks); others through
        // parseNumber. The field ends at q: a delimiter, or the line end.
        let q = p;
        let c = b[q]!;
        let v = c - 48;
        if (v >= 0 && v <= 9) {
          c = b[++q]!;
          while (c >= 48 && c <= 57) {
            v = v * 10 + (c - 48);
            c = b[++q]!;
          }
          if (c !== delim && q !== end) {
            v = this.otherPixel(b, p, end, line, j);
            q = scanEnd;
          }
        } else {
          v = this.otherPixel(b, p, end, line, j);
          q = scanEnd;
        }
        if (v > max) {
          if (v > limit) this.badPixel(b.toString('utf8', p, q), v, line, j + 1);
          max = v;
        }
        out[k++] = v;
        if (q === end && j !== columns - 1) this.columnCount(j + 1, line);
        p = q + 1;
      }
    }
    // The last field ended at a delimiter: more fields follow.
    if (p <= end) this.columnCount(columns + countFields(b, p, end, this.delim), line);
    this.k = k;
    this.max = max;
    if (this.labels[this.rows]! > this.maxLabel) this.maxLabel = this.labels[this.rows]!;
    this.rows++;
  }

  /** A pixel field that is not a plain whole number: parsed by parseNumber; NaN or below 0 refused. */
  private otherPixel(b: Buffer, p: number, end: number, line: number, j: number): number {
    const v = parseNumber(b, p, end, this.delim);
    if (!(v >= 0)) this.badPixel(b.toString('utf8', p, scanEnd), v, line, j + 1);
    if (v !== Math.floor(v)) this.fractional = true;
    return v;
  }

  result(): CsvRows {
    const L = this.layout!;
    return {
      file: this.file,
      layout: L,
      rows: this.rows,
      pixels: this.data.subarray(0, this.k),
      labels: this.labels.slice(0, this.rows),
      ...(this.groups ? { groups: this.groups.slice(0, this.rows) } : {}),
      max: this.max,
      maxLabel: this.maxLabel,
      fractional: this.fractional,
    };
  }
}

/** 1 + the delimiters in b[p, end). */
function countFields(b: Buffer, p: number, end: number, delim: number): number {
  let n = 1;
  for (let q = b.indexOf(delim, p); q >= 0 && q < end; q = b.indexOf(delim, q + 1)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------------
// Bytes in.

/**
 * The file's bytes (its size when opened), unpacked when gzipped and then capped at `cap` unpacked bytes.
 * `reuse`: a plain file is read into one buffer, each chunk valid only until the next is asked for (the
 * byte scanner copies what it keeps; no garbage per chunk).
 */
async function* fileBytes(opened: OpenCsv, file: string, cap: ByteCap, reuse: boolean): AsyncGenerator<Buffer> {
  const { handle, gzip, size } = opened;
  if (!gzip) {
    let buf = Buffer.allocUnsafe(Math.max(1, Math.min(reuse ? READ_CHUNK : CHUNK, size)));
    for (let pos = 0; pos < size; ) {
      if (!reuse && pos > 0) buf = Buffer.allocUnsafe(buf.length);
      const { bytesRead } = await handle.read(buf, 0, Math.min(buf.length, size - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
    return;
  }
  const raw = handle.createReadStream({ start: 0, end: size - 1, highWaterMark: CHUNK });
  const stream = raw.pipe(createGunzip({ chunkSize: CHUNK }));
  raw.on('error', (e) => stream.destroy(e));
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > cap.bytes) {
        throw new Error(`${file}: the gzip data unpacks to more than ${formatBytes(cap.bytes)}, the limit for ${cap.what}; give a smaller file, or raise the limit with ${cap.raise}.`);
      }
      yield chunk;
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new Error(`${file}: the gzip data is damaged (${(e as Error).message}); give an intact .gz file or the plain CSV.`);
    }
    throw e;
  } finally {
    stream.destroy();
    raw.destroy(); // closes the handle: a second pass opens the file again
  }
}

/** The byte scanner: lines at \n or \r\n, fields at the delimiter; throws NeedsCsvParse at a quote. */
async function scanBytes(bytes: AsyncIterable<Buffer>, reader: RowReader, delimiter: string): Promise<void> {
  let tail: Buffer | undefined;
  let line = 0;
  let first = true;
  // A line b[start, end) with b[end] its \n.
  const take = (b: Buffer, start: number, end: number) => {
    line++;
    if (end > start && b[end - 1] === 13) end--;
    if (end === start) return; // an empty line
    if (reader.layout) return reader.rowBytes(b, start, end, line);
    const fields = b.toString('utf8', start, end).split(delimiter);
    if (reader.first(fields, line)) reader.rowBytes(b, start, end, line);
  };
  for await (let b of bytes) {
    if (b.indexOf(34) >= 0) throw new NeedsCsvParse();
    if (first) {
      first = false;
      if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
    }
    let p = 0;
    if (tail) {
      // The line begun in the previous chunk: only it is copied.
      const nl = b.indexOf(10);
      if (nl < 0) {
        tail = Buffer.concat([tail, b]);
        if (tail.length > MAX_ROW_BYTES) tooLong(reader.file, line + 1);
        continue;
      }
      const joined = Buffer.concat([tail, b.subarray(0, nl + 1)]);
      tail = undefined;
      take(joined, 0, joined.length - 1);
      p = nl + 1;
    }
    for (let nl = b.indexOf(10, p); nl >= 0; nl = b.indexOf(10, p)) {
      take(b, p, nl);
      p = nl + 1;
    }
    if (p < b.length) {
      tail = Buffer.from(b.subarray(p));
      if (tail.length > MAX_ROW_BYTES) tooLong(reader.file, line + 1);
    }
  }
  if (tail) {
    const last = Buffer.concat([tail, Buffer.from('\n')]);
    take(last, 0, last.length - 1);
  }
}

function tooLong(file: string, line: number): never {
  throw new Error(`${file}: line ${line} is longer than ${formatBytes(MAX_ROW_BYTES)}; a row is one image: a label and its pixel values.`);
}

/** csv-parse: any CSV, quoted fields included. Its errors become our one-line messages. */
async function parseCsv(bytes: AsyncIterable<Buffer>, reader: RowReader, delimiter: string): Promise<void> {
  const parser = pipeline(
    Readable.from(bytes),
    csvParse({
      delimiter,
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
      record_delimiter: ['\r\n', '\n'],
      max_record_size: MAX_ROW_BYTES,
    }),
    () => {},
  );
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (reader.layout) reader.rowStrings(record, info.lines);
      else if (reader.first(record, info.lines)) reader.rowStrings(record, info.lines);
    }
  } catch (e) {
    const err = e as CsvError & { lines?: number; index?: number };
    if (typeof err.code !== 'string' || !/^(CSV_|INVALID_)/.test(err.code)) throw e;
    const f = reader.file;
    const at = `line ${err.lines ?? '?'}${err.index === undefined ? '' : `, column ${err.index + 1}`}`;
    switch (err.code) {
      case 'CSV_QUOTE_NOT_CLOSED':
        throw new Error(`${f}: the file ends inside a quoted field (a quote opened on or before line ${err.lines ?? '?'} is never closed); check the quotes.`);
      case 'INVALID_OPENING_QUOTE':
        throw new Error(`${f}: ${at}: a quote inside an unquoted field; quote the whole field or remove the quote.`);
      case 'CSV_INVALID_CLOSING_QUOTE':
        throw new Error(`${f}: ${at}: a closing quote is followed by something other than the delimiter or the line end; check the quotes.`);
      case 'CSV_MAX_RECORD_SIZE':
        tooLong(f, err.lines ?? 0);
      // falls through (tooLong throws)
      default:
        throw new Error(`${f}: ${at}: ${err.message.replace(/\s+/g, ' ').replace(/\.$/, '')}; check the CSV syntax there.`);
    }
  }
}

interface OpenCsv {
  handle: FileHandle;
  /** The size when opened: what is read. */
  size: number;
  gzip: boolean;
  /** An upper bound on the number of values in the file (a value and its delimiter take 2 bytes or more). */
  valueBound: number;
}

/** Opens a CSV file: a regular file within the cap; gzip told by its magic bytes. The caller closes the handle. */
async function openCsv(file: string, what: string, cap: ByteCap): Promise<OpenCsv> {
  let opened;
  try {
    opened = await openRegularFile(file, 'give a CSV file (plain or .gz).');
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new Error(e.message);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file}: no such file; check the ${what} path.`);
    throw new Error(`${file}: cannot be read (${code ?? (e as Error).message}); check the ${what} path.`);
  }
  const { handle, size } = opened;
  try {
    checkFileSize(file, size, cap);
    const head = await readAt(handle, Math.min(size, 2));
    const gzip = head.length === 2 && head[0] === 0x1f && head[1] === 0x8b;
    // Unpacked size: the gzip trailer's ISIZE (modulo 4 GiB, so a hint only: the array grows past it).
    let unpacked = size;
    if (gzip && size >= 18) unpacked = (await readAt(handle, 4, size - 4)).readUInt32LE(0);
    return { handle, size, gzip, valueBound: Math.ceil((Math.min(unpacked, cap.bytes) + 1) / 2) };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Reads one CSV file's rows (pixels unscaled). */
async function readCsvRows(file: string, what: string, spec: Spec, options: CsvReadOptions = {}): Promise<CsvRows> {
  const cap = csvByteCap(options.maxBytes);
  const asciiDelimiter = spec.delimiter.charCodeAt(0) < 128;
  let reader: RowReader | undefined;
  if (options.reader !== 'csv-parse' && asciiDelimiter) {
    const opened = await openCsv(file, what, cap);
    try {
      reader = new RowReader(file, spec, opened.valueBound);
      await scanBytes(fileBytes(opened, file, cap, true), reader, spec.delimiter);
    } catch (e) {
      if (!(e instanceof NeedsCsvParse)) throw e;
      reader = undefined;
    } finally {
      await opened.handle.close();
    }
  }
  if (!reader) {
    // The file is opened again (stat, type and size checked again).
    const opened = await openCsv(file, what, cap);
    try {
      reader = new RowReader(file, spec, opened.valueBound);
      await parseCsv(fileBytes(opened, file, cap, false), reader, spec.delimiter);
    } finally {
      await opened.handle.close();
    }
  }
  if (!reader.layout) throw new Error(`${file}: the file is empty; give one row per image: a label and the pixel values.`);
  if (reader.rows === 0) throw new Error(`${file}: the file has a header (line ${reader.layout.line}) but no rows; give one row per image under it.`);
  return reader.result();
}

// ---------------------------------------------------------------------------------------------------
// The dataset.

/** Scales values in place by `factor`, setting results within SNAP of a whole number to it; true when all are whole. */
function scaleInPlace(a: Float32Array, factor: number): boolean {
  let whole = true;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! * factor;
    const r = Math.round(x);
    if (Math.abs(x - r) <= SNAP) a[i] = r;
    else {
      a[i] = x;
      whole = false;
    }
  }
  return whole;
}

/**
 * Adds pixels to a hash: as bytes when every value is a whole number within 0–255 (4× less to hash; the
 * values say which, so equal pixels always hash alike), else as float32.
 */
function hashPixels(h: Hash, a: Float32Array, whole: boolean): void {
  hashPart(h, whole ? 'u8' : 'f32', whole ? a.length : a.byteLength);
  if (!whole) return void h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  const bytes = new Uint8Array(Math.min(a.length, CHUNK));
  for (let i = 0; i < a.length; i += bytes.length) {
    const n = Math.min(bytes.length, a.length - i);
    bytes.set(a.subarray(i, i + n));
    h.update(n === bytes.length ? bytes : bytes.subarray(0, n));
  }
}

/** A part's kind and length, so parts cannot run into each other. */
function hashPart(h: Hash, kind: string, bytes: number): void {
  h.update(`${kind}:${bytes};`);
}

function imageShapeFor(file: string, pixels: number, given: [number, number] | undefined): [number, number] {
  if (given) {
    if (given[0] * given[1] !== pixels) {
      throw new Error(`${file}: imageShape [${given[0]}, ${given[1]}] makes ${fmt(given[0] * given[1])} pixels but the rows have ${fmt(pixels)} pixel columns; give an imageShape whose height × width is ${fmt(pixels)}.`);
    }
    return given;
  }
  const side = Math.round(Math.sqrt(pixels));
  if (side * side !== pixels) {
    throw new Error(`${file}: the rows have ${fmt(pixels)} pixel columns, not a square number; give "imageShape": [height, width] with height × width = ${fmt(pixels)} (e.g. ${exampleShape(pixels)}).`);
  }
  return [side, side];
}

function defaultName(file: string): string {
  return basename(file).replace(/\.gz$/i, '').replace(/\.(csv|tsv|txt)$/i, '') || basename(file);
}

/**
 * Loads a CSV dataset (see the top of this file). `test`, when given, is a second file of the same columns
 * whose rows become `dataset.test`; without it `test` is empty and the split carves the test rows.
 */
export async function loadCsv(input: z.input<typeof csvSourceSchema>, options: CsvReadOptions = {}): Promise<Dataset> {
  const parsed = csvSourceSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`CSV source${issue.path.length ? ` field ${issue.path.join('.')}` : ''}: ${issue.message}.`);
  }
  const source: CsvSource = parsed.data;
  const file = source.csv;
  // The source's own consistency, before anything is opened.
  csvByteCap(options.maxBytes);
  const named = (c: Column | undefined) => c !== undefined && !isPosition(c);
  if (source.header === false && (named(source.labelColumn) || named(source.groupColumn))) {
    const which = named(source.labelColumn) ? `labelColumn ${show(String(source.labelColumn))}` : `groupColumn ${show(String(source.groupColumn))}`;
    throw new Error(`${file}: ${which} is a header name but header is false; give "first", "last" or a 0-based index, or set header to true.`);
  }
  if (source.groupColumn !== undefined && source.groupColumn === source.labelColumn) {
    throw new Error(`${file}: labelColumn and groupColumn are the same column (${show(String(source.labelColumn))}); give the group ids their own column.`);
  }
  if (source.delimiter === '"' || source.delimiter === '\n' || source.delimiter === '\r') {
    throw new Error(`${file}: delimiter ${show(source.delimiter)} cannot separate fields; use a comma, semicolon, tab or similar.`);
  }
  const spec: Spec = {
    delimiter: source.delimiter,
    header: source.header,
    labelColumn: source.labelColumn,
    ...(source.groupColumn !== undefined ? { groupColumn: source.groupColumn } : {}),
    ...(source.pixelMax !== undefined ? { pixelMax: source.pixelMax } : {}),
    ...(source.classes ? { classes: source.classes, classIndex: new Map(source.classes.map((c, i) => [c, i])) } : {}),
  };

  const train = await readCsvRows(file, '"csv"', spec, options);
  const imageShape = imageShapeFor(file, train.layout.pixels, source.imageShape);
  let test: CsvRows | undefined;
  if (source.test !== undefined) {
    test = await readCsvRows(source.test, '"test"', spec, options);
    if (test.layout.columns !== train.layout.columns) {
      throw new Error(`${source.test}: the rows have ${fmt(test.layout.columns)} columns but ${file}'s have ${fmt(train.layout.columns)}; the test file needs the same columns as the training file.`);
    }
  }

  // The scale: pixelMax, else 0–1 when every value is within it, else 0–255.
  let factor = 1;
  if (source.pixelMax !== undefined) factor = 255 / source.pixelMax;
  else {
    const unit = train.max <= 1;
    if (test && test.max <= 1 !== unit) {
      const [small, big] = unit ? [file, test.file] : [test.file, file];
      throw new Error(`${small}: every pixel value is within 0–1 but ${big} has values up to ${unit ? test.max : train.max}; give "pixelMax" so both files are read on one scale.`);
    }
    if (unit) factor = 255;
  }
  // Whole numbers within 0–255 after scaling (the range was checked while reading).
  let whole = !train.fractional && !test?.fractional;
  if (factor !== 1) {
    const trainWhole = scaleInPlace(train.pixels, factor);
    const testWhole = test ? scaleInPlace(test.pixels, factor) : true;
    whole = trainWhole && testWhole;
  }

  const maxLabel = Math.max(train.maxLabel, test?.maxLabel ?? -1);
  let classes: string[];
  if (source.classes) classes = [...source.classes];
  else {
    if (maxLabel < 1) throw new Error(`${file}: every row has label ${maxLabel}; a dataset needs at least two classes.`);
    classes = Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  }

  const pixels = train.layout.pixels;
  const part = (r: CsvRows | undefined): LabeledImages =>
    r ? { images: createMatrix(r.rows, pixels, r.pixels), labels: r.labels } : { images: createMatrix(0, pixels), labels: new Int32Array(0) };
  const trainPart = part(train);
  const testPart = part(test);

  const h = createHash('sha256');
  const put = (kind: string, a: Int32Array | string) => {
    const bytes = typeof a === 'string' ? Buffer.from(a, 'utf8') : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    hashPart(h, kind, bytes.byteLength);
    h.update(bytes);
  };
  put('json', JSON.stringify({ kind: 'csv-rows', classes, imageShape }));
  hashPixels(h, trainPart.images.data, whole);
  put('i32', trainPart.labels);
  put('i32', train.groups ?? new Int32Array(0));
  hashPixels(h, testPart.images.data, whole);
  put('i32', testPart.labels);

  return {
    name: source.name ?? defaultName(file),
    source: resolve(file),
    classes,
    imageShape,
    train: trainPart,
    test: testPart,
    ...(train.groups ? { groups: train.groups } : {}),
    contentHash: h.digest('hex'),
  };
}
