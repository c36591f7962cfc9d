/**
 * The model bundle: one versioned binary file holding everything a prediction needs (the feature
 * pipeline with its fitted state, the plugin, its params and model bytes, and where they came from).
 * No Node imports: the same reader runs in a web page.
 *
 * Layout (little-endian):
 *   [0, 8)      signature "DGBNDL\r\n" (the CR LF catches text-mode copies, as PNG's does)
 *   [8, 12)     u32 format version
 *   [12, 16)    u32 header length H
 *   [16, 24)    f64 total file length
 *   [24, 24+H)  header, UTF-8 JSON (validated with zod on load); typed arrays in it are {"$blob": i}
 *   …           padding to 8, then the blobs (each at an 8-byte-aligned offset of the data region)
 *   last 32     SHA-256 of every byte before it
 * Checks on load, in order: signature (foreign file), length (truncated or padded), checksum
 * (damaged), then the version (newer file) and the header schema. The checksum comes before the
 * version so that a damaged version field says "damaged", not "newer". The first two need only the
 * 24-byte prefix and the file's size (`checkBundlePrefix`), so a file reader can refuse a foreign or
 * mis-sized file before reading it whole. Each failure is one line naming the file.
 *
 * A bundle is data: decoding never imports or runs anything the header names. The header names its
 * plugin by `plugin.name` only; the caller maps that name to code it already trusts (model.ts).
 * Format 1 also recorded `plugin.ref` (the plugin file's path); format 2 drops it. Both are read, and
 * a format-1 `ref` is ignored. Format 3 adds `trust` (the calibration and the "unsure" threshold, fitted
 * on validation rows); a bundle without it (older, or fitted without a validation part) still gives a
 * confidence (its raw scores as probabilities) and is never "unsure".
 */
import * as z from 'zod/mini';
import { safeParse } from '../schema.ts';
import { stepSpecSchema } from '../features/spec.ts';
import type { StateArray, StepState } from '../features/step.ts';

/** The format this digitbench writes. 2: no `plugin.ref`; 3: `trust` (see above). */
export const BUNDLE_FORMAT_VERSION = 3;
/** The oldest format it reads. */
const OLDEST_READ_VERSION = 1;
const SIGNATURE = [0x44, 0x47, 0x42, 0x4e, 0x44, 0x4c, 0x0d, 0x0a];
/** The fixed prefix: signature, version, header length, total length. */
export const BUNDLE_PREFIX_BYTES = 24;
const PREFIX = BUNDLE_PREFIX_BYTES;
const CHECKSUM = 32;

type BlobType = 'u8' | 'i32' | 'f32' | 'f64';
const CTORS = { u8: Uint8Array, i32: Int32Array, f32: Float32Array, f64: Float64Array } as const;
type Blob = Uint8Array | StateArray;

const int = (...checks: z.core.$ZodCheck<number>[]) => z.number().check(z.int(), ...checks);
const nonEmpty = () => z.string().check(z.minLength(1));
const blobRef = z.strictObject({ $blob: int(z.gte(0)) });
const stateSchema = z.record(z.string(), z.union([z.number(), blobRef]));

const unit = () => z.number().check(z.gte(0), z.lte(1));
/** Calibration and reject threshold (models/calibration.ts `Trust`). */
const trustSchema = z.strictObject({
  calibration: z.strictObject({
    method: z.literal('temperature'),
    temperature: z.number().check(z.positive(), z.lte(1e6)),
    logits: z.enum(['probability', 'decision', 'ovr-votes']),
    eps: z.number().check(z.positive(), z.lt(1)),
    validationRows: int(z.positive()),
  }),
  reject: z.strictObject({
    targetAccuracy: unit(),
    threshold: z.nullable(unit()),
    validation: z.strictObject({ coverage: unit(), accuracy: unit() }),
  }),
});

export const bundleHeaderSchema = z.strictObject({
  format: z.literal('digitbench-bundle'),
  /** digitbench's package version that wrote it. */
  digitbench: nonEmpty(),
  createdAt: z.iso.datetime({ offset: true }),
  dataset: z.strictObject({
    name: nonEmpty(),
    /** The dataset's content hash (sha256 over the data as read: the idx files, or a CSV's or image folder's rows). */
    contentHash: nonEmpty(),
    /** Height × width; each at most 4096 (MNIST's is 28 × 28), so no header can ask for a huge image. */
    imageShape: z.tuple([int(z.positive(), z.lte(4096)), int(z.positive(), z.lte(4096))]),
    /** Names of every dataset class by label (e.g. Fashion-MNIST's "Trouser"). */
    classNames: z.array(z.string()),
  }),
  /** Labels the model predicts, ascending (score columns follow them). */
  classes: z.array(int()).check(z.minLength(1)),
  /** The feature pipeline, in order, each step with its fitted state. Raw 0..255 pixels go in. */
  pipeline: z.array(z.strictObject({ spec: stepSpecSchema, state: stateSchema })),
  plugin: z.strictObject({
    /** The plugin's name (defineClassifier's rule): all a loader uses to find its code. */
    name: z.string().check(z.maxLength(100), z.regex(/^[a-z][a-z0-9-]*$/, 'use lowercase letters, digits and dashes')),
    /** Format 1 only: the plugin file's path as the experiment named it. Ignored on load; never written. */
    ref: z.optional(z.string()),
    library: z.string(),
    params: z.record(z.string(), z.unknown()),
    scoreKind: z.optional(z.string()),
    engine: z.string(),
  }),
  model: blobRef,
  /** Format 3: how scores become a calibrated confidence, and below which confidence an answer is "unsure". */
  trust: z.optional(trustSchema),
  split: z.strictObject({
    fingerprint: nonEmpty(),
    train: int(z.gte(0)),
    validation: int(z.gte(0)),
    test: int(z.gte(0)),
    seed: int(),
  }),
  run: z.strictObject({
    id: nonEmpty(),
    experiment: nonEmpty(),
    classifier: nonEmpty(),
    seed: int(),
    testAccuracy: z.number().check(z.gte(0), z.lte(1)),
    testRows: int(z.gte(0)),
    /**
     * Set on a refitted bundle (refit: "all"): the model was fitted again on this many rows (the run's
     * training plus test rows) and never tested; testAccuracy and testRows are those of the tested run.
     */
    refit: z.optional(z.strictObject({ trainRows: int(z.positive()), tested: z.literal(false) })),
  }),
  blobs: z.array(
    z.strictObject({
      type: z.enum(['u8', 'i32', 'f32', 'f64']),
      offset: int(z.gte(0)),
      length: int(z.gte(0)),
    }),
  ),
});

export type BundleHeader = z.output<typeof bundleHeaderSchema>;

/** What a bundle holds once decoded: the header, each step's state with its arrays, and the model bytes. */
export interface BundleContents {
  header: BundleHeader;
  states: StepState[];
  modelBytes: Uint8Array;
}

/** What the writer is given: the header without its blob plumbing, plus the states and model bytes. */
export type BundleInput = Omit<BundleHeader, 'format' | 'blobs' | 'model' | 'pipeline'> & {
  pipeline: { spec: BundleHeader['pipeline'][number]['spec']; state: StepState }[];
  modelBytes: Uint8Array;
};

function typeOf(a: Blob): BlobType {
  if (a instanceof Uint8Array) return 'u8';
  if (a instanceof Int32Array) return 'i32';
  if (a instanceof Float32Array) return 'f32';
  return 'f64';
}

const align8 = (n: number) => (n + 7) & ~7;

async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
}

function littleEndian(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('Model bundles are little-endian and this machine is big-endian; use a little-endian machine.');
  }
}

/** Encodes a bundle. */
export async function encodeBundle(input: BundleInput): Promise<Uint8Array> {
  littleEndian();
  const blobs: Blob[] = [];
  const ref = (a: Blob) => ({ $blob: blobs.push(a) - 1 });
  const pipeline = input.pipeline.map(({ spec, state }) => ({
    spec,
    state: Object.fromEntries(Object.entries(state).map(([k, v]) => [k, typeof v === 'number' ? v : ref(v)])),
  }));
  const model = ref(input.modelBytes);
  let offset = 0;
  const table = blobs.map((b) => {
    const entry = { type: typeOf(b), offset, length: b.length };
    offset = align8(offset + b.byteLength);
    return entry;
  });
  const { modelBytes: _omit, plugin: { ref: _path, ...plugin }, ...rest } = input;
  const header: BundleHeader = { format: 'digitbench-bundle', ...rest, plugin, pipeline, model, blobs: table };
  const checked = safeParse(bundleHeaderSchema, header);
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    throw new Error(`The bundle header is invalid (${issue.path.join('.') || 'header'}: ${issue.message}); this is a bug in the writer.`);
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align8(PREFIX + json.length);
  const total = dataStart + offset + CHECKSUM;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(SIGNATURE, 0);
  view.setUint32(8, BUNDLE_FORMAT_VERSION, true);
  view.setUint32(12, json.length, true);
  view.setFloat64(16, total, true);
  out.set(json, PREFIX);
  blobs.forEach((b, i) => out.set(new Uint8Array(b.buffer, b.byteOffset, b.byteLength), dataStart + table[i]!.offset));
  out.set(await sha256(out.subarray(0, total - CHECKSUM)), total - CHECKSUM);
  return out;
}

/**
 * Text from inside a file, made safe for a one-line message: control characters (newlines included)
 * escaped, at most `max` characters.
 */
export function quoteLine(text: string, max = 120): string {
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return safe.length > max ? `${safe.slice(0, max - 1)}…` : safe;
}

const GIVE = 'give a .bundle file that `digitbench experiment` wrote (in <report folder>/models/)';

/**
 * The checks that need only the first 24 bytes and the file's size: empty, foreign (signature),
 * cut inside the prefix, and the declared total length against the size (truncated, padded or a
 * damaged length field). `name` is named in every error.
 */
export function checkBundlePrefix(prefix: Uint8Array, size: number, name: string): void {
  if (size === 0) throw new Error(`${name} is empty, not a digitbench model bundle; ${GIVE}.`);
  if (SIGNATURE.some((b, i) => i < size && prefix[i] !== b)) {
    throw new Error(`${name} is not a digitbench model bundle (it does not start with the bundle signature); ${GIVE}.`);
  }
  if (size < PREFIX) throw new Error(`${name} is truncated (${size} bytes, shorter than a bundle's fixed header); copy the whole file again or re-run the experiment.`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, PREFIX);
  const headerLength = view.getUint32(12, true);
  const total = view.getFloat64(16, true);
  if (!Number.isSafeInteger(total) || total < align8(PREFIX + headerLength) + CHECKSUM) throw new Error(`${name} is damaged (its length field is invalid); copy it again or re-run the experiment.`);
  if (size < total) throw new Error(`${name} is truncated (${size} of ${total} bytes); copy the whole file again or re-run the experiment.`);
  if (size > total) throw new Error(`${name} is damaged (${size - total} bytes more than its length field says); copy it again or re-run the experiment.`);
}

/** Decodes and checks a bundle; `name` (usually the file path) is named in every error. Never runs anything. */
export async function decodeBundle(bytes: Uint8Array, name: string): Promise<BundleContents> {
  littleEndian();
  checkBundlePrefix(bytes.subarray(0, PREFIX), bytes.length, name);
  const total = bytes.length;
  const expected = bytes.subarray(total - CHECKSUM, total);
  const actual = await sha256(bytes.subarray(0, total - CHECKSUM));
  if (actual.some((b, i) => b !== expected[i])) throw new Error(`${name} is damaged (its checksum does not match its contents); copy it again or re-run the experiment.`);
  // Only now, with the bytes known to be as written, is the version believed.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version > BUNDLE_FORMAT_VERSION) {
    throw new Error(`${name} is a format-${version} bundle, newer than this digitbench reads (format ${BUNDLE_FORMAT_VERSION}); upgrade digitbench to load it.`);
  }
  if (version < OLDEST_READ_VERSION) throw new Error(`${name} is a format-${version} bundle, which no digitbench writes; re-run the experiment to write a new one.`);
  const headerLength = view.getUint32(12, true);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX, PREFIX + headerLength)));
  } catch {
    throw new Error(`${name} has an unreadable header (not UTF-8 JSON); re-run the experiment to write a new bundle.`);
  }
  const parsed = safeParse(bundleHeaderSchema, raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = quoteLine(issue.path.map(String).join('.') || 'header', 200);
    throw new Error(`${name} has an invalid header (${where}: ${quoteLine(issue.message, 200)}); re-run the experiment to write a new bundle.`);
  }
  const header = parsed.data;
  const dataStart = align8(PREFIX + headerLength);
  // One aligned copy of the data region: typed-array views need aligned offsets.
  // (Not bytes.slice: on a Node Buffer that is a view, not a copy.)
  const data = new Uint8Array(total - CHECKSUM - dataStart);
  data.set(bytes.subarray(dataStart, total - CHECKSUM));
  const blobs = header.blobs.map((b, i) => {
    const Ctor = CTORS[b.type];
    if (b.offset % 8 !== 0 || b.offset + b.length * Ctor.BYTES_PER_ELEMENT > data.byteLength) {
      throw new Error(`${name} has an invalid header (blobs.${i} lies outside the file); re-run the experiment to write a new bundle.`);
    }
    return new Ctor(data.buffer, b.offset, b.length);
  });
  const blob = (r: { $blob: number }, where: string): Blob => {
    const b = blobs[r.$blob];
    if (!b) throw new Error(`${name} has an invalid header (${quoteLine(where, 200)} names blob ${r.$blob}, which does not exist); re-run the experiment to write a new bundle.`);
    return b;
  };
  const states = header.pipeline.map((p, i) =>
    Object.fromEntries(Object.entries(p.state).map(([k, v]) => [k, typeof v === 'number' ? v : blob(v, `pipeline.${i}.state.${k}`)])) as StepState,
  );
  const model = blob(header.model, 'model');
  if (!(model instanceof Uint8Array)) throw new Error(`${name} has an invalid header (the model blob is not bytes); re-run the experiment to write a new bundle.`);
  return { header, states, modelBytes: model };
}
