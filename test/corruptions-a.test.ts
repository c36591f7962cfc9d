/**
 * MNIST-C corruptions, part A (shot noise, impulse noise, glass blur, motion blur, brightness, fog,
 * spatter) and the seeded Rng: each against an independent reference computation written here, by
 * their statistics on large constant images, and deterministic by seed on real MNIST test digits.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { createRng, deriveSeed, type Rng } from '../packages/runtime/src/corruptions/random.ts';
import { shotNoise } from '../packages/runtime/src/corruptions/shot-noise.ts';
import { impulseNoise } from '../packages/runtime/src/corruptions/impulse-noise.ts';
import { glassBlur } from '../packages/runtime/src/corruptions/glass-blur.ts';
import { motionBlur } from '../packages/runtime/src/corruptions/motion-blur.ts';
import { brightness } from '../packages/runtime/src/corruptions/brightness.ts';
import { fog, plasmaFractal } from '../packages/runtime/src/corruptions/fog.ts';
import { spatter } from '../packages/runtime/src/corruptions/spatter.ts';

type Corruption = (image: Uint8Array | Float32Array, h: number, w: number, rng: Rng) => Uint8Array;
const ALL: Record<string, Corruption> = { shotNoise, impulseNoise, glassBlur, motionBlur, brightness, fog, spatter };
const RANDOM = ['shotNoise', 'impulseNoise', 'glassBlur', 'motionBlur', 'fog', 'spatter'];

let digits: Float32Array[] = [];
beforeAll(async () => {
  const ds = await loadDataset('mnist');
  const x = ds.test.images;
  digits = Array.from({ length: 60 }, (_, i) => x.data.slice(i * 784, (i + 1) * 784));
});

function constant(n: number, v: number): Uint8Array {
  return new Uint8Array(n).fill(v);
}
function share(a: Uint8Array, pred: (v: number) => boolean): number {
  let k = 0;
  for (const v of a) if (pred(v)) k++;
  return k / a.length;
}
/** An Rng whose draws are fixed (for exact reference checks); unlisted draws fail the test. */
function stubRng(over: Partial<Rng>): Rng {
  const fail = () => {
    throw new Error('unexpected draw');
  };
  return { nextUint32: fail, next: fail, uniform: fail, randint: fail, normal: fail, poisson: fail, choice: fail, bool: fail, ...over } as Rng;
}
/** A real Rng as a plain object of bound methods, so a test can replace one of them to watch its draws. */
function delegate(real: Rng): Rng {
  const names = ['nextUint32', 'next', 'uniform', 'randint', 'normal', 'poisson', 'choice', 'bool'] as const;
  return Object.fromEntries(names.map((n) => [n, (real[n] as (...a: unknown[]) => unknown).bind(real)])) as unknown as Rng;
}
/** numpy's float → float32 → uint8 store, written independently. */
function store(v: number): number {
  const f = new Float32Array([Math.min(255, Math.max(0, v))])[0]!;
  return Math.trunc(f);
}
/** A Gaussian blur by direct (non-separable) 2-D correlation with edge-repeat borders: the independent reference. */
function direct2d(src: ArrayLike<number>, h: number, w: number, sy: number, sx: number): Float64Array {
  const ry = sy > 0 ? Math.trunc(4 * sy + 0.5) : 0;
  const rx = sx > 0 ? Math.trunc(4 * sx + 0.5) : 0;
  const wy = (j: number) => (sy > 0 ? Math.exp(-(j * j) / (2 * sy * sy)) : 1);
  const wx = (j: number) => (sx > 0 ? Math.exp(-(j * j) / (2 * sx * sx)) : 1);
  let zy = 0, zx = 0;
  for (let j = -ry; j <= ry; j++) zy += wy(j);
  for (let j = -rx; j <= rx; j++) zx += wx(j);
  const out = new Float64Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let a = -ry; a <= ry; a++) {
        for (let b = -rx; b <= rx; b++) {
          const yy = Math.min(h - 1, Math.max(0, y + a));
          const xx = Math.min(w - 1, Math.max(0, x + b));
          s += (wy(a) / zy) * (wx(b) / zx) * src[yy * w + xx]!;
        }
      }
      out[y * w + x] = s;
    }
  }
  return out;
}

describe('Rng', () => {
  it('is deterministic by seed, and its draws have the right distributions', () => {
    const a = createRng(5), b = createRng(5), c = createRng(6);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(sa).toEqual(Array.from({ length: 8 }, () => b.nextUint32()));
    expect(sa).not.toEqual(Array.from({ length: 8 }, () => c.nextUint32()));
    expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3));
    expect(deriveSeed(1, 2, 3)).not.toBe(deriveSeed(1, 2, 4));
    const r = createRng(11);
    const N = 100_000;
    const moments = (draw: () => number) => {
      let s = 0, s2 = 0;
      for (let i = 0; i < N; i++) {
        const v = draw();
        s += v;
        s2 += v * v;
      }
      return [s / N, s2 / N - (s / N) ** 2] as const;
    };
    const [nm, nv] = moments(() => r.normal(2, 3));
    expect(nm).toBeCloseTo(2, 1);
    expect(nv).toBeGreaterThan(8.7);
    expect(nv).toBeLessThan(9.3);
    for (const lam of [0.4, 3, 25]) {
      const [pm, pv] = moments(() => r.poisson(lam));
      expect(Math.abs(pm - lam)).toBeLessThan(0.02 * lam + 0.01);
      expect(Math.abs(pv - lam)).toBeLessThan(0.04 * lam + 0.01);
    }
    const [um, uv] = moments(() => r.uniform(-1, 3));
    expect(um).toBeCloseTo(1, 1);
    expect(uv).toBeCloseTo(16 / 12, 1);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(r.randint(-1, 1));
    expect([...seen].sort()).toEqual([-1, 0]); // hi exclusive, as numpy
    expect(share(Uint8Array.from({ length: N }, () => (r.bool() ? 1 : 0)), (v) => v === 1)).toBeCloseTo(0.5, 2);
  });
});

describe('every corruption in part A', () => {
  it('gives uint8 0..255 of the input shape on real MNIST digits, the same bytes for a seed, other bytes for another seed', () => {
    for (const [name, fn] of Object.entries(ALL)) {
      let differ = 0;
      for (let i = 0; i < 20; i++) {
        const d = digits[i]!;
        const a = fn(d, 28, 28, createRng(deriveSeed(3, i)));
        expect(a).toBeInstanceOf(Uint8Array);
        expect(a.length).toBe(784);
        expect(fn(d, 28, 28, createRng(deriveSeed(3, i)))).toEqual(a);
        expect(fn(Uint8Array.from(d), 28, 28, createRng(deriveSeed(3, i)))).toEqual(a); // Float32Array or Uint8Array in, same out
        if (!Buffer.from(fn(d, 28, 28, createRng(deriveSeed(4, i)))).equals(Buffer.from(a))) differ++;
      }
      if (RANDOM.includes(name)) expect(differ, name).toBeGreaterThanOrEqual(19);
      else expect(differ, name).toBe(0);
    }
  });

  it('rejects a wrong shape', () => {
    for (const fn of Object.values(ALL)) expect(() => fn(new Uint8Array(10), 28, 28, createRng(1))).toThrow('An image of 28×28 needs 784 pixels, got 10.');
  });

  it('runs on other shapes (40×33)', () => {
    const img = new Uint8Array(40 * 33);
    for (let i = 0; i < img.length; i++) img[i] = (i * 37) % 256;
    for (const fn of Object.values(ALL)) expect(fn(img, 40, 33, createRng(2)).length).toBe(40 * 33);
  });
});

describe('shot noise (c = 3)', () => {
  it('draws Poisson(3·x/255)/3: on a constant 85 (λ = 1) image the levels follow the Poisson(1) probabilities; black stays black', () => {
    const out = shotNoise(constant(250 * 250, 85), 250, 250, createRng(1));
    const e = Math.exp(-1);
    expect(share(out, (v) => v === 0)).toBeCloseTo(e, 2);
    expect(share(out, (v) => v === 85)).toBeCloseTo(e, 2);
    expect(share(out, (v) => v === 170)).toBeCloseTo(e / 2, 2);
    expect(share(out, (v) => v === 255)).toBeCloseTo(1 - 2.5 * e, 2);
    expect(share(out, (v) => ![0, 85, 170, 255].includes(v))).toBe(0);
    expect(shotNoise(constant(784, 0), 28, 28, createRng(1))).toEqual(constant(784, 0));
  });
  it('keeps a digit on average where it is not clipped (mean of a mid-grey image)', () => {
    // E[min(K/3, 1)] for K ~ Poisson(1.5) (x = 127.5/255·3): computed directly from the pmf.
    let expected = 0, p = Math.exp(-1.5);
    for (let k = 0; k < 40; k++) {
      expected += Math.min(k / 3, 1) * p;
      p *= 1.5 / (k + 1);
    }
    const out = shotNoise(new Float32Array(250 * 250).fill(127.5), 250, 250, createRng(2));
    let s = 0;
    for (const v of out) s += v;
    expect(s / out.length / 255).toBeCloseTo(expected, 2);
  });
});

describe('impulse noise (amount 0.17)', () => {
  it('flips 17% of pixels, half to salt (255) and half to pepper (0), and leaves the others exactly', () => {
    const out = impulseNoise(constant(300 * 300, 128), 300, 300, createRng(3));
    expect(share(out, (v) => v === 255)).toBeCloseTo(0.085, 2);
    expect(share(out, (v) => v === 0)).toBeCloseTo(0.085, 2);
    expect(share(out, (v) => v === 128)).toBeCloseTo(0.83, 2);
    expect(share(out, (v) => v !== 0 && v !== 128 && v !== 255)).toBe(0);
    const blank = impulseNoise(constant(300 * 300, 0), 300, 300, createRng(4));
    expect(share(blank, (v) => v === 255)).toBeCloseTo(0.085, 2);
  });
  it('on a real digit, only flipped pixels change, to 0 or 255', () => {
    for (let i = 0; i < 20; i++) {
      const d = digits[i]!;
      const out = impulseNoise(d, 28, 28, createRng(i));
      for (let j = 0; j < 784; j++) if (out[j] !== d[j]) expect([0, 255]).toContain(out[j]);
    }
  });
});

describe('brightness (c = 0.5)', () => {
  /** skimage's gray2rgb → rgb2hsv → V + c → hsv2rgb → rgb2gray, written out in full for one pixel. */
  function reference(v255: number): number {
    const r = v255 / 255, g = r, b = r;
    const v = Math.max(r, g, b);
    const delta = v - Math.min(r, g, b);
    const s = v === 0 ? 0 : delta / v;
    let hue = 0;
    if (delta !== 0) hue = r === v ? (g - b) / delta : g === v ? 2 + (b - r) / delta : 4 + (r - g) / delta;
    hue = ((hue / 6) % 1 + 1) % 1;
    const v2 = Math.min(1, Math.max(0, v + 0.5));
    const hi = Math.floor(hue * 6) % 6, f = hue * 6 - Math.floor(hue * 6);
    const p = v2 * (1 - s), q = v2 * (1 - f * s), t = v2 * (1 - (1 - f) * s);
    const [R, G, B] = [[v2, t, p], [q, v2, p], [p, v2, t], [p, q, v2], [t, p, v2], [v2, p, q]][hi]!;
    return store(Math.min(1, Math.max(0, R! * 0.2125 + G! * 0.7154 + B! * 0.0721)) * 255);
  }
  it('equals the full HSV round trip on real digits (0 → 127, 128 and above → 255)', () => {
    for (const d of digits) {
      const out = brightness(d, 28, 28, createRng(0));
      for (let j = 0; j < 784; j++) expect(out[j]).toBe(reference(d[j]!));
    }
    expect(Array.from(brightness(Uint8Array.from([0, 1, 100, 127, 128, 255]), 1, 6, createRng(0)))).toEqual([127, 128, 227, 254, 255, 255]);
  });
});

describe('glass blur (sigma 0.7, delta 1, 2 iterations)', () => {
  /** Vertical-only Gaussian (skimage multichannel=True on a 2-D image), uint8 truncation, no swaps, blur again. */
  function noSwapReference(d: ArrayLike<number>): number[] {
    const unit = Array.from(d, (v) => v / 255);
    const first = direct2d(unit, 28, 28, 0.7, 0);
    const u8 = Array.from(first, (v) => Math.trunc(v * 255));
    const second = direct2d(u8.map((v) => v / 255), 28, 28, 0.7, 0);
    return Array.from(second, (v) => store(Math.min(1, Math.max(0, v)) * 255));
  }
  it('without swaps equals two vertical-only Gaussian blurs with the uint8 cast between (real digits)', () => {
    const noSwap = stubRng({ bool: () => false });
    for (const d of digits.slice(0, 20)) expect(Array.from(glassBlur(d, 28, 28, noSwap))).toEqual(noSwapReference(d));
    // A one-pixel-wide horizontal line is never blurred along the row: every column of it stays equal.
    const line = new Uint8Array(784);
    for (let c = 0; c < 28; c++) line[14 * 28 + c] = 255;
    const out = glassBlur(line, 28, 28, noSwap);
    for (let r = 0; r < 28; r++) for (let c = 1; c < 28; c++) expect(out[r * 28 + c]).toBe(out[r * 28]);
  });
  it('visits (h, w) from 27 down to 2 twice, and swaps with (h+dy, w+dx) for dx, dy in {−1, 0}', () => {
    let visits = 0;
    const rng = stubRng({ bool: () => (visits++, false) });
    glassBlur(digits[0]!, 28, 28, rng);
    expect(visits).toBe(2 * 26 * 26);
    const draws: number[] = [];
    const real = createRng(9);
    glassBlur(digits[0]!, 28, 28, { ...delegate(real), randint: (lo: number, hi: number) => { const v = real.randint(lo, hi); draws.push(v); return v; } } as Rng);
    expect(new Set(draws)).toEqual(new Set([-1, 0]));
  });
  it('keeps the ink: the mean intensity moves by under one grey level (swaps permute, the blurs average)', () => {
    for (const d of digits.slice(0, 20)) {
      const out = glassBlur(d, 28, 28, createRng(5));
      const mean = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0) / a.length;
      expect(Math.abs(mean(out) - mean(d))).toBeLessThan(1);
    }
  });
});

describe('motion blur (radius 10, sigma 3, angle in ±45°)', () => {
  const weights = (() => {
    const w = Array.from({ length: 21 }, (_, i) => Math.exp(-(i * i) / 18));
    const z = w.reduce((a, b) => a + b, 0);
    return w.map((v) => v / z);
  })();
  /** Output of a single 255 pixel at (14, 14): each tap i adds 255·w_i at (14 − off_x, 14 − off_y). */
  function reference(angle: number): Float64Array {
    const acc = new Float64Array(784);
    const a = (angle * Math.PI) / 180;
    for (let i = 0; i < 21; i++) {
      const ox = Math.round(i * Math.cos(a) - 1e-9), oy = Math.round(i * Math.sin(a) - 1e-9); // ceil(t − ½) = round-half-down
      const x = 14 - ox, y = 14 - oy;
      if (x >= 0 && y >= 0 && x < 28 && y < 28) acc[y * 28 + x]! += 255 * weights[i]!;
    }
    return acc;
  }
  it('spreads a bright pixel along a one-sided Gaussian ray (kernel shape and sum), at 0°, 30°, −45° and 45°', () => {
    const dot = new Uint8Array(784);
    dot[14 * 28 + 14] = 255;
    for (const angle of [0, 30, -45, 45]) {
      const out = motionBlur(dot, 28, 28, stubRng({ uniform: () => angle }));
      const ref = reference(angle);
      for (let j = 0; j < 784; j++) expect(Math.abs(out[j]! - ref[j]!), `${angle}° pixel ${j}`).toBeLessThanOrEqual(0.5 + 1e-9);
      const total = out.reduce((s, v) => s + v, 0);
      expect(Math.abs(total - 255)).toBeLessThanOrEqual(11); // the weights sum to 1; each of ≤ 21 pixels rounds by ≤ ½
    }
    expect(motionBlur(dot, 28, 28, stubRng({ uniform: () => 0 }))[14 * 28 + 14]).toBe(Math.round(255 * weights[0]!));
  });
  it('draws its angle uniformly in [−45, 45)', () => {
    const angles: number[] = [];
    const real = createRng(1);
    for (let i = 0; i < 200; i++) motionBlur(digits[0]!, 28, 28, { ...delegate(real), uniform: (lo: number, hi: number) => { angles.push(lo, hi); return real.uniform(lo, hi); } } as Rng);
    expect(new Set(angles)).toEqual(new Set([-45, 45]));
  });
  it('repeats edge pixels beyond the border (a white image stays white)', () => {
    expect(motionBlur(constant(784, 255), 28, 28, createRng(3))).toEqual(constant(784, 255));
  });
});

describe('fog (3.0, decay 1.4)', () => {
  /** The reference's diamond-square written with numpy-style grids and np.roll, drawing in the same order. */
  function rollPlasma(rng: Rng, n: number, decay: number): Float64Array {
    const m = new Float64Array(n * n);
    const at = (r: number, c: number) => m[(((r % n) + n) % n) * n + (((c % n) + n) % n)]!;
    let step = n, wibble = 100;
    const wm = (sum: number) => sum / 4 + wibble * rng.uniform(-wibble, wibble);
    while (step >= 2) {
      const half = step / 2, g = n / step;
      const corner = (i: number, j: number) => at(i * step, j * step);
      const centre = (i: number, j: number) => at(i * step + half, j * step + half);
      const sq: number[] = [];
      for (let i = 0; i < g; i++) for (let j = 0; j < g; j++) sq.push(corner(i, j) + corner(i + 1, j) + corner(i, j + 1) + corner(i + 1, j + 1));
      sq.forEach((s, k) => (m[(Math.floor(k / g) * step + half) * n + (k % g) * step + half] = wm(s)));
      const lt: number[] = [], tt: number[] = [];
      for (let i = 0; i < g; i++) for (let j = 0; j < g; j++) lt.push(centre(i, j) + centre(i - 1, j) + corner(i, j) + corner(i, j + 1));
      for (let i = 0; i < g; i++) for (let j = 0; j < g; j++) tt.push(centre(i, j) + centre(i, j - 1) + corner(i, j) + corner(i + 1, j));
      lt.forEach((s, k) => (m[Math.floor(k / g) * step * n + (k % g) * step + half] = wm(s)));
      tt.forEach((s, k) => (m[(Math.floor(k / g) * step + half) * n + (k % g) * step] = wm(s)));
      step /= 2;
      wibble /= decay;
    }
    let lo = Infinity, hi = -Infinity;
    for (const v of m) (lo = Math.min(lo, v)), (hi = Math.max(hi, v));
    return m.map((v) => (v - lo) / (hi - lo));
  }
  it('its plasma fractal equals a numpy-style np.roll diamond-square with the same draws, spans [0, 1], and is smooth', () => {
    for (const seed of [1, 2]) {
      const p = plasmaFractal(createRng(seed), 64, 1.4);
      const q = rollPlasma(createRng(seed), 64, 1.4);
      for (let i = 0; i < p.length; i++) expect(p[i]).toBeCloseTo(q[i]!, 12);
    }
    const p = plasmaFractal(createRng(3), 256, 1.4);
    expect(Math.min(...p)).toBe(0);
    expect(Math.max(...p)).toBe(1);
    let near = 0, far = 0;
    for (let r = 0; r < 255; r++) for (let c = 0; c < 255; c++) {
      near += Math.abs(p[r * 256 + c]! - p[r * 256 + c + 1]!);
      far += Math.abs(p[r * 256 + c]! - p[((r + 128) % 256) * 256 + ((c + 128) % 256)]!);
    }
    expect(near / far).toBeLessThan(0.2);
    expect(() => plasmaFractal(createRng(1), 100)).toThrow('plasma fractal mapsize must be a power of two ≥ 2, got 100.');
  });
  it('is clip((x + 3·plasma[:28, :28])·max / (max + 3)) on real digits, and leaves a black image black', () => {
    for (let i = 0; i < 10; i++) {
      const d = digits[i]!;
      const plasma = rollPlasma(createRng(deriveSeed(8, i)), 256, 1.4);
      const mx = Math.max(...Array.from(d, (v) => v / 255));
      const expected = Array.from({ length: 784 }, (_, j) => {
        const v = ((d[j]! / 255 + 3 * plasma[Math.floor(j / 28) * 256 + (j % 28)]!) * mx) / (mx + 3);
        return store(Math.min(1, Math.max(0, v)) * 255);
      });
      expect(Array.from(fog(d, 28, 28, createRng(deriveSeed(8, i))))).toEqual(expected);
    }
    expect(fog(constant(784, 0), 28, 28, createRng(1))).toEqual(constant(784, 0));
  });
});

describe('spatter (severity 4: mud)', () => {
  it('equals the reference chain with a direct 2-D Gaussian on the same normal draws (real digits)', () => {
    let mismatched = 0, spattered = 0;
    for (let i = 0; i < 30; i++) {
      const d = digits[i]!;
      const rng = createRng(deriveSeed(9, i));
      const liquid = Array.from({ length: 784 }, () => rng.normal(0.65, 0.3));
      const blurred = direct2d(liquid, 28, 28, 1, 1).map((v) => (v < 0.65 ? 0 : v));
      const m = direct2d(Array.from(blurred, (v) => (v > 0.65 ? 1 : 0)), 28, 28, 1.5, 1.5).map((v) => (v < 0.8 ? 0 : v));
      const out = spatter(d, 28, 28, createRng(deriveSeed(9, i)));
      for (let j = 0; j < 784; j++) {
        const ref = store(Math.min(1, Math.max(0, (d[j]! / 255) * (1 - m[j]!) + (63 / 255) * m[j]!)) * 255);
        if (m[j]! > 0) spattered++;
        if (out[j] !== ref) mismatched++;
        expect(Math.abs(out[j]! - ref)).toBeLessThanOrEqual(1); // separable vs direct sums differ in the last bits
      }
    }
    expect(mismatched).toBeLessThanOrEqual(3);
    expect(spattered).toBeGreaterThan(0);
  });
  it('on a black image gives 0 or mud (63·m with m in [0.8, 1])', () => {
    const out = spatter(constant(100 * 100, 0), 100, 100, createRng(4));
    expect(share(out, (v) => v === 0 || (v >= 50 && v <= 63))).toBe(1);
    expect(share(out, (v) => v > 0)).toBeGreaterThan(0.001);
  });
});
