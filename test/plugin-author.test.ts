/**
 * The plugin contract from a plugin author's own project: a folder outside the checkout with digitbench
 * installed in its node_modules (package.json, index.js and testing.js as files, the sources beside them),
 * a plugin file importing `digitbench`, and test files that call `describePluginContract` from
 * `digitbench/testing`, run by the author's own `vitest run`. A correct plugin passes every test; one whose
 * load() reads a Node Buffer's pool (a common mistake) fails exactly the round-trip test, with its message.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const dir = mkdtempSync(join(tmpdir(), 'digitbench-author-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The export `digitbench/testing` (root package.json). */
const TESTING_EXPORT = { types: './src/testing/contract.ts', default: './testing.js' };

function install(): void {
  const pkgDir = join(dir, 'node_modules', 'digitbench');
  mkdirSync(pkgDir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
  pkg.exports['./testing'] ??= TESTING_EXPORT;
  writeFileSync(join(pkgDir, 'package.json'), JSON.stringify(pkg, null, 2));
  for (const f of ['index.js', 'testing.js']) copyFileSync(join(ROOT, f), join(pkgDir, f));
  for (const d of ['src', 'bin', 'packages', 'patches']) symlinkSync(join(ROOT, d), join(pkgDir, d), 'dir');
  // The author's own test runner and schema library (the project's, so one vitest instance runs the tests).
  for (const d of ['vitest', 'zod']) symlinkSync(join(ROOT, 'node_modules', d), join(dir, 'node_modules', d), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-plugin', type: 'module', private: true }));
}

/** A plugin file as an author writes it: nearest class mean, saved as [k, cols, labels…] int32 + means float32. */
function pluginSource(load: string): string {
  return `import { z } from 'zod';
import { defineClassifier, defineModel } from 'digitbench';

function model(classes: Int32Array, means: Float32Array, cols: number) {
  return defineModel('mean-image', {
    classes,
    inputSize: cols,
    state: { classes, means },
    predict: (s, x) =>
      Int32Array.from({ length: x.rows }, (_, i) => {
        let best = 0;
        let bestD = Infinity;
        for (let c = 0; c < s.classes.length; c++) {
          let d = 0;
          for (let j = 0; j < cols; j++) d += (x.data[i * cols + j]! - s.means[c * cols + j]!) ** 2;
          if (d < bestD) [best, bestD] = [c, d];
        }
        return s.classes[best]!;
      }),
    serialize: (s) => {
      const head = new Int32Array([s.classes.length, cols, ...s.classes]);
      const out = new Uint8Array(head.byteLength + s.means.byteLength);
      out.set(new Uint8Array(head.buffer));
      out.set(new Uint8Array(s.means.buffer), head.byteLength);
      return out;
    },
    engine: () => 'js',
  });
}

export const meanImage = defineClassifier({
  name: 'mean-image',
  summary: 'Nearest class mean image (a plugin author test)',
  input: 'vector',
  library: 'none',
  params: z.object({ shrink: z.number().min(0).default(0).describe('Unused: a parameter for the contract to check') }).strict(),
  create: () => ({
    async fit(x, y) {
      const classes = Int32Array.from(new Set(y)).sort();
      const at = new Map([...classes].map((c, i) => [c, i]));
      const means = new Float32Array(classes.length * x.cols);
      const counts = new Float64Array(classes.length);
      for (let i = 0; i < x.rows; i++) {
        const c = at.get(y[i]!)!;
        counts[c]!++;
        for (let j = 0; j < x.cols; j++) means[c * x.cols + j]! += x.data[i * x.cols + j]!;
      }
      for (let t = 0; t < means.length; t++) means[t]! /= counts[Math.floor(t / x.cols)]!;
      return model(classes, means, x.cols);
    },
  }),
  async load(bytes) {
    ${load}
    const head = new Int32Array(b.buffer, 0, 2);
    const k = head[0]!;
    const cols = head[1]!;
    return model(new Int32Array(b.buffer, 8, k).slice(), new Float32Array(b.buffer, 8 + 4 * k, k * cols).slice(), cols);
  },
});
`;
}

describe('a plugin author runs the contract suite (digitbench/testing) from their own vitest', () => {
  it('passes a correct plugin and fails a broken load() on the round-trip test alone, with its error', () => {
    install();
    // Right: a private copy. Wrong: the bytes' own `.buffer`, which for bytes read from a file is a larger pool they sit inside.
    writeFileSync(join(dir, 'good.ts'), pluginSource('const b = new Uint8Array(bytes.length); b.set(bytes);'));
    writeFileSync(join(dir, 'bad.ts'), pluginSource('const b = bytes;'));
    for (const name of ['good', 'bad']) {
      writeFileSync(join(dir, `${name}.test.ts`), `import { describePluginContract } from 'digitbench/testing';\nimport { meanImage } from './${name}.ts';\n\ndescribePluginContract(meanImage);\n`);
    }
    const out = join(dir, 'results.json');
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=json', `--outputFile=${out}`], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DIGITBENCH_BACKEND: 'wasm' },
      encoding: 'utf8',
      timeout: 300_000,
    });
    expect(r.status, r.stderr.slice(-2000)).toBe(1);
    const results = JSON.parse(readFileSync(out, 'utf8')) as { testResults: { name: string; assertionResults: { title: string; status: string; failureMessages: string[] }[] }[] };
    const byFile = Object.fromEntries(results.testResults.map((f) => [f.name.endsWith('good.test.ts') ? 'good' : 'bad', f.assertionResults]));
    expect(byFile.good!.length).toBe(9);
    expect(byFile.good!.filter((t) => t.status !== 'passed').map((t) => t.title)).toEqual([]);
    const failed = byFile.bad!.filter((t) => t.status !== 'passed');
    expect(failed.map((t) => t.title)).toEqual(['serialize → load gives identical predictions and scores']);
    expect(failed[0]!.failureMessages.join('\n')).toMatch(/RangeError|expected/);
  });
});
