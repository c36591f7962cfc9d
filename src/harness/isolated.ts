/**
 * A request run in its own child process with a timeout and a memory limit: a crash, a hang or an
 * out-of-memory there becomes an outcome here, never a crash of the harness (local run or queue worker).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REGISTER_SOURCES } from '../engine/register.ts';
import { engineChoice } from '../engine/ort.ts';
import type { ChildMeasurements, ChildMessage, ChildRequest } from './child.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const CHILD = join(here, 'child.ts');
export const DEPLOY_CHILD = join(here, 'deploy-child.ts');
export const PREPARE_CHILD = join(here, 'prepare-child.ts');

/**
 * How the bundle-measuring process (deploy-child.ts) begins a reason that lies with the bundle rather
 * than the measuring: the bundle the run wrote could not be rebuilt there (decoded, its plugin found, the
 * plugin's load()), or the rebuilt model could not predict. execute.ts makes such a run a failed one.
 * Any other measuring failure (a timeout, a crash, the dataset not loading) leaves the run's row ok with
 * a deploymentError, and a resume measures the bundle again.
 */
export const PLUGIN_FAULTS = { rebuild: 'the bundle could not be rebuilt in a fresh process: ', predict: 'the model rebuilt from the bundle could not predict: ' } as const;

export function oneLine(s: string): string {
  const line = s.split('\n').map((l) => l.trim()).find((l) => l.length > 0) ?? 'unknown error';
  return line.length > 400 ? `${line.slice(0, 397)}…` : line;
}

/** Resident memory of a process in MB, from /proc (Linux); undefined elsewhere. */
function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export type Outcome<R = ChildMeasurements> = { status: 'ok'; result: R } | { status: 'failed' | 'timeout'; reason: string; elapsedSeconds: number };

/**
 * Runs one request in a child process, enforcing the timeout and memory limit. The child module
 * (child.ts by default; deploy-child.ts for the deployment measurements) answers with one
 * {type: 'result'} or {type: 'error'} message, and may send progress before it.
 */
export function runIsolated<Req = ChildRequest, Res = ChildMeasurements>(
  req: Req,
  limits: { timeoutSeconds: number; memoryLimitMb: number },
  onProgress: (m: Extract<ChildMessage, { type: 'progress' }>) => void = () => {},
  entry: string = CHILD,
): Promise<Outcome<Res>> {
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  return new Promise((resolvePromise) => {
    let settled = false;
    let stderrTail = '';
    let child: ChildProcess;
    const finish = (o: Outcome<Res>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(watch);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolvePromise(o);
    };
    child = fork(entry, [], {
      execArgv: ['--import', REGISTER_SOURCES, `--max-old-space-size=${limits.memoryLimitMb}`],
      // The parent's engine, so a child never silently runs on another (ort that fails to load there is an error).
      env: { ...process.env, DIGITBENCH_CHILD: '1', DIGITBENCH_ENGINE: engineChoice().engine },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString()).slice(-4000);
    });
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'progress') onProgress(m);
      else if (m.type === 'result') finish({ status: 'ok', result: m.result as Res });
      else finish({ status: 'failed', reason: oneLine(m.message), elapsedSeconds: elapsed() });
    });
    // 'close', not 'exit': it waits until the IPC channel and stderr are drained, so a result or an
    // out-of-memory message sent just before exiting is never missed.
    child.on('close', (code, signal) => {
      if (settled) return;
      const oom = /heap out of memory|Out of memory|Cannot allocate|RangeError: Array buffer allocation failed/i.test(stderrTail);
      const lastLine = stderrTail.trim().split('\n').filter((l) => l.trim()).pop();
      const reason = oom
        ? `ran out of memory (limit ${limits.memoryLimitMb} MB); raise memoryLimitMb or use a smaller split`
        : code === 0 && !signal
          ? 'the run process exited without sending a result'
          : `the run process crashed (${signal ? `signal ${signal}` : `exit code ${code}`})${lastLine ? `: ${oneLine(lastLine)}` : ''}`;
      finish({ status: 'failed', reason, elapsedSeconds: elapsed() });
    });
    child.on('error', (e) => finish({ status: 'failed', reason: `could not start the run process: ${oneLine(e.message)}`, elapsedSeconds: elapsed() }));
    const timer = setTimeout(
      () => finish({ status: 'timeout', reason: `no result after ${limits.timeoutSeconds} s; raise timeoutSeconds or use smaller params`, elapsedSeconds: elapsed() }),
      limits.timeoutSeconds * 1000,
    );
    const watch = setInterval(() => {
      const mb = child.pid ? rssMb(child.pid) : undefined;
      if (mb !== undefined && mb > limits.memoryLimitMb) {
        finish({ status: 'failed', reason: `used ${Math.round(mb)} MB, over the memory limit of ${limits.memoryLimitMb} MB; raise memoryLimitMb or use a smaller split`, elapsedSeconds: elapsed() });
      }
    }, 200);
    child.send(req as Parameters<ChildProcess["send"]>[0]);
  });
}

