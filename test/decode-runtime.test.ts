/**
 * The runtime's Node image decoder (packages/runtime/src/input/decode.node.ts: pngjs and jpeg-js), against
 * sharp (libvips), which decoded the workbench's inputs before and stays here as the oracle: every PNG
 * layout gives sharp's pixels exactly; JPEGs differ by a few levels (IDCT and chroma upsampling), and
 * MNIST test digits rendered as photo JPEGs normalize to nearly the same 28×28 digits. EXIF orientations
 * 1–8 (JPEG APP1 and PNG eXIf) turn the pixels as sharp's `.rotate()` does. Refusals before decoding (other
 * formats, JPEG variants jpeg-js cannot read, cut-off files, the pixel limit from the header, an interlaced
 * PNG whose data inflates past its header) are one line each.
 */
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { decodeImage, exifOrientation, normalizeDigit, orient, type DecodedImage } from '@digitbench/runtime/internal';
import { render, type Look } from './helpers/photos.ts';

/** sharp's decode as the workbench did it: EXIF orientation applied, raw 8-bit, alpha kept. */
async function sharpDecode(bytes: Uint8Array): Promise<DecodedImage> {
  const { data, info } = await sharp(bytes, { failOn: 'truncated' }).rotate().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4, data: new Uint8Array(data) };
}

/** Rec. 601 luma per pixel (what normalizeDigit reads), alpha ignored. */
function luma(img: DecodedImage): Float64Array {
  const { width, height, channels: c, data } = img;
  const out = new Float64Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = c < 3 ? data[i * c]! : 0.299 * data[i * c]! + 0.587 * data[i * c + 1]! + 0.114 * data[i * c + 2]!;
  return out;
}

function diff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  expect(a.length).toBe(b.length);
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > max) max = d;
    sum += d;
  }
  return { max, mean: sum / a.length };
}

/** A w×h RGB test picture that is asymmetric in every direction (so any wrong turn or mirror shows). */
function picture(w: number, h: number, colour = true): Uint8Array {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      const g = Math.round((x * 180) / w + (y * 60) / h) + (x < w / 3 && y < h / 4 ? 15 : 0);
      rgb[p] = g;
      rgb[p + 1] = colour ? Math.round((y * 255) / h) : g;
      rgb[p + 2] = colour ? 255 - g : g;
    }
  }
  return rgb;
}

const raw = (data: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4) => sharp(data, { raw: { width, height, channels } });

describe('PNG: the same pixels as sharp, in every layout', () => {
  it('grey 1/8/16-bit, grey+alpha, RGB, RGBA, 16-bit RGB(A), palette with and without transparency, interlaced', async () => {
    const w = 53, h = 31;
    const rgb = picture(w, h);
    const rgba = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) {
      rgba.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = (i * 7) % 256;
    }
    const cases: [string, Promise<Buffer>][] = [
      ['grey 8-bit', raw(rgb, w, h, 3).toColourspace('b-w').png().toBuffer()],
      ['grey 1-bit', raw(rgb, w, h, 3).toColourspace('b-w').png({ palette: true, colours: 2 }).toBuffer()],
      ['grey 16-bit', raw(rgb, w, h, 3).toColourspace('grey16').png().toBuffer()],
      ['grey+alpha', raw(rgba, w, h, 4).toColourspace('b-w').png().toBuffer()],
      ['RGB', raw(rgb, w, h, 3).png().toBuffer()],
      ['RGBA', raw(rgba, w, h, 4).png().toBuffer()],
      ['RGB 16-bit', raw(rgb, w, h, 3).toColourspace('rgb16').png().toBuffer()],
      ['RGBA 16-bit', raw(rgba, w, h, 4).toColourspace('rgb16').png().toBuffer()],
      ['palette', raw(rgb, w, h, 3).png({ palette: true }).toBuffer()],
      ['palette with transparency', raw(rgba, w, h, 4).png({ palette: true }).toBuffer()],
      ['interlaced RGB', raw(rgb, w, h, 3).png({ progressive: true }).toBuffer()],
      ['interlaced RGBA 16-bit', raw(rgba, w, h, 4).toColourspace('rgb16').png({ progressive: true }).toBuffer()],
    ];
    for (const [what, made] of cases) {
      const bytes = await made;
      const [ours, theirs] = [await decodeImage(bytes, what), await sharpDecode(bytes)];
      expect([what, ours.width, ours.height, ours.channels]).toEqual([what, theirs.width, theirs.height, theirs.channels]);
      expect(diff(ours.data, theirs.data).max, what).toBe(0);
    }
  });

  it('ignores bytes after IEND, as libpng does', async () => {
    const png = await raw(picture(20, 10), 20, 10, 3).png().toBuffer();
    const ours = await decodeImage(Buffer.concat([png, Buffer.from('trailing bytes')]), 'x.png');
    expect(diff(ours.data, (await sharpDecode(png)).data).max).toBe(0);
  });
});

describe('JPEG: within a few levels of sharp', () => {
  it('baseline 4:2:0 and 4:4:4, progressive, grey, mozjpeg: luma differences', async () => {
    const w = 120, h = 90;
    const rgb = picture(w, h);
    const cases: [string, Promise<Buffer>, number, number][] = [
      // [what, bytes, largest luma difference allowed, mean allowed] (measured: see the log line)
      ['baseline 4:2:0, q90', raw(rgb, w, h, 3).jpeg({ quality: 90 }).toBuffer(), 6, 1],
      ['baseline 4:4:4, q90', raw(rgb, w, h, 3).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(), 4, 1],
      ['progressive, q75', raw(rgb, w, h, 3).jpeg({ quality: 75, progressive: true }).toBuffer(), 6, 1],
      ['grey, q90', raw(rgb, w, h, 3).toColourspace('b-w').jpeg({ quality: 90 }).toBuffer(), 2, 0.5],
      ['mozjpeg, q80', raw(rgb, w, h, 3).jpeg({ quality: 80, mozjpeg: true }).toBuffer(), 6, 1],
    ];
    for (const [what, made, maxAllowed, meanAllowed] of cases) {
      const bytes = await made;
      const [ours, theirs] = [await decodeImage(bytes, what), await sharpDecode(bytes)];
      expect([ours.width, ours.height, ours.channels]).toEqual([theirs.width, theirs.height, 3]);
      const d = diff(luma(ours), luma(theirs));
      console.log(`JPEG ${what}: luma vs sharp, max ${d.max.toFixed(2)}, mean ${d.mean.toFixed(3)}`);
      expect(d.max, what).toBeLessThanOrEqual(maxAllowed);
      expect(d.mean, what).toBeLessThanOrEqual(meanAllowed);
    }
  });

  it('a CMYK JPEG (Adobe marker) decodes to RGB of the right size', async () => {
    const bytes = await raw(picture(40, 30), 40, 30, 3).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const img = await decodeImage(bytes, 'cmyk.jpg');
    expect([img.width, img.height, img.channels]).toEqual([40, 30, 3]);
    // Not colour-managed (sharp converts with a CMYK profile): the grey levels are close, not equal.
    expect(diff(luma(img), luma(await sharpDecode(bytes))).mean).toBeLessThan(40);
  });

  describe('MNIST test digits as photo JPEGs (as in data/generated/photo-digits)', () => {
    const N = 60;
    let digits: Float32Array;
    beforeAll(async () => {
      digits = (await loadDataset('mnist')).test.images.data.subarray(0, N * 784);
    });

    it('normalize to nearly the digits sharp gave', async () => {
      let worst = 0, total = 0, rawMax = 0;
      for (let i = 0; i < N; i++) {
        const look: Look = { scale: 4 + (i % 5), kernel: (['lanczos3', 'linear', 'cubic'] as const)[i % 3]!, pad: { left: 10 + i, right: 30, top: 5 + (i % 7), bottom: 40 }, format: 'jpeg' };
        const bytes = await render(digits.subarray(i * 784, (i + 1) * 784), look);
        const [ours, theirs] = [await decodeImage(bytes, `digit ${i}`), await sharpDecode(bytes)];
        rawMax = Math.max(rawMax, diff(ours.data, theirs.data).max);
        const d = diff(normalizeDigit(ours, 'a'), normalizeDigit(theirs, 'b'));
        worst = Math.max(worst, d.mean);
        total += d.mean;
      }
      // Measured: raw values differ by up to 26 levels (20 on the 125 JPEGs of data/generated/photo-digits),
      // normalized digits by 0.53 per pixel on average (0..255; worst digit 7.8, a one-pixel shift of the
      // centring). For scale: an MNIST digit and itself shifted by one pixel differ by 16.4 on average.
      console.log(`${N} photo JPEGs vs sharp: raw max ${rawMax}; normalized mean abs difference ${(total / N).toFixed(3)} (worst digit ${worst.toFixed(2)})`);
      expect(rawMax).toBeLessThanOrEqual(30);
      expect(total / N).toBeLessThan(1.5);
      expect(worst).toBeLessThan(16);
    });
  });
});

describe('EXIF orientation', () => {
  const w = 37, h = 23;
  for (const format of ['png', 'jpeg'] as const) {
    it(`${format}: orientations 1–8 turn the pixels as sharp's rotate() does`, async () => {
      const base = raw(picture(w, h, false), w, h, 3);
      for (let o = 1; o <= 8; o++) {
        const tagged = base.clone().withMetadata({ orientation: o });
        const bytes = await (format === 'png' ? tagged.png() : tagged.jpeg({ quality: 95, chromaSubsampling: '4:4:4' })).toBuffer();
        const [ours, theirs] = [await decodeImage(bytes, `o${o}`), await sharpDecode(bytes)];
        expect([o, ours.width, ours.height]).toEqual([o, o >= 5 ? h : w, o >= 5 ? w : h]);
        expect([o, theirs.width, theirs.height]).toEqual([o, ours.width, ours.height]);
        const d = diff(luma(ours), luma(theirs));
        expect(d.max, `orientation ${o}`).toBeLessThanOrEqual(format === 'png' ? 0 : 4);
      }
    });
  }

  it('the TIFF parser reads tag 0x0112 in both byte orders and ignores junk', () => {
    const tiff = (le: boolean, value: number, type = 3) => {
      const b = new Uint8Array(26);
      const v = new DataView(b.buffer);
      b.set(le ? [0x49, 0x49] : [0x4d, 0x4d]);
      v.setUint16(2, 42, le);
      v.setUint32(4, 8, le);
      v.setUint16(8, 1, le);
      v.setUint16(10, 0x0112, le);
      v.setUint16(12, type, le);
      v.setUint32(14, 1, le);
      v.setUint16(18, value, le);
      return b;
    };
    expect([exifOrientation(tiff(true, 6)), exifOrientation(tiff(false, 8)), exifOrientation(tiff(true, 9)), exifOrientation(tiff(true, 6, 7))]).toEqual([6, 8, 1, 1]);
    expect([exifOrientation(new Uint8Array(3)), exifOrientation(tiff(true, 3).subarray(0, 20))]).toEqual([1, 1]);
    const img: DecodedImage = { width: 3, height: 2, channels: 1, data: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
    expect(Array.from(orient(img, 6).data)).toEqual([4, 1, 5, 2, 6, 3]);
    expect(Array.from(orient(img, 8).data)).toEqual([3, 6, 2, 5, 1, 4]);
    expect(orient(img, 1)).toBe(img);
  });
});

describe('refusals, in one line, before decoding', () => {
  let jpeg: Buffer, png: Buffer, sof: number;
  beforeAll(async () => {
    jpeg = await raw(picture(60, 40), 60, 40, 3).jpeg().toBuffer();
    png = await raw(picture(60, 40), 60, 40, 3).png().toBuffer();
    sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  });
  const message = async (bytes: Uint8Array, name = 'f') => {
    try {
      await decodeImage(bytes, name);
      return 'decoded';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const truncated = (name: string) => `${name}: the image could not be decoded (truncated: the data ends before the end of the image); check that the file is a complete PNG or JPEG.`;

  it('cut-off PNGs and JPEGs, wherever they are cut', async () => {
    for (const bytes of [png, jpeg]) {
      for (const keep of [0.05, 0.3, 0.6, 0.9, 0.99]) expect(await message(bytes.subarray(0, Math.max(20, Math.floor(bytes.length * keep))), 'cut')).toBe(truncated('cut'));
      expect(await message(bytes.subarray(0, bytes.length - 2), 'cut')).toBe(truncated('cut'));
    }
  });

  it('other formats are named; JPEG variants jpeg-js cannot read are refused with what to do', async () => {
    const base = raw(picture(30, 20), 30, 20, 3);
    expect(await message(await base.clone().webp().toBuffer(), 'a.webp')).toBe('a.webp: a WebP image, not a PNG or JPEG; convert it to PNG or JPEG first.');
    expect(await message(await base.clone().gif().toBuffer(), 'a.gif')).toBe('a.gif: a GIF image, not a PNG or JPEG; convert it to PNG or JPEG first.');
    expect(await message(await base.clone().tiff().toBuffer(), 'a.tif')).toBe('a.tif: a TIFF image, not a PNG or JPEG; convert it to PNG or JPEG first.');
    expect(await message(await base.clone().avif().toBuffer(), 'a.avif')).toBe('a.avif: an AVIF image, not a PNG or JPEG; convert it to PNG or JPEG first.');
    expect(await message(Buffer.from('just some text, not a picture'), 'a.png')).toBe('a.png: not a PNG or JPEG image; give a PNG or JPEG image, a folder of them, or an idx images file.');
    const variant = (marker: number, precision = 8) => {
      const b = Buffer.from(jpeg);
      b[sof + 1] = marker;
      b[sof + 4] = precision;
      return b;
    };
    const convert = 'which cannot be decoded here; convert it to PNG, or to a baseline or progressive JPEG.';
    expect(await message(variant(0xc9), 'a.jpg')).toBe(`a.jpg: the image is an arithmetic-coded JPEG, ${convert}`);
    expect(await message(variant(0xc3), 'a.jpg')).toBe(`a.jpg: the image is a lossless JPEG, ${convert}`);
    expect(await message(variant(0xc0, 12), 'a.jpg')).toBe(`a.jpg: the image is a 12-bit JPEG, ${convert}`);
  });

  it('the pixel limit from the header, for a JPEG that claims 60000×60000 (nothing decoded)', async () => {
    const b = Buffer.from(jpeg);
    b.writeUInt16BE(60000, sof + 5);
    b.writeUInt16BE(60000, sof + 7);
    const t0 = performance.now();
    expect(await message(b, 'big.jpg')).toBe('big.jpg: the image is 60000×60000 pixels (3600 MP), over the 25 MP limit for a digit; crop or scale it down first.');
    expect(performance.now() - t0).toBeLessThan(500);
  });

  it('an interlaced PNG whose data inflates past its header (a zlib bomb) is stopped at the header\'s size', async () => {
    const crc = (bytes: Uint8Array) => {
      let c = ~0;
      for (const x of bytes) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
      }
      return ~c >>> 0;
    };
    const chunk = (type: string, data: Uint8Array) => {
      const b = Buffer.alloc(12 + data.length);
      b.writeUInt32BE(data.length, 0);
      b.write(type, 4, 'latin1');
      b.set(data, 8);
      b.writeUInt32BE(crc(b.subarray(4, 8 + data.length)), 8 + data.length);
      return b;
    };
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(100, 0);
    ihdr.writeUInt32BE(100, 4);
    ihdr.set([8, 0, 0, 0, 1], 8); // 8-bit grey, interlaced
    const bomb = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(50e6))), chunk('IEND', new Uint8Array(0))]);
    const t0 = performance.now();
    expect(await message(bomb, 'bomb.png')).toBe('bomb.png: the image could not be decoded (corrupt PNG: the image data inflates to more than the 10188 bytes its header announces); check that the file is a complete PNG or JPEG.');
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
