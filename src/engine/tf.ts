/**
 * The tensor engine: one tfjs instance for the whole process, on the fastest backend that loads here.
 * Order: tfjs-node ("tensorflow", native, only when the optional dependency installed), then wasm
 * (SIMD, one thread in Node), then the pure-JS cpu backend. Which one ran is reported with every result.
 *
 * tfjs is imported on first use, so code that never multiplies (trees, naive Bayes) does not load it,
 * in Node or in a web page (the browser build splits it into its own chunk). In a page, call
 * `configureTf({wasmPaths})` first: where the backend's .wasm files are served.
 */
export type Tf = typeof import('@tensorflow/tfjs');

/**
 * The npm packages (name and version) behind getTf(), for a plugin's or step's declared libraries: tfjs, its
 * wasm backend, and tfjs-node where the optional dependency installed (an absent one is left out of run ids).
 */
export const TF_LIBRARIES = ['@tensorflow/tfjs 4.22.0', '@tensorflow/tfjs-backend-wasm 4.22.0', '@tensorflow/tfjs-node 4.22.0'] as const;

let tf: Tf;

export interface TfOptions {
  /** URL prefix (ending in /) of tfjs-backend-wasm's .wasm files, for web pages. */
  wasmPaths?: string;
  /** Threads for the wasm backend where the page allows them (cross-origin isolated); default: its own. */
  wasmThreads?: number;
}

let options: TfOptions = {};

/** Settings for the engine, before its first use (getTf). */
export function configureTf(o: TfOptions): void {
  if (ready) throw new Error('configureTf() must be called before the tensor engine is first used.');
  options = { ...o };
}
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface EngineInfo {
  /** tfjs backend name, e.g. "wasm". */
  backend: BackendName;
  /** Human-readable: "tfjs-wasm 4.22.0 (SIMD, 1 thread)". */
  description: string;
  /** Threads its ops keep busy: the wasm backend's thread count, or the machine's cores for libtensorflow. */
  threads: number;
  tfjsVersion: string;
}

let ready: Promise<EngineInfo> | undefined;
let selected: EngineInfo | undefined;

/** The engine this process selected, or undefined when nothing here has used tfjs. */
export function loadedEngine(): EngineInfo | undefined {
  return selected;
}

async function tryNode(): Promise<boolean> {
  try {
    // Optional dependency: absent on machines that cannot download libtensorflow.
    const mod = '@tensorflow/tfjs-node';
    await import(mod);
    // libtensorflow's ops run on a thread per core (a computed specifier: never part of a browser build).
    const os = 'node:os';
    nativeThreads = ((await import(os)) as typeof import('node:os')).availableParallelism();
    return await tf.setBackend('tensorflow');
  } catch {
    return false;
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (options.wasmPaths) wasm.setWasmPaths(options.wasmPaths);
    if (options.wasmThreads) wasm.setThreadsCount(options.wasmThreads);
    wasmThreadsCount = () => wasm.getThreadsCount();
    const { registerWasmKernels } = await import('./wasm-kernels.ts');
    registerWasmKernels();
    // setBackend resolves false (it does not throw) when the backend fails to initialise.
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

async function select(preferred?: BackendName): Promise<EngineInfo> {
  tf = await import('@tensorflow/tfjs');
  const order: BackendName[] = preferred ? [preferred] : ['tensorflow', 'wasm', 'cpu'];
  for (const name of order) {
    const ok = name === 'tensorflow' ? await tryNode() : name === 'wasm' ? await tryWasm() : await tf.setBackend('cpu');
    if (ok) {
      await tf.ready();
      return describe(name);
    }
  }
  throw new Error(`The tfjs backend "${preferred}" could not be loaded; unset DIGITBENCH_BACKEND to pick one automatically.`);
}

function describe(backend: BackendName): EngineInfo {
  const version = tf.version.tfjs;
  if (backend === 'tensorflow') {
    return { backend, threads: nativeThreads, tfjsVersion: version, description: `tfjs-node ${version} (libtensorflow, native threads)` };
  }
  if (backend === 'wasm') {
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    // More than one only where the backend loaded its threaded build (a cross-origin isolated page).
    const threads = Math.max(1, wasmThreadsCount());
    return { backend, threads, tfjsVersion: version, description: `tfjs-wasm ${version} (${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'})` };
  }
  return { backend, threads: 1, tfjsVersion: version, description: `tfjs-cpu ${version} (pure JS, 1 thread)` };
}

/**
 * The tfjs module, initialised once. `DIGITBENCH_BACKEND=wasm|cpu|tensorflow` forces a backend
 * (an error if it cannot load).
 */
export async function getTf(): Promise<{ tf: Tf; engine: EngineInfo }> {
  if (!ready) {
    const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
    const forced = env?.DIGITBENCH_BACKEND as BackendName | undefined;
    if (forced && !['tensorflow', 'wasm', 'cpu'].includes(forced)) {
      throw new Error(`DIGITBENCH_BACKEND="${forced}" is not a tfjs backend; use tensorflow, wasm or cpu.`);
    }
    ready = select(forced);
  }
  const engine = await ready;
  selected = engine;
  return { tf, engine };
}

let wasmThreadsCount: () => number = () => 1;
let nativeThreads = 1;
