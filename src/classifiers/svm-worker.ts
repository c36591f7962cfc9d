/**
 * Worker thread of the svm plugin: trains the one-vs-one class pairs it is asked for, each with a fresh
 * libsvm-js instance of this thread's own wasm module, on the training matrix the main thread shares
 * (SharedArrayBuffer, no copy). Protocol: it posts {ready}; for each {pair: p ≥ 0} it posts {pair: p, result}
 * (or {error}); {pair: -1} ends it. Each row's printed features are sent once per worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Matrix } from '@digitbench/runtime/internal';
import { loadLibsvm, markSent, trainPair, type OvoPlan } from './svm-ovo.ts';

interface Data {
  x: Matrix;
  plan: OvoPlan;
  options: Record<string, number | boolean>;
}

const port = parentPort!;
const { x, plan, options } = workerData as Data;
const SVM = await loadLibsvm();
const sent = new Uint8Array(x.rows);

port.on('message', (msg: { pair: number }) => {
  if (msg.pair < 0) {
    port.close();
    return;
  }
  try {
    const result = trainPair(SVM, options, x, plan, msg.pair, (r) => sent[r] === 1);
    markSent(plan, msg.pair, result, sent);
    port.postMessage({ pair: msg.pair, result }, [result.sv.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
port.postMessage({ ready: true });
