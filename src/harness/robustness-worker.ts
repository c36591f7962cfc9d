/**
 * The helper thread of robustness-pass.ts: loads the bundle as the deploy child does (the run's plugin from
 * its experiment folder, loadBundleBytes), answers {ready}, takes batches from the shared job until none are left, answers
 * {done: batches it classified} ({error} on failure) and waits to be ended.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadBundleBytes } from '@digitbench/runtime/internal';
import { readBundleFile } from '../bundle/file.ts';
import { pluginResolver, resolvePlugin } from '../classifiers/registry.ts';
import { takeBatches, type HelperLoad, type PassJob } from './robustness-pass.ts';

const port = parentPort!;
const { load, job } = workerData as { load: HelperLoad; job: PassJob };

try {
  const plugin = await resolvePlugin(load.pluginRef, load.baseDir);
  const model = await loadBundleBytes(await readBundleFile(load.bundleFile), load.bundleFile, pluginResolver([plugin]));
  try {
    // Busy from here: a main thread that has run out of batches waits for this one's reserved batch (robustness-pass.ts).
    Atomics.store(job.helperBusy, 0, 1);
    port.postMessage({ ready: true });
    port.postMessage({ done: await takeBatches(model, job, true) });
  } finally {
    model.dispose();
  }
} catch (e) {
  Atomics.store(job.helperBusy, 0, 0);
  port.postMessage({ error: e instanceof Error ? e.message : String(e) });
}
