/**
 * A worker thread holding one training replica of a CNN (see cnn-replica.ts), on its own tfjs engine.
 * Requests, one at a time, each answered with one message ({error} on failure), except apply:
 * - init {architecture, imageShape, classes, seed, replica, weights}: builds the model with those weights.
 * - step {x, y, n}: answers the gradients of its part of the batch.
 * - apply {avg, lr}: one Adam step with a step's averaged gradients; no answer (a failure is kept and
 *   is the answer to the next request).
 * - check: answers its flat weights (cnn.ts compares them with its own).
 */
import { parentPort } from 'node:worker_threads';
import seedrandom from 'seedrandom';
import type { LayersModel, Variable } from '@tensorflow/tfjs';
import { getTf, type Tf } from '../engine/tf.ts';
import type { Architecture } from './cnn-replica.ts';
import { buildModel, FlatTrainer, flatWeights, partGradients, trainableVars } from './cnn-replica.ts';

interface State {
  tf: Tf;
  model: LayersModel;
  trainer: FlatTrainer;
  vars: Variable[];
  prng: () => number;
  imageShape: [number, number];
  classes: number;
}

let state: State | undefined;

type Request =
  | { kind: 'init'; architecture: Architecture; imageShape: [number, number]; classes: number; seed: number; replica: number; weights: Float32Array }
  | { kind: 'step'; x: Float32Array; y: Int32Array; n: number }
  | { kind: 'apply'; avg: Float32Array; lr: number }
  | { kind: 'check' };

async function handle(m: Request): Promise<{ reply: unknown; transfer: ArrayBuffer[] } | undefined> {
  if (m.kind === 'init') {
    const { tf } = await getTf();
    const model = buildModel(tf, m.architecture, m.imageShape, m.classes, m.seed);
    const vars = trainableVars(model);
    state = { tf, model, trainer: new FlatTrainer(tf, vars, m.weights), vars, prng: seedrandom(`${m.seed}:cnn-dropout:${m.replica}`), imageShape: m.imageShape, classes: m.classes };
    return { reply: { ok: true }, transfer: [] };
  }
  const s = state!;
  if (m.kind === 'apply') {
    s.trainer.apply(m.avg, m.lr);
    return undefined;
  }
  if (m.kind === 'check') {
    const w = flatWeights(s.vars);
    return { reply: { weights: w }, transfer: [w.buffer as ArrayBuffer] };
  }
  const g = partGradients(s.tf, s.model, s.vars, m.x, m.y, m.n, s.imageShape, s.classes, s.prng);
  return { reply: g, transfer: [g.grads.buffer as ArrayBuffer] };
}

let failed: string | undefined;

parentPort!.on('message', (m: Request) => {
  if (failed !== undefined) {
    if (m.kind !== 'apply') parentPort!.postMessage({ error: failed });
    return;
  }
  handle(m).then(
    (r) => r && parentPort!.postMessage(r.reply, r.transfer),
    (e: unknown) => {
      failed = e instanceof Error ? e.message : String(e);
      if (m.kind !== 'apply') parentPort!.postMessage({ error: failed });
    },
  );
});
