/** Zero mean, unit variance per feature, from training statistics (fitted by the workbench). Constant features map to 0. */
import * as z from 'zod/mini';
import { defineStepTransform, mapRows, stateArray } from './step.ts';

export const standardize = defineStepTransform({
  name: 'standardize',
  spec: z.strictObject({ step: z.literal('standardize') }),
  shape: (_spec, image) => ({ label: 'standardize', image }),
  /** State: `mean` and `inv` (1 / standard deviation, 0 for a constant feature), Float64Array each. */
  restore(_spec, _image, state) {
    const mean = stateArray('standardize', state, 'mean', Float64Array);
    const inv = stateArray('standardize', state, 'inv', Float64Array, mean.length);
    return (x) =>
      mapRows(x, x.cols, (src, dst) => {
        for (let j = 0; j < src.length; j++) dst[j] = (src[j]! - mean[j]!) * inv[j]!;
      });
  },
});
