/**
 * The Redis behind a queue: the `--queue` URL parsed (its password never printed), one connection
 * checked before anything is enqueued or taken, and a watch that says when Redis has gone away, so a
 * coordinator or a worker stops cleanly with what it has written left intact.
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export interface QueueTarget {
  /** For ioredis and BullMQ. */
  options: RedisOptions;
  /** The URL with any password replaced by ***: the only form that is printed or recorded. */
  shown: string;
  /** The queue's name (the jobs of one sweep and its workers share it). */
  name: string;
}

/** The default queue name; `--queue-name` picks another (e.g. one per sweep, or per test). */
export const DEFAULT_QUEUE_NAME = 'digitbench';

/** The options as BullMQ's Queue, QueueEvents and Worker take them (each opens its own connections). */
export function bullConnection(target: QueueTarget): ConnectionOptions {
  return target.options as ConnectionOptions;
}

/** The URL as it may be shown: the password (and a user's password) replaced by ***. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    // Not parseable (e.g. a / in the password): hide everything up to the last @.
    return url.replace(/\/\/.*@/, '//***@');
  }
}

export function parseQueueUrl(url: string, name: string = DEFAULT_QUEUE_NAME): QueueTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--queue: "${redactUrl(url)}" is not a URL; give redis://host:port (or redis://:password@host:port, with / @ : in the password percent-encoded).`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new Error(`--queue: "${redactUrl(url)}" is not a Redis URL; give redis://host:port (or rediss:// for TLS).`);
  }
  if (!u.hostname) throw new Error(`--queue: "${redactUrl(url)}" names no host; give redis://host:port.`);
  const db = u.pathname.replace(/^\//, '');
  if (db && !/^\d+$/.test(db)) throw new Error(`--queue: "${redactUrl(url)}": the path must be a database number (redis://host:port/0), not "${db}".`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) throw new Error(`--queue-name: "${name}": use letters, digits, -, _ and . only.`);
  const options: RedisOptions = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's workers block on Redis; a command waits for a reconnect instead of failing after retries.
    maxRetriesPerRequest: null,
  };
  return { options, shown: redactUrl(url), name };
}

function describeError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return (err.code && !err.message?.includes(err.code) ? `${err.code}: ` : '') + (err.message ?? String(e)).split('\n')[0]!;
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
    lastError = describeError(e);
  });
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref()),
    ]);
    await client.ping();
  } catch (e) {
    client.disconnect();
    const why = describeError(e);
    const auth = [why, lastError].find((m) => /WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(m));
    if (auth) throw new Error(`--queue: Redis at ${target.shown} refused the credentials (${auth}); give the right password in the URL (redis://:password@host:port).`);
    throw new Error(`--queue: cannot reach Redis at ${target.shown} (${lastError !== 'no answer' ? lastError : why}); start redis-server there, or fix the URL.`);
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
