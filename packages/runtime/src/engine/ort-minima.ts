/**
 * The brute-force k-NN's heavy part on onnxruntime (issue 25; the workbench's src/engine/distance.ts): per block of
 * queries, the product qa · xaT (qa = [−2q, 1], xaT = [x, ‖x‖²]ᵀ over the bound's features, padded to whole
 * chunks) reduced to each chunk's minimum, as the tfjs path computes it. One graph per index:
 *   scores = MatMul(qa, xaT)  [B, chunks·chunk],  mins = ReduceMin(Reshape(scores, [B, chunks, chunk]), 2).
 * Only the minima come back; the exact float64 rescan that decides the neighbours stays in the workbench's distance.ts, so
 * the neighbours (and labels) are the same whichever engine computed the minima.
 */
import { GraphBuilder } from './onnx.ts';
import { f32, ortDescription, ortSession, type OrtSession } from './ort.ts';

export interface ChunkMinima {
  /** Each of the b rows of `qa` ([b, w]): its minimum score over each chunk of training rows ([b, chunks]). */
  mins(qa: Float32Array, b: number): Promise<Float32Array>;
  dispose(): void;
  readonly description: string;
}

/** The ONNX model: input `qa` [B, w], output `mins` [B, chunks]. */
export function chunkMinimaGraph(xaT: Float32Array, w: number, chunks: number, chunk: number): Uint8Array {
  const g = new GraphBuilder('chunk-minima');
  g.input('qa', 'FLOAT', ['B', w]);
  g.initializer('xat', xaT, [w, chunks * chunk]);
  g.initializer('shape', BigInt64Array.of(0n, BigInt(chunks), BigInt(chunk)), [3]);
  g.node('MatMul', ['qa', 'xat'], ['scores']);
  g.node('Reshape', ['scores', 'shape'], ['blocks']);
  g.node('ReduceMin', ['blocks'], ['mins'], { axes: [2], keepdims: 0 });
  g.output('mins', 'FLOAT', ['B', chunks]);
  return g.encode(17);
}

/** The chunk minima on an onnxruntime session of `threads` threads. */
export async function ortChunkMinima(xaT: Float32Array, w: number, chunks: number, chunk: number, threads = 1): Promise<ChunkMinima> {
  const session: OrtSession = await ortSession(chunkMinimaGraph(xaT, w, chunks, chunk), threads);
  return {
    async mins(qa, b) {
      const out = await session.run({ qa: f32(qa.subarray(0, b * w), [b, w]) });
      return out.mins!.data as Float32Array;
    },
    dispose: () => void session.release(),
    description: ortDescription(threads),
  };
}
