/**
 * The native engine, slice 1 (issue 25): the engine choice, and the k-NN neighbour search as an ONNX graph
 * run by onnxruntime-node, against a plain float64 loop on real MNIST rows. Where onnxruntime-node does not
 * load, the ort tests are skipped with the reason, unless DIGITBENCH_REQUIRE_ORT=1 (CI) makes that a failure.
 */
import { describe, expect, it } from 'vitest';
import { engineChoice, loadOrt } from '../src/engine/ort.ts';
import { knnGraph, ortNeighbours } from '../src/engine/ort-knn.ts';
import { mnistSubset } from './helpers/mnist.ts';
import { matMulGraph } from '../src/bench/ceiling.ts';
import { f32, ortSession } from '../src/engine/ort.ts';

const ort = loadOrt();
const why = 'error' in ort ? ort.error : '';
if (why && process.env.DIGITBENCH_REQUIRE_ORT === '1') throw new Error(`DIGITBENCH_REQUIRE_ORT=1 but ${why}`);

describe('the engine choice', () => {
  it('DIGITBENCH_ENGINE forces one; anything else is a one-line error; by default ort where it loads', () => {
    expect(() => engineChoice({ DIGITBENCH_ENGINE: 'cuda' })).toThrow('DIGITBENCH_ENGINE is "cuda"; set it to "ort" (onnxruntime-node) or "wasm" (tfjs-wasm), or unset it.');
    expect(engineChoice({ DIGITBENCH_ENGINE: 'wasm' })).toEqual({ engine: 'wasm', reason: 'DIGITBENCH_ENGINE=wasm' });
    if (why) {
      expect(engineChoice({})).toEqual({ engine: 'wasm', reason: why });
      expect(() => engineChoice({ DIGITBENCH_ENGINE: 'ort' })).toThrow(`DIGITBENCH_ENGINE=ort, but ${why}; unset DIGITBENCH_ENGINE to use tfjs-wasm.`);
    } else {
      expect(engineChoice({})).toEqual({ engine: 'ort', reason: `onnxruntime-node ${(ort as { version: string }).version} loads` });
      expect(engineChoice({ DIGITBENCH_ENGINE: 'ort' }).engine).toBe('ort');
    }
  });
});

describe.skipIf(!!why)(`k-NN search on onnxruntime${why ? ` (skipped: ${why})` : ''}`, () => {
  it('finds the neighbours of a plain float64 loop (2,000 MNIST training rows × 300 queries, raw pixels), but for float32 near ties', async () => {
    const d = await mnistSubset(2000, 300, 4);
    const k = 5;
    const search = await ortNeighbours(d.xTrain, k);
    const { indices, distances } = await search.search(d.xTest);
    await search.dispose();
    const { rows: n, cols } = d.xTrain;
    let ties = 0;
    for (let q = 0; q < d.xTest.rows; q++) {
      const exact = Array.from({ length: n }, (_, i) => {
        let s = 0;
        for (let j = 0; j < cols; j++) {
          const diff = d.xTest.data[q * cols + j]! - d.xTrain.data[i * cols + j]!;
          s += diff * diff;
        }
        return { i, s };
      }).sort((a, b) => a.s - b.s || a.i - b.i);
      const got = Array.from(indices.subarray(q * k, (q + 1) * k));
      for (let r = 0; r < k; r++) expect(Math.abs(distances[q * k + r]! - exact[r]!.s)).toBeLessThan(1e-3 * Math.max(1, exact[r]!.s));
      // The same set, unless the k-th and (k+1)-th distances are within float32 rounding of each other.
      const same = [...got].sort((a, b) => a - b).join() === exact.slice(0, k).map((e) => e.i).sort((a, b) => a - b).join();
      if (!same) {
        expect(exact[k]!.s - exact[k - 1]!.s).toBeLessThan(1e-3 * exact[k]!.s);
        ties++;
      }
    }
    expect(ties).toBeLessThan(3);
  });

  it('refuses a k outside 1..n and queries of another width, in one line', async () => {
    const d = await mnistSubset(100, 10, 1);
    expect(() => knnGraph(d.xTrain, 0)).toThrow('knn on onnxruntime: k must be 1..100 (the training rows), got 0.');
    const search = await ortNeighbours(d.xTrain, 3);
    await expect(search.search({ rows: 1, cols: 5, data: new Float32Array(5) })).rejects.toThrow('knn on onnxruntime: queries have 5 values per row, the training rows 784.');
    await search.dispose();
  });

  it('the bench ceiling\'s product graph multiplies as a plain float64 loop does (within float32 rounding)', async () => {
    const n = 33;
    const a = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: n * n }, (_, i) => Math.cos(3 * i));
    const session = await ortSession(matMulGraph(n));
    const c = (await session.run({ a: f32(a, [n, n]), b: f32(b, [n, n]) })).c!.data as Float32Array;
    await session.release();
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += a[i * n + k]! * b[k * n + j]!;
        expect(Math.abs(c[i * n + j]! - s)).toBeLessThan(1e-4);
      }
    }
  });
});
