/// <reference lib="dom" />
/**
 * What both pages (the drawing page and the measuring page) share: the tensor engine's settings for a
 * page, the plugin resolver of the browser build (a bundle's plugin name → a built-in, or a plugin file
 * passed with --plugin; nothing else), and loading a bundle by URL with the same `loadBundleBytes` that
 * `digitbench predict` uses.
 */
import { loadBundleBytes, type DigitModel } from '@digitbench/runtime/internal';
import { browserResolver } from '../../classifiers/registry.browser.ts';
import { createMatrix, type Matrix } from '@digitbench/runtime/internal';
import { configureTf } from '../../engine/tf.ts';
import { pluginFiles } from 'digitbench:plugin-files';

/** Where the server puts tfjs-backend-wasm's .wasm files (src/serve/server.ts). */
export const WASM_PATH = '/wasm/';

// In a cross-origin isolated page tfjs-wasm loads its threaded build and is asked for one thread per
// logical core. tfjs 4.22 still reports (and, by the timings, runs) one: setThreadsCount has no effect
// (tensorflow/tfjs#8513, open); the engine description says what it got.
export const WASM_THREADS = globalThis.crossOriginIsolated === true ? Math.max(1, navigator.hardwareConcurrency || 1) : 1;

configureTf({ wasmPaths: WASM_PATH, ...(WASM_THREADS > 1 ? { wasmThreads: WASM_THREADS } : {}) });

export const resolvePlugin = browserResolver(pluginFiles);

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
