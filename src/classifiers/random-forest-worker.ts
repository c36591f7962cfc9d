/**
 * Worker thread of the random-forest plugin: grows the trees it is asked for, from the training set
 * sorted once by the main thread (typed arrays on SharedArrayBuffers), and sends them back flat.
 * Protocol: it posts {ready}; then for each {tree: t ≥ 0} it posts {tree: t, flat} (or {error});
 * {tree: -1} ends it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { growForestTree, type FlatTree, type ForestTreeSettings, type PreparedTrainingSet } from './cart-trees.ts';

interface Data {
  prepared: PreparedTrainingSet;
  settings: ForestTreeSettings;
  classes: Int32Array;
}

const port = parentPort!;
const { prepared, settings, classes } = workerData as Data;

port.on('message', (msg: { tree: number }) => {
  if (msg.tree < 0) {
    port.close();
    return;
  }
  try {
    const flat: FlatTree = growForestTree(prepared, msg.tree, settings, classes);
    port.postMessage({ tree: msg.tree, flat }, [flat.feature.buffer as ArrayBuffer, flat.threshold.buffer as ArrayBuffer, flat.child.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
port.postMessage({ ready: true });
