/**
 * Worker thread for brute-force neighbour search: builds its own index (its own tfjs instance) over
 * the training rows, which it reads in place from shared memory, and answers query blocks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BruteForceIndex, type BruteMetric } from './distance.ts';

const port = parentPort!;
const { data, rows, cols, metric } = workerData as { data: Float32Array; rows: number; cols: number; metric: BruteMetric };
const index = BruteForceIndex.create({ rows, cols, data }, { metric });

port.on('message', (msg: { q: Float32Array; rows: number; k: number }) => {
  index
    .then((ix) => ix.query({ rows: msg.rows, cols, data: msg.q }, msg.k))
    .then(
      (nb) => port.postMessage({ indices: nb.indices, distances: nb.distances }, [nb.indices.buffer as ArrayBuffer, nb.distances.buffer as ArrayBuffer]),
      (e: unknown) => port.postMessage({ error: e instanceof Error ? e.message : String(e) }),
    );
});
