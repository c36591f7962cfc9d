/**
 * The native engine (issue 25; docs/native-design.md): onnxruntime-node, an exact-pinned optional
 * dependency, loaded lazily where it installs and loads, and the choice between it ("ort") and tfjs-wasm
 * ("wasm"). `DIGITBENCH_ENGINE=ort|wasm` forces one; by default ort where it loads. The loader, sessions and
 * tensors are @digitbench/runtime's (packages/runtime/src/engine/ort.ts), which apps' bundles predict on;
 * this file loads it synchronously and keeps what only the workbench needs (the choice, ORT_LIBRARIES).
 */
import { createRequire } from 'node:module';
import { f32 as runtimeF32, loadOrtWith, ortDescription as runtimeOrtDescription, ortSession as runtimeOrtSession, type Ort, type OrtSession, type OrtTensor } from '@digitbench/runtime/internal';

export type EngineName = 'ort' | 'wasm';

export type { Ort, OrtSession, OrtTensor } from '@digitbench/runtime/internal';

const PACKAGE = 'onnxruntime-node';

/**
 * npm packages a plugin or feature step uses on one engine only (its `engineLibraries`): e.g. k-NN's products
 * run on tfjs on wasm and on onnxruntime on ort, never both. A run's provenance and the feature cache count only
 * the engine's own (src/harness/provenance.ts, src/features/cache.ts), so a run's packages and id name what did
 * its work.
 */
export type EngineLibraries = Partial<Record<EngineName, readonly string[]>>;

/** The packages of `libs` that work on `engine` (default: engineChoice()'s). */
export function librariesOn(libs: EngineLibraries | undefined, engine: EngineName = engineChoice().engine): readonly string[] {
  return libs?.[engine] ?? [];
}

/** Every package `libs` names, on either engine (for checks that they are installed and declared). */
export function allEngineLibraries(libs: EngineLibraries | undefined): string[] {
  return [...(libs?.ort ?? []), ...(libs?.wasm ?? [])];
}

/** What a plugin or step whose numeric work runs on onnxruntime names for ort (the engine, and protobufjs, which writes its graphs). */
export const ORT_LIBRARIES = ['onnxruntime-node 1.31.1', 'protobufjs 8.8.1'] as const;
/** onnxruntime-node and its version, or why it cannot be used here (not installed, or its library does not load). */
export function loadOrt(): { ort: Ort; version: string } | { error: string } {
  return loadOrtWith(createRequire(import.meta.url), 'it is an optional dependency: npm install without --omit=optional');
}

/**
 * The engine to use: `DIGITBENCH_ENGINE` when set ("ort" where onnxruntime-node cannot load is an error
 * naming why), else ort where it loads and wasm elsewhere.
 */
export function engineChoice(env: NodeJS.ProcessEnv = process.env): { engine: EngineName; reason: string } {
  const forced = env.DIGITBENCH_ENGINE;
  if (forced !== undefined && forced !== '' && forced !== 'ort' && forced !== 'wasm') {
    throw new Error(`DIGITBENCH_ENGINE is "${forced}"; set it to "ort" (onnxruntime-node) or "wasm" (tfjs-wasm), or unset it.`);
  }
  if (forced === 'wasm') return { engine: 'wasm', reason: 'DIGITBENCH_ENGINE=wasm' };
  const ort = loadOrt();
  if (forced === 'ort') {
    if ('error' in ort) throw new Error(`DIGITBENCH_ENGINE=ort, but ${ort.error}; unset DIGITBENCH_ENGINE to use tfjs-wasm.`);
    return { engine: 'ort', reason: 'DIGITBENCH_ENGINE=ort' };
  }
  return 'error' in ort ? { engine: 'wasm', reason: ort.error } : { engine: 'ort', reason: `${PACKAGE} ${ort.version} loads` };
}

/** How rows and env name onnxruntime-node at `threads` threads, e.g. "onnxruntime-node 1.31.1 (1 thread)". */
export function ortDescription(threads: number): string {
  loadOrt();
  return runtimeOrtDescription(threads);
}

/** A session on an ONNX model, single-threaded by default, without idle spinning (a shared machine). */
export async function ortSession(model: Uint8Array, threads = 1): Promise<OrtSession> {
  loadOrt();
  return runtimeOrtSession(model, threads);
}

/** A float32 tensor. */
export function f32(data: Float32Array, dims: readonly number[]): OrtTensor {
  loadOrt();
  return runtimeF32(data, dims);
}
