/** Real MNIST subsets for tests: seeded, stratified, pixels scaled to [0, 1]. */
import { loadDataset } from '../../src/data/datasets.ts';
import { applySplit, makeSplit } from '../../src/data/split.ts';
import { createMatrix, type Matrix } from '@digitbench/runtime/internal';

export interface Subset {
  xTrain: Matrix;
  yTrain: Int32Array;
  xTest: Matrix;
  yTest: Int32Array;
  fingerprint: string;
}

function scaled(m: Matrix): Matrix {
  const data = new Float32Array(m.data.length);
  for (let i = 0; i < data.length; i++) data[i] = m.data[i]! / 255;
  return { rows: m.rows, cols: m.cols, data };
}

export async function mnistSubset(train: number, test: number, seed = 1): Promise<Subset> {
  const ds = await loadDataset('mnist');
  const split = makeSplit(ds, { train, test, seed });
  const d = applySplit(ds, split);
  return { xTrain: scaled(d.train.x), yTrain: d.train.y, xTest: scaled(d.test.x), yTest: d.test.y, fingerprint: split.fingerprint };
}

/** Mean intensity of each 14×14 quadrant: 4 real MNIST features, where a k-d tree should prune well. */
export function quadrants(m: Matrix): Matrix {
  const out = new Float32Array(m.rows * 4);
  for (let i = 0; i < m.rows; i++) {
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) out[i * 4 + (r >= 14 ? 2 : 0) + (c >= 14 ? 1 : 0)]! += m.data[i * 784 + r * 28 + c]! / 196;
    }
  }
  return createMatrix(m.rows, 4, out);
}
