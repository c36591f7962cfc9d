/**
 * The machine's own ceiling for multiply-adds, measured in the bench's run: a large square float32
 * matrix product on the project's fastest tensor engine (getTf(): tfjs-node when installed, else
 * tfjs wasm with SIMD), once in one thread and once in every worker thread at the same time. A bench
 * row's GFLOP/s divided by this says how close it is to the hardware as this project can drive it.
 */
import { getTf } from '../engine/tf.ts';
import { callWorker, defaultThreads, startTsWorker } from '../engine/threads.ts';
import { median } from './stats.ts';
import { GraphBuilder } from '@digitbench/runtime/internal';
import { f32, loadOrt, ortSession } from '../engine/ort.ts';

export interface Ceiling {
  /** n of the n × n · n × n products (2n³ floating-point operations each). */
  size: number;
  engine: string;
  /** One product at a time in one thread. */
  oneThreadGflops: number;
  /** `threads` threads multiplying at once, summed. */
  threads: number;
  allThreadsGflops: number;
}

/** Times `reps` products of two n × n float32 matrices (after one untimed warm-up), in this thread. */
export async function squareProducts(size: number, reps: number): Promise<number[]> {
  const { tf } = await getTf();
  const a = tf.randomUniform([size, size], -1, 1, 'float32', 1);
  const b = tf.randomUniform([size, size], -1, 1, 'float32', 2);
  const seconds: number[] = [];
  try {
    for (let i = 0; i <= reps; i++) {
      const t = performance.now();
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
      if (i > 0) seconds.push((performance.now() - t) / 1000);
    }
  } finally {
    a.dispose();
    b.dispose();
  }
  return seconds;
}

export async function measureCeiling(size = 2048, reps = 5, maxThreads = defaultThreads()): Promise<Ceiling> {
  const { engine } = await getTf();
  // The native backend already multiplies on every core: one caller.
  const threads = engine.backend === 'tensorflow' ? 1 : maxThreads;
  const gflop = (2 * size ** 3) / 1e9;
  const workers = Array.from({ length: threads }, () => startTsWorker(new URL('./ceiling-worker.ts', import.meta.url), {}));
  try {
    const ask = (w: (typeof workers)[number]) => callWorker<{ seconds: number[] }>(w, { size, reps }, 'bench ceiling').then((m) => m.seconds);
    // One thread alone (the others idle), then all of them at once, each over its own matrices.
    const alone = await ask(workers[0]!);
    // Concurrent: each thread's median product time, summed as throughput.
    const together = await Promise.all(workers.map(ask));
    return {
      size,
      engine: engine.backend === 'tensorflow' ? engine.description : `${engine.description} per worker thread`,
      oneThreadGflops: gflop / median(alone),
      threads,
      allThreadsGflops: together.reduce((sum, xs) => sum + gflop / median(xs), 0),
    };
  } finally {
    for (const w of workers) void w.terminate();
  }
}

/** The ONNX model of one n × n float32 product: inputs `a`, `b`, output `c` (issue 25: the native engine's ceiling). */
export function matMulGraph(size: number): Uint8Array {
  const g = new GraphBuilder('square-product');
  g.input('a', 'FLOAT', [size, size]);
  g.input('b', 'FLOAT', [size, size]);
  g.node('MatMul', ['a', 'b'], ['c']);
  g.output('c', 'FLOAT', [size, size]);
  return g.encode(17);
}

/**
 * The same ceiling on onnxruntime-node (issue 25), where it loads: one session on one thread, then one on
 * `threads` intra-op threads (onnxruntime splits one product itself). `error`: why it could not run.
 */
export async function measureOrtCeiling(size = 2048, reps = 5, threads = defaultThreads()): Promise<Ceiling | { error: string }> {
  const ort = loadOrt();
  if ('error' in ort) return { error: ort.error };
  const gflop = (2 * size ** 3) / 1e9;
  const a = new Float32Array(size * size);
  const b = new Float32Array(size * size);
  for (let i = 0; i < a.length; i++) [a[i], b[i]] = [Math.sin(i), Math.cos(i)];
  const rate = async (n: number) => {
    const session = await ortSession(matMulGraph(size), n);
    try {
      const seconds: number[] = [];
      for (let i = 0; i <= reps; i++) {
        const t = performance.now();
        await session.run({ a: f32(a, [size, size]), b: f32(b, [size, size]) });
        if (i > 0) seconds.push((performance.now() - t) / 1000);
      }
      return gflop / median(seconds);
    } finally {
      await session.release();
    }
  };
  return { size, engine: `onnxruntime-node ${ort.version} (CPU)`, oneThreadGflops: await rate(1), threads, allThreadsGflops: await rate(threads) };
}
