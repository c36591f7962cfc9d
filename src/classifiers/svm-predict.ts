/**
 * Fast labels for an rbf C-SVC (the bound, the settled vote and the exact float64 recheck): @digitbench/runtime's
 * models/svm-fast.ts, which a Node app's loadModel also runs on onnxruntime. Here: the products on the workbench's
 * engines, tfjs (its loaded backend) or, where engineChoice() picks it (issue 25), onnxruntime (one session per
 * model), and fastRbfWinners with tfjs products by default.
 */
import { fastRbfWinners as runtimeFastRbfWinners, ORT_RBF_CHUNK, rbfPlan, type ChunkedRbfProducts as RbfProducts, type FastLabels, type Matrix } from '@digitbench/runtime/internal';
import { getTf } from '../engine/tf.ts';
import type { EngineName } from '../engine/ort.ts';
import { ortRbfProducts } from '@digitbench/runtime/internal';
import type { SvmModel } from './svm.ts';

export { settledWinner, type ChunkedRbfProducts as RbfProducts, type FastLabels } from '@digitbench/runtime/internal';

/** Rows per product on tfjs. */
const CHUNK = 512;

/**
 * Class indices (libsvm order) of every row, from `opts.products` (default: tfjs products made and disposed for
 * this call). `exact(rows)` computes the exact float64 decision values (rows × pairs) of the given rows.
 */
export async function fastRbfWinners(
  m: SvmModel,
  x: Matrix,
  exact: (rows: Int32Array) => Float64Array,
  opts: { products?: RbfProducts; decisions?: boolean } = {},
): Promise<FastLabels & { decisions?: Float64Array }> {
  const products = opts.products ?? (await rbfProductsFor(m, 'wasm'));
  try {
    return await runtimeFastRbfWinners(m, x, exact, { ...opts, products });
  } finally {
    if (!opts.products) products.dispose();
  }
}

/**
 * The products of model `m` on `engine`: tfjs (its loaded backend; tensors freed by dispose) or onnxruntime (one
 * session, on `threads` intra-op threads, released by dispose). Made once per model and reused across calls.
 */
export async function rbfProductsFor(m: SvmModel, engine: EngineName, threads = 1): Promise<RbfProducts> {
  const { l, d, nrClass: k, rho } = m;
  const cols = rho.length + k;
  const e = d + 2;
  const { st, w } = rbfPlan(m);
  if (engine === 'ort') return { ...(await ortRbfProducts(st, e, l, w, cols, threads)), chunk: ORT_RBF_CHUNK };
  const { tf, engine: info } = await getTf();
  const St = tf.tensor2d(st, [e, l]);
  const W = tf.tensor2d(w, [l, cols]);
  return {
    chunk: CHUNK,
    async values(xa, rows) {
      const out = tf.tidy(() => tf.matMul(tf.exp(tf.matMul(tf.tensor2d(xa.subarray(0, rows * e), [rows, e]), St)), W));
      const v = out.dataSync() as Float32Array;
      out.dispose();
      return v;
    },
    dispose() {
      St.dispose();
      W.dispose();
    },
    description: info.description,
    threads: info.threads,
  };
}
