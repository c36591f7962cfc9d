/**
 * Secrets in queue URLs: a Redis URL (from --queue or DIGITBENCH_REDIS_URL) is never echoed when it
 * cannot be read, its user name and password are masked wherever it is shown, and the URL can come from
 * the environment instead of the process list. The first two groups need no Redis; the last runs a real
 * worker and coordinator from the variable alone (skipped without redis-server, like test/queue.test.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseQueueUrl, queueUrlFrom, redactUrl, UNREADABLE_URL } from '../src/queue/connection.ts';
import { readRows } from '../src/results/row.ts';
import { redisAvailable, startRedis, type RedisInstance } from './helpers/redis.ts';

const ROOT = resolve(__dirname, '..');
const CLI = join(ROOT, 'bin/digitbench.js');
const SECRET = 'Sekr1t-pw-0815';
const USAGE = 'use redis://[:password@]host:port[/db] (rediss:// for TLS), with any / ? # % in the password percent-encoded.';
const notRedis = (from: string, why: string) => `${from}: not a Redis URL (${why}); ${USAGE}`;

/** The environment without DIGITBENCH_REDIS_URL (CI exports it for the shared Redis), plus `env`. */
function envWith(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, DIGITBENCH_QUEUE_GONE_MS: '500', ...env };
  if (!('DIGITBENCH_REDIS_URL' in env)) delete e.DIGITBENCH_REDIS_URL;
  return e;
}

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: envWith(env), encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.trim().split('\n') };
}

function tmp(): string {
  const base = join(ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'queue-url-'));
}

function experimentFile(dir: string): string {
  const file = join(dir, 'exp.json');
  writeFileSync(file, JSON.stringify({ split: { train: 300, test: 100, seed: 3 }, features: [{ step: 'scale' }], classifiers: [{ plugin: 'naive-bayes' }], latencySamples: 5, deploy: { passes: 2, calls: 20, batch: 100 } }));
  return file;
}

describe('parsing and showing a Redis URL', () => {
  it('masks any user info, keeping its shape, and shows the port it connects to', () => {
    const pw = parseQueueUrl(`redis://:${SECRET}@db.example:6390/2`, 'sweep-1');
    expect(pw.options).toMatchObject({ host: 'db.example', port: 6390, password: SECRET, db: 2, maxRetriesPerRequest: null });
    expect(pw.shown).toBe('redis://:***@db.example:6390/2');
    // By URL rules redis://SECRET@host is a user name: masked all the same.
    const user = parseQueueUrl(`redis://${SECRET}@db.example`);
    expect(user.options).toMatchObject({ host: 'db.example', port: 6379, username: SECRET });
    expect(user.shown).toBe('redis://***@db.example:6379');
    const both = parseQueueUrl(`rediss://alice:${SECRET}@10.0.0.7:7000`);
    expect(both.options).toMatchObject({ host: '10.0.0.7', port: 7000, username: 'alice', password: SECRET, tls: {} });
    expect(both.shown).toBe('rediss://***:***@10.0.0.7:7000');
    expect(parseQueueUrl('redis://[::1]').shown).toBe('redis://[::1]:6379');
    // Percent-encoded / @ in a password are read, and not shown.
    const enc = parseQueueUrl('redis://:a%2Fb%40c@h:1');
    expect(enc.options.password).toBe('a/b@c');
    expect(enc.shown).toBe('redis://:***@h:1');
    expect(redactUrl(`redis://${SECRET}@h:1`)).toBe('redis://***@h:1');
    expect(redactUrl(`redis://alice:${SECRET}@h:1`)).toBe('redis://***:***@h:1');
    expect(redactUrl(`redis://:${SECRET}@h:1`)).toBe('redis://:***@h:1');
    expect(redactUrl(`redis://:${SECRET}/x@h:1`)).toBe(UNREADABLE_URL);
  });

  it.each([
    [`redis://:${SECRET}127.0.0.1:6379`, 'the host part is not a valid host or port; is the @ after the password missing?'],
    [`redis://${SECRET}127.0.0.1:6379`, 'the host part is not a valid host or port'],
    [`redis://:${SECRET}@h:99999`, 'the host part is not a valid host or port'],
    [`redis://:${SECRET}@h:0`, 'the host part is not a valid host or port'],
    [`redis://:${SECRET}/x@h:1`, 'the part before the host is not a user name and password; percent-encode any / ? # in them'],
    [`redis://:${SECRET}#x@h:1`, 'the part before the host is not a user name and password; percent-encode any / ? # in them'],
    [`redis://user/${SECRET}@h:1`, 'the path after host:port must be a database number, as in redis://host:port/0'],
    [`redis://h:1?password=${SECRET}`, 'it has a ? or # part, which is not read; percent-encode ? and # in a password'],
    [`redis://:${SECRET}%zz@h:1`, 'a % in the user name or password is not followed by two hex digits; write % as %25'],
    [`redis:////:${SECRET}@`, 'it names no host'],
    [`http://:${SECRET}@h:1`, 'it does not start with redis:// or rediss://'],
    [SECRET, 'it does not start with redis:// or rediss://'],
  ])('%s: names the wrong part and echoes nothing of the URL', (url, why) => {
    let message = '';
    try {
      parseQueueUrl(url);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(notRedis('--queue', why));
    expect(message).not.toContain(SECRET);
    // The same error names the variable when the URL came from it.
    expect(() => parseQueueUrl(url, 'digitbench', 'DIGITBENCH_REDIS_URL')).toThrow(notRedis('DIGITBENCH_REDIS_URL', why));
  });

  it('an empty URL and a bad queue name are one line each', () => {
    expect(() => parseQueueUrl('')).toThrow(`--queue: the URL is empty; ${USAGE}`);
    expect(() => parseQueueUrl('redis://h:1', 'a b')).toThrow('--queue-name: "a b": use letters, digits, -, _ and . only.');
  });

  it('takes the URL from DIGITBENCH_REDIS_URL only when asked, and removes it from the environment once taken', () => {
    const saved = process.env.DIGITBENCH_REDIS_URL;
    try {
      process.env.DIGITBENCH_REDIS_URL = `redis://:${SECRET}@h:1`;
      expect(queueUrlFrom('redis://other:2', false)).toEqual({ url: 'redis://other:2', from: '--queue' });
      expect(queueUrlFrom(undefined, false)).toBeUndefined();
      expect(process.env.DIGITBENCH_REDIS_URL).toBe(`redis://:${SECRET}@h:1`);
      expect(queueUrlFrom(true, false)).toEqual({ url: `redis://:${SECRET}@h:1`, from: 'DIGITBENCH_REDIS_URL' });
      expect(process.env.DIGITBENCH_REDIS_URL).toBeUndefined();
      expect(() => queueUrlFrom(undefined, true)).toThrow('no Redis URL: give --queue redis://[:password@]host:port, or set DIGITBENCH_REDIS_URL (which keeps a password out of the process list).');
    } finally {
      if (saved === undefined) delete process.env.DIGITBENCH_REDIS_URL;
      else process.env.DIGITBENCH_REDIS_URL = saved;
    }
  });
});

describe('the CLI keeps the URL secret (no Redis needed)', () => {
  it('worker --queue with the @ missing: one line, exit 1, the password nowhere', () => {
    const r = cli(['worker', '--queue', `redis://:${SECRET}127.0.0.1:6379`]);
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([`digitbench: ${notRedis('--queue', 'the host part is not a valid host or port; is the @ after the password missing?')}`]);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it.each([
    [`redis://:${SECRET}@127.0.0.1:1`, 'redis://:***@127.0.0.1:1'],
    [`redis://${SECRET}@127.0.0.1:1`, 'redis://***@127.0.0.1:1'],
    [`redis://alice:${SECRET}@127.0.0.1:1/3`, 'redis://***:***@127.0.0.1:1/3'],
  ])('worker with no --queue tries DIGITBENCH_REDIS_URL (%s) and shows it masked', (url, shown) => {
    const r = cli(['worker'], { DIGITBENCH_REDIS_URL: url });
    expect(r.status).toBe(1);
    expect(r.lines).toEqual([`digitbench: DIGITBENCH_REDIS_URL: cannot reach Redis at ${shown} (connect ECONNREFUSED 127.0.0.1:1); start redis-server there, or fix the URL.`]);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it('worker with neither --queue nor DIGITBENCH_REDIS_URL names both', () => {
    const r = cli(['worker']);
    expect(r.status).toBe(1);
    expect(r.lines).toEqual(['digitbench: no Redis URL: give --queue redis://[:password@]host:port, or set DIGITBENCH_REDIS_URL (which keeps a password out of the process list).']);
  });

  it('experiment: --queue before the config is refused, a bare --queue needs the variable, and uses it (nothing written when Redis is not there)', () => {
    const before = cli(['experiment', '--queue', 'quick']);
    expect(before.status).toBe(1);
    expect(before.lines).toEqual(['digitbench: --queue: its value is not a URL (no redis://); for the URL in DIGITBENCH_REDIS_URL put a bare --queue after the config (experiment <config> --queue), else give --queue redis://[:password@]host:port.']);
    const unset = cli(['experiment', 'quick', '--queue']);
    expect(unset.status).toBe(1);
    expect(unset.lines).toEqual(['digitbench: --queue: no URL after --queue and DIGITBENCH_REDIS_URL is not set; give --queue redis://[:password@]host:port, or set DIGITBENCH_REDIS_URL (which keeps a password out of the process list).']);
    const empty = cli(['experiment', 'quick', '--queue', '']);
    expect(empty.lines).toEqual([`digitbench: --queue: the URL is empty; ${USAGE}`]);
    const out = join(tmp(), 'out');
    const set = cli(['experiment', 'quick', '--queue', '--out', out], { DIGITBENCH_REDIS_URL: `redis://:${SECRET}@127.0.0.1:1` });
    expect(set.status).toBe(1);
    expect(set.lines).toEqual(['digitbench: DIGITBENCH_REDIS_URL: cannot reach Redis at redis://:***@127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1); start redis-server there, or fix the URL.']);
    expect(set.stdout + set.stderr).not.toContain(SECRET);
    expect(existsSync(out)).toBe(false);
    const bad = cli(['experiment', 'quick', '--queue', '--out', out], { DIGITBENCH_REDIS_URL: `redis://:${SECRET}/x@127.0.0.1:1` });
    expect(bad.lines).toEqual([`digitbench: ${notRedis('DIGITBENCH_REDIS_URL', 'the part before the host is not a user name and password; percent-encode any / ? # in them')}`]);
    expect(bad.stdout + bad.stderr).not.toContain(SECRET);
  });

  it('experiment without --queue runs here even when DIGITBENCH_REDIS_URL is set', () => {
    const dir = tmp();
    const r = cli(['experiment', experimentFile(dir), '--out', join(dir, 'out')], { DIGITBENCH_REDIS_URL: `redis://:${SECRET}@127.0.0.1:1` });
    expect(r.stderr).not.toContain('Redis');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('1 run(s) done, 0 already finished, 0 failed.');
    const rows = readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { status: string; env: { worker?: string } });
    expect(rows).toHaveLength(1);
    expect(rows[0]!.status).toBe('ok');
    expect(rows[0]!.env.worker).toBeUndefined();
  }, 60_000);

  it('--help of experiment and worker names DIGITBENCH_REDIS_URL', () => {
    expect(cli(['experiment', '--help']).stdout.replace(/\s+/g, ' ')).toContain('a bare --queue, after the config, takes the URL from $DIGITBENCH_REDIS_URL');
    expect(cli(['worker', '--help']).stdout.replace(/\s+/g, ' ')).toContain('(default, or a bare --queue: $DIGITBENCH_REDIS_URL, which keeps a password out of the process list)');
  });
});

describe.skipIf(!redisAvailable)('a worker and a coordinator from DIGITBENCH_REDIS_URL alone', () => {
  let own: RedisInstance;
  beforeAll(async () => {
    own = await startRedis({ password: SECRET });
  });
  afterAll(() => own?.kill());

  it('run a job with the password in no argv and no output', async () => {
    const dir = tmp();
    const name = `url-${process.pid}`;
    const env = envWith({ DIGITBENCH_REDIS_URL: own.url, DIGITBENCH_QUEUE_LOCK_MS: '2000', DIGITBENCH_QUEUE_GONE_MS: '2000' });
    const w = spawn(process.execPath, [CLI, 'worker', '--queue-name', name], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let wout = '';
    w.stdout.on('data', (d: Buffer) => (wout += d.toString()));
    w.stderr.on('data', (d: Buffer) => (wout += d.toString()));
    try {
      for (let i = 0; i < 300 && !wout.includes('waiting for jobs'); i++) await sleep(100);
      expect(wout).toContain(`: waiting for jobs on redis://:***@127.0.0.1:${own.port} (queue "${name}", 1 at a time)`);
      const args = [CLI, 'experiment', experimentFile(dir), '--queue', '--queue-name', name, '--out', join(dir, 'out')];
      const c = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: 'utf8', timeout: 90_000 });
      expect(c.stderr).not.toContain('digitbench:');
      expect(c.status).toBe(0);
      expect(c.stdout).toContain('1 run(s) done, 0 already finished, 0 failed.');
      const rows = await readRows(join(dir, 'out', 'results.jsonl'));
      expect(rows.map((r) => [r.status, r.env.worker])).toEqual([['ok', `${hostname()}#${w.pid}`]]);
      for (const argv of [w.spawnargs, args]) expect(argv.join(' ')).not.toContain(SECRET);
      expect(wout + c.stdout + c.stderr + readFileSync(join(dir, 'out', 'results.jsonl'), 'utf8') + readFileSync(join(dir, 'out', 'report.md'), 'utf8')).not.toContain(SECRET);
    } finally {
      w.kill('SIGKILL');
    }
  }, 120_000);
});
