/**
 * Without the native engine (issue 25): a fresh clone installed with `npm ci --omit=optional` (no
 * onnxruntime-node, as on a platform it has no binary for) chooses tfjs-wasm and says why, refuses
 * DIGITBENCH_ENGINE=ort in one line, and still runs an experiment.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const run = promisify(execFile);

describe('an install without optional dependencies', () => {
  it('has no onnxruntime-node, runs on tfjs-wasm and says why, and still runs an experiment', async () => {
    // In the system temp folder: inside the repository, Node would find the repository's node_modules above the clone.
    const base = mkdtempSync(join(tmpdir(), 'digitbench-omit-'));
    const dir = join(base, 'digitbench');
    execFileSync('git', ['clone', '--quiet', '--shared', ROOT, dir]);
    const env: NodeJS.ProcessEnv = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', DIGITBENCH_CACHE_DIR: join(dir, 'data', 'cache'), CI: '1' };
    delete env.DIGITBENCH_ENGINE;
    await run('npm', ['ci', '--omit=optional', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, env, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
    expect(existsSync(join(dir, 'node_modules', 'onnxruntime-node'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules', 'protobufjs'))).toBe(true);

    writeFileSync(join(dir, 'engine.ts'), "import { engineChoice } from './src/engine/ort.ts';\ntry { console.log(JSON.stringify(engineChoice())); } catch (e) { console.log((e as Error).message); }\n");
    const choose = async (extra: Record<string, string>) => (await run('node', ['--import', './bin/register.js', 'engine.ts'], { cwd: dir, env: { ...env, ...extra } })).stdout.trim();
    const missing = 'onnxruntime-node is not installed (it is an optional dependency: npm install without --omit=optional, on linux/win32 x64 or arm64 or darwin arm64)';
    expect(JSON.parse(await choose({}))).toEqual({ engine: 'wasm', reason: missing });
    expect(await choose({ DIGITBENCH_ENGINE: 'ort' })).toBe(`DIGITBENCH_ENGINE=ort, but ${missing}; unset DIGITBENCH_ENGINE to use tfjs-wasm.`);

    const exp = join(dir, 'small.json');
    writeFileSync(exp, JSON.stringify({ split: { train: 1000, validation: 300, test: 300, seed: 1 }, features: [{ step: 'scale' }, { step: 'pca', components: 30 }], classifiers: [{ plugin: 'knn' }, { plugin: 'naive-bayes' }], deploy: { passes: 2, calls: 20, batch: 100 } }));
    const out = await run('npm', ['run', '--silent', 'experiment', '--', exp, '--out', join(dir, 'runs', 'small')], { cwd: dir, env, timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
    expect(`${out.stdout}\n${out.stderr}`).toContain('2 run(s) done, 0 already finished, 0 failed.');
    expect(readFileSync(join(dir, 'runs', 'small', 'report.md'), 'utf8')).toMatch(/\| \*\*knn\*\* \|.*\| ok \|/);
    // The rows say which engine ran: tfjs-wasm, in env and in the k-NN's engine column.
    const rows = readFileSync(join(dir, 'runs', 'small', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { engine: string; env: { engine: string } });
    expect(rows.map((r) => r.env.engine)).toEqual(['wasm', 'wasm']);
    expect(rows[0]!.engine).toMatch(/^tfjs-wasm /);
    rmSync(base, { recursive: true, force: true });
  }, 600_000);
});
