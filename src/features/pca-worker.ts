/**
 * Worker thread of the PCA step: owns a range of rows of the (shared, never copied) training matrix
 * and answers each {basis, gram} with its part of the pass (see passOverRows). Each worker has its
 * own tfjs instance, so the two cores multiply in parallel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { passOverRows } from './pca.ts';

interface Data {
  data: Float32Array;
  d: number;
  start: number;
  end: number;
  l: number;
  mean: Float64Array;
  block: number;
}

const port = parentPort!;
const w = workerData as Data;

port.on('message', (msg: { basis: Float64Array; gram: boolean }) => {
  passOverRows(w.data, w.d, w.start, w.end, msg.basis, w.l, w.mean, msg.gram, w.block).then(
    (out) => port.postMessage({ out }, [out.buffer as ArrayBuffer]),
    (e: unknown) => port.postMessage({ error: e instanceof Error ? e.message : String(e) }),
  );
});
