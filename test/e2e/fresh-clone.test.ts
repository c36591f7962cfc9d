/**
 * What a new user gets: on a fresh clone (with the installed node_modules), `npm run experiment` runs
 * the default comparison on this machine (all six built-ins), writes it to the git-ignored runs/, and
 * leaves the shipped reference reports in reports/ as they are.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');

describe('a fresh clone', () => {
  it('npm run experiment measures all six classifiers and keeps the reference reports intact', async () => {
    mkdirSync(join(ROOT, '.tmp'), { recursive: true });
    const dir = join(mkdtempSync(join(ROOT, '.tmp', 'clone-')), 'digitbench');
    execFileSync('git', ['clone', '--quiet', '--shared', ROOT, dir]);
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    // Asynchronously: a synchronous spawn would block the test worker for a minute, and vitest's RPC with it.
    const run = await promisify(execFile)('npm', ['run', '--silent', 'experiment'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, DIGITBENCH_CACHE_DIR: join(dir, 'data', 'cache'), CI: '1' },
      timeout: 600_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const out = `${run.stdout}\n${run.stderr}`;
    expect(out).toContain('6 run(s) done, 0 already finished, 0 failed.');
    expect(out).not.toMatch(/\bskip\b/);
    const report = readFileSync(join(dir, 'runs', 'quick', 'report.md'), 'utf8');
    for (const c of ['knn', 'svm', 'naive-bayes', 'decision-tree', 'random-forest', 'cnn']) expect(report).toMatch(new RegExp(`\\| \\*\\*${c}\\*\\* \\|.*\\| ok \\|`));
    expect(existsSync(join(dir, 'runs', 'quick', 'models'))).toBe(true);
    // The shipped reports are untouched and runs/ is ignored: the clone's work tree is clean.
    expect(execFileSync('git', ['status', '--porcelain', '--', '.', ':!node_modules'], { cwd: dir, encoding: 'utf8' })).toBe('');
  }, 600_000);
});
