/**
 * A worker of the engine pool (pool.ts): for each {module, fn, args} it imports the module (cached
 * after the first time), awaits fn(args) and answers {result} ({error} on failure). Typed arrays in
 * the result are transferred, not copied. It loads the tensor engine at start, while idle.
 */
import { parentPort } from 'node:worker_threads';
import { getTf } from './tf.ts';

const port = parentPort!;
void getTf();

function transferables(v: unknown): ArrayBuffer[] {
  if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) return [v.buffer];
  if (v && typeof v === 'object') return Object.values(v).flatMap((x) => (ArrayBuffer.isView(x) && x.buffer instanceof ArrayBuffer ? [x.buffer] : []));
  return [];
}

port.on('message', (msg: { module: string; fn: string; args: unknown }) => {
  import(msg.module)
    .then((m: Record<string, (a: unknown) => unknown>) => {
      const f = m[msg.fn];
      if (typeof f !== 'function') throw new Error(`${msg.module} has no function ${msg.fn}`);
      return f(msg.args);
    })
    .then(
      (result) => port.postMessage({ result }, [...new Set(transferables(result))]),
      (e: unknown) => port.postMessage({ error: e instanceof Error ? e.message : String(e) }),
    );
});
