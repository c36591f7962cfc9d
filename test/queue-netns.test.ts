/**
 * Workers on other hosts: Redis in a network namespace of its own, bound to a non-loopback address with a
 * password, the coordinator (the CLI) and two workers each in a namespace of their own, joined to Redis's
 * by veth pairs this test makes (test/helpers/netns.ts). The sweep's rows and selection rows must equal a
 * local run's, and both workers must have scored candidates of the k-NN grid (each a job of its own); Redis
 * must see the workers at their own addresses; a wrong password is refused with the CLI's one-line error;
 * the password is in no output or file of the sweep.
 *
 * Skipped, with the reason, where namespaces cannot be made (not root, no CAP_NET_ADMIN, no `ip`);
 * required (a failure) where DIGITBENCH_REQUIRE_NETNS=1, as .ci/run sets.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runExperiment } from '../src/harness/run.ts';
import { readRows } from '../src/results/row.ts';
import { writeTinyMnist } from './helpers/tiny-dataset.ts';
import { comparable, until } from './helpers/queue-procs.ts';
import { makeLab, netnsSupport, removeStale, startLabRedis, type Lab, type LabRedis, type Spawned } from './helpers/netns.ts';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin/digitbench.js');
/** Short locks, as in test/queue.test.ts. */
const FAST = { DIGITBENCH_QUEUE_LOCK_MS: '2000', DIGITBENCH_QUEUE_GONE_MS: '2000' };

const support = netnsSupport();
if (!support.ok && process.env.DIGITBENCH_REQUIRE_NETNS === '1') throw new Error(`DIGITBENCH_REQUIRE_NETNS=1 but network namespaces cannot be made here: ${support.reason}.`);


/** Selection rows without their times and where they ran: what a local run and the queue must agree on. */
function selection(dir: string) {
  return readFileSync(join(dir, 'selection.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((s) => JSON.parse(s) as { id: string; folds: { accuracy: number }[]; [k: string]: unknown })
    .map(({ startedAt: _s, elapsedSeconds: _e, env: _v, folds, ...r }) => ({ ...r, accuracy: folds.map((f) => f.accuracy) }))
    .sort((a, b) => (a as { id: string }).id.localeCompare((b as { id: string }).id));
}


describe.skipIf(!support.ok)(`queue workers on other hosts (network namespaces)${support.ok ? '' : `: skipped, ${support.reason}`}`, () => {
  let lab: Lab;
  let redis: LabRedis;
  let dir: string;
  beforeAll(async () => {
    const base = join(ROOT, '.tmp');
    mkdirSync(base, { recursive: true });
    dir = mkdtempSync(join(base, 'netns-'));
    lab = makeLab('r', ['c', 'w1', 'w2']);
    redis = await startLabRedis(lab, 'r', 'c', dir);
  });
  afterAll(() => lab?.cleanup());

  it('two workers at their own addresses give the rows a local run gives; Redis sees them there; a wrong password is refused', async () => {
    // Redis's config holds the password and only its owner may read it.
    expect(statSync(join(dir, 'redis.conf')).mode & 0o777).toBe(0o600);
    const file = join(dir, 'exp.json');
    writeFileSync(
      file,
      JSON.stringify({
        // MNIST's first rows as a small idx dataset (on the disk all namespaces share): fast for each process to load.
        dataset: await writeTinyMnist(join(dir, 'tiny'), 600, 150),
        split: { train: 400, test: 150, seed: 5 },
        features: [{ step: 'scale' }],
        latencySamples: 10,
        deploy: { passes: 2, calls: 50, batch: 150 },
        selection: { method: 'validation', rows: 100 },
        classifiers: [{ plugin: 'naive-bayes' }, { plugin: 'decision-tree' }, { plugin: 'knn', grid: { k: [1, 3, 5, 7, 9, 11] } }],
      }),
    );
    const exp = await loadExperiment(file);
    const local = await runExperiment(exp, { outDir: join(dir, 'local') });
    expect(local.failed).toBe(0);

    const queue = 'netns';
    const url = redis.url;
    // The URL (with its password) only in the environment; --queue is bare. ip netns exec keeps the environment.
    const env = (u: string) => ({ ...process.env, ...FAST, DIGITBENCH_REDIS_URL: u });
    const node = (role: string, args: string[], u = url): Spawned => lab.spawn(role, process.execPath, [CLI, ...args], env(u), ROOT);

    // A wrong password: the worker's one-line error, a non-zero exit.
    const wrong = node('w1', ['worker', '--queue-name', queue], url.replace(redis.password, 'f'.repeat(24)));
    expect(await wrong.exited).not.toBe(0);
    expect(wrong.output().trim()).toBe(
      `digitbench: DIGITBENCH_REDIS_URL: Redis at redis://:***@${lab.addr.r}:6379 refused the credentials (WRONGPASS invalid username-password pair or user is disabled.); give the right password in the URL (redis://:password@host:port).`,
    );

    const workers = [node('w1', ['worker', '--queue-name', queue]), node('w2', ['worker', '--queue-name', queue])];
    try {
      for (const w of workers) await until('a worker to be ready', () => w.output().includes('waiting for jobs') || w.proc.exitCode !== null, 30_000);
      for (const w of workers) expect(w.output()).toContain(`waiting for jobs on redis://:***@${lab.addr.r}:6379 (queue "${queue}"`);
      const out = join(dir, 'queued');
      const coordinator = node('c', ['experiment', file, '--queue', '--queue-name', queue, '--out', out]);
      const ended = await Promise.race([coordinator.exited, sleep(150_000).then(() => 'still running')]);
      expect(ended, `coordinator:\n${coordinator.output()}\nworkers:\n${workers.map((w) => w.output()).join('\n')}`).toBe(0);

      // No process in the lab has the password in its argv (Redis reads it from its 0600 config, the others from the environment).
      const pids = Object.values(lab.ns).flatMap((n) => spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean));
      expect(pids.length).toBeGreaterThanOrEqual(3);
      for (const pid of pids) expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(redis.password);
      // Redis saw each worker at its own namespace's address, none on loopback.
      const clients = redis.cli('c', 'CLIENT', 'LIST').trim().split('\n');
      const addrOf = (name: string) => clients.filter((l) => l.includes(` name=${name} `)).map((l) => /\baddr=([\d.]+):\d+/.exec(l)![1]);
      expect(new Set(addrOf('digitbench-worker'))).toEqual(new Set([lab.addr.w1, lab.addr.w2]));
      expect(clients.every((l) => !/addr=127\./.test(l))).toBe(true);

      const rows = await readRows(join(out, 'results.jsonl'));
      const mine = local.rows;
      expect(rows.map((r) => r.id).sort()).toEqual(mine.map((r) => r.id).sort());
      for (const r of rows) expect(comparable(r)).toEqual(comparable(mine.find((x) => x.id === r.id)!));
      // Both workers took runs; each row names the one that made it (same host name: namespaces share it).
      const names = workers.map((w) => `${hostname()}#${w.proc.pid}`);
      expect(new Set(rows.map((r) => r.env.worker))).toEqual(new Set(names));
      expect(selection(out)).toEqual(selection(join(dir, 'local')));
      // The k-NN grid's candidates are jobs of their own, and both workers scored some.
      const scored = readFileSync(join(out, 'selection.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { env?: { worker?: string } }).env?.worker);
      expect(scored).toHaveLength(6);
      expect(new Set(scored)).toEqual(new Set(names));

      // The password is in no output and no file of the sweep.
      const texts = [wrong.output(), coordinator.output(), ...workers.map((w) => w.output())];
      for (const f of readdirSync(out)) if (f.endsWith('.jsonl') || f.endsWith('.md') || f.endsWith('.json')) texts.push(readFileSync(join(out, f), 'utf8'));
      for (const t of texts) expect(t).not.toContain(redis.password);
    } finally {
      for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
    }
  }, 240_000);

  it('cleanup kills what runs in the namespaces and deletes them; stale ones of dead test processes are removed', async () => {
    // A namespace named as a test process's that is gone (pid 2^22 + 1 is above Linux's largest pid_max).
    const stale = `dbt${4194305}w1`;
    expect(spawnSync('ip', ['netns', 'add', stale]).status).toBe(0);
    const sleeper = lab.spawn('w1', 'sleep', ['600'], process.env);
    const listed = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
    expect(listed()).toContain(lab.ns.w1);
    lab.cleanup();
    for (const n of Object.values(lab.ns)) expect(listed()).not.toContain(n);
    await sleeper.exited;
    expect(sleeper.proc.signalCode).toBe('SIGKILL');
    expect(removeStale()).toContain(stale);
    expect(existsSync(`/run/netns/${stale}`)).toBe(false);
  });
});
