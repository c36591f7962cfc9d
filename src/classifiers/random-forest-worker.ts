/**
 * Worker thread of the random-forest plugin: grows the trees it is asked for, from the training set
 * sorted once by the main thread (typed arrays on SharedArrayBuffers), and sends them back flat.
 * Protocol: it is started before the set is sorted; it gets {init: {prepared, settings, classes}} and
 * posts {ready}; then for each {tree: t ≥ 0} it posts {tree: t, flat} (or {error}); {tree: -1} ends it.
 */
import { parentPort } from 'node:worker_threads';
import type { FlatTree } from '@digitbench/runtime/internal';
// not ./cart-trees.ts, which loads the runtime (about 0.2 s of CPU per worker at start)
import { growForestTree, type ForestTreeSettings } from './cart/forest-tree.ts';
import type { PreparedTrainingSet } from './cart/prepared.ts';

interface Data {
  prepared: PreparedTrainingSet;
  settings: ForestTreeSettings;
  classes: Int32Array;
}

const port = parentPort!;
let data: Data | null = null;

port.on('message', (msg: { init?: Data; tree?: number }) => {
  if (msg.init) {
    data = msg.init;
    port.postMessage({ ready: true });
    return;
  }
  if (msg.tree === undefined || !data) return;
  const { prepared, settings, classes } = data;
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
