/**
 * Wrong results never exit 0: a bundle the plugin's load() cannot rebuild, or a label outside the
 * model's classes, fails the run. A torn last line in results.jsonl (an interrupted write) neither
 * blocks the read-only commands nor gets glued to the next row.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { loadExperiment } from '../src/harness/experiment.ts';
import { rerender } from '../src/harness/rerender.ts';
import { runExperiment } from '../src/harness/run.ts';
import { appendRow, checkModelClasses, checkPredictedLabels, readRows, readSelectionRows, setAsideTornLine, type OkRow } from '../src/results/row.ts';
import { resolvePlugin } from '../src/classifiers/registry.ts';
import { parseParams } from '../src/classifiers/plugin.ts';
import { fixtureRows } from './helpers/report-rows.ts';
import { mnistSubset } from './helpers/mnist.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');
const FIXTURE = resolve(__dirname, 'fixtures/plugins/wrong-results.ts');
const EXAMPLE = resolve(ROOT, 'examples/nearest-centroid.ts');

function tmp(): string {
  // Inside the project (git-ignored), so that plugin files resolve the project's node_modules.
  const base = join(ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'wrong-'));
}

const rowsText = (rows: object[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

describe('wrong results fail the run', () => {
  it('a bundle its load() cannot rebuild (here or in a fresh process), a rebuilt model that differs, and an out-of-class label give failed rows and exit 1; the next start retries only those', async () => {
    const dir = tmp();
    const out = join(dir, 'out');
    const file = join(dir, 'exp.json');
    const mode = (m: string) => ({ plugin: FIXTURE, label: m, params: { mode: m } });
    writeFileSync(
      file,
      JSON.stringify({
        split: { train: 300, test: 100, seed: 2 },
        features: [{ step: 'scale' }],
        latencySamples: 5,
        deploy: { passes: 2, calls: 20, batch: 50 },
        classifiers: [{ plugin: EXAMPLE }, mode('load-throws'), mode('load-needs-fit'), mode('rebuilt-differs'), mode('out-of-class')],
      }),
    );
    const cli = spawnSync(process.execPath, [BIN, 'experiment', file, '--out', out], { encoding: 'utf8' });
    expect(cli.status).toBe(1);
    expect(cli.stderr.trim().split('\n').pop()).toBe("digitbench: 4 run(s) did not finish; see the report's failures section, fix, and run again to retry only those.");

    const rows = await readRows(join(out, 'results.jsonl'));
    const by = Object.fromEntries(rows.map((r) => [r.classifier, r]));
    expect(by['nearest-centroid']!.status).toBe('ok');
    expect((by['nearest-centroid'] as OkRow).deployment!.agreement).toEqual({ same: 100, total: 100 });
    expect(by['load-throws']).toMatchObject({ status: 'failed', reason: "the bundle could not be rebuilt by the plugin's load(): wrong-results: load() failed on purpose" });
    expect(by['rebuilt-differs']).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(/^the model rebuilt by the plugin's load\(\) predicts \d for test row 0, where the fitted model predicted \d; load\(\) must rebuild the model serialize\(\) saved$/),
    });
    expect(by['out-of-class']).toMatchObject({
      status: 'failed',
      reason: "the plugin's model predicted label 42, which is not one of its classes (0–9); a plugin's predict must return one of model.classes",
    });
    // load() passed in the process that fitted, and failed in the fresh one that measures the bundle.
    const fresh = by['load-needs-fit']!;
    expect(fresh.status).toBe('failed');
    expect(fresh.status !== 'ok' && fresh.reason).toMatch(/^the bundle could not be rebuilt in a fresh process: .*wrong-results: load\(\) works only in the process that fitted the model/);
    // Only the bundle of the run that finished stays; the measured one that could not be rebuilt is removed.
    expect(readdirSync(join(out, 'models'))).toEqual([(by['nearest-centroid'] as OkRow).bundle!.file.replace('models/', '')]);
    expect(existsSync(join(out, '.resume'))).toBe(true);

    const skipped: string[] = [];
    const again = await runExperiment(await loadExperiment(file), { outDir: out, events: { skip: (r) => skipped.push(r.label) } });
    expect(skipped).toEqual(['nearest-centroid']);
    expect([again.ran, again.failed]).toEqual([4, 4]);
    expect(Object.fromEntries(again.rows.map((r) => [r.classifier, r.status !== 'ok' ? r.reason : 'ok']))).toEqual(
      Object.fromEntries(rows.map((r) => [r.classifier, r.status !== 'ok' ? r.reason : 'ok'])),
    );
  });

  it('the checks name the first label outside the classes, and a class the training rows do not have', async () => {
    const classes = Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(() => checkPredictedLabels(Int32Array.from([3, 9, 0]), classes)).not.toThrow();
    expect(() => checkPredictedLabels(Int32Array.from([3, 10, -1]), classes)).toThrow(
      "the plugin's model predicted label 10, which is not one of its classes (0–9); a plugin's predict must return one of model.classes",
    );
    expect(() => checkPredictedLabels(Int32Array.from([0, 2, 3]), Int32Array.from([0, 2, 4, 6, 8]))).toThrow(
      "the plugin's model predicted label 3, which is not one of its classes (0, 2, 4, 6, 8); a plugin's predict must return one of model.classes",
    );
    // Wide label ranges take the binary search.
    expect(() => checkPredictedLabels(Int32Array.from([-5, 1e6]), Int32Array.from([-5, 1e6]))).not.toThrow();
    expect(() => checkPredictedLabels(Int32Array.from([1e6 - 1]), Int32Array.from([-5, 1e6]))).toThrow(/predicted label 999999, which is not one of its classes \(-5, 1000000\)/);
    expect(() => checkModelClasses(Int32Array.from([0, 1, 42]), Int32Array.from([1, 0, 1, 0]))).toThrow(
      "the plugin's model lists class 42 in model.classes, which is not a label of its training rows (0, 1); model.classes must be the labels fit was given",
    );
    // The fixture's model, fitted on real MNIST rows here: its first prediction is caught.
    const data = await mnistSubset(200, 20, 3);
    const plugin = await resolvePlugin(FIXTURE);
    const model = await plugin.create(parseParams(plugin, { mode: 'out-of-class' }), { seed: 1, log: { info() {}, warn() {} } }).fit(data.xTrain, data.yTrain);
    try {
      const pred = await model.predict(data.xTest);
      expect(pred[0]).toBe(42);
      checkModelClasses(model.classes, data.yTrain);
      expect(() => checkPredictedLabels(pred, model.classes)).toThrow("the plugin's model predicted label 42, which is not one of its classes (0–9)");
    } finally {
      model.dispose();
    }
  });
});

describe('a torn last line', () => {
  const rows = fixtureRows();
  const good = rowsText(rows.slice(0, 3));
  const partial = JSON.stringify(rows[3]).slice(0, 700);

  it('setAsideTornLine moves it to a side file and keeps every complete row; appending after it is safe', async () => {
    const dir = tmp();
    const file = join(dir, 'results.jsonl');
    writeFileSync(file, good + partial);
    const torn = await setAsideTornLine(file);
    expect(torn).toEqual({
      kept: expect.stringMatching(/results\.jsonl\.torn-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/),
      bytes: 700,
      message: `${file} ended in an incomplete line (700 bytes cut off by an interrupted write); it was moved to ${torn!.kept}, and every complete line before it is kept.`,
    });
    expect(readFileSync(file, 'utf8')).toBe(good);
    expect(readFileSync(torn!.kept, 'utf8')).toBe(partial);
    expect(await setAsideTornLine(file)).toBeUndefined();
    await appendRow(file, rows[3]!);
    expect((await readRows(file)).map((r) => r.id)).toEqual(rows.slice(0, 4).map((r) => r.id));

    // A last line that ends in a newline but is not JSON (a block of zeros after a power cut) goes aside too.
    writeFileSync(file, `${good}\0\0\0\0\n`);
    const zeros = await setAsideTornLine(file);
    expect(zeros?.bytes).toBe(5);
    expect(readFileSync(file, 'utf8')).toBe(good);
    // A complete last row that only lacks its newline is kept, and gets the newline.
    writeFileSync(file, good.slice(0, -1));
    expect(await setAsideTornLine(file)).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe(good);
    // A bad line in the middle is not torn: nothing moves, and reading names it.
    const middle = `${rowsText(rows.slice(0, 1))}${partial}\n${rowsText(rows.slice(1, 2))}`;
    writeFileSync(file, middle);
    expect(await setAsideTornLine(file)).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe(middle);
    await expect(readRows(file)).rejects.toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 2 is not valid JSON \\(.*\\); fix or delete that line\\.$`));
    // No file: nothing to do. A folder in its place is refused in one line.
    expect(await setAsideTornLine(join(dir, 'none.jsonl'))).toBeUndefined();
    await expect(setAsideTornLine(dir)).rejects.toThrow(`${dir} is not a regular file; it must be the JSON-lines file digitbench wrote there (move the other thing away).`);
  });

  it('a last line longer than the tail read first is found whole', async () => {
    const dir = tmp();
    const file = join(dir, 'results.jsonl');
    const long = `{"id": "${'x'.repeat(300_000)}`;
    writeFileSync(file, good + long);
    const torn = await setAsideTornLine(file);
    expect(torn?.bytes).toBe(long.length);
    expect(readFileSync(file, 'utf8')).toBe(good);
  });

  it('appending to a file that ends in a torn line sets it aside first, with a warning', async () => {
    const dir = tmp();
    const file = join(dir, 'results.jsonl');
    writeFileSync(file, good + partial);
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let written: string[];
    try {
      await appendRow(file, rows[3]!);
    } finally {
      written = spy.mock.calls.map((c) => String(c[0]));
      spy.mockRestore();
    }
    const kept = readdirSync(dir).filter((f) => f.startsWith('results.jsonl.torn-'));
    expect(kept).toHaveLength(1);
    expect(written).toEqual([
      `digitbench: warning: ${file} ended in an incomplete line (700 bytes cut off by an interrupted write); it was moved to ${join(dir, kept[0]!)}, and every complete line before it is kept.\n`,
    ]);
    expect((await readRows(file)).map((r) => r.id)).toEqual(rows.slice(0, 4).map((r) => r.id));
    // So is a last line that ends in a newline but is not JSON.
    writeFileSync(file, `${good}\0\0\0\0\n`);
    const quiet = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await appendRow(file, rows[3]!);
    } finally {
      quiet.mockRestore();
    }
    expect((await readRows(file)).map((r) => r.id)).toEqual(rows.slice(0, 4).map((r) => r.id));
  });

  it('a FIFO or a folder in place of results.jsonl is refused in one line, without reading it', async () => {
    const dir = tmp();
    const fifo = join(dir, 'results.jsonl');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const message = `${fifo} is not a regular file; it must be the JSON-lines file digitbench wrote there (move the other thing away).`;
    await expect(readRows(fifo)).rejects.toThrow(message);
    await expect(setAsideTornLine(fifo)).rejects.toThrow(message);
    await expect(appendRow(fifo, rows[0]!)).rejects.toThrow(message);
    await expect(readSelectionRows(dir)).rejects.toThrow(`${dir} is not a regular file;`);
    // A file past the cap (sparse: nothing is written) is refused from its size alone.
    const huge = join(dir, 'selection.jsonl');
    writeFileSync(huge, '');
    truncateSync(huge, 300 * 2 ** 20);
    await expect(readSelectionRows(huge)).rejects.toThrow(`${huge} is 300 MB, more than the 256 MB digitbench reads; start a fresh experiment folder (--fresh or --out).`);
  });

  it('`report` renders without the torn rows, warns in one line each, and writes nothing else; a bad middle line stays an error', async () => {
    const dir = tmp();
    const results = join(dir, 'results.jsonl');
    const text = rowsText(rows) + partial;
    writeFileSync(results, text);
    const selection = join(dir, 'selection.jsonl');
    writeFileSync(selection, '{"id": "half a sel');
    const warnings: string[] = [];
    const r = await rerender(dir, { warn: (m) => warnings.push(m) });
    expect(r.rows).toBe(rows.length);
    expect(warnings).toEqual([
      `${results} line ${rows.length + 1} is an incomplete result row (cut off by an interrupted write); it is skipped, and the next run that writes to the file moves it aside.`,
      `${selection} line 1 is an incomplete selection row (cut off by an interrupted write); it is skipped, and the next run that writes to the file moves it aside.`,
    ]);
    expect(readFileSync(r.report, 'utf8')).toContain('svm');
    expect(await readSelectionRows(selection, { warn: () => {} })).toEqual([]);

    // Through the CLI: exit 0, the warnings on stderr, the files untouched.
    const before = statSync(results).mtimeMs;
    const cli = spawnSync(process.execPath, [BIN, 'report', dir], { encoding: 'utf8' });
    expect(cli.status).toBe(0);
    expect(cli.stderr.trim().split('\n')).toEqual(warnings.map((w) => `digitbench: warning: ${w}`));
    expect(cli.stdout).toBe(`Rendered ${rows.length} run(s) into ${join(dir, 'report.md')}\n`);
    expect(readFileSync(results, 'utf8')).toBe(text);
    expect(statSync(results).mtimeMs).toBe(before);
    expect(readdirSync(dir).filter((f) => f.includes('.torn-'))).toEqual([]);

    // The same partial line in the middle of the file is an error naming the file and the line.
    writeFileSync(results, `${rowsText(rows.slice(0, 2))}${partial}\n${rowsText(rows.slice(2))}`);
    const bad = spawnSync(process.execPath, [BIN, 'report', dir], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr.trim()).toMatch(new RegExp(`^digitbench: ${results.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} line 3 is not valid JSON \\(.*\\); fix or delete that line\\.$`));
  });
});
