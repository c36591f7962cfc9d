/**
 * Turns a decoded picture of one digit (a phone photo, a scan, a canvas drawing, any size and colour)
 * into an MNIST-style image: by default 28×28 = 784 values 0–255, bright ink on a black background, made
 * the way the MNIST database itself was made, so that models trained on MNIST see what they were trained
 * on. Any other target shape h×w (8×8, 16×16, 32×32, 64×64, non-square…) gets the same procedure with the
 * box and the centre scaled with it (stages 6 and 7). Pure computation on pixels, no Node or DOM imports:
 * it is shared by the CLI and the browser.
 *
 * Stages, in order:
 *  1. Grey level. Rec. 601 luma (0.299 R + 0.587 G + 0.114 B) on the stored 8-bit values; alpha is
 *     composited over white paper, so dark strokes on a transparent canvas read as dark ink on paper
 *     (and a fully transparent image reads as blank paper).
 *  2. Polarity. The median of a thin ring of border pixels (2 % of the shorter side, at least 1 px) is
 *     the paper: a light border (≥ 128) means dark ink on light paper, and the image is inverted so that
 *     ink is bright, as in MNIST. A light digit on a dark background is kept as it is.
 *  3. Background removal and contrast stretch, robust for photos and scans. The background level is the
 *     border median; the ink level is the median of the clearly-inked pixels (those above half-way between
 *     the background and the robust maximum, i.e. the value reached by the brightest 0.05 % of pixels,
 *     at least 4, so that a few hot pixels do not count). Values are mapped linearly so that the background
 *     plus a noise floor becomes 0 and the ink level becomes 255 (clipped): the upper half of a stroke is
 *     saturated, as the stroke centres of MNIST digits (drawn from binary images) are. The noise floor is
 *     the larger of the border's spread (90th percentile − median: uneven paper, JPEG noise) and 5 % of
 *     the contrast, but at most 40 % of it. If the robust maximum is less than 32 grey levels above the
 *     background, there is no ink and NoInkError is thrown.
 *  4. Specks. Isolated specks (dust, sensor noise that survived the noise floor) would stretch the ink's
 *     bounding box; 8-connected blobs whose total ink is below 2 % of the largest blob's are erased.
 *  5. Crop to the bounding box of the remaining ink (NoInkError when nothing remains).
 *  6. Size: the box is resampled so that it fits, aspect ratio kept, in a box of round(20/28 × side) per
 *     side of the target (MNIST: "normalized to fit in a 20×20 pixel box while preserving their aspect
 *     ratio" in a 28×28 field; 16×16 → 11×11, 32×32 → 23×23, 8×8 → 6×6, 20×40 → 14×29). Resampling is
 *     separable and anti-aliased: exact area averaging along an axis that shrinks (every source pixel
 *     contributes by its overlap, so thin strokes turn grey instead of vanishing or aliasing), bilinear
 *     along an axis that grows. Then the values are rescaled so that the maximum is 255: every MNIST digit
 *     has a maximum of 254 or 255, and thin strokes shrunk from a large photo would otherwise be faint.
 *  7. Centring: the boxed image is placed in the h×w field by an integer shift that puts its intensity
 *     centre of mass at (w/2, h/2) (MNIST: "translating the image so as to position this point at the
 *     center of the 28x28 field"). Convention: pixel (x, y) has its centre at coordinates (x, y), and the
 *     target for 28×28 is (14, 14), which is what MNIST does: the mean centre of mass over the 10,000 MNIST
 *     test digits is (14.01, 13.99), so after the rounding of the shift it lies within 0.5 px of 14. The
 *     shift is clamped so the whole box stays inside the field (for lopsided digits, e.g. a 7 with a heavy
 *     bar, this keeps all the ink at the cost of a less exact centring).
 *
 * For 28×28 the output is exactly what it was before other shapes were supported (same operations, same
 * order). `resizeGrey` is the plain alternative for images that are already centred and cropped: stages 1
 * and 2, then a resize of the whole image (no crop, stretch or centring).
 *
 * Known limits: the paper must reach the image border (a photo showing the desk around the sheet should be
 * cropped first), the background is one level for the whole image (a strong shadow across the paper can
 * read as ink), and light strokes on a transparent canvas vanish when composited over white.
 */

export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  /** Row-major, interleaved channels (grey, grey+alpha, RGB or RGBA), 8 bits per value. */
  data: Uint8Array | Uint8ClampedArray;
}

export class NoInkError extends Error {
  override name = 'NoInkError';
}

export const SIDE = 28;

/** The largest picture decoded and normalized by default (width × height): 25 MP, far more than a photo of a digit needs. */
export const DEFAULT_MAX_PIXELS = 25e6;
/** MNIST's box (stage 6) in its 28×28 field; other shapes scale it. */
const BOX = 20;
const MIN_CONTRAST = 32;
const SPECK_FRACTION = 0.02;

/** A target shape: [height, width]. */
/** Height × width of an image. */
export type ImageSize = readonly [number, number];

function checkShape(shape: ImageSize, name: string): void {
  const [h, w] = shape;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new Error(`${name}: the target shape ${h}×${w} is not a size in pixels; give whole numbers of at least 1.`);
  }
}

function checkImage(img: DecodedImage, name: string): void {
  const { width: w, height: h, channels: c } = img;
  if (!Number.isInteger(w) || !Number.isInteger(h) || w < 1 || h < 1) {
    throw new Error(`${name}: the image is ${w}×${h} pixels; it needs at least one pixel.`);
  }
  if (img.data.length < w * h * c) {
    throw new Error(`${name}: the pixel data has ${img.data.length} values but a ${w}×${h} image with ${c} channels needs ${w * h * c}.`);
  }
}

/** Stages 1 and 2: grey levels with bright ink (a light border means dark ink on paper: inverted). */
function greyInkBright(img: DecodedImage): Float32Array {
  const v = toGrey(img);
  if (quantile(histogram(borderValues(v, img.width, img.height)), 0.5) >= 128) {
    for (let i = 0; i < v.length; i++) v[i] = 255 - v[i]!;
  }
  return v;
}

/**
 * An MNIST-normalized image of `shape` ([height, width], default 28×28): h·w values 0..255, bright ink on
 * black, row-major. Throws NoInkError for a blank image; errors name `name`.
 */
export function normalizeDigit(img: DecodedImage, name: string, shape: ImageSize = [SIDE, SIDE]): Float32Array {
  checkShape(shape, name);
  checkImage(img, name);
  const { width: w, height: h } = img;
  const [fieldH, fieldW] = shape;
  const noInk = () => new NoInkError(`${name}: no ink found (the image is blank); give an image with a dark digit on light paper or a light digit on dark.`);

  // 1 and 2. Grey level, alpha over white; polarity from the border's median, dark-on-light inverted.
  const v = greyInkBright(img);

  // 3. Background removal and contrast stretch.
  const borderHist = histogram(borderValues(v, w, h));
  const background = quantile(borderHist, 0.5);
  const spread = quantile(borderHist, 0.9) - background;
  const all = histogram(v);
  const peak = kthBrightest(all, Math.max(4, Math.ceil(v.length * 0.0005)));
  if (peak - background < MIN_CONTRAST) throw noInk();
  const inkLevel = Math.max(quantileAbove(all, background + (peak - background) / 2, 0.5), background + MIN_CONTRAST);
  const contrast = inkLevel - background;
  const lo = background + Math.min(Math.max(spread, 0.05 * contrast), 0.4 * contrast);
  const gain = 255 / (inkLevel - lo);
  for (let i = 0; i < v.length; i++) {
    const s = (v[i]! - lo) * gain;
    v[i] = s <= 0 ? 0 : s >= 255 ? 255 : s;
  }

  // 4. Specks.
  removeSpecks(v, w, h);

  // 5. Bounding box.
  let x0 = w, x1 = -1, y0 = h, y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (v[row + x]! > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  if (x1 < 0) throw noInk();
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;

  // 6. Fit into the box (20×20 of 28×28, scaled with the field), keeping the aspect ratio; then maximum → 255.
  const boxW = Math.max(1, Math.round((BOX / SIDE) * fieldW));
  const boxH = Math.max(1, Math.round((BOX / SIDE) * fieldH));
  // For a square box this is boxW / max(bw, bh), as MNIST's 20 / max(bw, bh).
  const scale = Math.min(boxW / bw, boxH / bh);
  const ow = Math.min(boxW, Math.max(1, Math.round(bw * scale)));
  const oh = Math.min(boxH, Math.max(1, Math.round(bh * scale)));
  const small = resample(v, w, x0, y0, bw, bh, ow, oh);
  let max = 0;
  for (let i = 0; i < small.length; i++) if (small[i]! > max) max = small[i]!;
  if (max <= 0) throw noInk();
  const k = 255 / max;
  for (let i = 0; i < small.length; i++) small[i] = Math.min(255, small[i]! * k);

  // 7. Centre of mass to (w/2, h/2) ((14, 14) for 28×28) by an integer shift, keeping the box inside the field.
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const p = small[y * ow + x]!;
      mass += p;
      mx += p * x;
      my += p * y;
    }
  }
  const dx = clamp(Math.round(fieldW / 2 - mx / mass), 0, fieldW - ow);
  const dy = clamp(Math.round(fieldH / 2 - my / mass), 0, fieldH - oh);
  const out = new Float32Array(fieldH * fieldW);
  for (let y = 0; y < oh; y++) out.set(small.subarray(y * ow, (y + 1) * ow), (y + dy) * fieldW + dx);
  return out;
}

/**
 * The image in grey, resized to `shape` ([height, width]) and bright ink on black: the luma and polarity
 * rule of `normalizeDigit` (stages 1 and 2), then the whole image resampled as its stage 6 does (area
 * averaging along an axis that shrinks, bilinear along one that grows), with no crop, stretch or centring.
 * An image that already has the shape keeps its grey values exactly (a lossless PNG of an MNIST digit
 * gives back its pixels). For images that are already cropped and centred (`normalize: "resize"`). Errors
 * name `name`.
 */
export function resizeGrey(img: DecodedImage, shape: ImageSize = [SIDE, SIDE], name = 'the image'): Float32Array {
  checkShape(shape, name);
  checkImage(img, name);
  const { width: w, height: h } = img;
  const [oh, ow] = shape;
  const v = greyInkBright(img);
  return w === ow && h === oh ? v : resample(v, w, 0, 0, w, h, ow, oh);
}

function clamp(x: number, a: number, b: number): number {
  return x < a ? a : x > b ? b : x;
}

/** Luma per pixel, 0..255, with alpha composited over white. */
function toGrey(img: DecodedImage): Float32Array {
  const { width: w, height: h, channels: c, data } = img;
  const n = w * h;
  const out = new Float32Array(n);
  for (let i = 0, p = 0; i < n; i++, p += c) {
    let y: number, a: number;
    if (c <= 2) {
      y = data[p]!;
      a = c === 2 ? data[p + 1]! : 255;
    } else {
      y = 0.299 * data[p]! + 0.587 * data[p + 1]! + 0.114 * data[p + 2]!;
      a = c === 4 ? data[p + 3]! : 255;
    }
    out[i] = a === 255 ? y : (y * a + 255 * (255 - a)) / 255;
  }
  return out;
}

/** The pixels of a ring along the image's edge, 2 % of the shorter side thick (at least 1 px). */
function borderValues(v: Float32Array, w: number, h: number): Float32Array {
  const t = Math.max(1, Math.round(0.02 * Math.min(w, h)));
  const out: number[] = [];
  for (let y = 0; y < h; y++) {
    const row = y * w;
    if (y < t || y >= h - t) {
      for (let x = 0; x < w; x++) out.push(v[row + x]!);
    } else {
      for (let x = 0; x < Math.min(t, w); x++) out.push(v[row + x]!);
      for (let x = Math.max(t, w - t); x < w; x++) out.push(v[row + x]!);
    }
  }
  return Float32Array.from(out);
}

/** Counts of values rounded to 0..255. */
function histogram(v: Float32Array): Float64Array {
  const hist = new Float64Array(256);
  for (let i = 0; i < v.length; i++) hist[clamp(Math.round(v[i]!), 0, 255)]!++;
  return hist;
}

/** The q-quantile (0..1) of a histogram, as a grey level. */
function quantile(hist: Float64Array, q: number): number {
  return quantileAbove(hist, 0, q);
}

/** The q-quantile of the histogram's values ≥ `from`; `from` rounded up when there are none. */
function quantileAbove(hist: Float64Array, from: number, q: number): number {
  const start = clamp(Math.ceil(from), 0, 255);
  let total = 0;
  for (let b = start; b < 256; b++) total += hist[b]!;
  if (total === 0) return start;
  const target = q * total;
  let seen = 0;
  for (let b = start; b < 256; b++) {
    seen += hist[b]!;
    if (seen >= target && seen > 0) return b;
  }
  return 255;
}

/** The grey level reached by the k brightest values. */
function kthBrightest(hist: Float64Array, k: number): number {
  let seen = 0;
  for (let b = 255; b >= 0; b--) {
    seen += hist[b]!;
    if (seen >= k) return b;
  }
  return 0;
}

/** Erases 8-connected blobs whose total ink is under SPECK_FRACTION of the largest blob's. */
function removeSpecks(v: Float32Array, w: number, h: number): void {
  const n = w * h;
  const label = new Int32Array(n); // 0 = unvisited or background; blob i has label i + 1
  const masses: number[] = [];
  const stack = new Int32Array(n);
  for (let start = 0; start < n; start++) {
    if (v[start]! <= 0 || label[start] !== 0) continue;
    const id = masses.length + 1;
    let top = 0, mass = 0;
    stack[top++] = start;
    label[start] = id;
    while (top > 0) {
      const p = stack[--top]!;
      mass += v[p]!;
      const px = p % w, py = (p - px) / w;
      for (let yy = Math.max(0, py - 1); yy <= Math.min(h - 1, py + 1); yy++) {
        for (let xx = Math.max(0, px - 1); xx <= Math.min(w - 1, px + 1); xx++) {
          const q = yy * w + xx;
          if (label[q] === 0 && v[q]! > 0) {
            label[q] = id;
            stack[top++] = q;
          }
        }
      }
    }
    masses.push(mass);
  }
  if (masses.length <= 1) return;
  let largest = 0;
  for (const m of masses) if (m > largest) largest = m;
  const limit = SPECK_FRACTION * largest;
  for (let p = 0; p < n; p++) {
    const l = label[p]!;
    if (l !== 0 && masses[l - 1]! < limit) v[p] = 0;
  }
}

/** For each output position along an axis of n → m pixels: the source indices and weights. */
function axisWeights(n: number, m: number): { index: number[]; weight: number[] }[] {
  const taps: { index: number[]; weight: number[] }[] = [];
  const step = n / m;
  for (let j = 0; j < m; j++) {
    const index: number[] = [];
    const weight: number[] = [];
    if (m <= n) {
      // Area averaging: the source interval [j·step, (j+1)·step) by overlap.
      const a = j * step, b = (j + 1) * step;
      for (let i = Math.floor(a); i < Math.min(n, Math.ceil(b)); i++) {
        const overlap = Math.min(b, i + 1) - Math.max(a, i);
        if (overlap > 1e-9) {
          index.push(i);
          weight.push(overlap / step);
        }
      }
    } else {
      // Bilinear, pixel centres aligned, edges clamped.
      const x = clamp((j + 0.5) * step - 0.5, 0, n - 1);
      const i0 = Math.floor(x), f = x - i0;
      index.push(i0);
      weight.push(1 - f);
      if (f > 0 && i0 + 1 < n) {
        index.push(i0 + 1);
        weight.push(f);
      }
    }
    taps.push({ index, weight });
  }
  return taps;
}

/** Resamples the bw×bh box at (x0, y0) of a w-wide image to ow×oh, separably (rows, then columns). */
function resample(v: Float32Array, w: number, x0: number, y0: number, bw: number, bh: number, ow: number, oh: number): Float32Array {
  const tx = axisWeights(bw, ow);
  const ty = axisWeights(bh, oh);
  const tmp = new Float32Array(bh * ow);
  for (let y = 0; y < bh; y++) {
    const row = (y0 + y) * w + x0;
    for (let j = 0; j < ow; j++) {
      const { index, weight } = tx[j]!;
      let s = 0;
      for (let t = 0; t < index.length; t++) s += weight[t]! * v[row + index[t]!]!;
      tmp[y * ow + j] = s;
    }
  }
  const out = new Float32Array(oh * ow);
  for (let k = 0; k < oh; k++) {
    const { index, weight } = ty[k]!;
    for (let t = 0; t < index.length; t++) {
      const wt = weight[t]!, src = index[t]! * ow;
      for (let j = 0; j < ow; j++) out[k * ow + j]! += wt * tmp[src + j]!;
    }
  }
  return out;
}
