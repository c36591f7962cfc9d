/**
 * Worker thread for brute-force neighbour search: builds its own index (its own onnxruntime session or
 * tfjs instance: the main thread's engine) over the training rows, which it reads in place from shared
 * memory, and answers query blocks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { BruteForceIndex, type BruteMetric } from './distance.ts';
import type { EngineName } from './ort.ts';

const port = parentPort!;
const { data, rows, cols, metric, engine } = workerData as { data: Float32Array; rows: number; cols: number; metric: BruteMetric; engine: EngineName };
// The main thread's engine, so both halves of a batch are searched alike.
const index = BruteForceIndex.create({ rows, cols, data }, { metric, engine });

port.on('message', (msg: { q: Float32Array; rows: number; k: number }) => {
  index
    .then((ix) => ix.query({ rows: msg.rows, cols, data: msg.q }, msg.k))
    .then(
      (nb) => port.postMessage({ indices: nb.indices, distances: nb.distances }, [nb.indices.buffer as ArrayBuffer, nb.distances.buffer as ArrayBuffer]),
      (e: unknown) => port.postMessage({ error: e instanceof Error ? e.message : String(e) }),
    );
});
