/**
 * Seeded fuzzing of the bundle reader: a small real bundle (scale → PCA → Gaussian naive Bayes, fitted
 * on 600 MNIST training digits through the project's own pipeline, plugin and writer) mutated 640 ways:
 * bit flips, truncations, insertions, deletions and header JSON edits, each with the SHA-256 trailer
 * (and the length field) recomputed, as a forger would, or left as it was, as damage would.
 *
 * What is asserted:
 * - without a recomputed checksum, every mutation is refused;
 * - every refusal is a plain one-line Error whose message names the file; nothing else is ever thrown
 *   (no TypeError or RangeError escapes, no unhandled rejection: vitest fails the file on one), and
 *   nothing hangs (each case has a deadline);
 * - with a recomputed checksum, the result is such a refusal or a model whose predictions went through
 *   the validated path: labels within the header's classes, scores one per class.
 *
 * Why a checksum cannot tell a deliberately edited model from an honest one: SHA-256 here is not a
 * signature. Anyone who can edit the file can recompute it, so it proves only that the bytes are the
 * ones the last writer wrote, which catches damage (bit rot, truncated copies) and nothing more. A
 * forged bundle can therefore load and predict whatever its numbers say. What IS guaranteed is that
 * loading never runs anything: the header names its plugin by name, the loader maps that name to a
 * built-in or a plugin the caller passed, and every field is validated data (test/bundle.test.ts
 * checks a header naming a module that would leave a marker file: it is never imported).
 *
 * FUZZ_SEED and FUZZ_CASES run other or more mutations (e.g. FUZZ_SEED=7 FUZZ_CASES=5000).
 */
import { describe, expect, it } from 'vitest';
import { encodeBundle } from '@digitbench/runtime/internal';
import { loadBundleBytes } from '@digitbench/runtime/internal';
import { naiveBayes } from '../src/classifiers/naive-bayes.ts';
import { pluginResolver } from '../src/classifiers/registry.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { applySplit, makeSplit } from '../src/data/split.ts';
import { createMatrix, sliceRows } from '@digitbench/runtime/internal';
import { createPipeline, fitTransform, parsePipeline, pipelineStates } from '../src/features/pipeline.ts';
import { bundleInput } from './helpers/bundle.ts';
import { headerOf, reframe, reseal } from './helpers/forge.ts';

const CASES = Number(process.env.FUZZ_CASES ?? 640);
const SEED = Number(process.env.FUZZ_SEED ?? 20261204);
const DEADLINE_MS = 5000;

/** mulberry32: a small seeded generator, so every run tries the same mutations. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(xs: readonly T[]): T => xs[int(xs.length)]! };
}
type Rng = ReturnType<typeof rng>;

const ds = await loadDataset('mnist');
const split = makeSplit(ds, { train: 600, test: 40, seed: 3 });
const data = applySplit(ds, split);
const specs = parsePipeline([{ step: 'scale' }, { step: 'pca', components: 12 }]);
const pipeline = createPipeline(specs, ds.imageShape);
const fitted = await fitTransform(pipeline, { train: data.train.x }, data.train.y);
const params = parseParams(naiveBayes, {});
const model = await naiveBayes.create(params, { seed: 1, log: { info() {}, warn() {} } }).fit(fitted.parts.train!, data.train.y);
const good = await encodeBundle({
  ...bundleInput(specs, pipelineStates(pipeline), new Uint8Array(await model.serialize!())),
  classes: Array.from(model.classes),
  plugin: { name: naiveBayes.name, library: naiveBayes.library, params: params as Record<string, unknown>, scoreKind: naiveBayes.scoreKind, engine: model.engine() },
});
const testImages = sliceRows(data.test.x, 0, 4);
const headerEnd = 24 + new DataView(good.buffer).getUint32(12, true);

/** A random edit of one value in the header JSON (or of its text), as a forger or a bad tool would. */
function editJson(json: string, r: Rng): string {
  if (r.next() < 0.25) {
    // Raw text: delete, duplicate or replace one character.
    const i = r.int(json.length);
    const c = r.pick(['', json[i]! + json[i]!, '"', '}', '9', '-', '\n', 'é', '\u0000']);
    return json.slice(0, i) + c + json.slice(i + 1);
  }
  const root = JSON.parse(json) as unknown;
  const paths: (string | number)[][] = [];
  const walk = (v: unknown, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...path, i]));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...path, k]);
  };
  walk(root, []);
  const path = r.pick(paths.filter((p) => p.length > 0));
  let parent = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = path[path.length - 1]!;
  const old = parent[key];
  const replacements: unknown[] = [
    0, -1, 1, 2 ** 31, 2 ** 53, 1e308, -1e308, 0.5, 28, 4096, 4097, '', 'x', '/tmp/evil.mjs', 'a\nb', null, true, [], {}, { $blob: 0 }, { $blob: 999 },
    typeof old === 'number' ? old + 1 : 'naive-bayes', typeof old === 'number' ? -old : 'knn', Array.isArray(old) ? [...old, ...old] : { [`k${r.int(9)}`]: 1 },
  ];
  const action = r.int(4);
  if (action === 0 && !Array.isArray(parent)) delete parent[key];
  else if (action === 1 && Array.isArray(parent)) parent.splice(Number(key), 1);
  else if (action === 2 && !Array.isArray(parent)) parent[`${String(key)}${r.pick(['', 'x', '\n'])}`] = r.pick(replacements);
  else parent[key] = r.pick(replacements);
  return JSON.stringify(root);
}

/** One mutation of the bundle and whether the trailer (and the length field) is then made consistent again. */
function mutate(r: Rng): { kind: string; bytes: Uint8Array; resealed: boolean } {
  const resealed = r.next() < 0.5;
  const kind = r.pick(['flip', 'flip', 'truncate', 'insert', 'delete', 'json', 'json']);
  let bytes: Uint8Array;
  if (kind === 'json') {
    const original = headerOf(good).json;
    let edited = editJson(original, r);
    while (edited === original) edited = editJson(original, r); // e.g. a value replaced by an equal one
    bytes = reframe(good, () => edited);
    if (!resealed) bytes.set(good.subarray(good.length - 32), bytes.length - 32); // the old checksum: damage, not forgery
    return { kind, bytes, resealed };
  }
  // Half the byte-level mutations land in the prefix and header, where the structure is.
  const at = (n: number) => (r.next() < 0.5 ? r.int(Math.min(n, headerEnd)) : r.int(n));
  if (kind === 'flip') {
    bytes = good.slice();
    for (let i = 1 + r.int(3); i > 0; i--) bytes[at(bytes.length)]! ^= 1 << r.int(8);
    if (bytes.every((b, i) => b === good[i])) bytes[at(bytes.length)]! ^= 1;
  } else if (kind === 'truncate') {
    bytes = good.slice(0, r.int(good.length));
  } else if (kind === 'insert') {
    const i = at(good.length + 1);
    const extra = Uint8Array.from({ length: 1 + r.int(64) }, () => r.int(256));
    bytes = Uint8Array.from([...good.subarray(0, i), ...extra, ...good.subarray(i)]);
  } else {
    const i = at(good.length);
    bytes = Uint8Array.from([...good.subarray(0, i), ...good.subarray(Math.min(good.length, i + 1 + r.int(64)))]);
  }
  if (resealed && bytes.length >= 56) {
    new DataView(bytes.buffer, bytes.byteOffset).setFloat64(16, bytes.length, true);
    reseal(bytes);
  }
  return { kind, bytes, resealed };
}

/** Rejects when `p` has not settled within the deadline (a hang is a failure, not a slow test). */
function deadline<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`HANG: ${what} did not settle in ${DEADLINE_MS} ms`)), DEADLINE_MS)))]).finally(() => clearTimeout(timer));
}

describe('bundle fuzz', () => {
  it('the real bundle itself loads and predicts (the baseline the mutations start from)', async () => {
    const m = await loadBundleBytes(good, 'fuzz/good.bundle', pluginResolver());
    expect(Array.from(await m.predictLabels(testImages))).toEqual(Array.from(await model.predict((await fitTransform(createPipeline(specs, ds.imageShape), { train: data.train.x, t: testImages }, data.train.y)).parts.t!)));
    m.dispose();
  });

  it(`${CASES} seeded mutations: damage is always refused; every refusal is one line naming the file; a forged model predicts only its classes`, async () => {
    const r = rng(SEED);
    const tally: Record<string, number> = {};
    const count = (k: string) => (tally[k] = (tally[k] ?? 0) + 1);
    for (let i = 0; i < CASES; i++) {
      const { kind, bytes, resealed } = mutate(r);
      const name = `fuzz/case-${i}-${kind}${resealed ? '-resealed' : ''}.bundle`;
      const outcome = await deadline(
        (async () => {
          const m = await loadBundleBytes(bytes, name, pluginResolver());
          try {
            const [h, w] = m.imageShape;
            const n = h * w > 4 * 784 ? 1 : 3;
            const images = createMatrix(n, h * w, Float32Array.from({ length: n * h * w }, (_, j) => (h * w === 784 ? testImages.data[j]! : (j * 37) % 256)));
            const predictions = await m.predict(images);
            const labels = await m.predictLabels(images);
            return { model: m, predictions, labels };
          } finally {
            m.dispose();
          }
        })(),
        name,
      ).then(
        (ok) => ({ ok }),
        (error: unknown) => ({ error }),
      );
      if ('error' in outcome) {
        const e = outcome.error as Error;
        const where = `${name}: ${String(e?.message ?? e)}`;
        expect(e?.constructor, where).toBe(Error); // a plain Error: no TypeError, RangeError, SyntaxError, …
        expect(e.message, where).not.toMatch(/HANG/);
        expect(e.message, where).not.toMatch(/[\n\r]/);
        expect(e.message, where).toContain(name);
        count(`${kind}${resealed ? ' resealed' : ''}: refused`);
        continue;
      }
      // Only a forger's bytes (checksum recomputed) ever load, and then only through the checks.
      expect(resealed, `${name} loaded without a recomputed checksum`).toBe(true);
      const { model: m, predictions, labels } = outcome.ok;
      const classes = new Set(m.header.classes);
      expect(labels.length).toBe(predictions.length);
      for (const p of predictions) {
        expect(classes.has(p.label), name).toBe(true);
        for (const t of p.top ?? []) expect(classes.has(t.label), name).toBe(true);
      }
      for (const l of labels) expect(classes.has(l), name).toBe(true);
      count(`${kind} resealed: loaded`);
    }
    console.log(`bundle fuzz, seed ${SEED}, ${CASES} cases: ${Object.entries(tally).sort().map(([k, v]) => `${k} ${v}`).join('; ')}`);
    expect(Object.values(tally).reduce((a, b) => a + b, 0)).toBe(CASES);
  }, 60_000);
});
