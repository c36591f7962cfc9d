/** The bundle file format: round trip, and the exact one-line error for every kind of bad file. */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE_FORMAT_VERSION, decodeBundle, encodeBundle } from '../src/bundle/format.ts';
import { parsePipeline } from '../src/features/pipeline.ts';
import type { StepState } from '../src/features/step.ts';
import { bundleInput } from './helpers/bundle.ts';

const ROOT = resolve(__dirname, '..');
const specs = parsePipeline([{ step: 'scale' }, { step: 'standardize' }]);
const states: StepState[] = [{}, { mean: Float64Array.from([1, 2, 3]), inv: Float64Array.from([0.5, 0.25, 0]) }];
const model = Uint8Array.from({ length: 1001 }, (_, i) => i % 251);
const good = await encodeBundle(bundleInput(specs, states, model));
const NAME = 'models/x.bundle';

/** Rewrites the header JSON (same length) and recomputes the checksum, as a crafted file would. */
function withHeader(bytes: Uint8Array, edit: (json: string) => string): Uint8Array {
  const out = bytes.slice();
  const len = new DataView(out.buffer).getUint32(12, true);
  const json = edit(new TextDecoder().decode(out.subarray(24, 24 + len)));
  const enc = new TextEncoder().encode(json);
  if (enc.length !== len) throw new Error('the edit must keep the header length');
  out.set(enc, 24);
  out.set(createHash('sha256').update(out.subarray(0, out.length - 32)).digest(), out.length - 32);
  return out;
}

describe('bundle format', () => {
  it('round-trips the header, every state array and the model bytes exactly', async () => {
    const { header, states: back, modelBytes } = await decodeBundle(good, NAME);
    expect(header.format).toBe('digitbench-bundle');
    expect(header.pipeline.map((p) => p.spec)).toEqual(specs);
    expect(back).toEqual(states);
    expect(back[1]!.mean).toBeInstanceOf(Float64Array);
    expect(Array.from(modelBytes)).toEqual(Array.from(model));
    expect(header.run.testAccuracy).toBe(0.9);
    // A Node Buffer (what readFile gives) with a non-zero offset decodes the same.
    const padded = Buffer.concat([Buffer.alloc(3), Buffer.from(good)]).subarray(3);
    expect((await decodeBundle(padded, NAME)).states).toEqual(states);
  });

  it('gives one line naming the file for an empty, foreign, truncated, padded, damaged, newer or invalid file', async () => {
    const cases: [string, Uint8Array, string][] = [
      ['empty', new Uint8Array(0), `${NAME} is empty, not a digitbench model bundle; give a .bundle file that \`digitbench experiment\` wrote (in <report folder>/models/).`],
      ['foreign', new TextEncoder().encode('{"format":"digitbench-knn"}'), `${NAME} is not a digitbench model bundle (it does not start with the bundle signature); give a .bundle file that \`digitbench experiment\` wrote (in <report folder>/models/).`],
      ['truncated', good.subarray(0, good.length - 100), `${NAME} is truncated (${good.length - 100} of ${good.length} bytes); copy the whole file again or re-run the experiment.`],
      ['cut in the fixed header', good.subarray(0, 12), `${NAME} is truncated (12 bytes, shorter than a bundle's fixed header); copy the whole file again or re-run the experiment.`],
      ['padded', Uint8Array.from([...good, 0, 0]), `${NAME} is damaged (2 bytes more than its length field says); copy it again or re-run the experiment.`],
      ['damaged', (() => { const b = good.slice(); b[b.length - 200]! ^= 0x10; return b; })(), `${NAME} is damaged (its checksum does not match its contents); copy it again or re-run the experiment.`],
      ['newer', (() => { const b = good.slice(); new DataView(b.buffer).setUint32(8, BUNDLE_FORMAT_VERSION + 1, true); return b; })(), `${NAME} is a format-2 bundle, newer than this digitbench reads (format 1); upgrade digitbench to load it.`],
      ['invalid header', withHeader(good, (j) => j.replace('"format":"digitbench-bundle"', '"format":"digitbench-bundlX"')), `${NAME} has an invalid header (format: Invalid input: expected "digitbench-bundle"); re-run the experiment to write a new bundle.`],
      ['bad step spec', withHeader(good, (j) => j.replace('"step":"standardize"', '"step":"standardise"')), `${NAME} has an invalid header (pipeline.1.spec.step: Invalid discriminator value. Expected 'scale' | 'standardize' | 'drop-constant' | 'deskew' | 'blur' | 'downsample' | 'hog' | 'pca'); re-run the experiment to write a new bundle.`],
    ];
    for (const [what, bytes, message] of cases) {
      await expect(decodeBundle(bytes, NAME), what).rejects.toThrow(message);
    }
  });

  it('the CLI prints that line and exits non-zero, never a prediction', () => {
    const dir = join(ROOT, '.tmp');
    mkdirSync(dir, { recursive: true });
    const tmp = mkdtempSync(join(dir, 'bundle-'));
    const file = join(tmp, 'cut.bundle');
    writeFileSync(file, good.subarray(0, 500));
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/digitbench.js'), 'predict', file, join(ROOT, 'examples/digits/seven-test0.png')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`digitbench: ${file} is truncated (500 of ${good.length} bytes); copy the whole file again or re-run the experiment.\n`);
    const missing = spawnSync(process.execPath, [join(ROOT, 'bin/digitbench.js'), 'predict', join(tmp, 'none.bundle'), 'x.png'], { encoding: 'utf8' });
    expect(missing.stderr).toBe(`digitbench: ${join(tmp, 'none.bundle')}: no such file; give a .bundle file that \`digitbench experiment\` wrote (in <report folder>/models/).\n`);
  });
});
