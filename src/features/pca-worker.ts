/**
 * Worker thread of the PCA step: owns a range of rows of the (shared, never copied) training matrix
 * and answers each {basis, gram} with its part of the pass (see passOverRows). Each worker has its
 * own tfjs instance, so the two cores multiply in parallel.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getTf } from '../engine/tf.ts';
import { passOverRows } from './pca.ts';

interface Data {
  data: Float32Array;
  d: number;
  start: number;
  end: number;
  l: number;
  block: number;
}

const port = parentPort!;
const w = workerData as Data;
// Load the tensor engine now, while the main thread prepares the first pass.
void getTf();

port.on('message', (msg: { basis: Float64Array; gram: boolean; mean: Float64Array }) => {
  passOverRows(w.data, w.d, w.start, w.end, msg.basis, w.l, msg.mean, msg.gram, w.block).then(
    (out) => port.postMessage({ out }, [out.buffer as ArrayBuffer]),
    (e: unknown) => port.postMessage({ error: e instanceof Error ? e.message : String(e) }),
  );
});
