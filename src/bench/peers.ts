/** `bench --vs-peers`: runs scikit-learn / PyTorch on the same work when Debian's packages are installed. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../data/datasets.ts';
import { PROJECT_ROOT } from '../harness/env.ts';

export type PeerFigures = Record<string, { seconds: number; accuracy?: number; engine: string }>;

const PYTHON = '/usr/bin/python3';

export async function runPeers(keys: string[], log: (l: string) => void): Promise<PeerFigures> {
  const probe = existsSync(PYTHON) ? spawnSync(PYTHON, ['-c', 'import sklearn, numpy'], { encoding: 'utf8' }) : undefined;
  if (!probe || probe.status !== 0) {
    log('peers: scikit-learn is not installed (apt-get install python3-sklearn python3-torch); no peer figures.');
    return {};
  }
  const dir = (await loadDataset('mnist')).source;
  log('peers: running scikit-learn / PyTorch on the same work …');
  const r = spawnSync(PYTHON, [join(PROJECT_ROOT, 'bench/peers/peers.py'), dir, keys.join(',')], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) {
    log(`peers: the peer script failed: ${(r.stderr || '').trim().split('\n').pop() ?? ''}`);
    return {};
  }
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, { seconds: number; accuracy: number | null; engine: string }>;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, { seconds: v.seconds, engine: v.engine, ...(v.accuracy !== null ? { accuracy: v.accuracy } : {}) }]));
}
