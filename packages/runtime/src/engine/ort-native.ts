/**
 * The native engine as models take it (ClassifierContext.native): onnxruntime-node's graphs for the built-ins
 * that have an ort path. Node only: index.ts imports this file lazily, for loadModel's engine 'ort'.
 */
import type { CnnForward, NativeEngine } from '../models/plugin.ts';
import { cnnForwardGraph, layersOf, type LayersLike } from './ort-cnn-forward.ts';
import { loadOrt } from './ort.ts';
import { ortGaussianScores } from './ort-linear.ts';
import { f32, ortDescription, ortSession } from './ort.ts';
import { ortRbfProducts } from './ort-svm.ts';
import { ortChunkMinima } from './ort-minima.ts';

/** onnxruntime-node for models at `threads` intra-op threads, or why it cannot load (one line). */
export async function ortNative(threads = 1): Promise<NativeEngine | { error: string }> {
  const ort = await loadOrt();
  if ('error' in ort) return ort;
  return { description: ortDescription, threads, gaussianScores: ortGaussianScores, rbfProducts: ortRbfProducts, chunkMinima: ortChunkMinima, cnnForward };
}

/** A CNN's forward graph on a session (one per model); images in runs of 1,000. */
async function cnnForward(model: LayersLike, imageShape: readonly [number, number], weights: readonly Float32Array[], threads: number): Promise<CnnForward> {
  const session = await ortSession(cnnForwardGraph(layersOf(model), imageShape, weights), threads);
  const n = imageShape[0] * imageShape[1];
  return {
    async probabilities(x, rows) {
      let out: Float32Array | undefined;
      for (let s = 0; s < rows; s += 1000) {
        const r = Math.min(1000, rows - s);
        const p = (await session.run({ pixels: f32(x.subarray(s * n, (s + r) * n), [r, n]) })).probabilities!.data as Float32Array;
        out ??= new Float32Array(rows * (p.length / r));
        out.set(p, s * (p.length / r));
      }
      return out ?? new Float32Array(0);
    },
    dispose: () => void session.release(),
  };
}
