/**
 * Datasets from folders of images: `{"images": "data/my-digits", "imageShape": [28, 28], "normalize": "mnist"}`.
 *
 * Layout. The folder holds one sub-folder per class, whose name is the class name (classes in code-point
 * order of their names, unless the source's `classes` gives the order: then every listed class must be a
 * sub-folder, and a sub-folder not listed is an error naming it). Or it holds `train/` and `test/`, each
 * with the class folders: then the dataset's test part is filled from `test/` (which may lack a class, but
 * not have one `train/` lacks); otherwise the test part is empty and the split carves it (split.ts).
 * In a class folder, the files named *.png, *.jpg or *.jpeg (any case) are the images. Rows are in
 * code-point order of the file names across all class folders (ties: class order), so the order is
 * deterministic and a folder written with numbered names keeps its rows' order. Ignored: other files (README, .DS_Store),
 * names starting with a dot (macOS's ._x.png companions, .git), and folders inside class folders (nothing
 * deeper than class/ is read). Refused, in one line naming the path: a missing root or one that is not a
 * folder, a folder without class folders, a class folder without images, an image beside the class
 * folders (it has no class), an image entry that is not a regular file, a file over the image size cap,
 * and a file that cannot be decoded or (with "mnist") holds no ink: the load fails rather than giving a
 * smaller dataset. The whole listing is checked before any image is read.
 *
 * Decoding and normalization. Files are read through the runtime's io/files.ts (regular files only, the
 * size cap of `predict`'s inputs: 50 MB, DIGITBENCH_MAX_IMAGE_MB) and decoded by the runtime's decodeImage
 * (@digitbench/runtime, input/decode.node.ts: pngjs and jpeg-js; its pixel limit: 25 MP,
 * DIGITBENCH_MAX_MEGAPIXELS), then brought to `imageShape` by the runtime's input/normalize.ts: "mnist"
 * runs normalizeDigit (as `predict` does), "resize" runs resizeGrey. Pixels are raw 0–255 floats, bright
 * ink on black. A few files are read at a time; decoding and normalization run on this thread.
 *
 * Cache. A decoded dataset is kept under <cache>/datasets/<key>/ (data/cache/, git-ignored, or
 * DIGITBENCH_CACHE_DIR, as the feature cache), written to a temporary folder and renamed, so a half-written
 * entry is never read. The key hashes the folder's absolute path, its listing (every image's relative path,
 * size and modification time), the source's imageShape, normalize and classes, the code that decodes and
 * normalizes (this file, the runtime's decode.node.ts, normalize.ts and what they import) and the pngjs and
 * jpeg-js versions:
 * any change to a file's size or time makes a new entry. The entry holds exactly what a fresh load
 * returns: the pixels (as bytes when every value is a whole number 0–255, as with lossless images and
 * "resize" at their own size; else float32), the labels, the classes and the content hash. On disk that is
 * rows × h × w bytes (uint8) or 4× that (float32), e.g. 55 MB or 220 MB for 70,000 28×28 images. A new
 * entry replaces the older ones of the same folder and options (written before a file or the code
 * changed), so one entry per folder and options stays. A damaged entry is ignored and rewritten. The size
 * cap is checked on every load (from the listing); the pixel limit only when images are decoded. Delete
 * data/cache/datasets/ at any time.
 */
import { existsSync, readFileSync, statSync, type Dirent, type Stats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { codeHash } from '../engine/code-hash.ts';
import { hashJson, sha256 } from '../engine/hash.ts';
import { createMatrix } from '@digitbench/runtime/internal';
import { allocFloat32 } from '../engine/threads.ts';
import { cacheRoot } from '../features/cache.ts';
import { decodeImage, DEFAULT_MAX_IMAGE_BYTES } from '../input/decode.ts';
import { normalizeDigit, resizeGrey } from '@digitbench/runtime/internal';
import type { Dataset, LabeledImages } from './datasets.ts';
import { checkFileSize, entryKind, formatBytes, openRegularFile, readAt, resolveLimit, type ByteCap } from '@digitbench/runtime/internal';
import type { ImagesSource } from './sources.ts';

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const GIVE = 'give a folder with one sub-folder of PNG or JPEG images per class, or with train/ and test/ sub-folders that hold the class folders.';
/** Files read (and waiting for the decoder) at a time. */
const IN_FLIGHT = 8;
/** Bump when the layout of a cache entry changes. */
const CACHE_FORMAT = 1;

/** One image file of the listing. */
interface ImageFile {
  /** The path for messages: the source's folder as given, joined with the relative path. */
  path: string;
  /** Relative to the root, '/'-separated. */
  rel: string;
  label: number;
  size: number;
  mtimeMs: number;
}

interface Listing {
  classes: string[];
  train: ImageFile[];
  /** Undefined when the folder has no train/ and test/ layout. */
  test?: ImageFile[];
}

export interface ImageFolderLoad {
  dataset: Dataset;
  /** Whether the pixels came from the cache (no image was decoded). */
  fromCache: boolean;
  /** The cache entry's key (its folder under <cache>/datasets/). */
  cacheKey: string;
  /** Images decoded by this load (0 from the cache). */
  decoded: number;
}

/** A dataset from a folder of class folders (see the top of this file). */
export async function loadImageFolder(source: ImagesSource): Promise<Dataset> {
  return (await readImageFolder(source)).dataset;
}

/** loadImageFolder, and whether the cache served it. */
export async function readImageFolder(source: ImagesSource): Promise<ImageFolderLoad> {
  const root = source.images;
  const abs = resolve(root);
  const [h, w] = source.imageShape;
  const imageCap = imageByteCap();
  const listing = await listFolder(root, source.classes);
  for (const f of [...listing.train, ...(listing.test ?? [])]) checkFileSize(f.path, f.size, imageCap);
  const rows = listing.train.length + (listing.test?.length ?? 0);
  if (rows * h * w * 4 > totalmem()) {
    throw new Error(
      `${root}: ${rows} images of ${h}×${w} need ${formatBytes(rows * h * w * 4)} as float32, more than this machine's ${formatBytes(totalmem())} of memory; choose a smaller imageShape or fewer images.`,
    );
  }

  const { key, family } = cacheKey(abs, source, listing);
  const name = source.name ?? basename(abs);
  const make = (parts: { train: LabeledImages; test: LabeledImages }, contentHash: string): Dataset => ({
    name,
    source: abs,
    classes: listing.classes,
    imageShape: [h, w],
    train: parts.train,
    test: parts.test,
    contentHash,
  });

  const cached = await readCache(key, listing, h * w);
  if (cached) return { dataset: make(cached.parts, cached.contentHash), fromCache: true, cacheKey: key, decoded: 0 };

  const spec: DecodeSpec = { shape: [h, w], normalize: source.normalize, cap: imageCap };
  const train = await decodePart(listing.train, spec);
  const test = listing.test ? await decodePart(listing.test, spec) : emptyPart(h * w);
  const contentHash = hashContent(listing.classes, [h, w], train, test);
  await writeCache(key, family, listing.classes, [h, w], { train, test }, contentHash);
  return { dataset: make({ train, test }, contentHash), fromCache: false, cacheKey: key, decoded: rows };
}

/** The size cap of an image file: `predict`'s (DIGITBENCH_MAX_IMAGE_MB, default 50 MB). */
function imageByteCap(): ByteCap {
  const cap = resolveLimit(undefined, 'maxImageBytes', 'DIGITBENCH_MAX_IMAGE_MB', { name: 'MB', size: 1e6 }, DEFAULT_MAX_IMAGE_BYTES);
  return { bytes: cap.value, what: 'an image file', raise: cap.raise };
}

function emptyPart(cols: number): LabeledImages {
  return { images: createMatrix(0, cols, new Float32Array(0)), labels: new Int32Array(0) };
}

/** sha256 over the class names, the shape, and each part's pixels (float32) and labels. */
function hashContent(classes: string[], shape: [number, number], train: LabeledImages, test: LabeledImages): string {
  return sha256('image-folder', JSON.stringify(classes), shape.join('x'), train.images.data, train.labels, test.images.data, test.labels);
}

// ---------------------------------------------------------------------------------------------------------
// Listing

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function fsError(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new Error(`${path}: no such folder; ${GIVE}`);
  return new Error(`${path}: cannot read the folder (${code ?? (e instanceof Error ? e.message : String(e))}); check its permissions.`);
}

/**
 * The entries of a folder, each with its stat (symbolic links followed); dot-names left out. The stat calls
 * are synchronous: for a folder of many small files that is faster than sending each through the libuv
 * thread pool (docs/measurements.md).
 */
async function entries(dir: string): Promise<{ name: string; stats: Stats }[]> {
  let dirents: Dirent[];
  try {
    dirents = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw fsError(dir, e);
  }
  const names = dirents.map((d) => d.name).filter((n) => !n.startsWith('.')).sort(byCodePoint);
  return names.map((name) => {
    const path = join(dir, name);
    try {
      return { name, stats: statSync(path) };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A dangling symbolic link, or an entry removed since readdir: not a file we can read.
      if (code === 'ENOENT') throw new Error(`${path}: the entry cannot be read (a broken link, or removed while listing); fix or remove it.`);
      throw new Error(`${path}: cannot read it (${code ?? String(e)}); check its permissions.`);
    }
  });
}

async function checkRoot(root: string): Promise<void> {
  let s: Stats;
  try {
    s = await stat(root);
  } catch (e) {
    throw fsError(root, e);
  }
  if (!s.isDirectory()) throw new Error(`${root}: not a folder (${entryKind(s)}); ${GIVE}`);
}

/** The class folders of `dir` (sorted), refusing images beside them. */
async function classFolders(dir: string): Promise<string[]> {
  const folders: string[] = [];
  for (const { name, stats } of await entries(dir)) {
    if (stats.isDirectory()) folders.push(name);
    else if (IMAGE_EXT.test(name)) throw new Error(`${join(dir, name)}: an image outside the class folders has no class; move it into the folder of its class.`);
  }
  return folders;
}

/** The images of one class folder, in code-point order of their names. */
async function classImages(dir: string, relDir: string, label: number): Promise<ImageFile[]> {
  const files: ImageFile[] = [];
  for (const { name, stats } of await entries(dir)) {
    if (!IMAGE_EXT.test(name) || stats.isDirectory()) continue;
    const path = join(dir, name);
    if (!stats.isFile()) throw new Error(`${path}: not a regular file (${entryKind(stats)}); remove it or replace it with a PNG or JPEG image.`);
    files.push({ path, rel: `${relDir}/${name}`, label, size: stats.size, mtimeMs: stats.mtimeMs });
  }
  if (files.length === 0) {
    throw new Error(`${dir}: the class folder holds no PNG or JPEG images (.png, .jpg or .jpeg files); add its images or remove the folder.`);
  }
  return files;
}

/** Every image of the folder with its label, checked before anything is read. */
async function listFolder(root: string, listed: readonly string[] | undefined): Promise<Listing> {
  await checkRoot(root);
  const top = await classFolders(root);
  const named = (n: string) => listed?.includes(n) ?? false;
  const split = top.includes('train') && top.includes('test') && !named('train') && !named('test');
  if (!split) {
    for (const part of ['train', 'test']) {
      const other = part === 'train' ? 'test' : 'train';
      if (top.includes(part) && !named(part)) {
        throw new Error(`${join(root, part)}: a ${part}/ folder without ${other}/; add ${join(root, other)} with the same class folders, or put the class folders directly in ${root}.`);
      }
    }
  } else {
    const extra = top.find((n) => n !== 'train' && n !== 'test');
    if (extra !== undefined) throw new Error(`${join(root, extra)}: a folder beside train/ and test/; move it into train/ or test/ (as a class folder), or remove it.`);
  }
  const trainDir = split ? join(root, 'train') : root;
  const trainFolders = split ? await classFolders(trainDir) : top;
  if (trainFolders.length === 0) throw new Error(`${trainDir}: no class folders in it; ${GIVE}`);

  let classes: string[];
  if (listed) {
    const unlisted = trainFolders.find((n) => !listed.includes(n));
    if (unlisted !== undefined) {
      throw new Error(`${join(trainDir, unlisted)}: a class folder not in the source's "classes"; add "${unlisted}" to classes, or move the folder out.`);
    }
    const missing = listed.find((n) => !trainFolders.includes(n));
    if (missing !== undefined) {
      const path = join(trainDir, missing);
      if (existsSync(path)) throw new Error(`${path}: not a folder (${entryKind(statSync(path))}), but "classes" lists "${missing}"; make it the folder of that class's images, or remove "${missing}" from classes.`);
      throw new Error(`${join(trainDir, missing)}: no such class folder, but "classes" lists "${missing}"; add the folder with its images, or remove "${missing}" from classes.`);
    }
    classes = [...listed];
  } else {
    classes = trainFolders;
  }

  const part = async (dir: string, rel: string, folders: string[]): Promise<ImageFile[]> => {
    const out: ImageFile[] = [];
    for (const c of folders) out.push(...(await classImages(join(dir, c), rel ? `${rel}/${c}` : c, classes.indexOf(c))));
    // Rows in file-name order across the class folders (ties: class order), so a folder written with
    // numbered names (00001.png …) keeps the order its rows had: the same seeded split draws the same rows.
    const base = (f: ImageFile) => f.rel.slice(f.rel.lastIndexOf('/') + 1);
    return out.sort((a, b) => byCodePoint(base(a), base(b)) || a.label - b.label);
  };
  const train = await part(trainDir, split ? 'train' : '', classes);
  if (!split) return { classes, train };

  const testDir = join(root, 'test');
  const testFolders = await classFolders(testDir);
  if (testFolders.length === 0) throw new Error(`${testDir}: no class folders in it; ${GIVE}`);
  const unknown = testFolders.find((n) => !classes.includes(n));
  if (unknown !== undefined) {
    throw new Error(`${join(testDir, unknown)}: a class folder that ${listed ? 'the source\'s "classes" does not list' : 'train/ does not have'}; add it to ${listed ? 'classes' : 'train/'}, or move it out.`);
  }
  const test = await part(testDir, 'test', classes.filter((c) => testFolders.includes(c)));
  return { classes, train, test };
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

function sniffImage(b: Uint8Array): boolean {
  const starts = (...sig: number[]) => b.length >= sig.length && sig.every((x, i) => b[i] === x);
  return starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a) || starts(0xff, 0xd8, 0xff);
}

/** The bytes of one image file: a regular file, within the cap, with a PNG or JPEG signature. */
async function readImageBytes(path: string, cap: ByteCap): Promise<Uint8Array> {
  let opened;
  try {
    opened = await openRegularFile(path, 'remove it or replace it with a PNG or JPEG image.');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${path}: the file was removed while the folder was read; load the dataset again.`);
    if (code) throw new Error(`${path}: cannot read the file (${code}); check its permissions.`);
    throw e;
  }
  const { handle, size } = opened;
  try {
    checkFileSize(path, size, cap);
    if (size === 0) throw new Error(`${path}: the file is empty; replace it with its PNG or JPEG image, or remove it.`);
    const bytes = await readAt(handle, size);
    if (!sniffImage(bytes)) throw new Error(`${path}: not a PNG or JPEG image (its content is neither); replace it with its image, or remove it.`);
    return bytes;
  } finally {
    await handle.close();
  }
}

/** How every image of a load is read and brought to shape; sent to worker threads as it is. */
interface DecodeSpec {
  shape: [number, number];
  normalize: 'mnist' | 'resize';
  cap: ByteCap;
}

/** One file: read, decoded and brought to the spec's shape. */
async function decodeOne(path: string, spec: DecodeSpec): Promise<Float32Array> {
  const img = await decodeImage(await readImageBytes(path, spec.cap), path);
  return spec.normalize === 'resize' ? resizeGrey(img, spec.shape, path) : normalizeDigit(img, path, spec.shape);
}

/**
 * Decodes `paths` into rows `firstRow`… of `out`, a few files in flight; stops at the first failure and
 * returns its index in `paths` (every file before it was started, so which one fails first does not
 * depend on timing), with its error.
 */
async function decodeRange(paths: string[], spec: DecodeSpec, out: Float32Array, firstRow: number): Promise<{ failedAt: number; error?: unknown }> {
  const cols = spec.shape[0] * spec.shape[1];
  let next = 0;
  const failure: { failedAt: number; error?: unknown } = { failedAt: -1 };
  const worker = async () => {
    while (next < paths.length && failure.failedAt < 0) {
      const i = next++;
      try {
        out.set(await decodeOne(paths[i]!, spec), (firstRow + i) * cols);
      } catch (e) {
        if (failure.failedAt < 0 || i < failure.failedAt) Object.assign(failure, { failedAt: i, error: e });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, paths.length) }, worker));
  return failure;
}

/**
 * Reads, decodes and normalizes the files into one matrix, in listing order; the first failing file (in
 * listing order) fails the load with its error. A few files are in flight at once, so reading overlaps
 * decoding and normalization (both on this thread). Decoding small PNGs with pngjs on this thread was
 * faster than sharp, which decoded on a libuv thread one image at a time, and than sharing the images
 * out among worker threads, whose start-up loads the tensor engine and which cost memory (that was not
 * kept): docs/measurements.md. Current load figures: reports/bench/data-load.md (npm run bench:data).
 */
async function decodePart(files: ImageFile[], spec: DecodeSpec): Promise<LabeledImages> {
  const cols = spec.shape[0] * spec.shape[1];
  const data = allocFloat32(files.length * cols);
  const r = await decodeRange(files.map((f) => f.path), spec, data, 0);
  if (r.failedAt >= 0) throw r.error;
  return { images: createMatrix(files.length, cols, data), labels: Int32Array.from(files, (f) => f.label) };
}

// ---------------------------------------------------------------------------------------------------------
// Cache

/**
 * The code that turns files into pixels: this file and the runtime's decode.node.ts and normalize.ts, with
 * what they import (only those files: a change to a feature step or the harness keeps the cache).
 */
function decodingCodeHash(): string {
  const here = fileURLToPath(import.meta.url);
  const input = (f: string) => fileURLToPath(new URL(`../../packages/runtime/src/input/${f}`, import.meta.url));
  return codeHash([input('decode.node.ts'), input('normalize.ts')], resolve(dirname(here), '../..')) + sha256(readFileText(here)).slice(0, 16);
}

let decoders: Record<string, string> | undefined;
/** The versions of the packages that decode images (pngjs, jpeg-js), as installed. */
function decoderVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  decoders ??= Object.fromEntries(['pngjs', 'jpeg-js'].map((p) => [p, (require(`${p}/package.json`) as { version: string }).version]));
  return decoders;
}

let ownText: string | undefined;
/** This file's own text (codeHash on it would follow its imports into datasets.ts, the feature cache and more). */
function readFileText(file: string): string {
  ownText ??= readFileSync(file, 'utf8');
  return ownText;
}

/**
 * The cache key, and the key of its family: the same folder read with the same options (by any code
 * version and any listing), whose older entries a new entry replaces.
 */
function cacheKey(abs: string, source: ImagesSource, listing: Listing): { key: string; family: string } {
  const lines: string[] = [];
  for (const f of [...listing.train, ...(listing.test ?? [])]) lines.push(`${f.rel}\t${f.label}\t${f.size}\t${f.mtimeMs}`);
  const family = hashJson({ format: CACHE_FORMAT, root: abs, imageShape: source.imageShape, normalize: source.normalize, classes: source.classes ?? null }).slice(0, 24);
  const key = hashJson({
    family,
    code: decodingCodeHash(),
    decoders: decoderVersions(),
    listing: sha256(lines.join('\n')),
  }).slice(0, 24);
  return { key, family };
}

function cacheDir(key: string): string {
  return join(cacheRoot(), 'datasets', key);
}

const partMetaSchema = z.object({ rows: z.number().int().nonnegative(), encoding: z.enum(['u8', 'f32']) }).strict();
const metaSchema = z
  .object({
    format: z.literal(CACHE_FORMAT),
    family: z.string(),
    classes: z.array(z.string()),
    imageShape: z.tuple([z.number().int().positive(), z.number().int().positive()]),
    train: partMetaSchema,
    test: partMetaSchema,
    contentHash: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();
type Meta = z.output<typeof metaSchema>;

/** Whether every value is a whole number 0–255 (then a byte per pixel keeps it exactly). */
function allBytes(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (!(v >= 0 && v <= 255 && Math.round(v) === v)) return false;
  }
  return true;
}

/** Fills `into` from the file, which must have exactly its length. */
async function readExactly(file: string, into: Uint8Array): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    if ((await handle.stat()).size !== into.byteLength) return false;
    let got = 0;
    while (got < into.byteLength) {
      const { bytesRead } = await handle.read(into, got, Math.min(into.byteLength - got, 1 << 26), got);
      if (bytesRead === 0) return false;
      got += bytesRead;
    }
    return true;
  } finally {
    await handle.close();
  }
}

async function readCache(
  key: string,
  listing: Listing,
  cols: number,
): Promise<{ parts: { train: LabeledImages; test: LabeledImages }; contentHash: string } | undefined> {
  const dir = cacheDir(key);
  if (!existsSync(join(dir, 'meta.json'))) return undefined;
  try {
    const meta: Meta = metaSchema.parse(JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')));
    const expectRows = { train: listing.train.length, test: listing.test?.length ?? 0 };
    if (JSON.stringify(meta.classes) !== JSON.stringify(listing.classes) || meta.imageShape[0] * meta.imageShape[1] !== cols) return undefined;
    const part = async (name: 'train' | 'test'): Promise<LabeledImages | undefined> => {
      const { rows, encoding } = meta[name];
      if (rows !== expectRows[name]) return undefined;
      const data = allocFloat32(rows * cols);
      const target = encoding === 'u8' ? new Uint8Array(rows * cols) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      // Read straight into the pixels' memory (no second copy of a 220 MB file).
      if (!(await readExactly(join(dir, `${name}.pixels`), target))) return undefined;
      if (encoding === 'u8') data.set(target);
      const lb = await readFile(join(dir, `${name}.labels`));
      if (lb.byteLength !== rows * 4) return undefined;
      const labels = new Int32Array(rows);
      new Uint8Array(labels.buffer).set(lb);
      const files = name === 'train' ? listing.train : listing.test ?? [];
      for (let i = 0; i < rows; i++) if (labels[i] !== files[i]!.label) return undefined;
      return { images: createMatrix(rows, cols, data), labels };
    };
    const train = await part('train');
    const test = await part('test');
    if (!train || !test) return undefined;
    return { parts: { train, test }, contentHash: meta.contentHash };
  } catch {
    return undefined; // a damaged entry is decoded again, never trusted
  }
}

/**
 * Writes the entry (a temporary folder, renamed into place), then removes the older entries of its family
 * (the same folder and options before a file changed): one entry per folder and options stays on disk.
 */
async function writeCache(
  key: string,
  family: string,
  classes: string[],
  imageShape: [number, number],
  parts: { train: LabeledImages; test: LabeledImages },
  contentHash: string,
): Promise<void> {
  const dir = cacheDir(key);
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await mkdir(tmp, { recursive: true });
    const meta = { format: CACHE_FORMAT, family, classes, imageShape, contentHash } as Meta;
    for (const name of ['train', 'test'] as const) {
      const { images, labels } = parts[name];
      const u8 = allBytes(images.data);
      const bytes = u8 ? Uint8Array.from(images.data) : new Uint8Array(images.data.buffer, images.data.byteOffset, images.data.byteLength);
      await writeFile(join(tmp, `${name}.pixels`), bytes);
      await writeFile(join(tmp, `${name}.labels`), new Uint8Array(labels.buffer, labels.byteOffset, labels.byteLength));
      meta[name] = { rows: images.rows, encoding: u8 ? 'u8' : 'f32' };
    }
    await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch {
    // The cache is an optimization: a read-only disk, or another process writing the same entry, is not an error.
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    return;
  }
  const root = dirname(dir);
  for (const other of await readdir(root).catch(() => [] as string[])) {
    if (other === key || other.includes('.tmp-')) continue;
    try {
      const meta = JSON.parse(await readFile(join(root, other, 'meta.json'), 'utf8')) as { family?: unknown };
      if (meta.family === family) await rm(join(root, other), { recursive: true, force: true });
    } catch {
      // Not an entry, or one being written: left alone.
    }
  }
}
