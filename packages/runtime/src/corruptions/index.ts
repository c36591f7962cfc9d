/**
 * The 15 MNIST-C corruptions (Mu & Gilmer 2019; google-research/mnist-c corruptions.py), in the order of
 * MNIST-C's CORRUPTIONS list, each at its default severity: the one list the workbench and pages read.
 * Every function takes h×w raw pixels (0..255) and a seeded Rng and returns uint8 pixels; `corruptImages`
 * gives every image its own stream (deriveSeed(seed, corruption, image)), so the result does not depend on
 * the order or batching of the images.
 */
import { brightness } from './brightness.ts';
import { cannyEdges } from './canny-edges.ts';
import { dottedLine } from './dotted-line.ts';
import { fog } from './fog.ts';
import { glassBlur } from './glass-blur.ts';
import { impulseNoise } from './impulse-noise.ts';
import { motionBlur } from './motion-blur.ts';
import { createRng, deriveSeed, type Rng } from './random.ts';
import { rotate } from './rotate.ts';
import { scale } from './scale.ts';
import { shear } from './shear.ts';
import { shotNoise } from './shot-noise.ts';
import { spatter } from './spatter.ts';
import { stripe } from './stripe.ts';
import { translate } from './translate.ts';
import { zigzag } from './zigzag.ts';

export type Corruption = (image: Uint8Array | Float32Array, h: number, w: number, rng: Rng) => Uint8Array;

export const CORRUPTIONS = {
  shot_noise: shotNoise,
  impulse_noise: impulseNoise,
  glass_blur: glassBlur,
  motion_blur: motionBlur,
  shear,
  scale,
  rotate,
  brightness,
  translate,
  stripe,
  fog,
  spatter,
  dotted_line: dottedLine,
  zigzag,
  canny_edges: cannyEdges,
} as const satisfies Record<string, Corruption>;

export type CorruptionName = keyof typeof CORRUPTIONS;
export const CORRUPTION_NAMES = Object.keys(CORRUPTIONS) as CorruptionName[];

/**
 * `rows` images of h×w raw pixels (one after another), each corrupted with its own seeded stream: image i
 * of the batch is image `first + i` of the set, so a set split into batches (e.g. over worker threads)
 * gives the same bytes as in one call.
 */
export function corruptImages(name: CorruptionName, images: Uint8Array | Float32Array, rows: number, h: number, w: number, seed: number, first = 0): Uint8Array {
  const f: Corruption | undefined = CORRUPTIONS[name];
  if (!f) throw new Error(`Unknown corruption "${String(name)}"; use one of ${CORRUPTION_NAMES.join(', ')}.`);
  const n = h * w;
  if (images.length !== rows * n) throw new Error(`corruptImages: ${images.length} pixels are not ${rows} images of ${h}×${w}.`);
  const out = new Uint8Array(rows * n);
  const which = CORRUPTION_NAMES.indexOf(name);
  for (let i = 0; i < rows; i++) out.set(f(images.subarray(i * n, (i + 1) * n), h, w, createRng(deriveSeed(seed, which, first + i))), i * n);
  return out;
}
