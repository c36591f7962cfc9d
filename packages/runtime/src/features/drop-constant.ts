/** Drops the features that took one value on every training row (67 MNIST pixels are always 0); the workbench finds them. */
import * as z from 'zod/mini';
import { defineStepTransform, mapRows, stateArray, stateInt } from './step.ts';

export const dropConstant = defineStepTransform({
  name: 'drop-constant',
  spec: z.strictObject({ step: z.literal('drop-constant') }),
  shape: () => ({ label: 'drop-constant', image: undefined }),
  /** State: `cols` (the input width it was fitted on) and `keep` (the kept feature indices, Int32Array). */
  restore(_spec, _image, state) {
    const cols = stateInt('drop-constant', state, 'cols');
    const keep = stateArray('drop-constant', state, 'keep', Int32Array);
    if (keep.some((j) => j < 0 || j >= cols)) throw new Error('Feature step "drop-constant": the saved state keeps a feature past its width; the bundle is damaged or was written by another version.');
    return (x) => {
      if (x.cols !== cols) throw new Error(`Feature step "drop-constant" was fitted on ${cols} features but got rows of ${x.cols}; apply the same steps before it.`);
      return mapRows(x, keep.length, (src, dst) => {
        for (let k = 0; k < keep.length; k++) dst[k] = src[keep[k]!]!;
      });
    };
  },
});
