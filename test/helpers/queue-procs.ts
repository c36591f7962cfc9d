/**
 * What the queue tests (queue, queue-flow, queue-flaky, queue-netns) share: CLI processes with their output,
 * waiting for a condition, `digitbench worker` processes, and the result-row fields two runs of the same code
 * on the same data must agree on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ResultRow } from '../../src/results/row.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'bin/digitbench.js');

export interface Spawned {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `digitbench <args>` in the project folder, its stdout and stderr collected. */
export function spawnCli(args: string[], env: Record<string, string> = {}): Spawned {
  const proc = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((res) => proc.on('close', (code) => res(code)));
  return { proc, output: () => out, exited };
}

/** Polls `cond` until it holds; after `ms`, an error naming `what`. */
export async function until(what: string, cond: () => boolean, ms = 90_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A `digitbench worker` process, once it waits for jobs; `name` is what its rows record. */
export async function worker(url: string, queue: string, env: Record<string, string>): Promise<Spawned & { name: string }> {
  const w = spawnCli(['worker', '--queue', url, '--queue-name', queue], env);
  await until('the worker to be ready', () => w.output().includes('waiting for jobs'), 30_000);
  return { ...w, name: `${hostname()}#${w.proc.pid}` };
}

export function stop(...ws: (Spawned | undefined)[]): void {
  for (const w of ws) if (w && w.proc.exitCode === null) w.proc.kill('SIGKILL');
}

/** A row without what differs between two runs of the same code on the same data: times, machine, when. */
export function comparable(r: ResultRow): Record<string, unknown> {
  const { env, startedAt: _s, ...rest } = r as ResultRow & Record<string, unknown>;
  const out: Record<string, unknown> = { ...rest, env: { packages: env.packages, tfjsBackend: env.tfjsBackend, threads: env.threads } };
  delete out.timing;
  delete out.peakRssMb;
  delete out.elapsedSeconds;
  if (out.deployment) {
    const d = out.deployment as Record<string, unknown>;
    out.deployment = { agreement: d.agreement, engine: d.engine, calls: d.calls, batch: d.batch, threads: d.threads };
  }
  if (out.bundle) out.bundle = { file: (out.bundle as { file: string }).file };
  if (out.compact) {
    out.compact = (out.compact as Record<string, unknown>[]).map(({ bytes: _b, deployment, ...c }) => ({ ...c, ...(deployment ? { deployment: { agreement: (deployment as { agreement: unknown }).agreement } } : {}) }));
  }
  return out;
}
