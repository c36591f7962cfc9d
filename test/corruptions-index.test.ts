/** The corruption list: MNIST-C's 15, in its order; every one gives uint8 images, seeded per image. */
import { beforeAll, describe, expect, it } from 'vitest';
import { CORRUPTION_NAMES, corruptImages } from '../packages/runtime/src/corruptions/index.ts';
import { loadDataset } from '../src/data/datasets.ts';

let images: Uint8Array;
const rows = 12;

beforeAll(async () => {
  const ds = await loadDataset('mnist');
  images = Uint8Array.from(ds.test.images.data.subarray(0, rows * 784));
});

describe('MNIST-C corruptions', () => {
  it("are MNIST-C's 15, in its order", () => {
    expect(CORRUPTION_NAMES).toEqual(['shot_noise', 'impulse_noise', 'glass_blur', 'motion_blur', 'shear', 'scale', 'rotate', 'brightness', 'translate', 'stripe', 'fog', 'spatter', 'dotted_line', 'zigzag', 'canny_edges']);
  });

  it('each changes real test digits, deterministically for a seed and independently of how many images are made at once', () => {
    for (const name of CORRUPTION_NAMES) {
      const a = corruptImages(name, images, rows, 28, 28, 7);
      expect(a.length, name).toBe(rows * 784);
      expect(Buffer.from(a).equals(Buffer.from(images)), name).toBe(false);
      expect(Buffer.from(corruptImages(name, images, rows, 28, 28, 7)).equals(Buffer.from(a)), name).toBe(true);
      // Image 5 made alone (as image 5 of the set) gets the bytes it gets in the batch: its stream is its own.
      const alone = corruptImages(name, images.subarray(5 * 784, 6 * 784), 1, 28, 28, 7, 5);
      expect(Array.from(alone), name).toEqual(Array.from(a.subarray(5 * 784, 6 * 784)));
    }
    expect(() => corruptImages('nope' as never, images, rows, 28, 28, 1)).toThrow('Unknown corruption "nope"; use one of shot_noise, impulse_noise,');
  });
});
