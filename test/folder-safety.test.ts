/**
 * An experiment's folder is touched only after its config is proven, is held by one writer, and keeps its
 * previous generation on a fresh start. A finished folder (a real experiment on a small MNIST idx
 * dataset) is the fixture: refused configs, bad --out values, a second writer and a seeded fuzz over
 * configs must leave every one of its files as it was.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../src/engine/rng.ts';
import { loadExperiment } from '../src/harness/experiment.ts';
import { openExperiment, runExperiment } from '../src/harness/run.ts';
import { readRows } from '../src/results/row.ts';
import { writeTinyMnist } from './helpers/tiny-dataset.ts';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'bin/digitbench.js');

/** Every file under `dir` (but previous/), by relative path, with its content hash. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (p !== join(dir, 'previous')) walk(p);
      } else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

let work: string;
let dataset: string;
let finished: string;
let pristine: string;
let before: Record<string, string>;
let good: Record<string, unknown>;

function cli(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: work, encoding: 'utf8', timeout: 60_000 });
}

function writeConfig(name: string, body: unknown): string {
  const file = join(work, name);
  writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return file;
}

beforeAll(async () => {
  mkdirSync(join(ROOT, '.tmp'), { recursive: true });
  work = mkdtempSync(join(ROOT, '.tmp', 'folder-'));
  dataset = await writeTinyMnist(join(work, 'tiny'), 800, 200);
  good = {
    dataset,
    split: { train: 300, test: 100, validation: 0, seed: 1 },
    features: [{ step: 'scale' }, { step: 'pca', components: 10 }],
    classifiers: [{ plugin: 'naive-bayes', params: { varSmoothing: 1e-9 } }, { plugin: 'decision-tree', grid: { maxDepth: [3, 5] } }],
    selection: { method: 'validation', rows: 100 },
    repetitions: 1,
    seed: 1,
    latencySamples: 10,
    deploy: { passes: 2, calls: 20, batch: 100 },
  };
  finished = join(work, 'finished');
  const summary = await runExperiment(await loadExperiment(writeConfig('good.json', good)), { outDir: finished });
  expect(summary.rows.map((r) => r.status)).toEqual(['ok', 'ok']);
  pristine = join(work, 'pristine');
  cpSync(finished, pristine, { recursive: true });
  before = snapshot(finished);
  // The fixture is a whole generation: results, selection rows, config, run list, report, charts, bundles.
  expect(Object.keys(before)).toEqual(expect.arrayContaining(['results.jsonl', 'selection.jsonl', 'experiment.json', 'runs.json', 'report.md', 'confusion-decision-tree.svg']));
  expect(Object.keys(before).filter((f) => f.startsWith('models/'))).toHaveLength(2);
}, 120_000);

function restore(): void {
  rmSync(finished, { recursive: true, force: true });
  cpSync(pristine, finished, { recursive: true });
}

describe('a refused config never touches a finished folder', () => {
  const cases: [string, (c: Record<string, any>) => unknown, (file: string) => string][] = [
    ['a split larger than the dataset', (c) => ({ ...c, split: { ...c.split, train: 70000 } }), (f) => `${f}: split: Split asks for 70000 training + 0 validation rows but ${dataset} has 800 training images; lower split.train or split.validation.`],
    ['a dataset that is not installed', (c) => ({ ...c, dataset: 'fashion-mnist:/nonexistent' }), () => 'Dataset "fashion-mnist": /nonexistent/train-images-idx3-ubyte (or .gz) not found; apt-get install dataset-fashion-mnist, or name the directory as fashion-mnist:/path.'],
    ['a missing baseline', (c) => ({ ...c, compare: { baseline: 'reports/none' } }), (f) => `${f}: compare.baseline: ${join(ROOT, 'reports/none')} holds no results.jsonl; name a report folder relative to the project root (e.g. "reports/mnist-full").`],
    ['an unknown classifier', (c) => ({ ...c, classifiers: [{ plugin: 'perceptron' }] }), (f) => `${f}: classifiers[0].plugin: Unknown classifier "perceptron"; use one of knn, svm, naive-bayes, decision-tree, random-forest, cnn or a plugin file path like ./my-plugin.ts.`],
    ['a plugin file that does not exist', (c) => ({ ...c, classifiers: [{ plugin: './nope.ts' }] }), (f) => `${f}: classifiers[0].plugin: Plugin file ${join(work, 'nope.ts')} not found; check the path (relative paths start from ${work}).`],
    [
      'a key given twice',
      (c) => JSON.stringify(c, null, 2).replace('"classifiers": [', '"classifiers": [{ "plugin": "knn" }],\n  "classifiers": ['),
      (f) => `${f}: classifiers is given twice (lines 18 and 19); keep one (JSON would silently drop the first).`,
    ],
  ];
  it.each(cases)('%s: one line, exit 1, every file as it was', (_name, mutate, message) => {
    const file = writeConfig('bad.json', mutate(structuredClone(good)));
    const r = cli('experiment', file, '--out', finished);
    expect(r.stderr).toBe(`digitbench: ${message(file)}\n`);
    expect(r.status).toBe(1);
    expect(snapshot(finished)).toEqual(before);
    expect(existsSync(join(finished, 'previous'))).toBe(false);
  });

  it('a dataset path that is a file, and a nested key given twice, are refused the same way', () => {
    const file = writeConfig('bad.json', { ...good, dataset: join(work, 'good.json') });
    const r = cli('experiment', file, '--out', finished);
    expect(r.stderr).toMatch(new RegExp(`^digitbench: Dataset "${join(work, 'good.json')}": .*\\n$`));
    expect(r.status).toBe(1);
    const nested = writeConfig('nested.json', JSON.stringify(good, null, 2).replace('"passes": 2,', '"passes": 2,\n    "passes": 3,'));
    const n = cli('experiment', nested, '--out', finished);
    expect(n.stderr).toMatch(/^digitbench: .*nested\.json: deploy\.passes is given twice \(lines \d+ and \d+\); keep one \(JSON would silently drop the first\)\.\n$/);
    expect(snapshot(finished)).toEqual(before);
  });

  it('--out problems name --out and say what to do; a folder given as the config says so', () => {
    const good1 = join(work, 'good.json');
    const cases: [string[], string][] = [
      [['experiment', good1, '--out', good1], `--out ${good1} is a file, not a folder; give a folder you can write to (it is created if missing).`],
      [['experiment', good1, '--out', join(good1, 'x')], `--out ${join(good1, 'x')} cannot be made: ${good1} is a file, not a folder; give a folder you can write to (it is created if missing).`],
      [['experiment', good1, '--out', '/proc/digitbench/x'], '--out /proc/digitbench/x cannot be created (ENOENT: no such file or directory at /proc/digitbench); give a folder you can write to.'],
      [['experiment', finished], `Experiment file ${finished} is a folder, not a file; name one in experiments/ (e.g. quick) or give a path to a .json file.`],
      [['experiment', '/dev/zero'], 'Experiment file /dev/zero is a character device, not a file; name one in experiments/ (e.g. quick) or give a path to a .json file.'],
    ];
    for (const [args, message] of cases) {
      const r = cli(...args);
      expect(r.stderr).toBe(`digitbench: ${message}\n`);
      expect(r.status).toBe(1);
    }
    expect(snapshot(finished)).toEqual(before);
  });

  it('a config over the size cap is refused from its size', () => {
    const file = writeConfig('big.json', { ...good, description: 'x'.repeat(2 * 1024 * 1024) });
    const r = cli('experiment', file, '--out', finished);
    expect(r.stderr).toBe(`digitbench: Experiment file ${file} is ${statSync(file).size} bytes, over the 1048576-byte limit (DIGITBENCH_MAX_CONFIG_BYTES raises it); name one in experiments/ (e.g. quick) or give a path to a .json file.\n`);
    expect(r.status).toBe(1);
    expect(snapshot(finished)).toEqual(before);
  });

  it('seeded fuzz: 150 mutated configs; every refused one is one line and leaves the folder as it was', async () => {
    const rng = createRng('config-fuzz');
    const pick = <T,>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
    const paths = (v: unknown, at: (string | number)[] = []): (string | number)[][] =>
      v && typeof v === 'object' ? [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, Array.isArray(v) ? Number(k) : k]))] : [at];
    const values = [null, -1, 0, 1.5, 1e9, 70000, '', 'x', './nope.ts', [], {}, true, [1], { step: 'pca' }];
    const setAt = (root: any, path: (string | number)[], value: unknown, del = false) => {
      if (!path.length) return value;
      let o = root;
      for (const k of path.slice(0, -1)) o = o[k];
      if (del) {
        if (Array.isArray(o)) o.splice(path[path.length - 1] as number, 1);
        else delete o[path[path.length - 1]!];
      } else o[path[path.length - 1]!] = value;
      return root;
    };
    let refused = 0;
    let accepted = 0;
    for (let i = 0; i < 150; i++) {
      const c = structuredClone(good) as any;
      let text: string;
      const op = rng.int(8);
      if (op === 0) text = JSON.stringify(setAt(c, pick(paths(c)), pick(values)));
      else if (op === 1) text = JSON.stringify(setAt(c, pick(paths(c).filter((p) => p.length)), undefined, true));
      else if (op === 2) {
        const objects = paths(c).filter((p) => { let o = c; for (const k of p) o = o[k]; return o && typeof o === 'object' && !Array.isArray(o); });
        const p = pick(objects);
        let o = c;
        for (const k of p) o = o[k];
        o[`unknown${rng.int(10)}`] = 1;
        text = JSON.stringify(c);
      } else if (op === 3) {
        const t = JSON.stringify(c, null, 2);
        text = t.slice(0, rng.int(t.length));
      } else if (op === 4) {
        const t = JSON.stringify(c, null, 2).split('\n');
        const line = 1 + rng.int(t.length - 2);
        t.splice(line, 0, t[line]!);
        text = t.join('\n');
      } else if (op === 5) text = JSON.stringify({ ...c, dataset: pick([join(work, 'nowhere'), join(work, 'good.json'), 'nope', 'fashion-mnist:/none', finished]) });
      else if (op === 6) text = JSON.stringify({ ...c, split: { ...c.split, [pick(['train', 'test', 'validation'])]: pick([1e9, 5000, 799, -3, 0.5]) } });
      else text = JSON.stringify({ ...c, compare: { baseline: pick(['reports/none', '../..', 'reports']) } });
      const file = writeConfig('fuzz.json', text);
      let state;
      try {
        state = await openExperiment(await loadExperiment(file), { outDir: finished }, {});
      } catch (e) {
        const m = (e as Error).message;
        expect(m, `mutation ${i}`).not.toContain('\n');
        expect(m.length, `mutation ${i}`).toBeGreaterThan(10);
        expect(snapshot(finished), `mutation ${i}: ${m}`).toEqual(before);
        expect(existsSync(join(finished, 'previous')), `mutation ${i}`).toBe(false);
        refused++;
        continue;
      }
      // Accepted: it opened a new generation (the old one moved to previous/). Put the fixture back.
      state.close();
      accepted++;
      restore();
    }
    console.log(`config fuzz: ${refused} refused, ${accepted} accepted of 150`);
    expect(refused).toBeGreaterThan(100);
  }, 120_000);
});

describe('generations and one writer per folder', () => {
  it('a new experiment in a finished folder moves the whole previous generation aside and leaves no stale chart', async () => {
    restore();
    // An evaluation of the old bundles (evaluate's default folder) belongs to the old generation too.
    mkdirSync(join(finished, 'evaluate-photos'));
    writeFileSync(join(finished, 'evaluate-photos', '.evaluation-files.json'), '["evaluation.md"]\n');
    writeFileSync(join(finished, 'evaluate-photos', 'evaluation.md'), '# old\n');
    // So does a queue run's record of its jobs (the coordinator's jobs.jsonl), and a line set aside from it.
    const job = { jobId: 'j1', runId: '0123456789abcdef', experiment: 'good', classifier: 'naive-bayes', kind: 'run', queuedAt: '2026-12-05T10:00:00.000Z', attemptsStarted: 1, stalls: 0, status: 'completed' };
    writeFileSync(join(finished, 'jobs.jsonl'), `${JSON.stringify(job)}\n`);
    writeFileSync(join(finished, 'jobs.jsonl.torn-2026-12-05T10-00-01-000Z'), '{"jobId":"j2","ru');
    const withEvaluation = snapshot(finished);
    const file = writeConfig('other.json', { ...good, classifiers: [{ plugin: 'naive-bayes' }] });
    const notes: string[] = [];
    const summary = await runExperiment(await loadExperiment(file), { outDir: finished, events: { note: (m) => notes.push(m) } });
    expect(summary.rows.map((r) => r.classifier)).toEqual(['naive-bayes']);
    const [generation] = readdirSync(join(finished, 'previous'));
    const previous = join(finished, 'previous', generation!);
    expect(notes).toContain(`nothing of "other" unfinished to resume in ${finished}: every run is measured again; the previous results, report and bundles were moved to ${previous}`);
    // Restorable by hand: every file of the old generation, byte for byte.
    expect(snapshot(previous)).toEqual(withEvaluation);
    const now = readdirSync(finished);
    expect(now.filter((f) => f.includes('decision-tree') || f.startsWith('evaluate-') || f.startsWith('jobs.jsonl'))).toEqual([]);
    expect(readdirSync(join(finished, 'models'))).toHaveLength(1);
    expect((await readRows(join(finished, 'results.jsonl'))).map((r) => r.classifier)).toEqual(['naive-bayes']);
  }, 60_000);

  it('a torn last row (a power cut mid-write) is set aside on resume and its run is done again', async () => {
    restore();
    const results = join(finished, 'results.jsonl');
    const text = readFileSync(results, 'utf8');
    const lines = text.trimEnd().split('\n');
    // The last row cut in the middle, without its newline; the experiment marked unfinished.
    const torn = lines[1]!.slice(0, 200);
    writeFileSync(results, `${lines[0]}\n${torn}`);
    writeFileSync(join(finished, '.resume'), 'good\n');
    const notes: string[] = [];
    const skipped: string[] = [];
    const summary = await runExperiment(await loadExperiment(join(work, 'good.json')), { outDir: finished, events: { note: (m) => notes.push(m), skip: (r) => skipped.push(r.label) } });
    expect(skipped).toEqual(['naive-bayes']);
    expect(summary.ran).toBe(1);
    const kept = readdirSync(finished).filter((f) => f.startsWith('results.jsonl.torn-'));
    expect(kept).toHaveLength(1);
    expect(readFileSync(join(finished, kept[0]!), 'utf8')).toBe(torn);
    expect(notes).toContain(`${results} ended in an incomplete line (200 bytes cut off by an interrupted write); it was moved to ${join(finished, kept[0]!)}, and every complete line before it is kept.`);
    const rows = await readRows(results);
    expect(rows.map((r) => [r.classifier, r.status])).toEqual([
      ['naive-bayes', 'ok'],
      ['decision-tree', 'ok'],
    ]);
    expect(readFileSync(results, 'utf8').startsWith(`${lines[0]}\n`)).toBe(true);
  }, 60_000);

  it('a lock held by a live process refuses in one line naming it; a stale one is taken over', async () => {
    restore();
    const holder = spawn('sleep', ['30']);
    try {
      writeFileSync(join(finished, '.lock'), JSON.stringify({ pid: holder.pid, host: hostname(), experiment: 'other', since: '2026-12-04T10:00:00.000Z' }));
      const r = cli('experiment', join(work, 'good.json'), '--out', finished);
      expect(r.stderr).toBe(
        `digitbench: ${finished} is in use by another digitbench experiment ("other", pid ${holder.pid} on ${hostname()}, since 2026-12-04T10:00:00.000Z); wait for it to finish or stop it, or use another --out (if that process is gone, delete ${join(finished, '.lock')}).\n`,
      );
      expect(r.status).toBe(1);
      const { ['.lock']: _lock, ...rest } = snapshot(finished);
      expect(rest).toEqual(before);
    } finally {
      holder.kill();
    }
    await new Promise((r) => holder.once('exit', r));
    // The holder is gone: its lock is stale, taken over, and released at the end.
    const notes: string[] = [];
    const summary = await runExperiment(await loadExperiment(join(work, 'good.json')), { outDir: finished, fresh: true, events: { note: (m) => notes.push(m) } });
    expect(summary.rows.map((r) => r.status)).toEqual(['ok', 'ok']);
    expect(existsSync(join(finished, '.lock'))).toBe(false);
  }, 60_000);

  it('six processes racing for a folder whose lock is stale: exactly one takes it', async () => {
    const race = join(work, 'race');
    mkdirSync(race, { recursive: true });
    writeFileSync(join(race, '.lock'), JSON.stringify({ pid: 999999, host: hostname(), experiment: 'gone', since: '2026-01-01T00:00:00.000Z' }));
    const script = `import { lockFolder } from ${JSON.stringify(join(ROOT, 'src/harness/folder.ts'))};
      try { const l = lockFolder(${JSON.stringify(race)}, 'racer', '--out'); console.log('got'); setTimeout(() => { l.release(); }, 6000); }
      catch (e) { console.log('refused: ' + e.message); }`;
    const outs = await Promise.all(
      Array.from({ length: 6 }, () => new Promise<string>((done) => {
        const c = spawn(process.execPath, ['--import', './bin/register.js', '--input-type=module', '-e', script], { cwd: ROOT });
        let o = '';
        c.stdout.on('data', (d) => (o += d));
        c.once('exit', () => done(o.trim()));
      })),
    );
    expect(outs.filter((o) => o === 'got'), outs.join('\n')).toHaveLength(1);
    for (const o of outs.filter((x) => x !== 'got')) expect(o).toMatch(/^refused: .* is in use by another digitbench experiment \("racer", pid \d+ on /);
    expect(readdirSync(race)).toEqual([]);
  }, 60_000);

  it('two experiment processes on one folder: the second refuses, the first writes each row once', async () => {
    restore();
    const file = join(work, 'good.json');
    const first = spawn(process.execPath, [BIN, 'experiment', file, '--out', finished, '--fresh'], { cwd: work });
    let firstErr = '';
    first.stderr.on('data', (d) => (firstErr += d));
    const firstDone = new Promise<number | null>((r) => first.once('exit', r));
    // Wait until the first holds the lock.
    for (let i = 0; i < 200 && !existsSync(join(finished, '.lock')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(finished, '.lock'))).toBe(true);
    const second = cli('experiment', file, '--out', finished, '--fresh');
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^digitbench: ${finished} is in use by another digitbench experiment \\("good", pid ${first.pid} on ${hostname()}, since [0-9T:.Z-]+\\); wait for it to finish or stop it, or use another --out \\(if that process is gone, delete ${join(finished, '.lock')}\\)\\.\\n$`));
    expect(await firstDone, firstErr).toBe(0);
    const rows = await readRows(join(finished, 'results.jsonl'));
    expect(rows.map((r) => r.status)).toEqual(['ok', 'ok']);
    // The second --fresh moved nothing: one generation aside (the fixture), and every bundle of the rows is there.
    expect(readdirSync(join(finished, 'previous'))).toHaveLength(1);
    for (const r of rows) if (r.status === 'ok' && r.bundle) expect(existsSync(join(finished, r.bundle.file))).toBe(true);
    expect(existsSync(join(finished, '.lock'))).toBe(false);
  }, 90_000);
});
