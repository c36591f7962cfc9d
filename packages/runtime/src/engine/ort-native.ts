/**
 * The native engine as models take it (ClassifierContext.native): onnxruntime-node's graphs for the built-ins
 * that have an ort path. Node only: index.ts imports this file lazily, for loadModel's engine 'ort'.
 */
import type { NativeEngine } from '../models/plugin.ts';
import { loadOrt } from './ort.ts';
import { ortGaussianScores } from './ort-linear.ts';
import { ortDescription } from './ort.ts';
import { ortRbfProducts } from './ort-svm.ts';
import { ortChunkMinima } from './ort-minima.ts';

/** onnxruntime-node for models at `threads` intra-op threads, or why it cannot load (one line). */
export async function ortNative(threads = 1): Promise<NativeEngine | { error: string }> {
  const ort = await loadOrt();
  if ('error' in ort) return ort;
  return { description: ortDescription, threads, gaussianScores: ortGaussianScores, rbfProducts: ortRbfProducts, chunkMinima: ortChunkMinima };
}
