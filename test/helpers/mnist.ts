/** Real MNIST subsets for tests: seeded, stratified, pixels scaled to [0, 1]. */
import { loadDataset } from '../../src/data/datasets.ts';
import { applySplit, makeSplit } from '../../src/data/split.ts';
import type { Matrix } from '../../src/engine/matrix.ts';

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
