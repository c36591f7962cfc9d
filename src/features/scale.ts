import { mapRows, type CreatedStep, type FeatureStep, type ImageShape, noState } from '@digitbench/runtime/internal';

/** Pixels 0–255 → [0, 1]: a fixed map (no statistics), the usual MNIST scaling. */
export function scaleStep(image: ImageShape, max = 255): CreatedStep {
  const inv = 1 / max;
  const step: FeatureStep = {
    label: 'scale',
    fit() {},
    transform: (x) => mapRows(x, x.cols, (src, dst) => {
      for (let j = 0; j < src.length; j++) dst[j] = src[j]! * inv;
    }),
    state: () => ({}),
    setState: noState,
  };
  return { step, image };
}
