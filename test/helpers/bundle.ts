/** A minimal valid bundle input around a pipeline and some model bytes, for format tests. */
import type { BundleInput } from '@digitbench/runtime/internal';
import type { StepSpec } from '../../src/features/pipeline.ts';
import type { StepState } from '@digitbench/runtime/internal';

export function bundleInput(specs: StepSpec[], states: StepState[], modelBytes = new Uint8Array([1, 2, 3, 4, 5])): BundleInput {
  return {
    digitbench: '0.1.0',
    createdAt: '2026-12-01T00:00:00.000Z',
    dataset: { name: 'mnist', contentHash: 'abc', imageShape: [28, 28], classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] },
    classes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    pipeline: specs.map((spec, i) => ({ spec, state: states[i]! })),
    plugin: { name: 'nearest-centroid', ref: 'nearest-centroid', library: 'none', params: {}, engine: 'js' },
    modelBytes,
    split: { fingerprint: 'f00d', train: 500, validation: 0, test: 100, seed: 1 },
    run: { id: 'run1', experiment: 'test', classifier: 'nearest-centroid', seed: 1, testAccuracy: 0.9, testRows: 100 },
  };
}
