/**
 * Sweeps through a real queue: BullMQ on Debian's redis-server. Workers are real `digitbench worker`
 * processes (killed with SIGKILL where the test says so); the coordinator runs in this process or as
 * the CLI. Rows from the queue must equal a local run's rows, timings aside.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundleFile } from '../src/bundle/file.ts';
import { decodeBundle } from '@digitbench/runtime/internal';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { bullConnection, parseQueueUrl, redactUrl } from '../src/queue/connection.ts';
import { runQueued } from '../src/queue/coordinator.ts';
import { jobPluginRef, runJob, type RunJobInput } from '../src/queue/job.ts';
import { startWorker } from '../src/queue/worker.ts';
import { readRows } from '../src/results/row.ts';
import { redisAvailable, sharedRedis, startRedis, type RedisInstance } from './helpers/redis.ts';
import { comparable, spawnCli, stop, until, worker as startWorkerProc } from './helpers/queue-procs.ts';
import { engineChoice } from '../src/engine/ort.ts';
import { loadDataset } from '../src/data/datasets.ts';
import { makeSplit } from '../src/data/split.ts';

const ROOT = resolve(__dirname, '..');
const EXAMPLE = join(ROOT, 'examples/nearest-centroid.ts');
const MISBEHAVING = join(ROOT, 'test/fixtures/plugins/misbehaving.ts');
/** Short locks, so that a killed worker's job is taken up again within seconds. */
const FAST = { DIGITBENCH_QUEUE_LOCK_MS: '2000', DIGITBENCH_QUEUE_GONE_MS: '2000' };

function tmp(): string {
  const base = join(ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'queue-'));
}

function experimentFile(dir: string, body: object): string {
  const file = join(dir, 'exp.json');
  writeFileSync(file, JSON.stringify(body, null, 2));
  return file;
}

const small = { split: { train: 500, test: 200, seed: 3 }, features: [{ step: 'scale' }], latencySamples: 10, deploy: { passes: 2, calls: 50, batch: 200 } };

let queues = 0;
const queueName = () => `test-${process.pid}-${++queues}`;

/** A worker process with this file's lock settings. */
const worker = (url: string, queue: string, env: Record<string, string> = FAST) => startWorkerProc(url, queue, env);

const rowsOf = async (dir: string) => (existsSync(join(dir, 'results.jsonl')) ? readRows(join(dir, 'results.jsonl')) : []);
const lines = (dir: string) => (existsSync(join(dir, 'results.jsonl')) ? readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').filter(Boolean).length : 0);
const count = (text: string, re: RegExp) => (text.match(new RegExp(re.source, 'g')) ?? []).length;

describe('queue URLs and plugin paths', () => {
  it('parses redis URLs, hides the password, and names what is wrong (more in test/queue-url.test.ts)', () => {
    const t = parseQueueUrl('redis://:s3cret@db.example:6390/2', 'sweep-1');
    expect(t.options).toMatchObject({ host: 'db.example', port: 6390, password: 's3cret', db: 2, maxRetriesPerRequest: null });
    expect(t.shown).toBe('redis://:***@db.example:6390/2');
    expect(redactUrl('redis://user:pw@h:1')).toBe('redis://***:***@h:1');
    const usage = 'use redis://[:password@]host:port[/db] (rediss:// for TLS), with any / ? # % in the password percent-encoded.';
    // A password the URL parser cannot read is not shown at all.
    expect(() => parseQueueUrl('redis://:pa/ss@h:1')).toThrow(`--queue: not a Redis URL (the part before the host is not a user name and password; percent-encode any / ? # in them); ${usage}`);
    expect(() => parseQueueUrl('http://h:1')).toThrow(`--queue: not a Redis URL (it does not start with redis:// or rediss://); ${usage}`);
    expect(() => parseQueueUrl('redis:////:pw@')).toThrow(`--queue: not a Redis URL (it names no host); ${usage}`);
    expect(() => parseQueueUrl('redis://h:1/abc')).toThrow(`--queue: not a Redis URL (the path after host:port must be a database number, as in redis://host:port/0); ${usage}`);
    expect(() => parseQueueUrl('redis://h:1', 'a b')).toThrow('--queue-name: "a b": use letters, digits, -, _ and . only.');
  });

  it('names a plugin file by its path inside the checkout, and refuses one outside before queueing', async () => {
    const dir = tmp();
    const exp = await loadExperiment(experimentFile(dir, { ...small, classifiers: [{ plugin: EXAMPLE }, { plugin: 'knn' }] }));
    expect(jobPluginRef(exp.runs[0]!, dir, 'x')).toBe('./examples/nearest-centroid.ts');
    expect(jobPluginRef(exp.runs[1]!, dir, 'x')).toBe('knn');
    const outside = mkdtempSync(join(tmpdir(), 'digitbench-plugin-'));
    writeFileSync(join(outside, 'p.ts'), readFileSync(EXAMPLE, 'utf8').replace(/from '\.\.\/src\//g, `from '${ROOT}/src/`));
    const far = await loadExperiment(experimentFile(outside, { ...small, classifiers: [{ plugin: './p.ts' }] }));
    expect(() => jobPluginRef(far.runs[0]!, outside, `${far.file}: classifiers[0].plugin`)).toThrow(
      `${far.file}: classifiers[0].plugin: the plugin file ${join(outside, 'p.ts')} is outside this checkout (${ROOT}); queue workers run only built-ins and plugin files inside their own checkout, so move it into the checkout (and onto every worker) or run without --queue.`,
    );
  });
});

describe.skipIf(!redisAvailable)('sweeps through BullMQ on redis-server', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await sharedRedis();
  });
  // Stops the file's own instance (the shared one of CI is .ci/run's to stop).
  afterAll(() => redis?.kill());

  it('two workers give the rows a local run gives (timings aside); each row names its worker; a failing run is a failed row, run once', async () => {
    const dir = tmp();
    const file = experimentFile(dir, {
      ...small,
      classifiers: [
        { plugin: 'naive-bayes' },
        { plugin: 'decision-tree' },
        { plugin: 'knn', features: [{ step: 'scale' }, { step: 'pca', components: 20 }] },
        { plugin: EXAMPLE, grid: { metric: ['l1', 'l2'] } },
        { plugin: MISBEHAVING, label: 'thrower', params: { mode: 'throw' } },
      ],
      // Compact bundles travel too.
      bundle: { precision: 'int8' },
    });
    const exp = await loadExperiment(file);
    const local = await runExperiment(exp, { outDir: join(dir, 'local') });
    const name = queueName();
    const [a, b] = await Promise.all([worker(redis.url, name), worker(redis.url, name)]);
    try {
      const queued = await runQueued(exp, { target: parseQueueUrl(redis.url, name), outDir: join(dir, 'queued') });
      expect(queued.ran).toBe(5);
      expect(queued.failed).toBe(1);
      const q = await rowsOf(join(dir, 'queued'));
      const l = await rowsOf(join(dir, 'local'));
      expect(q).toHaveLength(5);
      expect(q.map((r) => r.id).sort()).toEqual(local.rows.map((r) => r.id).sort());
      for (const row of q) expect(comparable(row)).toEqual(comparable(l.find((x) => x.id === row.id)!));
      // Each row names the worker that made it; both workers took jobs.
      expect(new Set(q.map((r) => r.env.worker))).toEqual(new Set([a.name, b.name]));
      expect(q.every((r) => r.env.host === hostname())).toBe(true);
      // The grid's selection rows came back too, the same as the local run's.
      const sel = (d: string) => readFileSync(join(dir, d, 'selection.jsonl'), 'utf8').trim().split('\n').map((s) => JSON.parse(s)).map(({ startedAt: _s, env: _e, elapsedSeconds: _t, folds, ...r }) => ({ ...r, accuracy: folds.map((f: { accuracy: number }) => f.accuracy) }));
      expect(sel('queued')).toEqual(expect.arrayContaining(sel('local')));
      // The bundles arrived beside the report and are the runs' own.
      for (const row of q.filter((r) => r.status === 'ok')) {
        const f = join(dir, 'queued', (row as { bundle: { file: string } }).bundle.file);
        const bundle = await decodeBundle(await readBundleFile(f), f);
        expect(bundle.header.run.id).toBe(row.id);
        for (const c of (row as { compact?: { file?: string }[] }).compact ?? []) {
          if (!c.file) continue;
          const cf = join(dir, 'queued', c.file);
          expect((await decodeBundle(await readBundleFile(cf), cf)).header.run.id).toBe(row.id);
        }
      }
      expect(q.filter((r) => (r as { compact?: { file?: string }[] }).compact?.some((c) => c.file)).map((r) => r.classifier).sort()).toEqual(['decision-tree', 'knn']);
      const thrower = q.find((r) => r.classifier === 'thrower')!;
      expect(thrower).toMatchObject({ status: 'failed', reason: 'misbehaving: fit failed on purpose' });
      // A run's own failure is its row, not a retry.
      expect(count(a.output() + b.output(), /took \S+ thrower/)).toBe(1);
      const report = readFileSync(join(dir, 'queued', 'report.md'), 'utf8');
      expect(report).toContain('| **knn** |');
      // The environment section lists the workers with their runs and the grid's candidates (candidate jobs) each scored.
      const workersLine = report.split('\n').find((l) => l.startsWith('| queue workers (runs / candidates) |'))!;
      for (const w of [a, b]) expect(workersLine).toMatch(new RegExp(`${w.name} \\([1-4] / [0-2]\\)`));
    } finally {
      stop(a, b);
    }
  }, 240_000);

  it('a worker killed mid-run (SIGKILL): its job is taken up by another worker and every run finishes exactly once', async () => {
    const dir = tmp();
    const exp = await loadExperiment(
      experimentFile(dir, {
        ...small,
        classifiers: [{ plugin: MISBEHAVING, label: 'slow', params: { mode: 'slow', sleepMs: 6000 } }, { plugin: 'naive-bayes' }, { plugin: 'decision-tree' }],
      }),
    );
    const name = queueName();
    const a = await worker(redis.url, name);
    let b: Awaited<ReturnType<typeof worker>> | undefined;
    try {
      const coordinator = runQueued(exp, { target: parseQueueUrl(redis.url, name), outDir: join(dir, 'out') });
      await until('worker A to take the slow run', () => /took \S+ slow/.test(a.output()));
      await sleep(1000);
      a.proc.kill('SIGKILL');
      await a.exited;
      b = await worker(redis.url, name);
      const summary = await coordinator;
      expect(summary.failed).toBe(0);
      const rows = await rowsOf(join(dir, 'out'));
      expect(lines(join(dir, 'out'))).toBe(3);
      expect(new Set(rows.map((r) => r.id)).size).toBe(3);
      expect(rows.every((r) => r.status === 'ok')).toBe(true);
      expect(rows.find((r) => r.classifier === 'slow')!.env.worker).toBe(b.name);
      expect(a.output()).not.toMatch(/slow ok/);
      expect(count(b.output(), /took \S+ slow/)).toBe(1);
    } finally {
      stop(a, b);
    }
  }, 180_000);

  it('a coordinator killed mid-sweep resumes: finished jobs are collected, not run again, and no row is written twice', async () => {
    const dir = tmp();
    const file = experimentFile(dir, {
      ...small,
      classifiers: [{ plugin: 'naive-bayes' }, { plugin: MISBEHAVING, label: 'slow', params: { mode: 'slow', sleepMs: 4000 } }, { plugin: 'decision-tree' }],
    });
    const name = queueName();
    const out = join(dir, 'out');
    const w = await worker(redis.url, name);
    try {
      const args = ['experiment', file, '--queue', redis.url, '--queue-name', name, '--out', out];
      const first = spawnCli(args, FAST);
      await until('the first row', () => lines(out) >= 1);
      first.proc.kill('SIGKILL');
      await first.exited;
      // The worker goes on with the queued jobs while no coordinator listens.
      await until('the worker to finish every job', () => count(w.output(), /: (naive-bayes|slow|decision-tree) ok/) === 3);
      const second = spawnCli(args, FAST);
      expect(await second.exited).toBe(0);
      expect(second.output()).toContain('skip naive-bayes (finished in an earlier run)');
      const rows = await rowsOf(out);
      expect(lines(out)).toBe(3);
      expect(new Set(rows.map((r) => r.id)).size).toBe(3);
      expect(rows.every((r) => r.status === 'ok')).toBe(true);
      expect(count(w.output(), /took /)).toBe(3);
      expect(readdirSync(join(out, 'models')).filter((f) => f.endsWith('.bundle'))).toHaveLength(2);
    } finally {
      stop(w);
    }
  }, 180_000);

  it('a worker refuses a job naming a plugin outside its checkout, or another split, once and without retries', async () => {
    const dir = tmp();
    const exp = await loadExperiment(experimentFile(dir, { ...small, classifiers: [{ plugin: 'naive-bayes' }] }));
    const name = queueName();
    const target = parseQueueUrl(redis.url, name);
    const w = await startWorker({ target, concurrency: 1, log: () => {} });
    const queue = new Queue(name, { connection: bullConnection(target) });
    try {
      const here = engineChoice();
      const other = here.engine === 'ort' ? 'wasm' : 'ort';
      const good = runJob(exp, exp.runs[0]!, { baseDir: dir, id: '0123456789abcdef', datasetHash: 'x', fingerprint: 'y', code: 'z', versions: {}, engine: here.engine });
      const mnistHash = (await loadDataset('mnist')).contentHash;
      const fingerprint = makeSplit(await loadDataset('mnist'), exp.runs[0]!.split).fingerprint;
      const jobs: [string, RunJobInput, string][] = [
        ['evil', { ...good, run: { ...good.run, pluginRef: '/etc/evil.ts' } }, `refused by worker ${w.name}: the job names the plugin "/etc/evil.ts", which is neither a built-in nor a file inside this worker's checkout (${ROOT}); workers run only those`],
        ['escape', { ...good, run: { ...good.run, pluginRef: './../outside.ts' } }, `refused by worker ${w.name}: the job names the plugin "./../outside.ts", which is neither a built-in nor a file inside this worker's checkout (${ROOT}); workers run only those`],
        ['split', { ...good, expect: { ...good.expect, datasetHash: mnistHash, fingerprint: 'deadbeefdeadbeef' } }, ''],
        ['engine', { ...good, expect: { ...good.expect, datasetHash: mnistHash, fingerprint, engine: other } }, `refused by worker ${w.name}: the engine here is ${here.engine} (${here.reason}), the coordinator's ${other}; install the same optional dependencies (onnxruntime-node) on every machine, or set DIGITBENCH_ENGINE=${other} here`],
      ];
      for (const [id, data] of jobs) await queue.add('run', data, { jobId: id, attempts: 3 });
      for (const [id, , reason] of jobs) {
        let state = '';
        for (let i = 0; i < 200 && state !== 'failed'; i++) {
          state = await queue.getJobState(id);
          if (state !== 'failed') await sleep(100);
        }
        const job = (await queue.getJob(id))!;
        expect(state).toBe('failed');
        expect(job.attemptsMade).toBe(1);
        if (reason) expect(job.failedReason).toBe(reason);
        else expect(job.failedReason).toMatch(new RegExp(`^refused by worker ${w.name.replace('#', '#')}: the split fingerprint here is [0-9a-f]+, the coordinator's deadbeefdeadbeef \\(another dataset version, or other files\\); give every machine the same dataset$`));
      }
    } finally {
      await w.close();
      await queue.obliterate({ force: true }).catch(() => {});
      await queue.close();
    }
  }, 120_000);
});

describe.skipIf(!redisAvailable)('Redis with a password, going away', () => {
  let own: RedisInstance;
  const password = 'sekret-pw-4711';
  beforeAll(async () => {
    own = await startRedis({ password });
  });
  afterAll(() => own?.kill());

  it('keeps the password out of every output and file; Redis going away stops coordinator and worker with the rows intact', async () => {
    const dir = tmp();
    const file = experimentFile(dir, {
      ...small,
      classifiers: [{ plugin: 'naive-bayes' }, { plugin: MISBEHAVING, label: 'slow', params: { mode: 'slow', sleepMs: 20000 } }, { plugin: 'decision-tree' }],
    });
    const name = queueName();
    const out = join(dir, 'out');
    // A wrong password is named as such.
    const wrong = spawnCli(['worker', '--queue', own.url.replace(password, 'nope'), '--queue-name', name], FAST);
    expect(await wrong.exited).not.toBe(0);
    expect(wrong.output()).toContain(`--queue: Redis at redis://:***@127.0.0.1:${own.port} refused the credentials`);
    const w = await worker(own.url, name);
    try {
      const coordinator = spawnCli(['experiment', file, '--queue', own.url, '--queue-name', name, '--out', out], FAST);
      await until('the first row', () => lines(out) >= 1);
      own.kill();
      const code = await Promise.race([coordinator.exited, sleep(60_000).then(() => 'still running')]);
      expect(code).toBe(1);
      const last = coordinator.output().trim().split('\n').pop()!;
      expect(last).toMatch(
        new RegExp(`Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${own.port} went away \\(.*\\); stopped\\. The 1 row\\(s\\) collected in this session are in .*results\\.jsonl, intact; start Redis and run the same command again to resume \\(finished runs are not run again\\)\\.$`),
      );
      expect(await w.exited).toBe(1);
      expect(w.output()).toContain(`Redis at redis://:***@127.0.0.1:${own.port} went away`);
      const rows = await rowsOf(out);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ classifier: 'naive-bayes', status: 'ok' });
      const texts = [coordinator.output(), w.output(), wrong.output(), ...readdirSync(out).filter((f) => !f.endsWith('.png') && f !== 'models').map((f) => readFileSync(join(out, f), 'utf8'))];
      for (const t of texts) expect(t).not.toContain(password);
    } finally {
      stop(w);
    }
  }, 180_000);
});
