/// <reference lib="dom" />
/**
 * What both pages (the drawing page and the measuring page) share. They are apps of
 * @digitbench/runtime's browser entry, like any web page that ships a model: the bundle reader and the
 * built-in plugins come from there; the CNN from `@digitbench/runtime/cnn`, with the .wasm files the
 * server serves under /wasm/; plugin files the user passed to serve with --plugin come from the build
 * (keyed by plugin name; nothing a bundle names is imported).
 */
import { builtinResolver, createMatrix, loadBundleBytes, type DigitModel, type Matrix, type ModelPlugin } from '@digitbench/runtime';
import { pluginFiles } from 'digitbench:plugin-files';

/** Where the server puts tfjs-backend-wasm's .wasm files (src/serve/server.ts). */
export const WASM_PATH = '/wasm/';

// In a cross-origin isolated page tfjs-wasm loads its threaded build and is asked for one thread per
// logical core. tfjs 4.22 still reports (and, by the timings, runs) one: setThreadsCount has no effect
// (tensorflow/tfjs#8513, open); the engine description says what it got.
export const WASM_THREADS = globalThis.crossOriginIsolated === true ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;

const builtins = builtinResolver(
  [],
  () => import('@digitbench/runtime/cnn').then((m) => m.cnnPlugin({ wasmPaths: WASM_PATH, ...(WASM_THREADS > 1 ? { threads: WASM_THREADS } : {}) })),
  'pass its file with --plugin <file>',
);

/** A bundle's plugin name → a plugin file passed with --plugin, else a built-in. */
export async function resolvePlugin(name: string): Promise<ModelPlugin> {
  if (!Object.hasOwn(pluginFiles, name)) return builtins(name);
  const { pluginFromModule } = await import('../../classifiers/plugin.ts');
  return pluginFromModule((await pluginFiles[name]!()) as Record<string, unknown>, name);
}

export interface LoadedModel {
  model: DigitModel;
  bytes: number;
  /** Download of the bundle file, ms. */
  fetchMs: number;
  /** Decode + plugin chunk + engine start + rebuild, ms. */
  rebuildMs: number;
}

export async function fetchModel(url: string, name: string): Promise<LoadedModel> {
  const t0 = performance.now();
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${name}: the server answered ${res.status} for ${url}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const t1 = performance.now();
  const model = await loadBundleBytes(bytes, name, resolvePlugin);
  return { model, bytes: bytes.length, fetchMs: t1 - t0, rebuildMs: performance.now() - t1 };
}

/** Rows [start, end) of raw uint8 images (h·w bytes each) as a float32 matrix of raw pixels. */
export function imageRows(pixels: Uint8Array, size: number, start: number, end: number): Matrix {
  return createMatrix(end - start, size, Float32Array.from(pixels.subarray(start * size, end * size)));
}

export function errorText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!;
}
