/**
 * Writes examples/digits/: six MNIST test digits (fixed indices, six different labels) rendered as
 * "photos" for `digitbench predict`: enlarged to 154–224 px with a smooth kernel, dark ink on light
 * paper, off-centre on a larger non-square canvas, as PNG (grey, RGB) and JPEG (quality 90). The true
 * label and the test index are in each file name. Deterministic (sharp, a devDependency, draws them); run:
 *   node --import ./bin/register.js scripts/make-sample-digits.ts
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { loadDataset } from '../src/data/datasets.ts';
import { readInputs } from '../src/input/decode.ts';

const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

interface Sample {
  index: number; // in the MNIST test set
  size: number; // side of the enlarged digit, px
  canvas: [number, number]; // width, height
  at: [number, number]; // top-left corner of the digit on the canvas
  paper: [number, number, number];
  pen: [number, number, number];
  format: 'png-grey' | 'png-rgb' | 'jpeg';
}

const SAMPLES: Sample[] = [
  { index: 0, size: 196, canvas: [320, 260], at: [30, 20], paper: [255, 255, 255], pen: [0, 0, 0], format: 'png-grey' },
  { index: 1, size: 224, canvas: [300, 340], at: [60, 90], paper: [248, 246, 240], pen: [20, 25, 30], format: 'jpeg' },
  { index: 3, size: 168, canvas: [360, 240], at: [170, 50], paper: [255, 255, 255], pen: [10, 10, 10], format: 'png-grey' },
  { index: 4, size: 182, canvas: [280, 300], at: [20, 100], paper: [245, 240, 228], pen: [25, 35, 110], format: 'jpeg' },
  { index: 15, size: 210, canvas: [400, 280], at: [150, 40], paper: [250, 250, 245], pen: [60, 20, 20], format: 'png-rgb' },
  { index: 18, size: 154, canvas: [260, 220], at: [90, 10], paper: [235, 235, 230], pen: [40, 40, 45], format: 'jpeg' },
];

const outDir = fileURLToPath(new URL('../examples/digits/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const ds = await loadDataset('mnist');
const written: { file: string; index: number }[] = [];

for (const s of SAMPLES) {
  const label = ds.test.labels[s.index]!;
  const digit = Uint8Array.from(ds.test.images.data.subarray(s.index * 784, (s.index + 1) * 784));
  const ink = await sharp(digit, { raw: { width: 28, height: 28, channels: 1 } })
    .resize(s.size, s.size, { kernel: 'cubic' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  const [w, h] = s.canvas;
  const [left, top] = s.at;
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = x >= left && x < left + s.size && y >= top && y < top + s.size;
      const a = inside ? ink[(y - top) * s.size + (x - left)]! / 255 : 0;
      for (let c = 0; c < 3; c++) rgb[(y * w + x) * 3 + c] = Math.round(s.paper[c]! * (1 - a) + s.pen[c]! * a);
    }
  }
  const img = sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  const ext = s.format === 'jpeg' ? 'jpg' : 'png';
  const file = join(outDir, `${WORDS[label]}-test${s.index}.${ext}`);
  if (s.format === 'jpeg') await img.jpeg({ quality: 90 }).toFile(file);
  else if (s.format === 'png-grey') await img.toColourspace('b-w').png().toFile(file);
  else await img.png().toFile(file);
  written.push({ file, index: s.index });
}

// Check: each file reads back as (close to) its MNIST digit.
const entries = await readInputs(written.map((x) => x.file));
for (const [k, e] of entries.entries()) {
  const orig = ds.test.images.data.subarray(written[k]!.index * 784, (written[k]!.index + 1) * 784);
  if (!e.pixels) throw new Error(e.error);
  let d = 0;
  for (let i = 0; i < 784; i++) d += Math.abs(e.pixels[i]! - orig[i]!);
  console.log(`${relative(process.cwd(), e.name)}: mean abs difference from MNIST test digit ${written[k]!.index} after normalizing: ${(d / 784).toFixed(2)}`);
}
