/** The bundle file format: round trip, and the exact one-line error for every kind of bad file. */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUNDLE_FORMAT_VERSION, decodeBundle, encodeBundle } from '@digitbench/runtime/internal';
import { parsePipeline } from '../src/features/pipeline.ts';
import type { StepState } from '@digitbench/runtime/internal';
import { bundleInput } from './helpers/bundle.ts';
import { headerOf, reframe } from './helpers/forge.ts';

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
      ['newer (checksum recomputed, as a newer writer would)', reframe(good, (j) => j, BUNDLE_FORMAT_VERSION + 1), `${NAME} is a format-${BUNDLE_FORMAT_VERSION + 1} bundle, newer than this digitbench reads (format ${BUNDLE_FORMAT_VERSION}); upgrade digitbench to load it.`],
      ['a flipped version bit (checksum not recomputed)', (() => { const b = good.slice(); b[8]! ^= 0x04; return b; })(), `${NAME} is damaged (its checksum does not match its contents); copy it again or re-run the experiment.`],
      ['format 0', reframe(good, (j) => j, 0), `${NAME} is a format-0 bundle, which no digitbench writes; re-run the experiment to write a new one.`],
      ['a damaged length field', (() => { const b = good.slice(); b[20]! ^= 0x01; return b; })(), `${NAME} is damaged (its length field is invalid); copy it again or re-run the experiment.`],
      ['a path as the plugin name', reframe(good, (j) => j.replace('"name":"nearest-centroid"', '"name":"/tmp/x.mjs"')), `${NAME} has an invalid header (plugin.name: use lowercase letters, digits and dashes); re-run the experiment to write a new bundle.`],
      ['a newline in a header key', reframe(good, (j) => j.replace('"state":{}', '"state":{"a\\nb":{"x":1}}')), `${NAME} has an invalid header (pipeline.0.state.a\\u000ab: Invalid input); re-run the experiment to write a new bundle.`],
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

const BIN = join(ROOT, 'bin/digitbench.js');
const SEVEN = join(ROOT, 'examples/digits/seven-test0.png');
const work = (() => {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  return mkdtempSync(join(ROOT, '.tmp', 'bundle-files-'));
})();
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 });

/**
 * readBundleFile in a fresh process: the refusal's message, its wall time, and the process's resident
 * memory before the call and at its peak (VmHWM, /proc/self/status) after it.
 */
function measuredRead(file: string, env: Record<string, string> = {}): { message: string; ms: number; rssBeforeMb: number; peakMb: number } {
  const script = `
    import { readFileSync } from 'node:fs';
    import { readBundleFile } from ${JSON.stringify(join(ROOT, 'src/bundle/file.ts'))};
    const status = (k) => Number(new RegExp(k + ':\\\\s+(\\\\d+) kB').exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    const rssBeforeMb = process.memoryUsage().rss / 2 ** 20;
    const t0 = performance.now();
    let message = 'read without an error';
    try { await readBundleFile(process.argv[1]); } catch (e) { message = e.message; }
    const ms = performance.now() - t0;
    console.log(JSON.stringify({ message, ms, rssBeforeMb, peakMb: status('VmHWM') }));`;
  const r = spawnSync(process.execPath, ['--import', './bin/register.js', '--input-type=module', '-e', script, file], { encoding: 'utf8', cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { message: string; ms: number; rssBeforeMb: number; peakMb: number };
}

const mkfifo = spawnSync('mkfifo', ['--version'], { encoding: 'utf8' });
const noMkfifo = mkfifo.error !== undefined || mkfifo.status !== 0;

describe('reading a bundle file: caps before reads', () => {
  it('/dev/zero is refused in one line, fast and in little memory (CLI: exit 1)', () => {
    const r = cli(['predict', '/dev/zero', SEVEN]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('digitbench: /dev/zero: not a regular file (a character device); give a .bundle file.\n');
    const m = measuredRead('/dev/zero');
    expect(m.message).toBe('/dev/zero: not a regular file (a character device); give a .bundle file.');
    console.log(`/dev/zero refused in ${m.ms.toFixed(1)} ms; RSS ${m.rssBeforeMb.toFixed(0)} MB before, peak (VmHWM) ${m.peakMb.toFixed(0)} MB`);
    expect(m.ms).toBeLessThan(2000);
    expect(m.peakMb).toBeLessThan(300);
  });

  it.skipIf(noMkfifo)('a FIFO is refused without waiting for a writer (skipped where mkfifo is unavailable)', async () => {
    const fifo = join(work, 'pipe.bundle');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const { readBundleFile } = await import('../src/bundle/file.ts');
    await expect(readBundleFile(fifo)).rejects.toThrow(`${fifo}: not a regular file (a FIFO (named pipe)); give a .bundle file.`);
    const r = cli(['predict', fifo, SEVEN]);
    expect([r.status, r.stderr]).toEqual([1, `digitbench: ${fifo}: not a regular file (a FIFO (named pipe)); give a .bundle file.\n`]);
  });

  it('a folder is refused in one line', async () => {
    const { readBundleFile, loadModel } = await import('../src/bundle/file.ts');
    await expect(readBundleFile(work)).rejects.toThrow(`${work}: not a regular file (a folder); give a .bundle file.`);
    await expect(loadModel(work)).rejects.toThrow(`${work}: not a regular file (a folder); give a .bundle file.`);
  });

  it('a file over the limit is refused before it is read (maxBytes, DIGITBENCH_MAX_BUNDLE_BYTES); a bad limit is named', async () => {
    const file = join(work, 'real.bundle');
    writeFileSync(file, good);
    const { readBundleFile, loadModel } = await import('../src/bundle/file.ts');
    const over = (limit: string) =>
      `${file} is ${good.length} bytes, more than the ${limit} limit for a bundle (the largest real one, a k-NN on raw pixels of full MNIST, is about 190 MB); ` +
      'if it is a bundle you trust, raise the limit with DIGITBENCH_MAX_BUNDLE_BYTES (or loadModel\'s maxBytes).';
    await expect(readBundleFile(file, 1000)).rejects.toThrow(over('1000 bytes'));
    await expect(loadModel(file, { maxBytes: 1000 })).rejects.toThrow(over('1000 bytes'));
    expect(Array.from(await readBundleFile(file, good.length))).toEqual(Array.from(good));
    const r = cli(['predict', file, SEVEN], { DIGITBENCH_MAX_BUNDLE_BYTES: '1000' });
    expect([r.status, r.stderr]).toEqual([1, `digitbench: ${over('1000 bytes')}\n`]);
    const bad = cli(['predict', file, SEVEN], { DIGITBENCH_MAX_BUNDLE_BYTES: '1e3' });
    expect([bad.status, bad.stderr]).toEqual([1, 'digitbench: DIGITBENCH_MAX_BUNDLE_BYTES must be a whole number of bytes, 1 or more (got "1e3"); unset it for the default of 1073741824.\n']);
  });

  it('a sparse 2 GiB file is refused by the size cap, and under a higher cap by its 24-byte prefix, without being read', () => {
    const file = join(work, 'huge.bundle');
    writeFileSync(file, good.subarray(0, 24)); // a real bundle's prefix: signature, version, lengths
    truncateSync(file, 2 * 1024 ** 3); // sparse: no 2 GiB are written
    const capped = measuredRead(file);
    expect(capped.message).toBe(
      `${file} is 2 GiB, more than the 1 GiB limit for a bundle (the largest real one, a k-NN on raw pixels of full MNIST, is about 190 MB); ` +
        'if it is a bundle you trust, raise the limit with DIGITBENCH_MAX_BUNDLE_BYTES (or loadModel\'s maxBytes).',
    );
    const prefixed = measuredRead(file, { DIGITBENCH_MAX_BUNDLE_BYTES: String(4 * 1024 ** 3) });
    expect(prefixed.message).toBe(`${file} is damaged (${2 * 1024 ** 3 - good.length} bytes more than its length field says); copy it again or re-run the experiment.`);
    for (const [what, m] of [['size cap', capped], ['prefix check', prefixed]] as const) {
      console.log(`2 GiB sparse file refused by the ${what} in ${m.ms.toFixed(1)} ms; RSS ${m.rssBeforeMb.toFixed(0)} MB before, peak (VmHWM) ${m.peakMb.toFixed(0)} MB`);
      expect(m.ms).toBeLessThan(2000);
      expect(m.peakMb).toBeLessThan(300);
    }
    rmSync(file);
  });
});

describe('a bundle is data: a forged header never runs code', () => {
  // A module that leaves a marker file when imported: what a forger wants a bundle to run.
  const marker = join(work, 'ran.txt');
  const evil = join(work, 'evil.mjs');
  writeFileSync(evil, `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, 'imported');\nexport default {};\n`);
  // Valid checksums: only the header's content is forged.
  const byName = reframe(good, (j) => j.replace('"plugin":{"name":"nearest-centroid"', `"plugin":{"name":${JSON.stringify(evil)},"ref":${JSON.stringify(evil)}`));
  const byRef = reframe(good, (j) => j.replace('"plugin":{"name":"nearest-centroid"', `"plugin":{"name":"nearest-centroid","ref":${JSON.stringify(evil)}`), 1);
  const byNameFile = join(work, 'forged-name.bundle');
  const byRefFile = join(work, 'forged-ref.bundle');
  writeFileSync(byNameFile, byName);
  writeFileSync(byRefFile, byRef);
  const invalidName = (f: string) => `${f} has an invalid header (plugin.name: use lowercase letters, digits and dashes); re-run the experiment to write a new bundle.`;
  const notBuiltIn = (f: string) =>
    `${f}: its plugin "nearest-centroid" is not built in; pass it explicitly (loadModel(file, { plugins: [yourPlugin] }) or digitbench predict --plugin <file>).`;

  it('the forgeries are well-formed bundles (a format-1 path in plugin.ref, a path as plugin.name)', () => {
    expect(JSON.parse(headerOf(byRef).json).plugin.ref).toBe(evil);
    expect(headerOf(byRef).version).toBe(1);
    expect(JSON.parse(headerOf(byName).json).plugin.name).toBe(evil);
  });

  it('predict refuses both in one line, exit 1, and the named module is never imported', () => {
    for (const [file, message] of [[byNameFile, invalidName(byNameFile)], [byRefFile, notBuiltIn(byRefFile)]] as const) {
      const r = cli(['predict', file, SEVEN]);
      expect([r.status, r.stdout, r.stderr]).toEqual([1, '', `digitbench: ${message}\n`]);
      expect(existsSync(marker)).toBe(false);
    }
  });

  it('loadModel refuses both, and never imports the named module', async () => {
    const { loadModel } = await import('../src/bundle/file.ts');
    await expect(loadModel(byNameFile)).rejects.toThrow(invalidName(byNameFile));
    await expect(loadModel(byRefFile)).rejects.toThrow(notBuiltIn(byRefFile));
    expect(existsSync(marker)).toBe(false);
  });

  it('new bundles record the plugin by name only', () => {
    const header = JSON.parse(headerOf(good).json) as { plugin: Record<string, unknown> };
    expect(Object.keys(header.plugin).sort()).toEqual(['engine', 'library', 'name', 'params']);
    expect(headerOf(good).version).toBe(BUNDLE_FORMAT_VERSION);
  });
});
