/**
 * The Redis behind a queue: the URL (from `--queue` or DIGITBENCH_REDIS_URL) parsed without ever
 * printing it (user name and password masked, an unreadable URL described, not echoed), one connection
 * checked before anything is enqueued or taken, and a watch that says when Redis has gone away, so a
 * coordinator or a worker stops cleanly with what it has written left intact.
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export interface QueueTarget {
  /** For ioredis and BullMQ. */
  options: RedisOptions;
  /** The URL with any user name and password replaced by ***: the only form that is printed or recorded. */
  shown: string;
  /** The queue's name (the jobs of one sweep and its workers share it). */
  name: string;
  /** Where the URL came from, as error messages name it: `--queue` or `DIGITBENCH_REDIS_URL`. */
  from: string;
}

/** The default queue name; `--queue-name` picks another (e.g. one per sweep, or per test). */
export const DEFAULT_QUEUE_NAME = 'digitbench';

/** The environment variable that may hold the queue's URL (kept out of the process list, unlike argv). */
export const REDIS_URL_ENV = 'DIGITBENCH_REDIS_URL';

/** The options as BullMQ's Queue, QueueEvents and Worker take them (each opens its own connections). */
export function bullConnection(target: QueueTarget): ConnectionOptions {
  return target.options as ConnectionOptions;
}

/** What is printed in place of a URL that cannot be read (any part of it might be the password). */
export const UNREADABLE_URL = '(a URL that cannot be read; not shown)';

/**
 * The URL as it may be shown: any user info masked, keeping its shape (`redis://:***@h:1` for a
 * password, `redis://***@h:1` for a user name, `redis://***:***@h:1` for both). A URL the parser cannot
 * read is not shown at all.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return UNREADABLE_URL;
  }
  if (u.username) u.username = '***';
  if (u.password) u.password = '***';
  return u.toString().replace(/\/$/, '');
}

const USAGE = 'use redis://[:password@]host:port[/db] (rediss:// for TLS), with any / ? # % in the password percent-encoded';

/** host, IPv4 or [IPv6], then an optional :port (1-65535). A name ending in a number must be an IPv4 address. */
function validHostPort(s: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(s);
  if (!m || (m[2] !== undefined && !(Number(m[2]) >= 1 && Number(m[2]) <= 65535))) return false;
  const labels = m[1]!.split('.');
  return !/^\d+$/.test(labels.at(-1)!) || (labels.length === 4 && labels.every((l) => /^\d{1,3}$/.test(l) && Number(l) <= 255));
}

/**
 * Reads a Redis URL; `from` is how errors name its source (`--queue`, or DIGITBENCH_REDIS_URL). No error
 * contains any part of the URL: each names the part that is wrong.
 */
export function parseQueueUrl(url: string, name: string = DEFAULT_QUEUE_NAME, from = '--queue'): QueueTarget {
  const bad = (why: string) => new Error(`${from}: not a Redis URL (${why}); ${USAGE}.`);
  if (!url) throw new Error(`${from}: the URL is empty; ${USAGE}.`);
  const scheme = /^(rediss?):\/\//i.exec(url);
  if (!scheme) throw bad('it does not start with redis:// or rediss://');
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Which part? The host part follows the last @ (or the scheme) and ends at the first / ? #.
    const rest = url.slice(scheme[0].length);
    const at = rest.lastIndexOf('@');
    const hostPart = (at >= 0 ? rest.slice(at + 1) : rest).split(/[/?#]/)[0]!;
    if (at < 0 || !validHostPort(hostPart)) {
      // No @ and a second : (or a leading one): most likely a password without its @.
      throw bad(`the host part is not a valid host or port${at < 0 && /^:|:.*:/.test(hostPart) ? '; is the @ after the password missing?' : ''}`);
    }
    throw bad('the part before the host is not a user name and password; percent-encode any / ? # in them');
  }
  if (!u.hostname) throw bad('it names no host');
  if (!validHostPort(u.host)) throw bad('the host part is not a valid host or port');
  if (u.search || u.hash) throw bad('it has a ? or # part, which is not read; percent-encode ? and # in a password');
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw bad('the path after host:port must be a database number, as in redis://host:port/0');
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new Error(`--queue-name: "${name}": use letters, digits, -, _ and . only.`);
  let username: string, password: string;
  try {
    username = decodeURIComponent(u.username);
    password = decodeURIComponent(u.password);
  } catch {
    throw bad('a % in the user name or password is not followed by two hex digits; write % as %25');
  }
  const port = u.port ? Number(u.port) : 6379;
  const options: RedisOptions = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(scheme[1]!.toLowerCase() === 'rediss' ? { tls: {} } : {}),
    // BullMQ's workers block on Redis; a command waits for a reconnect instead of failing after retries.
    maxRetriesPerRequest: null,
  };
  u.port = String(port); // shown with the port it connects to, default or not
  return { options, shown: redactUrl(u.toString()), name, from };
}

/**
 * The URL to use from `--queue`'s value: the value itself; for a bare `--queue` (true), or no `--queue`
 * (undefined) where `envWhenAbsent`, the URL in DIGITBENCH_REDIS_URL; otherwise undefined (no queue).
 * Once the variable's URL is taken, it is removed from this process's environment, so the processes the
 * queue runs start (a run's child, its plugin) do not inherit it.
 */
export function queueUrlFrom(option: string | boolean | undefined, envWhenAbsent: boolean): { url: string; from: string } | undefined {
  if (typeof option === 'string') return { url: option, from: '--queue' };
  if (option === undefined && !envWhenAbsent) return undefined;
  const env = process.env[REDIS_URL_ENV];
  if (!env) {
    throw new Error(
      option
        ? `--queue: no URL after --queue and ${REDIS_URL_ENV} is not set; give --queue redis://[:password@]host:port, or set ${REDIS_URL_ENV} (which keeps a password out of the process list).`
        : `no Redis URL: give --queue redis://[:password@]host:port, or set ${REDIS_URL_ENV} (which keeps a password out of the process list).`,
    );
  }
  delete process.env[REDIS_URL_ENV];
  return { url: env, from: REDIS_URL_ENV };
}

/** An error's first line, with the URL's user name and password (should a message ever hold them) masked. */
function describeError(e: unknown, target: QueueTarget): string {
  const err = e as { code?: string; message?: string };
  let line = (err.code && !err.message?.includes(err.code) ? `${err.code}: ` : '') + (err.message ?? String(e)).split('\n')[0]!;
  for (const secret of [target.options.password, target.options.username]) if (secret) line = line.split(secret).join('***');
  return line;
}

/** How long Redis may be unreachable before the watch gives up (DIGITBENCH_QUEUE_GONE_MS; default 15 s). */
export function goneAfterMs(): number {
  const v = Number(process.env.DIGITBENCH_QUEUE_GONE_MS);
  return Number.isFinite(v) && v > 0 ? v : 15_000;
}

export interface RedisWatch {
  /** A client for our own keys (bundles in transit). */
  client: Redis;
  /** Rejects with a one-line reason once Redis has been unreachable for goneAfterMs(). */
  gone: Promise<never>;
  close(): Promise<void>;
}

/**
 * Connects (failing with a one-line reason when Redis cannot be reached or refuses the password), then
 * watches the connection.
 */
export async function connectRedis(target: QueueTarget, role: string): Promise<RedisWatch> {
  let lastError = 'no answer';
  const client = new Redis({ ...target.options, lazyConnect: true, retryStrategy: () => 500, connectionName: `digitbench-${role}` });
  client.on('error', (e) => {
    lastError = describeError(e, target);
  });
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref()),
    ]);
    await client.ping();
  } catch (e) {
    client.disconnect();
    const why = describeError(e, target);
    const auth = [why, lastError].find((m) => /WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(m));
    if (auth) {
      // redis://secret@host is a user name without a password: the usual slip for redis://:secret@host.
      const slip = target.options.username && !target.options.password ? 'the URL gives a user name and no password; ' : '';
      throw new Error(`${target.from}: Redis at ${target.shown} refused the credentials (${auth}); ${slip}give the right password in the URL (redis://:password@host:port).`);
    }
    throw new Error(`${target.from}: cannot reach Redis at ${target.shown} (${lastError !== 'no answer' ? lastError : why}); start redis-server there, or fix the URL.`);
  }
  let lostAt: number | undefined;
  let fail: (e: Error) => void = () => {};
  const gone = new Promise<never>((_, reject) => (fail = reject));
  gone.catch(() => {});
  const limit = goneAfterMs();
  const timer = setInterval(() => {
    if (client.status === 'ready') {
      lostAt = undefined;
      return;
    }
    lostAt ??= Date.now();
    if (Date.now() - lostAt >= limit) {
      clearInterval(timer);
      fail(new Error(`Redis at ${target.shown} went away (${lastError}; unreachable for ${Math.round(limit / 1000)} s)`));
    }
  }, 250);
  timer.unref();
  return {
    client,
    gone,
    close: async () => {
      clearInterval(timer);
      client.disconnect();
    },
  };
}

/** Closes BullMQ objects without hanging when Redis is gone: each gets `ms`, then is dropped. */
export async function closeAll(things: readonly { close(): Promise<unknown> }[], ms = 3000): Promise<void> {
  await Promise.all(things.map((t) => Promise.race([t.close().catch(() => {}), new Promise((r) => setTimeout(r, ms).unref())])));
}
