/**
 * k nearest training rows by squared Euclidean distance on onnxruntime (issue 25, the first graph; see
 * docs/native-design.md): one graph per training set and k,
 *   d = ‖q‖² − 2·q·Xᵀ + ‖x‖²  (ReduceSumSquare, MatMul, Mul, Add),  TopK(−d, k)  (sorted, nearest first).
 * Float32 throughout, like the tfjs brute force it stands beside: near ties are for the caller to rescan
 * exactly in float64, as the workbench's k-NN does.
 */
import type { Matrix } from '@digitbench/runtime/internal';
import { GraphBuilder } from './onnx.ts';
import { f32, ortSession, type OrtSession } from './ort.ts';

/** Query rows per session.run (bounds the N × n distance matrix: 1,024 × 60,000 float32 = 246 MB). */
const CHUNK = 1024;

export interface OrtNeighbours {
  /** Row i's k nearest training rows (indices) and their float32 squared distances, nearest first. */
  search(q: Matrix): Promise<{ indices: Int32Array; distances: Float32Array }>;
  dispose(): Promise<void>;
}

/** The ONNX model of the search: input `q` [N, d], outputs `distances` [N, k] and `indices` [N, k] (int64). */
export function knnGraph(train: Matrix, k: number): Uint8Array {
  const { rows: n, cols: d } = train;
  if (!(k >= 1 && k <= n)) throw new Error(`knn on onnxruntime: k must be 1..${n} (the training rows), got ${k}.`);
  const xt = new Float32Array(d * n);
  const xx = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = train.data[i * d + j]!;
      xt[j * n + i] = v;
      s += v * v;
    }
    xx[i] = s;
  }
  const g = new GraphBuilder('nearest-rows');
  g.input('q', 'FLOAT', ['N', d]);
  g.initializer('xt', xt, [d, n]);
  g.initializer('xx', xx, [1, n]);
  g.initializer('minus2', Float32Array.of(-2), []);
  g.initializer('k', BigInt64Array.of(BigInt(k)), [1]);
  g.node('MatMul', ['q', 'xt'], ['qx']);
  g.node('Mul', ['qx', 'minus2'], ['m2qx']);
  g.node('ReduceSumSquare', ['q'], ['qq'], { axes: [1], keepdims: 1 });
  g.node('Add', ['m2qx', 'qq'], ['part']);
  g.node('Add', ['part', 'xx'], ['d2']);
  g.node('Neg', ['d2'], ['negd2']);
  g.node('TopK', ['negd2', 'k'], ['negtop', 'indices'], { axis: 1, largest: 1, sorted: 1 });
  g.node('Neg', ['negtop'], ['distances']);
  g.output('distances', 'FLOAT', ['N', k]);
  g.output('indices', 'INT64', ['N', k]);
  return g.encode(17);
}

/** A searcher over `train` for its k nearest rows, on `threads` onnxruntime threads. */
export async function ortNeighbours(train: Matrix, k: number, threads = 1): Promise<OrtNeighbours> {
  const session: OrtSession = await ortSession(knnGraph(train, k), threads);
  return {
    async search(q) {
      if (q.cols !== train.cols) throw new Error(`knn on onnxruntime: queries have ${q.cols} values per row, the training rows ${train.cols}.`);
      const indices = new Int32Array(q.rows * k);
      const distances = new Float32Array(q.rows * k);
      for (let r0 = 0; r0 < q.rows; r0 += CHUNK) {
        const rows = Math.min(CHUNK, q.rows - r0);
        const out = await session.run({ q: f32(q.data.subarray(r0 * q.cols, (r0 + rows) * q.cols), [rows, q.cols]) });
        const idx = out.indices!.data as BigInt64Array;
        for (let i = 0; i < idx.length; i++) indices[r0 * k + i] = Number(idx[i]!);
        distances.set(out.distances!.data as Float32Array, r0 * k);
      }
      return { indices, distances };
    },
    dispose: () => session.release(),
  };
}
