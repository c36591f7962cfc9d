/**
 * Network namespaces for the queue's other-host test (test/queue-netns.test.ts): a "lab" of namespaces
 * `dbt<pid><role>` joined by veth pairs to a bridge inside the first one, on 10.213.7.0/24. Every link is
 * made directly inside the lab's namespaces (`ip link add … netns X type veth peer name … netns R`):
 * nothing is made in the root namespace and nothing outside the lab is addressed. The hub's loopback
 * stays down, so whatever listens there is reachable only by its bridge address.
 *
 * Cleanup always: kill the processes in each namespace (`ip netns pids`), then delete it, at the end of
 * the test and when the test process exits; `makeLab` first removes namespaces left by test processes
 * that are gone (`dbt<pid>…` with a dead pid).
 *
 * Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2's `ip`; `netnsSupport()` says why not, and the
 * test skips with that reason unless DIGITBENCH_REQUIRE_NETNS=1 (CI), where it fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REDIS_SERVER } from './redis.ts';
import { alive } from '../../src/harness/folder.ts';

export const SUBNET = '10.213.7';
const PREFIX = 'dbt';

function ip(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { ok: r.status === 0, out: r.stdout ?? '', err: (r.error?.message ?? r.stderr ?? '').trim() };
}

/** Whether namespaces can be made here; the reason when not. */
export function netnsSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root (ip netns needs CAP_SYS_ADMIN and CAP_NET_ADMIN)' };
  const v = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (v.status !== 0) return { ok: false, reason: 'no `ip` command (install iproute2)' };
  if (spawnSync(REDIS_SERVER, ['--version'], { stdio: 'ignore' }).status !== 0) return { ok: false, reason: `no ${REDIS_SERVER} (install redis-server)` };
  const probe = `${PREFIX}${process.pid}p`;
  const add = ip(['netns', 'add', probe]);
  if (!add.ok) return { ok: false, reason: `\`ip netns add\` failed (${add.err.split('\n')[0]}): run in a privileged container (CAP_SYS_ADMIN, CAP_NET_ADMIN)` };
  const veth = ip(['link', 'add', 'a0', 'netns', probe, 'type', 'veth', 'peer', 'name', 'b0', 'netns', probe]);
  ip(['netns', 'del', probe]);
  if (!veth.ok) return { ok: false, reason: `cannot make a veth pair in a namespace (${veth.err.split('\n')[0]})` };
  return { ok: true };
}


/** Kills every process in the namespace (SIGKILL), then deletes it. */
export function removeNamespace(ns: string): void {
  for (let i = 0; i < 20; i++) {
    const pids = ip(['netns', 'pids', ns]).out.split(/\s+/).filter(Boolean).map(Number);
    if (!pids.length) break;
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    spawnSync('sleep', ['0.05']);
  }
  ip(['netns', 'del', ns]);
}

/** The test namespaces whose test process is gone (`dbt<pid><role>`): removed; returns their names. */
export function removeStale(): string[] {
  const removed: string[] = [];
  for (const line of ip(['netns', 'list']).out.split('\n')) {
    const m = /^(dbt(\d+)(?:p|r|c|w\d+))(?:\s|$)/.exec(line.trim());
    if (!m || alive(Number(m[2]))) continue;
    removeNamespace(m[1]!);
    removed.push(m[1]!);
  }
  return removed;
}

export interface Spawned {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

export interface Lab {
  /** role → namespace name */
  ns: Record<string, string>;
  /** role → its address on the lab's bridge */
  addr: Record<string, string>;
  /** Runs a command inside the role's namespace, with this environment (ip netns exec keeps it; nothing goes in argv). */
  spawn(role: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Spawned;
  /** Runs a command inside the role's namespace to its end. */
  run(role: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): { status: number | null; out: string };
  cleanup(): void;
}

/**
 * A hub namespace (the first role) with a bridge at .1, and one namespace per other role at .2, .3, …,
 * each joined to the bridge by a veth pair. Throws with the failing `ip` command's error.
 */
export function makeLab(hub: string, others: string[]): Lab {
  removeStale();
  const roles = [hub, ...others];
  const ns: Record<string, string> = Object.fromEntries(roles.map((r) => [r, `${PREFIX}${process.pid}${r}`]));
  const addr: Record<string, string> = Object.fromEntries(roles.map((r, i) => [r, `${SUBNET}.${i + 1}`]));
  let cleaned = false;
  const cleanup = () => {
    if (cleaned) return;
    cleaned = true;
    for (const r of roles) removeNamespace(ns[r]!);
  };
  process.once('exit', cleanup);
  const must = (args: string[]) => {
    const r = ip(args);
    if (!r.ok) {
      cleanup();
      throw new Error(`ip ${args.join(' ')}: ${r.err}`);
    }
  };
  const H = ns[hub]!;
  for (const r of roles) must(['netns', 'add', ns[r]!]);
  must(['-n', H, 'link', 'add', 'br0', 'type', 'bridge']);
  must(['-n', H, 'addr', 'add', `${addr[hub]}/24`, 'dev', 'br0']);
  must(['-n', H, 'link', 'set', 'br0', 'up']);
  for (const r of others) {
    const X = ns[r]!;
    must(['link', 'add', 'eth0', 'netns', X, 'type', 'veth', 'peer', 'name', `v_${r}`, 'netns', H]);
    must(['-n', H, 'link', 'set', `v_${r}`, 'master', 'br0', 'up']);
    must(['-n', X, 'addr', 'add', `${addr[r]}/24`, 'dev', 'eth0']);
    must(['-n', X, 'link', 'set', 'eth0', 'up']);
    must(['-n', X, 'link', 'set', 'lo', 'up']);
  }
  return {
    ns,
    addr,
    spawn(role, cmd, args, env, cwd) {
      const proc = spawn('ip', ['netns', 'exec', ns[role]!, cmd, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((res) => proc.on('close', (code) => res(code)));
      return { proc, output: () => out, exited };
    },
    run(role, cmd, args, env = process.env) {
      const r = spawnSync('ip', ['netns', 'exec', ns[role]!, cmd, ...args], { env, encoding: 'utf8' });
      return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
    },
    cleanup,
  };
}

export interface LabRedis {
  /** redis://:password@<hub address>:6379 */
  url: string;
  password: string;
  /** Runs redis-cli from the role's namespace against it (the password through REDISCLI_AUTH, not argv). */
  cli(role: string, ...args: string[]): string;
}

/**
 * redis-server in the lab's hub, bound to the bridge address only, with a password: its config file is
 * written 0600 in `dir` (the password never appears in a process's argv). Waits for a PING from `from`.
 */
export async function startLabRedis(lab: Lab, hub: string, from: string, dir: string): Promise<LabRedis> {
  const password = randomBytes(12).toString('hex');
  const host = lab.addr[hub]!;
  const conf = join(dir, 'redis.conf');
  writeFileSync(conf, [`bind ${host}`, 'port 6379', `requirepass ${password}`, 'save ""', 'appendonly no', 'protected-mode yes', `dir ${dir}`, 'daemonize no', 'logfile ""', ''].join('\n'), { mode: 0o600 });
  const server = lab.spawn(hub, REDIS_SERVER, [conf], process.env);
  const cli = (role: string, ...args: string[]) => lab.run(role, 'redis-cli', ['-h', host, '-p', '6379', ...args], { ...process.env, REDISCLI_AUTH: password }).out;
  for (let i = 0; i < 100; i++) {
    if (cli(from, 'PING').trim() === 'PONG') return { url: `redis://:${password}@${host}:6379`, password, cli };
    if (server.proc.exitCode !== null) break;
    await sleep(100);
  }
  throw new Error(`redis-server did not answer in namespace ${lab.ns[hub]}: ${server.output().slice(-500)}`);
}
