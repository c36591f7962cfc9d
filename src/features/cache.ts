/**
 * On-disk cache of fitted features (git-ignored, under data/cache/features/). The key hashes
 * everything that changes the output; a half-written entry is never read (written to a temporary
 * folder, then renamed). Only successful results are stored.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { codeHash } from '../engine/code-hash.ts';
import { hashJson } from '../engine/hash.ts';
import { libraryVersions } from '../engine/packages.ts';
import { librariesOn } from '../engine/ort.ts';
import { stepOf } from './steps.ts';
import type { Matrix } from '@digitbench/runtime/internal';
import type { StepSpec } from './pipeline.ts';
import type { StateArray, StepState } from '@digitbench/runtime/internal';

/**
 * The code that computes features (prepare.ts and everything it imports: every step, the split, the
 * dataset reader, the engine), hashed: a change to any of it makes new keys, with nothing to bump by hand.
 */
export function featuresCodeHash(): string {
  return codeHash([fileURLToPath(new URL('./prepare.ts', import.meta.url))], resolve(dirname(fileURLToPath(import.meta.url)), '../..'));
}

export function cacheRoot(): string {
  return process.env.DIGITBENCH_CACHE_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../data/cache');
}

/**
 * Installed versions of the packages the pipeline's steps declare (a new version may change their output),
 * with their engineLibraries for the engine at hand only (as in a run's provenance, src/harness/provenance.ts).
 */
export function featureLibraries(steps: readonly StepSpec[]): Record<string, string> {
  const defs = steps.map((spec) => stepOf(spec));
  return libraryVersions(
    defs.flatMap((d) => [...(d.libraries ?? []), ...librariesOn(d.engineLibraries)]),
    defs.flatMap((d) => d.patched ?? []),
    [fileURLToPath(import.meta.url)],
  );
}

export function featureCacheKey(input: { datasetHash: string; splitFingerprint: string; steps: StepSpec[]; seed: number; backend?: string }): string {
  return hashJson({ code: featuresCodeHash(), libraries: featureLibraries(input.steps), ...input }).slice(0, 24);
}

type SavedValue = number | { type: 'f64' | 'f32' | 'i32'; base64: string };

interface Meta {
  parts: Record<string, { rows: number; cols: number }>;
  /** Seconds it took to compute the entry. */
  seconds: number;
  /** The fitted state of each step (what the run's model bundle stores). */
  states: Record<string, SavedValue>[];
  /** The most threads a step's fit kept busy (absent: 1). */
  threads?: number;
}

export interface CachedFeatures {
  parts: Record<string, Matrix>;
  seconds: number;
  states: StepState[];
  /** The most threads a step's fit kept busy when the entry was computed. */
  threads: number;
}

const ARRAYS = { f64: Float64Array, f32: Float32Array, i32: Int32Array } as const;

function saveState(state: StepState): Record<string, SavedValue> {
  return Object.fromEntries(
    Object.entries(state).map(([k, v]) => {
      if (typeof v === 'number') return [k, v];
      const type = v instanceof Float64Array ? 'f64' : v instanceof Float32Array ? 'f32' : 'i32';
      return [k, { type, base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') }];
    }),
  );
}

function readState(saved: Record<string, SavedValue>): StepState {
  return Object.fromEntries(
    Object.entries(saved).map(([k, v]) => {
      if (typeof v === 'number') return [k, v];
      const bytes = Buffer.from(v.base64, 'base64');
      const Ctor = ARRAYS[v.type];
      const out: StateArray = new Ctor(bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
      new Uint8Array(out.buffer).set(bytes);
      return [k, out];
    }),
  );
}

export async function readCachedFeatures(key: string): Promise<CachedFeatures | undefined> {
  const dir = join(cacheRoot(), 'features', key);
  if (!existsSync(join(dir, 'meta.json'))) return undefined;
  try {
    const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
    const out: Record<string, Matrix> = {};
    for (const [name, { rows, cols }] of Object.entries(meta.parts)) {
      const buf = await readFile(join(dir, `${name}.f32`));
      if (buf.byteLength !== rows * cols * 4) return undefined;
      const data = new Float32Array(rows * cols);
      new Uint8Array(data.buffer).set(buf);
      out[name] = { rows, cols, data };
    }
    if (!Array.isArray(meta.states)) return undefined;
    return { parts: out, seconds: meta.seconds, states: meta.states.map(readState), threads: meta.threads ?? 1 };
  } catch {
    return undefined; // a damaged entry is recomputed, never trusted
  }
}

export async function writeCachedFeatures(key: string, parts: Record<string, Matrix>, seconds: number, states: StepState[], threads = 1): Promise<void> {
  const root = join(cacheRoot(), 'features');
  const dir = join(root, key);
  // Unique per writer on any host: workers on several machines may share one cache folder (NFS), where pids collide.
  const tmp = `${dir}.tmp-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp, { recursive: true });
  const meta: Meta = { parts: {}, seconds, states: states.map(saveState), ...(threads > 1 ? { threads } : {}) };
  for (const [name, m] of Object.entries(parts)) {
    meta.parts[name] = { rows: m.rows, cols: m.cols };
    await writeFile(join(tmp, `${name}.f32`), new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength));
  }
  await writeFile(join(tmp, 'meta.json'), JSON.stringify(meta));
  await rm(dir, { recursive: true, force: true });
  try {
    await rename(tmp, dir);
  } catch (e) {
    // Another writer's entry (the same content: the key is a content hash) landed between the rm and the rename.
    await rm(tmp, { recursive: true, force: true });
    if (!existsSync(join(dir, 'meta.json'))) throw e;
  }
}
