import * as z from 'zod/mini';
import { defineStepTransform, mapRows, requireImage, type ImageShape } from './step.ts';

/**
 * The output shape of averaging factor×factor blocks: 28×28 → 14×14 for factor 2, 20×24 → 10×12. The factor
 * must divide both sides (no partial blocks); another factor is refused, naming the ones that fit.
 */
function downsampled(image: ImageShape, factor: number): [number, number] {
  const [h, w] = requireImage('downsample', image);
  if (h % factor !== 0 || w % factor !== 0) {
    const fits: number[] = [];
    for (let f = 2; f <= Math.min(h, w); f++) if (h % f === 0 && w % f === 0) fits.push(f);
    const instead = fits.length ? `use a factor that divides both sides (${fits.join(', ')})` : 'no factor divides both sides; leave out downsample';
    throw new Error(`Feature step "downsample": factor ${factor} does not divide the ${h}×${w} images; ${instead}.`);
  }
  return [h / factor, w / factor];
}

/** Averages each factor×factor block of pixels. Stateless. */
export const downsample = defineStepTransform({
  name: 'downsample',
  spec: z.strictObject({ step: z.literal('downsample'), factor: z._default(z.number().check(z.int(), z.gte(2)), 2) }),
  shape: (spec, image) => ({ label: `downsample(${spec.factor})`, image: downsampled(image, spec.factor) }),
  restore(spec, image) {
    const { factor } = spec;
    const w = requireImage('downsample', image)[1];
    const [oh, ow] = downsampled(image, factor);
    const norm = 1 / (factor * factor);
    return (x) =>
      mapRows(x, oh * ow, (src, dst) => {
        for (let r = 0; r < oh; r++) {
          for (let c = 0; c < ow; c++) {
            let s = 0;
            for (let dr = 0; dr < factor; dr++) {
              const o = (r * factor + dr) * w + c * factor;
              for (let dc = 0; dc < factor; dc++) s += src[o + dc]!;
            }
            dst[r * ow + c] = s * norm;
          }
        }
      });
  },
});
