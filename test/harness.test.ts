import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadExperiment, parseExperiment } from '../src/harness/experiment.ts';
import { rerender } from '../src/harness/rerender.ts';
import { readRows, type OkRow } from '../src/results/row.ts';
import { runExperiment } from '../src/harness/run.ts';

const ROOT = resolve(__dirname, '..');
const FIXTURE = resolve(__dirname, 'fixtures/plugins/misbehaving.ts');
const EXAMPLE = resolve(ROOT, 'examples/nearest-centroid.ts');

function tmp(): string {
  // Inside the project (git-ignored), so that plugin files resolve the project's node_modules.
  const base = join(ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'harness-'));
}

function config(dir: string, body: object): string {
  const file = join(dir, 'exp.json');
  writeFileSync(file, JSON.stringify(body, null, 2));
  return file;
}

const small = { split: { train: 300, test: 100, seed: 2 }, features: [{ step: 'scale' }], latencySamples: 10 };

describe('experiment files', () => {
  it('rejects unknown fields, classifiers, steps and params with the file and path', async () => {
    const f = '/x/exp.json';
    await expect(parseExperiment({ classifiers: [{ plugin: 'knn' }], colour: 1 }, f)).rejects.toThrow('/x/exp.json: Unrecognized key: "colour".');
    await expect(parseExperiment({ classifiers: [{ plugin: 'perceptron' }] }, f)).rejects.toThrow(
      /^\/x\/exp.json: classifiers\[0\]\.plugin: Unknown classifier "perceptron"; use one of .*naive-bayes.* or a plugin file path like \.\/my-plugin\.ts\.$/,
    );
    await expect(parseExperiment({ classifiers: [{ plugin: 'naive-bayes' }], features: [{ step: 'smooth' }] }, f)).rejects.toThrow(
      '/x/exp.json: features[0]: unknown step "smooth"; use one of scale, standardize, drop-constant, deskew, blur, downsample, hog, pca.',
    );
    await expect(parseExperiment({ classifiers: [{ plugin: 'naive-bayes', params: { varSmoothing: -1 } }] }, f)).rejects.toThrow(
      '/x/exp.json: classifiers[0]: Invalid params for classifier "naive-bayes": varSmoothing: Too small: expected number to be >0.',
    );
    await expect(parseExperiment({ classifiers: [] }, f)).rejects.toThrow('/x/exp.json: classifiers: Too small: expected array to have >=1 items.');
    await expect(parseExperiment({ classifiers: [{ plugin: 'naive-bayes' }], split: { train: 'all' } }, f)).rejects.toThrow(
      '/x/exp.json: split.train: Invalid input: expected number, received string.',
    );
    await expect(loadExperiment('/nope/missing.json')).rejects.toThrow(
      'Experiment file /nope/missing.json not found; name one in experiments/ (e.g. quick) or give a path to a .json file.',
    );
  });

  it('expands a grid into candidates of one test run per repetition, with seeds; resample "split" re-draws the split', async () => {
    const exp = await parseExperiment(
      { classifiers: [{ plugin: EXAMPLE, grid: { metric: ['l1', 'l2'] } }], repetitions: 2, seed: 5 },
      '/x/grid.json',
    );
    expect(exp.runs.map((r) => [r.candidates.map((c) => c.params.metric), r.seed, r.split.seed])).toEqual([
      [['l1', 'l2'], 5, 0],
      [['l1', 'l2'], 6, 0],
    ]);
    expect(exp.config.selection).toEqual({ method: 'cv', folds: 5, seed: 0 });
    const resampled = await parseExperiment({ split: { train: 100, seed: 3 }, classifiers: [{ plugin: EXAMPLE }], repetitions: 3, resample: 'split' }, '/x/r.json');
    expect(resampled.runs.map((r) => r.split.seed)).toEqual([3, 4, 5]);
    const curve = await parseExperiment({ learningCurve: { sizes: [100, 200] }, classifiers: [{ plugin: EXAMPLE }] }, '/x/c.json');
    expect(curve.runs.map((r) => r.split.train)).toEqual([100, 200]);
    await expect(parseExperiment({ features: [], featureSets: { raw: [] }, classifiers: [{ plugin: EXAMPLE }] }, '/x/f.json')).rejects.toThrow(
      '/x/f.json: give either features or featureSets, not both (featureSets replaces the shared pipeline).',
    );
    await expect(parseExperiment({ featureSets: { raw: [] }, classifiers: [{ plugin: EXAMPLE, featureSets: ['hog'] }] }, '/x/f.json')).rejects.toThrow(
      '/x/f.json: classifiers[0].featureSets[0]: no feature set "hog"; use one of raw.',
    );
    await expect(parseExperiment({ classifiers: [{ plugin: EXAMPLE }], resample: 'split' }, '/x/s.json')).rejects.toThrow(
      '/x/s.json: resample: "split" re-draws the split per repetition; set repetitions to 2 or more.',
    );
    await expect(parseExperiment({ learningCurve: { sizes: [200, 100] }, classifiers: [{ plugin: EXAMPLE }] }, '/x/c.json')).rejects.toThrow(
      '/x/c.json: learningCurve.sizes: list the sizes in increasing order, without repeats.',
    );
  });
});

describe('running', () => {
  it('turns a throw, a hang, a crash and an out-of-memory into rows while the others finish', async () => {
    const dir = tmp();
    const file = config(dir, {
      ...small,
      classifiers: [
        { plugin: FIXTURE, label: 'thrower', params: { mode: 'throw' } },
        { plugin: EXAMPLE },
        { plugin: FIXTURE, label: 'hanger', params: { mode: 'hang' }, timeoutSeconds: 4 },
        { plugin: FIXTURE, label: 'crasher', params: { mode: 'crash' } },
        { plugin: FIXTURE, label: 'hog', params: { mode: 'memory' }, memoryLimitMb: 900 },
      ],
    });
    const summary = await runExperiment(await loadExperiment(file), { outDir: join(dir, 'out') });
    const by = Object.fromEntries(summary.rows.map((r) => [r.classifier, r]));
    expect(by.thrower).toMatchObject({ status: 'failed', reason: 'misbehaving: fit failed on purpose' });
    expect(by.hanger).toMatchObject({ status: 'timeout', reason: 'no result after 4 s; raise timeoutSeconds or use smaller params' });
    expect(by.crasher).toMatchObject({ status: 'failed', reason: 'the run process crashed (exit code 3)' });
    expect(by.hog!.status).toBe('failed');
    expect(by.hog!.status !== 'ok' && by.hog!.reason).toMatch(/(over the memory limit of 900 MB|ran out of memory \(limit 900 MB\)); raise memoryLimitMb or use a smaller split$/);
    expect(by['nearest-centroid']!.status).toBe('ok');
    if (by['nearest-centroid']!.status === 'ok') expect(by['nearest-centroid']!.metrics.accuracy).toBeGreaterThan(0.6);
    expect(summary.failed).toBe(4);
    const report = readFileSync(summary.report, 'utf8');
    expect(report).toContain('misbehaving: fit failed on purpose');
    expect(report).toContain('no result after 4 s');
    // The report is a pure function of the rows: re-rendering gives the same text.
    await rerender(join(dir, 'out'));
    expect(readFileSync(summary.report, 'utf8')).toBe(report);
  });

  it('turns a failing feature pipeline into failed rows for the runs that need it', async () => {
    const dir = tmp();
    const file = config(dir, {
      ...small,
      classifiers: [{ plugin: EXAMPLE }, { plugin: EXAMPLE, label: 'too-many-components', features: [{ step: 'scale' }, { step: 'pca', components: 1000 }] }],
    });
    const summary = await runExperiment(await loadExperiment(file), { outDir: join(dir, 'out') });
    const by = Object.fromEntries(summary.rows.map((r) => [r.classifier, r]));
    expect(by['nearest-centroid']!.status).toBe('ok');
    expect(by['too-many-components']).toMatchObject({
      status: 'failed',
      reason: 'feature pipeline failed: Feature step "pca": 1000 components requested but the data has 300 rows × 784 features; ask for at most 300.',
    });
  });

  it('resumes after being killed mid-run: finished rows stay intact and are skipped, failures are retried', async () => {
    const dir = tmp();
    const out = join(dir, 'out');
    const body = { ...small, classifiers: [{ plugin: EXAMPLE }, { plugin: FIXTURE, label: 'slow', params: { mode: 'slow', sleepMs: 4000 } }] };
    const file = config(dir, body);
    const cli = spawn(process.execPath, [join(ROOT, 'bin/digitbench.js'), 'experiment', file, '--out', out], { stdio: 'ignore', detached: true });
    const results = join(out, 'results.jsonl');
    const deadline = Date.now() + 90_000;
    while (!(existsSync(results) && readFileSync(results, 'utf8').trim()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1000)); // the slow run is now under way
    const gone = new Promise((r) => cli.once('exit', r));
    process.kill(-cli.pid!, 'SIGKILL');
    await gone; // reaped: its pid no longer holds the folder
    const firstText = readFileSync(results, 'utf8');
    const first = await readRows(results);
    expect(first).toHaveLength(1);
    expect(first[0]!.classifier).toBe('nearest-centroid');

    // Start again with a short timeout: the finished run is skipped, the slow one runs (and times out).
    writeFileSync(file, JSON.stringify({ ...body, timeoutSeconds: 2 }));
    const skipped: string[] = [];
    const summary = await runExperiment(await loadExperiment(file), { outDir: out, events: { skip: (r) => skipped.push(r.label) } });
    expect(skipped).toEqual(['nearest-centroid']);
    expect(summary.ran).toBe(1);
    const text = readFileSync(results, 'utf8');
    expect(text.startsWith(firstText)).toBe(true);
    const rows = await readRows(results);
    expect(rows.map((r) => [r.classifier, r.status])).toEqual([
      ['nearest-centroid', 'ok'],
      ['slow', 'timeout'],
    ]);
    // A third start, with time enough, retries the same failed run (failures never count as finished).
    writeFileSync(file, JSON.stringify({ ...body, timeoutSeconds: 60 }));
    const again = await runExperiment(await loadExperiment(file), { outDir: out });
    expect(again.skipped).toBe(1);
    const all = await readRows(results);
    expect(all.map((r) => r.status)).toEqual(['ok', 'timeout', 'ok']);
    expect(all[2]!.id).toBe(all[1]!.id);
    expect(again.rows.map((r) => r.status)).toEqual(['ok', 'ok']);
    // Every run finished, so nothing is left to resume: the next start measures everything again on this
    // machine (a fresh clone's shipped report is such a finished experiment), keeping the old rows aside.
    expect(existsSync(join(out, '.resume'))).toBe(false);
    // Browser measurements belong to the old bundles: they go aside with the old rows.
    writeFileSync(join(out, 'browser.jsonl'), '{"measured":"before"}\n');
    const fourth = await runExperiment(await loadExperiment(file), { outDir: out });
    expect([fourth.ran, fourth.skipped]).toEqual([2, 0]);
    // The previous generation moved aside whole, into one folder.
    const generations = readdirSync(join(out, 'previous'));
    expect(generations).toHaveLength(1);
    const previous = join(out, 'previous', generations[0]!);
    expect((await readRows(join(previous, 'results.jsonl'))).map((r) => r.status)).toEqual(['ok', 'timeout', 'ok']);
    expect(readFileSync(join(previous, 'browser.jsonl'), 'utf8')).toBe('{"measured":"before"}\n');
    expect(existsSync(join(previous, 'report.md'))).toBe(true);
    expect(existsSync(join(out, 'browser.jsonl'))).toBe(false);
    expect((await readRows(results)).map((r) => r.status)).toEqual(['ok', 'ok']);
  });

  it('writes a bundle per run, measures it in a fresh process, and says why a plugin without serialize() has none', async () => {
    const dir = tmp();
    const out = join(dir, 'out');
    const file = config(dir, {
      ...small,
      features: [{ step: 'scale' }, { step: 'pca', components: 20 }],
      deploy: { passes: 2, calls: 50, batch: 100 },
      classifiers: [{ plugin: EXAMPLE }, { plugin: FIXTURE, label: 'no-serialize', params: { mode: 'slow' } }],
    });
    const summary = await runExperiment(await loadExperiment(file), { outDir: out });
    const [centroid, bare] = summary.rows as OkRow[];
    expect(centroid!.bundle!.file).toMatch(/^models\/nearest-centroid-[0-9a-f]{8}\.bundle$/);
    expect(statSync(join(out, centroid!.bundle!.file)).size).toBe(centroid!.bundle!.bytes);
    // The bundle holds the PCA basis too: larger than the model alone.
    expect(centroid!.bundle!.bytes).toBeGreaterThan(centroid!.modelBytes! + 20 * 784 * 8);
    const d = centroid!.deployment!;
    expect(d.calls).toBe(100);
    expect(d.passP50Ms).toHaveLength(2);
    expect(d.batch).toBe(100);
    expect(d.agreement).toEqual({ same: 100, total: 100 });
    expect(d.coldStartMs).toBeGreaterThan(0);
    expect(d.latencyMsP95).toBeGreaterThanOrEqual(d.latencyMsP50);
    expect(bare!.status).toBe('ok');
    expect(bare!.bundle).toBeUndefined();
    expect(bare!.noBundle).toBe('the plugin "misbehaving" has no serialize(), so its models cannot be saved');
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain(`| **nearest-centroid** | \`${centroid!.bundle!.file}\` |`);
    expect(report).toContain('**No bundle figures:** no-serialize (the plugin "misbehaving" has no serialize(), so its models cannot be saved).');

    // A bundle whose measurement was lost (say the measuring process timed out) is not finished: resuming
    // measures it again, and only it.
    const results = join(out, 'results.jsonl');
    const lines = readFileSync(results, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    delete lines[0]!.deployment;
    lines[0]!.deploymentError = 'measuring the bundle failed: no result after 1 s';
    writeFileSync(results, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    writeFileSync(join(out, '.resume'), 'exp\n');
    const again = await runExperiment(await loadExperiment(file), { outDir: out });
    expect([again.ran, again.skipped]).toEqual([1, 1]);
    expect((again.rows.find((r) => r.classifier === 'nearest-centroid') as OkRow).deployment!.agreement).toEqual({ same: 100, total: 100 });
    expect(existsSync(join(out, '.resume'))).toBe(false);
  });
});
