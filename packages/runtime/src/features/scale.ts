/** Pixels 0–255 → [0, 1]: a fixed map (no statistics), the usual MNIST scaling. */
import * as z from 'zod/mini';
import { defineStepTransform, mapRows } from './step.ts';

export const scale = defineStepTransform({
  name: 'scale',
  spec: z.strictObject({ step: z.literal('scale'), max: z._default(z.number().check(z.positive()), 255) }),
  shape: (_spec, image) => ({ label: 'scale', image }),
  restore(spec) {
    const inv = 1 / spec.max;
    return (x) =>
      mapRows(x, x.cols, (src, dst) => {
        for (let j = 0; j < src.length; j++) dst[j] = src[j]! * inv;
      });
  },
});
