/** MNIST digits turned into "photos" and idx files, for the input and predict tests. */
import sharp from 'sharp';

export type Format = 'grey-png' | 'rgb-png' | 'rgba-png' | 'jpeg' | 'transparent-png';
export const FORMATS: Format[] = ['grey-png', 'rgb-png', 'rgba-png', 'jpeg'];

export interface Look {
  scale: number;
  kernel: 'lanczos3' | 'linear' | 'cubic' | 'nearest';
  pad: { left: number; right: number; top: number; bottom: number };
  format: Format;
}

/** An MNIST digit (0..255, ink bright) as an encoded image of dark ink on paper. */
export async function render(pixels: Float32Array, look: Look): Promise<Buffer> {
  const s = 28 * look.scale;
  const ink = await sharp(Uint8Array.from(pixels), { raw: { width: 28, height: 28, channels: 1 } })
    .resize(s, s, { kernel: look.kernel })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  const { left, right, top, bottom } = look.pad;
  const w = s + left + right, h = s + top + bottom;
  // Paper and pen colours: black on white, a blue pen on cream paper for the RGB formats.
  const colour = look.format === 'grey-png' || look.format === 'transparent-png';
  const paper = colour ? [255, 255, 255] : [245, 240, 228];
  const pen = colour ? [0, 0, 0] : [25, 35, 110];
  const channels = look.format === 'grey-png' ? 1 : look.format === 'rgba-png' || look.format === 'transparent-png' ? 4 : 3;
  const out = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = x >= left && x < left + s && y >= top && y < top + s;
      const a = inside ? ink[(y - top) * s + (x - left)]! / 255 : 0;
      const p = (y * w + x) * channels;
      if (look.format === 'transparent-png') {
        // Black strokes on a fully transparent (black) canvas, alpha = ink.
        out[p + 3] = Math.round(a * 255);
        continue;
      }
      for (let c = 0; c < Math.min(channels, 3); c++) out[p + c] = Math.round(paper[c]! * (1 - a) + pen[c]! * a);
      if (channels === 4) out[p + 3] = 255;
    }
  }
  const img = sharp(out, { raw: { width: w, height: h, channels: channels as 1 | 3 | 4 } });
  if (look.format === 'grey-png') return img.toColourspace('b-w').png().toBuffer();
  if (look.format === 'jpeg') return img.jpeg({ quality: 90 }).toBuffer();
  return img.png().toBuffer();
}

/** An idx3 images file (big-endian header: magic 2051, count, rows, cols), as MNIST ships them. */
export function idxFile(images: Uint8Array, count: number, rows: number, cols: number): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32BE(2051, 0);
  head.writeUInt32BE(count, 4);
  head.writeUInt32BE(rows, 8);
  head.writeUInt32BE(cols, 12);
  return Buffer.concat([head, images]);
}
