/**
 * Redis for the queue tests: Debian's redis-server on 127.0.0.1, on a free port. `.ci/run` starts
 * one and exports DIGITBENCH_REDIS_URL (the tests use their own queue names on it); a test that must
 * stop Redis or needs a password starts its own instance. Without redis-server the queue tests skip,
 * except where DIGITBENCH_REQUIRE_REDIS=1 (CI), where they fail.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export const REDIS_SERVER = process.env.DIGITBENCH_REDIS_SERVER ?? 'redis-server';

export function haveRedisServer(): boolean {
  return spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Whether the queue tests can run here; in CI (DIGITBENCH_REQUIRE_REDIS=1) they must. */
export const redisAvailable = haveRedisServer() || process.env.DIGITBENCH_REQUIRE_REDIS === '1';

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

export interface RedisInstance {
  port: number;
  /** redis://[:password@]127.0.0.1:port */
  url: string;
  process?: ChildProcess;
  /** Kills the server (SIGKILL): Redis "goes away". */
  kill(): void;
}

/** A redis-server of the test's own, without persistence; killed when the test process ends. */
export async function startRedis(opts: { password?: string } = {}): Promise<RedisInstance> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...(opts.password ? ['--requirepass', opts.password] : [])];
  const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < 100 && !/Ready to accept connections/.test(out); i++) await sleep(50);
  if (!/Ready to accept connections/.test(out)) {
    proc.kill('SIGKILL');
    throw new Error(`redis-server did not start on port ${port}: ${out.slice(-500)}`);
  }
  process.once('exit', () => proc.kill('SIGKILL'));
  return {
    port,
    url: `redis://${opts.password ? `:${opts.password}@` : ''}127.0.0.1:${port}`,
    process: proc,
    kill: () => proc.kill('SIGKILL'),
  };
}

/** The shared Redis (CI's), or one of this test file's own. */
export async function sharedRedis(): Promise<RedisInstance> {
  const url = process.env.DIGITBENCH_REDIS_URL;
  if (url) return { port: Number(new URL(url).port), url, kill: () => {} };
  return startRedis();
}
