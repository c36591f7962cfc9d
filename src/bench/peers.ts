/** `bench --vs-peers`: runs scikit-learn / PyTorch on the same work when Debian's packages are installed. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../data/datasets.ts';
import { PROJECT_ROOT } from '../harness/env.ts';

export interface PeerFigure {
  seconds: number;
  /** CPU seconds of the peer's process over the same work, all threads. */
  cpuSeconds?: number;
  /** Threads the peer was given (BLAS threads, n_jobs or torch threads; 1 where it has no option). */
  threads: number;
  accuracy?: number;
  engine: string;
  /** Only for the "ceiling" entry: numpy's float32 product rate. */
  gflops?: number;
}

export type PeerFigures = Record<string, PeerFigure>;

const PYTHON = '/usr/bin/python3';

/** The peer script on `threads` cores: BLAS pools are sized by environment before numpy loads. */
export async function runPeers(keys: string[], threads: number, log: (l: string) => void): Promise<PeerFigures> {
  const probe = existsSync(PYTHON) ? spawnSync(PYTHON, ['-c', 'import sklearn, numpy'], { encoding: 'utf8' }) : undefined;
  if (!probe || probe.status !== 0) {
    log('peers: scikit-learn is not installed (apt-get install python3-sklearn python3-torch); no peer figures.');
    return {};
  }
  const dir = (await loadDataset('mnist')).source;
  log(`peers: running scikit-learn / PyTorch on the same work, ${threads} threads …`);
  const t = String(threads);
  const env = { ...process.env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t };
  const r = spawnSync(PYTHON, [join(PROJECT_ROOT, 'bench/peers/peers.py'), dir, keys.join(','), t], { encoding: 'utf8', maxBuffer: 1 << 24, env });
  if (r.status !== 0) {
    log(`peers: the peer script failed: ${(r.stderr || '').trim().split('\n').pop() ?? ''}`);
    return {};
  }
  type Raw = { seconds: number; cpu_seconds?: number; threads: number; accuracy: number | null; engine: string; gflops?: number };
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, Raw>;
  return Object.fromEntries(
    Object.entries(parsed).map(([k, v]) => [
      k,
      {
        seconds: v.seconds,
        threads: v.threads,
        engine: v.engine,
        ...(v.cpu_seconds !== undefined ? { cpuSeconds: v.cpu_seconds } : {}),
        ...(v.accuracy !== null ? { accuracy: v.accuracy } : {}),
        ...(v.gflops !== undefined ? { gflops: v.gflops } : {}),
      },
    ]),
  );
}
