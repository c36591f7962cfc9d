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

/** `versions` (package → version) without ORT_LIBRARIES' packages unless ort is the engine: they did no work then. */
export function withoutIdleEngine(versions: Record<string, string>): Record<string, string> {
  if (engineChoice().engine === 'ort') return versions;
  const idle = new Set(ORT_LIBRARIES.map((l) => l.split(' ')[0]!));
  return Object.fromEntries(Object.entries(versions).filter(([name]) => !idle.has(name)));
}

/**
 * What a plugin or step whose numeric work can run on onnxruntime lists in its libraries (the engine, and
 * protobufjs, which writes its graphs). A run's provenance keeps them only when the engine is ort (src/harness/provenance.ts), so a wasm run's packages
 * and id do not name it.
 */
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
