/**
 * onnxruntime-node for the engine tests: the loaded module (or why it does not load) and `why`, the reason
 * to skip ort tests ('' where it loads). Where it does not load and DIGITBENCH_REQUIRE_ORT=1 (CI), importing
 * a test file that calls this fails instead of skipping.
 */
import { loadOrt } from '../../src/engine/ort.ts';

export function ortForTests(): { ort: ReturnType<typeof loadOrt>; why: string } {
  const ort = loadOrt();
  const why = 'error' in ort ? ort.error : '';
  if (why && process.env.DIGITBENCH_REQUIRE_ORT === '1') throw new Error(`DIGITBENCH_REQUIRE_ORT=1 but ${why}`);
  return { ort, why };
}
