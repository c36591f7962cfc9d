/**
 * Worker thread of the bench's ceiling measurement: its own tensor engine, square float32 products
 * of the size it is asked for. Protocol: {size, reps} → {seconds: number[]} (one per product, each
 * timed until its result is read back), or {error}.
 */
import { parentPort } from 'node:worker_threads';
import { squareProducts } from './ceiling.ts';

const port = parentPort!;
port.on('message', (msg: { size: number; reps: number }) => {
  squareProducts(msg.size, msg.reps).then(
    (seconds) => port.postMessage({ seconds }),
    (e: unknown) => port.postMessage({ error: e instanceof Error ? e.message : String(e) }),
  );
});
