/**
 * scipy.ndimage's 1-D correlation, Gaussian filter and Sobel with all its boundary modes, summed in scipy's
 * order (centre term first, then the pairs from the outermost in, for symmetric and antisymmetric odd
 * kernels), for the canny edges corruption (skimage's canny smooths with mode 'constant' and takes the
 * Sobel with scipy's default mode 'reflect'). Plain typed-array JS on row-major h × w float64 images.
 */

/** scipy.ndimage boundary modes. */
export type BoundaryMode = 'constant' | 'nearest' | 'reflect' | 'mirror' | 'wrap';

/** Index i of a line of length n under a scipy boundary mode; -1 means "cval". */
function boundaryIndex(i: number, n: number, mode: BoundaryMode): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case 'constant':
      return -1;
    case 'nearest':
      return i < 0 ? 0 : n - 1;
    case 'wrap':
      return ((i % n) + n) % n;
    case 'reflect': {
      // d c b a | a b c d | d c b a
      const p = 2 * n;
      const k = ((i % p) + p) % p;
      return k < n ? k : p - 1 - k;
    }
    case 'mirror': {
      // d c b | a b c d | c b a
      if (n === 1) return 0;
      const p = 2 * n - 2;
      const k = ((i % p) + p) % p;
      return k < n ? k : p - k;
    }
  }
}

/**
 * scipy.ndimage.correlate1d(src, weights, axis, mode, cval) on an h × w float64 image (origin 0):
 * out[i] = Σ_j weights[j] · in[i + j − ⌊len/2⌋]. Symmetric and antisymmetric odd kernels are summed in
 * scipy's order (centre term first, then the pairs from the outermost in).
 */
export function correlate1d(src: Float64Array, h: number, w: number, weights: readonly number[], axis: 0 | 1, mode: BoundaryMode = 'reflect', cval = 0): Float64Array {
  const len = weights.length;
  const size1 = Math.floor(len / 2);
  let symmetric = 0;
  if (len % 2 === 1) {
    symmetric = 1;
    for (let j = 1; j <= size1; j++) if (weights[size1 + j] !== weights[size1 - j]) { symmetric = 0; break; }
    if (symmetric === 0) {
      symmetric = -1;
      for (let j = 1; j <= size1; j++) if (weights[size1 + j] !== -weights[size1 - j]!) { symmetric = 0; break; }
    }
  }
  const n = axis === 0 ? h : w;
  const lines = axis === 0 ? w : h;
  const stride = axis === 0 ? w : 1;
  const lineStep = axis === 0 ? 1 : w;
  const out = new Float64Array(h * w);
  const line = new Float64Array(n + 2 * size1 + len);
  for (let l = 0; l < lines; l++) {
    const base = l * lineStep;
    // the extended line: line[k] = in[k - size1]
    for (let k = 0; k < n + len - 1; k++) {
      const idx = boundaryIndex(k - size1, n, mode);
      line[k] = idx < 0 ? cval : src[base + idx * stride]!;
    }
    for (let i = 0; i < n; i++) {
      const c = i + size1; // the centre in the extended line
      let acc: number;
      if (symmetric > 0) {
        acc = line[c]! * weights[size1]!;
        for (let jj = -size1; jj < 0; jj++) acc += (line[c + jj]! + line[c - jj]!) * weights[size1 + jj]!;
      } else if (symmetric < 0) {
        acc = line[c]! * weights[size1]!;
        for (let jj = -size1; jj < 0; jj++) acc += (line[c + jj]! - line[c - jj]!) * weights[size1 + jj]!;
      } else {
        acc = line[c + len - 1 - size1]! * weights[len - 1]!;
        for (let jj = -size1; jj < len - 1 - size1; jj++) acc += line[c + jj]! * weights[size1 + jj]!;
      }
      out[base + i * stride] = acc;
    }
  }
  return out;
}

/** numpy's `a.sum()` order for a float64 vector: the first element plus the pairwise sum of the rest. */
function numpySum(a: readonly number[]): number {
  if (a.length === 0) return 0;
  return a[0]! + pairwiseSum(a, 1, a.length - 1);
}

function pairwiseSum(a: readonly number[], start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0].map((_, j) => a[start + j]!);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[start + i + j]!;
    let res = ((r[0]! + r[1]!) + (r[2]! + r[3]!)) + ((r[4]! + r[5]!) + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** scipy's 1-D Gaussian kernel: radius int(truncate σ + 0.5), exp(−0.5 / σ² · x²), normalised by its sum. */
export function scipyGaussianKernel(sigma: number, truncate = 4): number[] {
  const radius = Math.trunc(truncate * sigma + 0.5);
  const k: number[] = [];
  const f = -0.5 / (sigma * sigma);
  for (let x = -radius; x <= radius; x++) k.push(Math.exp(f * (x * x)));
  const s = numpySum(k);
  return k.map((v) => v / s);
}

/** scipy.ndimage.gaussian_filter (skimage.filters.gaussian on a float image): axis 0, then axis 1. */
export function gaussianFilterMode(src: Float64Array, h: number, w: number, sigma: number, mode: BoundaryMode = 'nearest', cval = 0, truncate = 4): Float64Array {
  if (!(sigma > 0)) return Float64Array.from(src);
  const k = scipyGaussianKernel(sigma, truncate);
  return correlate1d(correlate1d(src, h, w, k, 0, mode, cval), h, w, k, 1, mode, cval);
}

/** scipy.ndimage.sobel(src, axis) with its default mode 'reflect': [−1, 0, 1] along axis, [1, 2, 1] across. */
export function sobel(src: Float64Array, h: number, w: number, axis: 0 | 1, mode: BoundaryMode = 'reflect'): Float64Array {
  const d = correlate1d(src, h, w, [-1, 0, 1], axis, mode);
  return correlate1d(d, h, w, [1, 2, 1], axis === 0 ? 1 : 0, mode);
}
