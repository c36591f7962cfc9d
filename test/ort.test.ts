/**
 * The native engine (issue 25): the engine choice and where it is recorded (run ids, packages, the
 * report), and the k-NN brute force's product on onnxruntime-node: its graph against a float64 loop, and
 * its neighbours equal to the tfjs path's on real MNIST rows. Where onnxruntime-node does not load, the ort tests are skipped with the reason, unless DIGITBENCH_REQUIRE_ORT=1 (CI) makes that a failure.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadExperiment } from '../src/harness/experiment.ts';
import { runId } from '../src/harness/execute.ts';
import { runProvenance } from '../src/harness/provenance.ts';
import { engineChoice } from '../src/engine/ort.ts';
import { mnistSubset } from './helpers/mnist.ts';
import { matMulGraph } from '../src/bench/ceiling.ts';
import { f32, ortSession } from '../src/engine/ort.ts';
import { BruteForceIndex } from '../src/engine/distance.ts';
import { chunkMinimaGraph } from '@digitbench/runtime/internal';
import { createMatrix, type Matrix } from '@digitbench/runtime/internal';
import { ortForTests } from './helpers/ort.ts';

const { ort, why } = ortForTests();

describe('the engine choice', () => {
  it('is part of a run\'s id: ort and wasm rows are different results', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'digitbench-engine-id-'));
    const file = join(dir, 'e.json');
    writeFileSync(file, JSON.stringify({ split: { train: 100, test: 50, seed: 1 }, classifiers: [{ plugin: 'naive-bayes' }] }));
    const exp = await loadExperiment(file);
    const p = { datasetHash: 'h', fingerprint: 'f', run: exp.runs[0]!, settings: exp.config, versions: {}, code: 'c' };
    expect(runId({ ...p, engine: 'ort' })).not.toBe(runId({ ...p, engine: 'wasm' }));
    expect(runId({ ...p, engine: 'ort' })).toBe(runId({ ...p, engine: 'ort' }));
    // A k-NN run names onnxruntime-node among its packages only when ort is the engine.
    writeFileSync(file, JSON.stringify({ split: { train: 100, test: 50, seed: 1 }, classifiers: [{ plugin: 'knn' }] }));
    const knnRun = (await loadExperiment(file)).runs[0]!;
    const saved = process.env.DIGITBENCH_ENGINE;
    try {
      process.env.DIGITBENCH_ENGINE = 'wasm';
      expect(runProvenance(knnRun, dir).versions['onnxruntime-node']).toBeUndefined();
      if (!why) {
        process.env.DIGITBENCH_ENGINE = 'ort';
        expect(runProvenance(knnRun, dir).versions['onnxruntime-node']).toBe('1.31.1');
      }
    } finally {
      if (saved === undefined) delete process.env.DIGITBENCH_ENGINE;
      else process.env.DIGITBENCH_ENGINE = saved;
    }
    rmSync(dir, { recursive: true, force: true });
  });

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

describe.skipIf(!!why)(`graphs on onnxruntime${why ? ` (skipped: ${why})` : ''}`, () => {
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

  it('the brute-force k-NN index finds exactly the neighbours of the tfjs-wasm path (raw pixels and a 40-column projection, k = 1, 3, 10)', async () => {
    const d = await mnistSubset(3000, 400, 8);
    // A fixed projection to 40 columns (few features: the product then uses every one of them).
    const proj = Float64Array.from({ length: 784 * 40 }, (_, i) => Math.sin(i * 12.9898) * 0.05);
    const project = (x: Matrix) => {
      const out = new Float32Array(x.rows * 40);
      for (let r = 0; r < x.rows; r++) for (let c = 0; c < 40; c++) {
        let s = 0;
        for (let j = 0; j < 784; j++) s += x.data[r * 784 + j]! * proj[j * 40 + c]!;
        out[r * 40 + c] = s;
      }
      return createMatrix(x.rows, 40, out);
    };
    for (const [what, train, test] of [['raw', d.xTrain, d.xTest], ['projected', project(d.xTrain), project(d.xTest)]] as const) {
      const onOrt = await BruteForceIndex.create(train, { engine: 'ort' });
      const onWasm = await BruteForceIndex.create(train, { engine: 'wasm' });
      expect(onOrt.engine).toMatch(/^onnxruntime-node 1\.31\.1 \(1 thread\)$/);
      expect(onWasm.engine).toMatch(/^tfjs-/);
      for (const k of [1, 3, 10]) {
        const a = await onOrt.query(test, k);
        const b = await onWasm.query(test, k);
        expect(Array.from(a.indices), `${what} k=${k}`).toEqual(Array.from(b.indices));
        expect(Array.from(a.distances), `${what} k=${k}`).toEqual(Array.from(b.distances));
      }
      onOrt.dispose();
      onWasm.dispose();
    }
  });

  it('the chunk-minima graph gives each chunk\'s minimum of ‖x‖² − 2q·x as a float64 loop does (within float32 rounding)', async () => {
    const d = await mnistSubset(100, 7, 2);
    const { rows: n, cols } = d.xTrain;
    const chunk = 16;
    const chunks = Math.ceil(n / chunk);
    const padded = chunks * chunk;
    const w = cols + 1;
    const xaT = new Float32Array(w * padded);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) {
        xaT[j * padded + i] = d.xTrain.data[i * cols + j]!;
        s += d.xTrain.data[i * cols + j]! ** 2;
      }
      xaT[cols * padded + i] = s;
    }
    for (let i = n; i < padded; i++) xaT[cols * padded + i] = 3e38;
    const qa = new Float32Array(d.xTest.rows * w);
    for (let r = 0; r < d.xTest.rows; r++) {
      for (let j = 0; j < cols; j++) qa[r * w + j] = -2 * d.xTest.data[r * cols + j]!;
      qa[r * w + cols] = 1;
    }
    const session = await ortSession(chunkMinimaGraph(xaT, w, chunks, chunk));
    const out = (await session.run({ qa: f32(qa, [d.xTest.rows, w]) })).mins!;
    await session.release();
    expect(out.dims).toEqual([d.xTest.rows, chunks]);
    const mins = out.data as Float32Array;
    for (let r = 0; r < d.xTest.rows; r++) {
      for (let c = 0; c < chunks; c++) {
        let best = Infinity;
        for (let i = c * chunk; i < Math.min(n, (c + 1) * chunk); i++) {
          let s = 0;
          for (let j = 0; j < cols; j++) s += d.xTrain.data[i * cols + j]! * (d.xTrain.data[i * cols + j]! - 2 * d.xTest.data[r * cols + j]!);
          best = Math.min(best, s);
        }
        expect(Math.abs(mins[r * chunks + c]! - best)).toBeLessThan(1e-5 * 255 * 255 * cols);
      }
    }
  });
});

describe('the report names the engine', () => {
  it('shows an engine line in Environment when rows record one, and none for rows from before there were two', async () => {
    const { fixtureRows } = await import('./helpers/report-rows.ts');
    const { envSection } = await import('../src/report/sections/environment.ts');
    const old = fixtureRows();
    expect(envSection(old)).not.toContain('| engine |');
    const onOrt = old.map((r) => ({ ...r, env: { ...r.env, engine: 'ort' as const } }));
    expect(envSection(onOrt)).toContain('| engine | onnxruntime-node (ort) |');
    const onWasm = old.map((r) => ({ ...r, env: { ...r.env, engine: 'wasm' as const } }));
    expect(envSection(onWasm)).toContain('| engine | tfjs (wasm) |');
  });
});
