/**
 * The runtime's browser decoder (packages/runtime/src/input/decode.browser.ts) in headless Chromium (Debian's
 * /usr/bin/chromium through playwright-core; skipped without it unless DIGITBENCH_REQUIRE_BROWSER=1): the
 * browser's own decoders through createImageBitmap and a canvas, then the same normalizeDigit. MNIST test
 * digits rendered as photo PNGs (grey, RGB, RGBA, transparent canvas) normalize to exactly what Node's
 * decoder gives; photo JPEGs (Chromium's libjpeg-turbo against jpeg-js) to nearly the same; EXIF
 * orientations are applied; the refusals are Node's one-line messages; `readInputs` takes Files. The
 * module's browser bundle imports no Node built-in.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../src/data/datasets.ts';
import { decodeImage, normalizeDigit } from '@digitbench/runtime/internal';
import { DEFAULT_CHROMIUM, launchChromium } from '../src/serve/browser-bench.ts';
import { FORMATS, render, type Format, type Look } from './helpers/photos.ts';

const chromium = process.env.DIGITBENCH_CHROMIUM ?? DEFAULT_CHROMIUM;
const haveBrowser = existsSync(chromium);
if (!haveBrowser && process.env.DIGITBENCH_REQUIRE_BROWSER === '1') throw new Error(`DIGITBENCH_REQUIRE_BROWSER=1 but there is no Chromium at ${chromium}.`);

const INPUT = resolve(import.meta.dirname, '../packages/runtime/src/input');
const ENTRY = `export { decodeImage, readInputs, fromImageData } from './decode.browser.ts'; export { normalizeDigit } from './normalize.ts';`;

/** The decoder bundled for a page, as an app's bundler would (browser platform), with esbuild's metafile. */
async function bundle() {
  return build({
    stdin: { contents: ENTRY, resolveDir: INPUT, loader: 'ts', sourcefile: 'entry.ts' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'runtime',
    write: false,
    metafile: true,
    minify: true,
  });
}

describe('browser bundle', () => {
  it('imports no Node built-in and is small', async () => {
    const b = await bundle();
    const inputs = Object.keys(b.metafile.inputs);
    // Only the runtime's own browser-safe modules: the decoders' shared parts and the size formatter, not io/files.ts or io/idx.ts.
    expect(inputs.filter((f) => f.startsWith('node:') || !/^packages\/runtime\/src\/(input\/|io\/format-bytes\.ts$)/.test(f))).toEqual([]);
    const bytes = b.outputFiles[0]!.contents.length;
    console.log(`decode.browser.ts + normalize.ts, minified: ${(bytes / 1000).toFixed(1)} kB (${inputs.length} modules)`);
    expect(bytes).toBeLessThan(30_000);
  });
});

interface PageResult {
  width?: number;
  height?: number;
  channels?: number;
  pixels?: number[];
  error?: string;
}

describe.skipIf(!haveBrowser)('in Chromium', () => {
  let browser: Browser;
  let page: Page;
  let digits: Float32Array;

  beforeAll(async () => {
    digits = (await loadDataset('mnist')).test.images.data;
    browser = await launchChromium(chromium);
    page = await browser.newPage();
    await page.setContent('<!doctype html><title>decode</title>');
    await page.addScriptTag({ content: (await bundle()).outputFiles[0]!.text });
  });
  afterAll(async () => {
    await browser?.close();
  });

  /** decodeImage in the page (from a Blob, or from an ArrayBuffer), then normalizeDigit. */
  const inPage = (bytes: Uint8Array, name: string, from: 'blob' | 'buffer' = 'blob'): Promise<PageResult> =>
    page.evaluate(
      async ({ b64, name, from }) => {
        const rt = (globalThis as unknown as { runtime: typeof import('../packages/runtime/src/input/decode.browser.ts') & typeof import('../packages/runtime/src/input/normalize.ts') }).runtime;
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        try {
          const img = await rt.decodeImage(from === 'blob' ? new Blob([bytes]) : bytes.buffer, name);
          return { width: img.width, height: img.height, channels: img.channels, pixels: Array.from(rt.normalizeDigit(img, name)) };
        } catch (e) {
          return { error: (e as Error).message };
        }
      },
      { b64: Buffer.from(bytes).toString('base64'), name, from },
    );

  const inNode = async (bytes: Uint8Array, name: string) => {
    const img = await decodeImage(bytes, name);
    return { width: img.width, height: img.height, pixels: normalizeDigit(img, name) };
  };

  const meanAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
    return s / a.length;
  };

  const look = (i: number, format: Format): Look => ({
    scale: 4 + (i % 5),
    kernel: (['lanczos3', 'linear', 'cubic'] as const)[i % 3]!,
    pad: { left: 10 + ((i * 37) % 90), right: 30 + ((i * 53) % 70), top: 5 + ((i * 29) % 60), bottom: 40 + ((i * 17) % 50) },
    format,
  });

  it('photo PNGs give exactly Node\'s digits; photo JPEGs nearly', async () => {
    const N = 40;
    const jpegDiffs: number[] = [];
    for (let i = 0; i < N; i++) {
      for (const format of [...FORMATS, 'transparent-png'] as Format[]) {
        const bytes = await render(digits.subarray(i * 784, (i + 1) * 784), look(i, format));
        const [web, node] = [await inPage(bytes, `d${i}.${format}`, i % 2 ? 'blob' : 'buffer'), await inNode(bytes, `d${i}.${format}`)];
        expect(web.error).toBeUndefined();
        expect([web.width, web.height, web.channels]).toEqual([node.width, node.height, 4]);
        if (format === 'jpeg') jpegDiffs.push(meanAbs(web.pixels!, node.pixels));
        else expect(web.pixels, `${format} ${i}`).toEqual(Array.from(node.pixels));
      }
    }
    const mean = jpegDiffs.reduce((a, b) => a + b, 0) / jpegDiffs.length;
    // Measured: 0.30 per pixel (0..255) on average over the 40 JPEG digits, worst 5.0 (a one-pixel centring shift).
    console.log(`${N} photo JPEGs, Chromium vs Node (jpeg-js): normalized mean abs difference ${mean.toFixed(3)} (worst ${Math.max(...jpegDiffs).toFixed(2)})`);
    expect(mean).toBeLessThan(1.5);
    expect(Math.max(...jpegDiffs)).toBeLessThan(16);
  });

  it('applies the EXIF orientation of a JPEG (APP1) and a PNG (eXIf), as Node does', async () => {
    const upright = await render(digits.subarray(0, 784), look(0, 'rgb-png'));
    for (const o of [3, 6, 8]) {
      const turn = { 3: 180, 6: 270, 8: 90 }[o]!;
      for (const format of ['jpeg', 'png'] as const) {
        const stored = sharp(upright).rotate(turn).withMetadata({ orientation: o });
        const bytes = await (format === 'jpeg' ? stored.jpeg({ quality: 95 }) : stored.png()).toBuffer();
        const [web, node] = [await inPage(bytes, `o${o}.${format}`), await inNode(bytes, `o${o}.${format}`)];
        expect([o, format, web.width, web.height]).toEqual([o, format, node.width, node.height]);
        expect(meanAbs(web.pixels!, node.pixels), `${format} orientation ${o}`).toBeLessThan(format === 'png' ? 0.001 : 3);
        // and it is the upright digit
        expect(meanAbs(node.pixels, digits.subarray(0, 784)), `${format} orientation ${o}`).toBeLessThan(15);
      }
    }
  });

  it('refuses what Node refuses, with the same lines', async () => {
    const png = await render(digits.subarray(0, 784), look(0, 'grey-png'));
    const jpeg = await render(digits.subarray(784, 2 * 784), look(1, 'jpeg'));
    const webp = await sharp(png).webp().toBuffer();
    const big = Buffer.from(jpeg);
    const sof = big.indexOf(Buffer.from([0xff, 0xc0]));
    big.writeUInt16BE(60000, sof + 5);
    big.writeUInt16BE(60000, sof + 7);
    const cases: [string, Uint8Array][] = [
      ['cut.png', png.subarray(0, png.length >> 1)],
      ['cut.jpg', jpeg.subarray(0, jpeg.length - 100)],
      ['a.webp', webp],
      ['big.jpg', big],
    ];
    for (const [name, bytes] of cases) {
      const web = await inPage(bytes, name);
      const node = await decodeImage(bytes, name).then(() => 'decoded', (e: Error) => e.message);
      expect(web.error, name).toBe(node);
    }
    expect((await inPage(Buffer.from('plain text'), 'notes.png')).error).toBe('notes.png: not a PNG or JPEG image; give a PNG or JPEG image.');
  });

  it('readInputs takes Files: names, shape, caps and errors as entries', async () => {
    const png = await render(digits.subarray(0, 784), look(0, 'grey-png'));
    const jpeg = await render(digits.subarray(784, 2 * 784), look(1, 'jpeg'));
    const entries = await page.evaluate(
      async ({ png, jpeg }) => {
        const rt = (globalThis as unknown as { runtime: typeof import('../packages/runtime/src/input/decode.browser.ts') }).runtime;
        const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const files = [new File([bytes(png)], 'seven.png'), new File([], 'empty.png'), new Blob([bytes(jpeg)]), new File([bytes(png)], 'big.png')];
        const all = await rt.readInputs(files, { shape: [16, 16] });
        const capped = await rt.readInputs([files[3]!], { maxImageBytes: 1000 });
        const bad = await rt.readInputs(files, { maxPixels: -1 }).then(() => 'no error', (e: Error) => e.message);
        return [...all, ...capped].map((e) => ({ name: e.name, length: e.pixels?.length, error: e.error })).concat([{ name: 'bad option', length: undefined, error: bad }]);
      },
      { png: png.toString('base64'), jpeg: jpeg.toString('base64') },
    );
    const kb = (n: number) => `${Number((n / 1000).toFixed(1))} kB`;
    expect(entries).toEqual([
      { name: 'seven.png', length: 256 },
      { name: 'empty.png', error: 'empty.png: the file is empty; give a PNG or JPEG image.' },
      { name: 'image 3', length: 256 },
      { name: 'big.png', length: 256 },
      { name: 'big.png', error: `big.png: the file is ${kb(png.length)}, over the 1 kB limit for an image file; give a smaller file, or raise the limit with the maxImageBytes option.` },
      { name: 'bad option', error: 'maxPixels must be a positive number (got -1).' },
    ]);
  });
});
