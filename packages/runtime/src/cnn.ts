/**
 * `@digitbench/runtime/cnn`: the CNN plugin, for bundles whose plugin is "cnn". Prediction runs on
 * TensorFlow.js (tfjs-core, tfjs-layers and the WebAssembly backend), optional peer dependencies of
 * this package that only CNN users install:
 *
 *   npm install @tensorflow/tfjs-core @tensorflow/tfjs-layers @tensorflow/tfjs-backend-wasm
 *
 * In Node, loadModel finds this plugin by itself. In a web page, pass it, with where the backend's
 * .wasm files are served (a URL prefix, or a map of file name → URL, e.g. from Vite's `?url` imports):
 *
 *   import { cnnPlugin } from '@digitbench/runtime/cnn';
 *   const model = await loadModel(url, { plugins: [cnnPlugin({ wasmPaths: '/wasm/' })] });
 *
 * tfjs is imported on the first load, so this module itself loads without it.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import { createMatrix, type Matrix } from './engine/matrix.ts';
import { argmaxLabels, cnnParams, parseCnnBytes, type CnnParams } from './models/cnn-format.ts';
import { COMPACT_PRECISIONS } from './models/compact.ts';
import { defineModel, type Model, type ModelPlugin } from './models/plugin.ts';

export { cnnParams, type CnnParams } from './models/cnn-format.ts';

export interface CnnOptions {
  /**
   * Where tfjs-backend-wasm's .wasm files are served: a URL prefix ending in "/", or a map from file name
   * (tfjs-backend-wasm.wasm, tfjs-backend-wasm-simd.wasm, tfjs-backend-wasm-threaded-simd.wasm) to URL.
   * Not needed in Node.
   */
  wasmPaths?: string | Record<string, string>;
  /** wasm threads where the page allows them (cross-origin isolated); default: the backend's own. */
  threads?: number;
}

/** The packages the CNN's prediction needs (optional peer dependencies of @digitbench/runtime). */
export const CNN_PACKAGES = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-wasm'] as const;

interface Tfjs {
  core: typeof TfCore;
  layers: typeof TfLayers;
  description: string;
  threads: number;
}

let ready: Promise<Tfjs> | undefined;

const MISSING = `its plugin "cnn" needs TensorFlow.js, which is not installed; run \`npm install ${CNN_PACKAGES.join(' ')}\``;

async function loadTfjs(options: CnnOptions): Promise<Tfjs> {
  let core: typeof TfCore, layers: typeof TfLayers, wasm: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    core = await import('@tensorflow/tfjs-core');
    layers = await import('@tensorflow/tfjs-layers');
    wasm = await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find (module|package)|Failed to resolve/.test(String((e as Error).message))) throw new Error(MISSING);
    throw e;
  }
  // A process that already runs tfjs on a backend (the digitbench workbench) keeps it.
  if (!core.engine().backendName) {
    if (options.wasmPaths) wasm.setWasmPaths(options.wasmPaths as Parameters<typeof wasm.setWasmPaths>[0]);
    if (options.threads) wasm.setThreadsCount(options.threads);
    if (!(await core.setBackend('wasm'))) throw new Error('TensorFlow.js could not start its WebAssembly backend; check that the .wasm files are served where cnnPlugin({ wasmPaths }) says.');
  }
  await core.ready();
  const backend = core.getBackend();
  const threads = backend === 'wasm' ? Math.max(1, wasm.getThreadsCount()) : 1;
  const simd = backend === 'wasm' && core.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD, ' : '';
  const description = `tfjs-${backend} ${core.version_core} (${simd}${threads} thread${threads === 1 ? '' : 's'})`;
  return { core, layers, description, threads };
}

/** Softmax probabilities, rows × classes, in batches of 1,000 images. */
function probabilities(tf: Tfjs, model: TfLayers.LayersModel, [h, w]: readonly [number, number], k: number, x: Matrix): Float32Array {
  const out = new Float32Array(x.rows * k);
  for (let start = 0; start < x.rows; start += 1000) {
    const n = Math.min(1000, x.rows - start);
    const p = tf.core.tidy(() => {
      const xs = tf.core.tensor4d(x.data.subarray(start * h * w, (start + n) * h * w), [n, h, w, 1]);
      return tf.core.softmax(model.apply(xs, { training: false }) as TfCore.Tensor2D);
    });
    out.set(p.dataSync() as Float32Array, start * k);
    p.dispose();
  }
  return out;
}

/** The CNN plugin with these engine options. */
export function cnnPlugin(options: CnnOptions = {}): ModelPlugin<CnnParams> {
  return {
    name: 'cnn',
    summary: 'Convolutional network (LeNet-5, Caffe LeNet, conv16-32 or the Keras mnist_cnn example), Adam, optional training-time augmentation, early stopping on validation loss',
    input: 'image',
    params: cnnParams,
    scoreKind: 'softmax probabilities',
    precisions: COMPACT_PRECISIONS,
    libraries: ['@tensorflow/tfjs-core 4.22.0', '@tensorflow/tfjs-layers 4.22.0', '@tensorflow/tfjs-backend-wasm 4.22.0'],
    browserAssets: ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'].map((file) => ({
      package: '@tensorflow/tfjs-backend-wasm',
      path: `dist/${file}`,
      file,
    })),
    async load(bytes, _params, ctx): Promise<Model> {
      const { header, weightData, imageShape } = parseCnnBytes(bytes, ctx);
      ready ??= loadTfjs(options);
      let tf: Tfjs;
      try {
        tf = await ready;
      } catch (e) {
        ready = undefined;
        throw e;
      }
      const model = await tf.layers.loadLayersModel(
        tf.core.io.fromMemory({ modelTopology: header.modelTopology as object, weightSpecs: header.weightSpecs as TfCore.io.WeightsManifestEntry[], weightData }),
      );
      const [h, w] = imageShape;
      const k = header.classes.length;
      // Node's loadModel on engine 'ort': the forward pass as one onnxruntime graph (layers it has no graph for keep tfjs).
      const native = ctx.native;
      const onOrt = native?.cnnForward ? await native.cnnForward(model, imageShape, model.getWeights().map((t) => t.dataSync() as Float32Array), native.threads).catch(() => undefined) : undefined;
      const probs = async (m: TfLayers.LayersModel, x: Matrix) => (onOrt ? onOrt.probabilities(x.data, x.rows) : probabilities(tf, m, imageShape, k, x));
      const engine = onOrt && native ? `${native.description(native.threads)} (forward graph)` : tf.description;
      return defineModel('cnn', {
        classes: Int32Array.from(header.classes),
        inputSize: h * w,
        inputName: `pixels (one ${h}×${w} image per row)`,
        state: model,
        predict: async (m, x) => argmaxLabels(await probs(m, x), x.rows, header.classes),
        scores: async (m, x) => createMatrix(x.rows, k, await probs(m, x)),
        engine: () => engine,
        runtime: () => ({ engine, threads: onOrt && native ? native.threads : tf.threads }),
        free: (m) => {
          m.dispose();
          onOrt?.dispose();
        },
      });
    },
  };
}

/** The CNN plugin with default options (Node, or a page whose wasm files sit beside its script). */
export const cnn = cnnPlugin();
