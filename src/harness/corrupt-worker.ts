/**
 * A worker thread of corrupted.ts: for one message it corrupts images [first, end) of the shared source
 * with every named corruption, writes them into the shared output at their places (corruption after
 * corruption, `rows` images each) and answers {done} ({error} on failure).
 */
import { parentPort } from 'node:worker_threads';
import { corruptImages, type CorruptionName } from '@digitbench/runtime/internal';

const port = parentPort!;

interface Job {
  names: CorruptionName[];
  source: Uint8Array;
  out: Uint8Array;
  rows: number;
  h: number;
  w: number;
  seed: number;
  first: number;
  end: number;
}

port.on('message', (m: Job) => {
  try {
    const n = m.h * m.w;
    const part = m.source.subarray(m.first * n, m.end * n);
    for (const [c, name] of m.names.entries()) m.out.set(corruptImages(name, part, m.end - m.first, m.h, m.w, m.seed, m.first), (c * m.rows + m.first) * n);
    port.postMessage({ done: true });
  } catch (e) {
    port.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
});
