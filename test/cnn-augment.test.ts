/** Training-time augmentation of the cnn plugin (src/classifiers/cnn-augment.ts): pure image maps. */
import { describe, expect, it } from 'vitest';
import { affineImage, augmentBatch, drawAffine, IDENTITY, type AugmentSpec } from '../src/classifiers/cnn-augment.ts';
import { createRng } from '../src/engine/rng.ts';

/** A 28×28 image of seeded values in [0, 1) (none zero, so a moved pixel cannot pass for a kept one). */
function noise(seed: string, h = 28, w = 28): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: h * w }, () => 0.01 + 0.99 * rng.next());
}

const spec: AugmentSpec = { shift: 2, rotate: 10, scale: 0.1 };

describe('affineImage', () => {
  it('the identity map copies the image bit for bit', () => {
    const src = noise('a');
    const dst = new Float32Array(src.length).fill(NaN);
    affineImage(src, dst, 28, 28, IDENTITY);
    expect(new Uint32Array(dst.buffer)).toEqual(new Uint32Array(src.buffer));
  });

  it('zero ranges (shift 0, rotate 0, scale 0) leave a whole batch unchanged, bit for bit', () => {
    const images = [noise('a'), noise('b'), noise('c')];
    const out = new Float32Array(3 * 784);
    augmentBatch((k) => images[k]!, out, 3, [28, 28], { shift: 0, rotate: 0, scale: 0 }, createRng('1:cnn-augment'));
    const want = new Float32Array(3 * 784);
    images.forEach((im, k) => want.set(im, k * 784));
    expect(new Uint32Array(out.buffer)).toEqual(new Uint32Array(want.buffer));
  });

  it('a shift of +1 px moves a known pattern one pixel right (or down), zero coming in', () => {
    // 3×4: rows [1 2 3 4], [5 6 7 8], [9 10 11 12].
    const src = Float32Array.from({ length: 12 }, (_, i) => i + 1);
    const dst = new Float32Array(12);
    affineImage(src, dst, 3, 4, { ...IDENTITY, dx: 1 });
    expect([...dst]).toEqual([0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11]);
    affineImage(src, dst, 3, 4, { ...IDENTITY, dy: 1 });
    expect([...dst]).toEqual([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    affineImage(src, dst, 3, 4, { ...IDENTITY, dx: -1 });
    expect([...dst]).toEqual([2, 3, 4, 0, 6, 7, 8, 0, 10, 11, 12, 0]);
  });

  it('a half-pixel shift interpolates bilinearly between neighbours', () => {
    const src = Float32Array.from([0, 2, 4, 6]);
    const dst = new Float32Array(4);
    affineImage(src, dst, 1, 4, { ...IDENTITY, dx: 0.5 });
    expect([...dst]).toEqual([0, 1, 3, 5]);
  });

  it('rotates about the image centre: 180° turns the image upside down', () => {
    const src = noise('r', 5, 6);
    const dst = new Float32Array(30);
    affineImage(src, dst, 5, 6, { ...IDENTITY, angle: Math.PI });
    for (let r = 0; r < 5; r++) for (let c = 0; c < 6; c++) expect(dst[r * 6 + c]).toBeCloseTo(src[(4 - r) * 6 + (5 - c)]!, 5);
  });

  it('scales about the image centre: factor 2 puts the centre pixel of a 3×3 image everywhere inside', () => {
    // Inverse image of output (r, c) is 1 + (r − 1)/2, 1 + (c − 1)/2: the centre at (1, 1), halfway elsewhere.
    const src = Float32Array.from([0, 0, 0, 0, 4, 0, 0, 0, 0]);
    const dst = new Float32Array(9);
    affineImage(src, dst, 3, 3, { ...IDENTITY, scale: 2 });
    expect([...dst]).toEqual([1, 2, 1, 2, 4, 2, 1, 2, 1]);
  });
});

describe('augmentBatch', () => {
  const images = Array.from({ length: 8 }, (_, k) => noise(`img${k}`));
  const run = (seed: string) => {
    const out = new Float32Array(8 * 784);
    augmentBatch((k) => images[k]!, out, 8, [28, 28], spec, createRng(seed));
    return out;
  };

  it('gives the same batch for the same seed and a different one for another seed', () => {
    expect(run('1:cnn-augment')).toEqual(run('1:cnn-augment'));
    expect(run('2:cnn-augment')).not.toEqual(run('1:cnn-augment'));
  });

  it('draws every map within the given ranges, four draws per image', () => {
    const rng = createRng('ranges');
    for (let i = 0; i < 1000; i++) {
      const t = drawAffine(spec, rng);
      expect(Math.abs(t.dx)).toBeLessThanOrEqual(2);
      expect(Math.abs(t.dy)).toBeLessThanOrEqual(2);
      expect(Math.abs(t.angle)).toBeLessThanOrEqual((10 * Math.PI) / 180);
      expect(Math.abs(t.scale - 1)).toBeLessThanOrEqual(0.1);
    }
    const a = createRng('count');
    const b = createRng('count');
    drawAffine(spec, a);
    for (let i = 0; i < 4; i++) b.next();
    expect(a.next()).toBe(b.next());
  });
});
